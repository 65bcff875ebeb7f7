//! `qecho relay`: a UDP relay between clients and a server that makes the path bad on purpose.
//! It knows nothing of QUIC beyond the header bit that tells a handshake packet apart, and nothing
//! of TLS: any UDP program can be put behind it.
//!
//! One task reads the clients' datagrams on the listening socket. Each client address gets a
//! mapping, as in a NAT: an upstream socket of its own towards the server, and a task that
//! carries the server's datagrams back down. Each direction is a `Link` (impairments, bottleneck,
//! delay line, counts) shared by the tasks that carry datagrams that way. Shutdown (Ctrl-C,
//! SIGTERM) stops the tasks and prints each direction's counts.

mod impair;
mod link;
mod stats;

use crate::cli::RelayArgs;
use crate::{shutdown, udp};
use color_eyre::eyre::{Result, eyre};
use impair::{Direction, Impairments, Random};
use link::Link;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// The largest UDP payload: every datagram fits the receive buffers.
const MAX_DATAGRAM: usize = 65_535;

/// Socket buffers, as `serve` and `send` ask for them (see `endpoint::SOCKET_BUFFER`): bursts at
/// 10 Gbit/s must not overflow the relay's sockets before the relay reads them.
const SOCKET_BUFFER: usize = 4 << 20;

/// Clients mapped at once. Each mapping holds a socket and a task: a flood of datagrams from
/// spoofed addresses must not exhaust the file descriptors. Past it, new clients are dropped.
const MAX_MAPPINGS: usize = 1024;

/// How often idle mappings are swept, and `-v` prints the counts.
const TICK: Duration = Duration::from_secs(1);

pub async fn run(args: RelayArgs, verbose: bool) -> Result<ExitCode> {
    let listen = parse_listen(&args.listen)?;
    let server = resolve_server(&args.to).await?;
    let up = Impairments::from_args(&args, Direction::Up)?;
    let down = Impairments::from_args(&args, Direction::Down)?;
    let front = open_socket(listen, "listen on", None)?;
    let local = front
        .local_addr()
        .map_err(|err| eyre!("cannot read the bound address: {err}"))?;

    let seed = args.seed.unwrap_or_else(Random::fresh_seed);
    let up = Link::start(Direction::Up, up, seed);
    // Another stream of choices for the other direction, from the same seed.
    let down = Link::start(Direction::Down, down, Random::new(seed).next());
    // Before "listening on": whoever reads that line may send SIGTERM at once.
    let signal = shutdown::signal();
    let (up_text, down_text) = (up.describe(), down.describe());
    info!(
        %local, %server, seed, up = %up_text, down = %down_text,
        "listening on {local}, relaying to {server}, seed {seed}; client to server: {up_text}; \
         server to client: {down_text}"
    );
    let mut relay = Relay {
        front,
        server,
        up: up.clone(),
        down: down.clone(),
        mappings: HashMap::new(),
        rebind_every: args.rebind_every.filter(|every| !every.is_zero()),
        idle_timeout: args.idle_timeout,
        refused_warned: false,
    };
    relay.run(signal, verbose).await;
    drop(relay);
    for link in [&up, &down] {
        link.close();
        link.stats().log(link.direction(), true);
    }
    Ok(ExitCode::SUCCESS)
}

/// The relay's sockets and its clients.
struct Relay {
    front: Arc<UdpSocket>,
    server: SocketAddr,
    up: Arc<Link>,
    down: Arc<Link>,
    mappings: HashMap<SocketAddr, Mapping>,
    rebind_every: Option<Duration>,
    idle_timeout: Duration,
    refused_warned: bool,
}

/// One client's way to the server, as a NAT keeps it.
struct Mapping {
    /// The current upstream socket; the task carrying datagrams down follows it on a rebinding.
    upstream: watch::Sender<Arc<UdpSocket>>,
    last_seen: Instant,
    next_rebind: Option<Instant>,
    carrier: JoinHandle<()>,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.carrier.abort();
    }
}

impl Relay {
    async fn run(&mut self, signal: impl std::future::Future<Output = ()>, verbose: bool) {
        let mut datagram = vec![0u8; MAX_DATAGRAM];
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tokio::pin!(signal);
        loop {
            tokio::select! {
                received = self.front.recv_from(&mut datagram) => match received {
                    Ok((len, client)) => self.carry_up(&mut datagram[..len], client).await,
                    Err(err) => debug!("receiving from clients failed: {err}"),
                },
                _ = tick.tick() => {
                    self.expire_idle();
                    if verbose {
                        for link in [&self.up, &self.down] {
                            link.stats().log(link.direction(), false);
                        }
                    }
                }
                () = &mut signal => return,
            }
        }
    }

    /// Carries one client datagram up to the server, through the client's mapping.
    async fn carry_up(&mut self, datagram: &mut [u8], client: SocketAddr) {
        let Some(socket) = self.mapping_for(client) else {
            self.up.refused(datagram.len());
            return;
        };
        let copies = self.up.admit(datagram, &socket, self.server);
        for _ in 0..copies {
            let result = socket.send_to(datagram, self.server).await;
            self.up.sent(datagram.len(), result);
        }
    }

    /// The upstream socket for `client`: its mapping's, made now if it has none, rebound if due.
    /// `None` past `MAX_MAPPINGS`, or when no socket can be opened.
    fn mapping_for(&mut self, client: SocketAddr) -> Option<Arc<UdpSocket>> {
        let now = Instant::now();
        let full = self.mappings.len() >= MAX_MAPPINGS;
        let mapping = match self.mappings.entry(client) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(_) if full => {
                if !std::mem::replace(&mut self.refused_warned, true) {
                    warn!(
                        "{MAX_MAPPINGS} clients are mapped already: datagrams from new clients \
                         such as {client} are dropped until some fall idle (counted as too many \
                         clients)"
                    );
                }
                return None;
            }
            Entry::Vacant(entry) => {
                let socket = open_upstream(self.server)
                    .map_err(|err| warn!("client {client}: {err:#}"))
                    .ok()?;
                info!(%client, upstream = %name(&socket), "client {client}: mapped to upstream {}", name(&socket));
                let (upstream, following) = watch::channel(socket);
                let carrier = tokio::spawn(carry_down(
                    client,
                    following,
                    self.front.clone(),
                    self.down.clone(),
                ));
                entry.insert(Mapping {
                    upstream,
                    last_seen: now,
                    next_rebind: self.rebind_every.map(|every| now + every),
                    carrier,
                })
            }
        };
        mapping.last_seen = now;
        if let (Some(due), Some(every)) = (mapping.next_rebind, self.rebind_every)
            && now >= due
        {
            mapping.next_rebind = Some(now + every);
            rebind(client, mapping, self.server);
        }
        Some(mapping.upstream.borrow().clone())
    }

    fn expire_idle(&mut self) {
        let idle_timeout = self.idle_timeout;
        self.mappings.retain(|client, mapping| {
            let live = mapping.last_seen.elapsed() < idle_timeout;
            if !live {
                info!(
                    %client,
                    "client {client}: mapping expired after {} without a datagram",
                    humantime::format_duration(idle_timeout)
                );
            }
            live
        });
    }
}

/// Moves `client`'s mapping to a new upstream socket, as a NAT rebinding does; the old socket
/// closes once the task carrying datagrams down has moved on, and what the server sends to it
/// then is lost, as behind a real NAT.
fn rebind(client: SocketAddr, mapping: &mut Mapping, server: SocketAddr) {
    match open_upstream(server) {
        Ok(socket) => {
            let old = mapping.upstream.send_replace(socket.clone());
            info!(
                %client, from = %name(&old), to = %name(&socket),
                "client {client}: upstream rebound from {} to {}", name(&old), name(&socket)
            );
        }
        Err(err) => warn!("client {client}: cannot rebind: {err:#}"),
    }
}

/// Carries the server's datagrams for `client` down to it, from whichever upstream socket the
/// mapping has now, until the mapping is gone.
async fn carry_down(
    client: SocketAddr,
    mut upstream: watch::Receiver<Arc<UdpSocket>>,
    front: Arc<UdpSocket>,
    down: Arc<Link>,
) {
    let mut datagram = vec![0u8; MAX_DATAGRAM];
    loop {
        let socket = upstream.borrow_and_update().clone();
        let len = tokio::select! {
            received = socket.recv(&mut datagram) => match received {
                Ok(len) => len,
                // The server's host said its port is closed (ICMP); the client retries.
                Err(err) => {
                    debug!("client {client}: receiving from the server failed: {err}");
                    continue;
                }
            },
            changed = upstream.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        let datagram = &mut datagram[..len];
        let copies = down.admit(datagram, &front, client);
        for _ in 0..copies {
            let result = front.send_to(datagram, client).await;
            down.sent(len, result);
        }
    }
}

/// A new upstream socket towards `server`, connected so that only the server's datagrams come
/// back on it.
fn open_upstream(server: SocketAddr) -> Result<Arc<UdpSocket>> {
    open_socket(udp::any_address_for(server), "bind", Some(server))
}

fn open_socket(
    addr: SocketAddr,
    doing: &str,
    connect_to: Option<SocketAddr>,
) -> Result<Arc<UdpSocket>> {
    let socket = udp::bind(addr, doing)?;
    udp::set_buffers(&socket, SOCKET_BUFFER);
    if let Some(server) = connect_to {
        socket
            .connect(server)
            .map_err(|err| eyre!("cannot open a socket towards {server}: {err}"))?;
    }
    socket
        .set_nonblocking(true)
        .and_then(|()| UdpSocket::from_std(socket))
        .map(Arc::new)
        .map_err(|err| eyre!("cannot set up the socket on {addr}: {err}"))
}

/// A socket's local address, for the log.
fn name(socket: &UdpSocket) -> String {
    socket
        .local_addr()
        .map_or_else(|_| "?".to_string(), |addr| addr.to_string())
}

fn parse_listen(text: &str) -> Result<SocketAddr> {
    text.parse().map_err(|_| {
        eyre!(
            "--listen '{text}' is not an address to listen on: expected IP:PORT such as \
             127.0.0.1:9998 or [::1]:9998, or port 0 for any free port"
        )
    })
}

/// `--to` as an address: the first that HOST:PORT resolves to.
async fn resolve_server(text: &str) -> Result<SocketAddr> {
    let bad = |why: String| {
        eyre!(
            "cannot relay to --to '{text}': {why}; expected HOST:PORT such as 127.0.0.1:9999 or \
             example.net:4433"
        )
    };
    let mut addrs = tokio::net::lookup_host(text)
        .await
        .map_err(|err| bad(err.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| bad("the host has no addresses".to_string()))
}
