//! The QUIC endpoint setup that `serve` and `send` share: the UDP socket, the I/O and MTU settings,
//! and the event subscriber. Both ends are built here so that they cannot drift apart.

use crate::cli::CongestionControl;
use crate::events::{CloseReasons, ConnectionEvents, QlogDir, VersionNegotiations};
use crate::limits::{Admission, ServerLimits};
use crate::tls::{ClientTls, ServerTls};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::provider::congestion_controller::{Bbr, Cubic};
use s2n_quic::provider::limits::Limits;
use std::net::SocketAddr;

/// How far path MTU discovery may probe. s2n-quic's default cap of 1500 caps loopback and
/// jumbo-frame paths: 9000 took bulk from 2.1 to 6.1 Gbit/s here. Discovery still starts small and
/// only grows on paths that carry it. (s2n-quic 1.91 corrupted its heap at 65000 with GSO.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mtu {
    /// Up to 9000 bytes: for connections that carry data.
    Jumbo,
    /// Up to 1500 bytes: for many short connections (`send --connections`), where probing for
    /// jumbo frames costs each connection extra large packets and gains nothing (both ends capped:
    /// 2197 -> 3533 handshakes/s, 3 runs each; the client alone: +10% to +35%). A client's limit
    /// caps the server's probing too, through its max_udp_payload_size transport parameter.
    Ethernet,
    /// Up to this many bytes: `probe --max-mtu`.
    AtMost(u16),
}

impl Mtu {
    fn max(self) -> u16 {
        match self {
            Mtu::Jumbo => 9000,
            Mtu::Ethernet => 1500,
            Mtu::AtMost(max) => max,
        }
    }
}

/// How many times s2n-quic's I/O tasks (receive, transmit, endpoint) look again for work before
/// they sleep, in back-to-back ping mode (`send::prepare_process`): an echo that comes back
/// within the spin is read without the thread waking from epoll. Client only, 3000 pings back to
/// back against `qecho serve` (client CPU 0, server CPU 1, 4 alternating runs): p50 65-80 -> 32-39
/// us, p99 94-148 -> 60-73 us; 10 spins gained a quarter of that, 1000 no more than 100. Pings
/// 1 ms apart lose by it (p50 82-100 -> 106-144 us, 3 runs; why was not taken apart), hence
/// back to back only.
const SPINS_BEFORE_SLEEP: u32 = 100;

/// Has s2n-quic's I/O spin `SPINS_BEFORE_SLEEP` times before it sleeps. Its only knob for this
/// (0.91) is unstable and read from the environment when an endpoint starts:
/// `S2N_QUIC_UNSTABLE_COOLDOWN_{RX,TX,ENDPOINT}`; a value the user set is kept.
///
/// # Safety
///
/// The environment is the process's: no other thread may exist yet.
pub unsafe fn spin_before_sleeping() {
    for task in ["RX", "TX", "ENDPOINT"] {
        let name = format!("S2N_QUIC_UNSTABLE_COOLDOWN_{task}");
        if std::env::var_os(&name).is_none() {
            // SAFETY: the caller's; nothing else reads or writes the environment meanwhile.
            unsafe { std::env::set_var(name, SPINS_BEFORE_SLEEP.to_string()) };
        }
    }
}

/// Socket buffers. Linux's default (208 KiB) overflows when dozens of handshakes arrive at once:
/// dropped Initials then wait out a 1 s PTO (256 in flight: slowest handshake 1,030 ms, and 91 ms
/// with 4 MiB). The kernel caps this at net.core.rmem_max/wmem_max; see `kernel_buffer_warning`.
const SOCKET_BUFFER: usize = 4 << 20;

/// Where Linux keeps the caps on SO_RCVBUF/SO_SNDBUF.
const BUFFER_CAPS: [&str; 2] = ["/proc/sys/net/core/rmem_max", "/proc/sys/net/core/wmem_max"];

/// A warning for `serve` when the kernel will cap our socket buffers below `SOCKET_BUFFER`, which
/// it does silently (stock Linux: 208 KiB). None when the caps are high enough or unreadable (not
/// Linux).
pub fn kernel_buffer_warning() -> Option<String> {
    let caps: Vec<(&str, usize)> = BUFFER_CAPS
        .iter()
        .filter_map(|path| {
            let value = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
            Some((*path, value))
        })
        .collect();
    buffer_warning(&caps)
}

fn buffer_warning(caps: &[(&str, usize)]) -> Option<String> {
    let low: Vec<String> = caps
        .iter()
        .filter(|(_, value)| *value < SOCKET_BUFFER)
        .map(|(path, value)| {
            let name = path.trim_start_matches("/proc/sys/").replace('/', ".");
            format!("{name} is {value}")
        })
        .collect();
    if low.is_empty() {
        return None;
    }
    let wanted = SOCKET_BUFFER;
    Some(format!(
        "the kernel caps UDP socket buffers below the {} MiB asked for ({}): a burst of \
         handshakes can overflow them, and each dropped packet waits out a 1 s retransmission \
         timeout; raise the caps with `sysctl -w net.core.rmem_max={wanted} \
         net.core.wmem_max={wanted}`",
        wanted >> 20,
        low.join(", ")
    ))
}

/// s2n-quic's own ring of received datagrams, in bytes; it holds GRO batches of up to 64 KiB.
/// The kernel's socket buffer absorbs bursts; this ring only hands packets to s2n-quic, whose
/// endpoint processes every datagram in it before it transmits anything.
///
/// A client's: 8 batches. s2n-quic's default, 8 MiB, is touched in full by one bulk transfer:
/// peak RSS 23.8 MB; 16.5 MB with 1 MiB; 16.1 MB with 512 KiB, bulk throughput the same within
/// noise (medians of 6 runs, 9.9 and 9.6 Gbit/s). One batch at both ends cost bulk 13-17%.
const CLIENT_RECEIVE_RING: usize = 512 << 10;

/// A server's: 2 batches. With 8, a burst of Initials from many clients was taken in whole (up
/// to 8 batches of ~54 each) before the first reply went out, so the clients waited while the
/// server worked and then the server while they did. `send --connections 2000 --parallel 64`,
/// pinned, 8 alternating runs twice: 1,764 and 1,875 connections/s with 512 KiB, 2,334 and
/// 2,279 with 128 KiB, bulk 7.8 / 8.2 against 7.9 / 8.2 Gbit/s, 100 streams 4.8 / 5.4 against
/// 5.0 / 5.1 (noise); one batch (64 KiB) cost bulk 5% in 10 runs.
const SERVER_RECEIVE_RING: usize = 128 << 10;

/// Flow-control windows. s2n-quic's defaults give each stream the whole connection's window
/// (3.75 MB both), so one stream whose reader stalls uses up the connection's credit and holds back
/// every other stream: the head-of-line blocking QUIC exists to avoid. A stream gets a quarter of
/// the connection here, which still covers loopback and LAN bandwidth-delay products.
///
/// The connection window also bounds what can sit unread in the receiver's socket buffer (4 MiB
/// asked, see above). At 16 MiB, 100 streams at once overran the client's buffer in most runs
/// (up to 490 packets lost, srtt up to 4.5 ms, and one run down from 5.5 to 1.8 Gbit/s); at 8 MiB
/// none was lost in 13 runs, at the same median rate (5.6 and 5.5 Gbit/s).
const STREAM_WINDOW: u64 = 2 << 20;
pub const CONNECTION_WINDOW: u64 = 4 * STREAM_WINDOW;
/// Unacknowledged data a stream may queue for sending; bounds an echo stream's memory with the
/// receive window.
const SEND_BUFFER: u32 = 2 << 20;

/// QUIC DATAGRAM frames (RFC 9221) queued by the client, each way. Datagrams are unreliable by
/// design: past this, the oldest queued one is dropped, which shows up as loss. s2n-quic allocates
/// both queues in full for every connection; a client has one connection and wants headroom, so
/// that a burst of echoes is not dropped on arrival. (The server echoes with its own provider,
/// `datagram_echo.rs`, whose queue costs nothing until datagrams come.)
const CLIENT_DATAGRAM_QUEUE: usize = 1024;

/// Both ends offer DATAGRAM support; a peer that does not negotiate it simply sends none.
fn datagrams(queue: usize) -> Result<s2n_quic::provider::datagram::default::Endpoint> {
    let endpoint = s2n_quic::provider::datagram::default::Endpoint::builder()
        .with_send_capacity(queue)
        .and_then(|builder| builder.with_recv_capacity(queue))
        .map_err(|err| eyre!("cannot set up datagrams: {err}"))?;
    match endpoint.build() {
        Ok(endpoint) => Ok(endpoint),
        Err(never) => match never {},
    }
}

/// The connection limits both ends use; a server adds its own on top.
fn limits() -> Result<Limits> {
    Limits::new()
        .with_data_window(CONNECTION_WINDOW)
        .and_then(|limits| limits.with_bidirectional_local_data_window(STREAM_WINDOW))
        .and_then(|limits| limits.with_bidirectional_remote_data_window(STREAM_WINDOW))
        .and_then(|limits| limits.with_unidirectional_data_window(STREAM_WINDOW))
        .and_then(|limits| limits.with_max_send_buffer_size(SEND_BUFFER))
        .map_err(|err| eyre!("invalid connection limits: {err}"))
}

/// The server's connection limits: the shared ones plus what `serve` was told.
fn server_limits(server: &ServerLimits) -> Result<Limits> {
    let bad = |what: &str, err| eyre!("invalid {what}: {err}");
    limits()?
        .with_max_open_remote_bidirectional_streams(server.max_streams)
        .and_then(|limits| limits.with_max_open_remote_unidirectional_streams(server.max_streams))
        // Each of the client's unidirectional streams is echoed on one of ours.
        .and_then(|limits| limits.with_max_open_local_unidirectional_streams(server.max_streams))
        .map_err(|err| bad("--max-streams", err))?
        .with_max_idle_timeout(server.idle_timeout)
        .map_err(|err| bad("--idle-timeout", err))?
        .with_max_handshake_duration(server.handshake_timeout)
        .map_err(|err| bad("--handshake-timeout", err))?
        .with_packet_buffer_size(PACKET_BUFFER)
        .map_err(|err| bad("packet buffer", err))
}

/// s2n-quic's random connection IDs, of a length that tells the kernel's socket steering a
/// known connection from a new one (`udp::priority`).
fn server_connection_ids() -> Result<s2n_quic::provider::connection_id::default::Format> {
    let format = s2n_quic::provider::connection_id::default::Format::builder()
        .with_len(crate::udp::SERVER_CONNECTION_ID_LEN)
        .map_err(|err| eyre!("cannot set the connection ID length: {err}"))?;
    Ok(match format.build() {
        Ok(format) => format,
        Err(never) => match never {},
    })
}

/// Bytes of a client's 1-RTT packet that the server holds while the handshake is not complete
/// (s2n-quic holds one such packet): the client's first 1-RTT packets can be read before its
/// Finished when the Finished waits on the other socket (`udp::priority`) or is still with TLS
/// on its own thread (`--tls-thread`). s2n-quic drops them by default (a buffer of 0): with
/// `--tls-thread` in 2 of 3 connections one 1472-byte MTU probe; with a priority socket that
/// took every long header, the first DATAGRAM frame of a paced client (4 runs of 4 of
/// `serve_echoes_every_datagram_of_a_paced_client`). The most s2n-quic allows; allocated only
/// when a packet waits.
const PACKET_BUFFER: u32 = 10_000;

/// Finishes a server or client builder with the congestion controller `cc` and starts it. Each
/// controller is a type of its own, and so is each builder that has one: hence a macro, which
/// finishes the builder in each branch (`start()` returns the same endpoint type from both).
macro_rules! start_with_controller {
    ($builder:expr, $cc:expr) => {
        match $cc {
            CongestionControl::Cubic => $builder
                .with_congestion_controller(Cubic::default())
                .map_err(|err| eyre!("cannot set up CUBIC: {err}"))?
                .start(),
            CongestionControl::Bbr => $builder
                .with_congestion_controller(Bbr::default())
                .map_err(|err| eyre!("cannot set up BBR: {err}"))?
                .start(),
        }
    };
}

/// Starts a server endpoint listening on `listen`.
pub fn server(
    listen: SocketAddr,
    tls: &ServerTls,
    limits: &ServerLimits,
    cc: CongestionControl,
    reasons: CloseReasons,
    qlog: Option<&QlogDir>,
) -> Result<s2n_quic::Server> {
    let io = server_io(listen)?;
    let provider = tls.provider()?.with_book(qlog.map(QlogDir::book));
    let builder = s2n_quic::Server::builder()
        .with_datagram(crate::datagram_echo::EchoEndpoint)
        .map_err(|err| eyre!("cannot set up datagrams: {err}"))?
        .with_io(io)
        .map_err(|err| eyre!("cannot set up I/O: {err}"))?
        .with_limits(server_limits(limits)?)
        .map_err(|err| eyre!("cannot set the connection limits: {err}"))?
        .with_endpoint_limits(Admission::new(*limits))
        .map_err(|err| eyre!("cannot set the admission limits: {err}"))?
        .with_connection_id(server_connection_ids()?)
        .map_err(|err| eyre!("cannot set up connection IDs: {err}"))?
        .with_event(
            ConnectionEvents::server(reasons, tls.protocols.clone(), cc).with_qlog(qlog.cloned()),
        )
        .map_err(|err| eyre!("cannot set up event logging: {err}"))?;
    // The TLS provider is a type of its own with --tls-thread, and so is the builder that has it.
    let started = if tls.own_thread {
        let builder = builder
            .with_tls(provider.offloaded()?)
            .map_err(|err| eyre!("cannot set up TLS: {err}"))?;
        start_with_controller!(builder, cc)
    } else {
        let builder = builder
            .with_tls(provider)
            .map_err(|err| eyre!("cannot set up TLS: {err}"))?;
        start_with_controller!(builder, cc)
    };
    started.map_err(|err| eyre!("cannot start the QUIC server on {listen}: {err}"))
}

/// A client endpoint, and what its event subscriber hears of servers that speak no QUIC version
/// we do (s2n-quic itself ignores their Version Negotiation packets).
pub struct Client {
    pub quic: s2n_quic::Client,
    pub negotiations: VersionNegotiations,
}

/// Starts a client endpoint on `bind`, or else on an ephemeral port of the same address family as
/// `remote`.
pub fn client(
    remote: SocketAddr,
    bind: Option<SocketAddr>,
    tls: &ClientTls,
    mtu: Mtu,
    cc: CongestionControl,
    qlog: Option<&QlogDir>,
) -> Result<Client> {
    let io = client_io(client_address(remote, bind), mtu)?;
    let negotiations = VersionNegotiations::default();
    let builder = s2n_quic::Client::builder()
        .with_tls(tls.provider()?.with_book(qlog.map(QlogDir::book)))
        .map_err(|err| eyre!("cannot set up TLS: {err}"))?
        .with_datagram(datagrams(CLIENT_DATAGRAM_QUEUE)?)
        .map_err(|err| eyre!("cannot set up datagrams: {err}"))?
        .with_io(io)
        .map_err(|err| eyre!("cannot set up I/O: {err}"))?
        .with_limits(limits()?)
        .map_err(|err| eyre!("cannot set the connection limits: {err}"))?
        .with_event(ConnectionEvents::client(negotiations.clone(), cc).with_qlog(qlog.cloned()))
        .map_err(|err| eyre!("cannot set up event logging: {err}"))?
        .with_packet_interceptor(negotiations.filter())
        .map_err(|err| eyre!("cannot set up the Version Negotiation filter: {err}"))?;
    let quic = start_with_controller!(builder, cc)
        .map_err(|err| eyre!("cannot start the QUIC client: {err}"))?;
    Ok(Client { quic, negotiations })
}

/// Where a client binds to reach `remote`: `--bind`, or else any address of the same family,
/// on an ephemeral port.
pub fn client_address(remote: SocketAddr, bind: Option<SocketAddr>) -> SocketAddr {
    bind.unwrap_or_else(|| crate::udp::any_address_for(remote))
}

/// A client's UDP socket and s2n-quic's I/O around it.
fn client_io(addr: SocketAddr, mtu: Mtu) -> Result<s2n_quic::provider::io::tokio::Provider> {
    let socket = crate::udp::bind(addr, "bind")?;
    let io = s2n_quic::provider::io::tokio::Builder::default().with_rx_socket(socket);
    build_io(io, addr, mtu, CLIENT_RECEIVE_RING)
}

/// A server's: on Linux two sockets on the port, so that established connections' packets are
/// read before the Initials queued ahead of them (`udp::priority`). `cargo bench --bench echo --
/// --only load,handshakes --runs 3 --pin 0,1`, two rounds alternating with one socket: ping p99
/// during a 64-in-flight handshake storm 3.9 and 4.0 ms against 15.5 and 13.0 ms (TCP+TLS: 6.6
/// and 7.2), the storm's own handshakes/s 13% and 4% lower.
fn server_io(addr: SocketAddr) -> Result<s2n_quic::provider::io::tokio::Provider> {
    let io = s2n_quic::provider::io::tokio::Builder::default();
    #[cfg(target_os = "linux")]
    let io = match crate::udp::priority::bind(addr, "listen on")? {
        crate::udp::priority::Bound::Pair(sockets) => io
            .with_rx_socket(sockets.regular)
            .and_then(|io| io.with_prioritized_socket(sockets.prioritized)),
        crate::udp::priority::Bound::Single(socket) => io.with_rx_socket(socket),
    };
    #[cfg(not(target_os = "linux"))]
    let io = io.with_rx_socket(crate::udp::bind(addr, "listen on")?);
    build_io(io, addr, Mtu::Jumbo, SERVER_RECEIVE_RING)
}

/// The I/O settings both ends share, on the sockets `io` has.
fn build_io(
    io: std::io::Result<s2n_quic::provider::io::tokio::Builder>,
    addr: SocketAddr,
    mtu: Mtu,
    receive_ring: usize,
) -> Result<s2n_quic::provider::io::tokio::Provider> {
    io.and_then(|io| io.with_max_mtu(mtu.max()))
        .and_then(|io| io.with_recv_buffer_size(SOCKET_BUFFER))
        .and_then(|io| io.with_send_buffer_size(SOCKET_BUFFER))
        .and_then(|io| io.with_internal_recv_buffer_size(receive_ring))
        .and_then(|io| io.build())
        .map_err(|err| eyre!("cannot set up the UDP socket on {addr}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_about_each_low_buffer_cap_and_only_then() {
        let (rmem, wmem) = (BUFFER_CAPS[0], BUFFER_CAPS[1]);
        let stock = buffer_warning(&[(rmem, 212_992), (wmem, 212_992)]).unwrap_or_default();
        assert!(
            stock.contains("net.core.rmem_max is 212992, net.core.wmem_max is 212992"),
            "{stock}"
        );
        assert!(
            stock.contains("sysctl -w net.core.rmem_max=4194304"),
            "{stock}"
        );
        let one = buffer_warning(&[(rmem, SOCKET_BUFFER), (wmem, 1)]).unwrap_or_default();
        assert!(
            one.contains("(net.core.wmem_max is 1)"),
            "only the low one is named: {one}"
        );
        assert_eq!(
            buffer_warning(&[(rmem, SOCKET_BUFFER), (wmem, 8 << 20)]),
            None
        );
        assert_eq!(buffer_warning(&[]), None, "unreadable caps: no warning");
    }
}
