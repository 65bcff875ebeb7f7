//! Connecting: resolve `HOST:PORT`, try each address in turn with a bounded handshake, and turn
//! every way that can fail into a sentence that says what to do about it (the sentences are in
//! `connect/failures.rs`).

use crate::cli::CongestionControl;
use crate::endpoint;
use crate::events::{ConnectionStats, canonical};
use crate::tls::{ClientTickets, ClientTls};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::Connection;
use s2n_quic::client::Connect;
use s2n_quic::connection::Error as ConnectionError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::debug;

mod failures;
use failures::{client_cert_refused, handshake_failed, no_answer, not_version_1, port_unreachable};

/// Which of a host's addresses to try (`-4`, `-6`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// Where to connect, from where, under which name and with which congestion controller: `ADDR`,
/// `-4/-6`, `--bind`, `--server-name` and `--cc` resolved.
pub struct Target {
    /// As the user typed it, for messages.
    pub text: String,
    pub addrs: Vec<SocketAddr>,
    pub server_name: String,
    /// `--bind`: the local address to send from.
    pub bind: Option<SocketAddr>,
    pub cc: CongestionControl,
    /// The largest datagram path MTU discovery tries.
    pub mtu: endpoint::Mtu,
    /// `--qlog DIR`: where each connection's trace goes.
    pub qlog: Option<crate::events::QlogDir>,
}

impl Target {
    pub async fn resolve(
        text: &str,
        server_name: Option<&str>,
        family: Family,
        bind: Option<SocketAddr>,
    ) -> Result<Self> {
        let (host, port) = split_host_port(text)?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|err| {
                eyre!("cannot resolve '{host}': {err}; check the host name, or give an IP address")
            })?
            .collect();
        if addrs.is_empty() {
            return Err(eyre!("'{host}' has no addresses; check the host name"));
        }
        let wanted = |addr: &SocketAddr| match family {
            Family::Any => bind.is_none_or(|bind| bind.is_ipv4() == addr.is_ipv4()),
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        };
        let found = addrs.len();
        let addrs: Vec<SocketAddr> = addrs.into_iter().filter(wanted).collect();
        if addrs.is_empty() {
            let which = match (family, bind) {
                (Family::V4, _) => "IPv4 (-4)".to_string(),
                (Family::V6, _) => "IPv6 (-6)".to_string(),
                (Family::Any, Some(bind)) => format!("the family of --bind {bind}"),
                (Family::Any, None) => "any".to_string(),
            };
            return Err(eyre!(
                "'{host}' has {found} address(es) but none of {which}; drop the restriction or \
                 use an address of the other family"
            ));
        }
        let other_family = |bind: SocketAddr| {
            (family == Family::V4 && bind.is_ipv6()) || (family == Family::V6 && bind.is_ipv4())
        };
        if let Some(bind) = bind.filter(|bind| other_family(*bind)) {
            return Err(eyre!(
                "--bind {bind} is of the other address family than -4/-6 asks for"
            ));
        }
        Ok(Self {
            text: text.to_string(),
            addrs,
            server_name: server_name.unwrap_or(&host).to_string(),
            bind,
            cc: CongestionControl::default(),
            mtu: endpoint::Mtu::Jumbo,
            qlog: None,
        })
    }
}

/// Splits `host:port`, `[v6]:port` or `v4:port`.
fn split_host_port(text: &str) -> Result<(String, u16)> {
    let bad = |why: &str| {
        eyre!(
            "'{text}' is not a server address: {why}; expected HOST:PORT such as 127.0.0.1:9999, \
             [::1]:9999 or example.net:4433"
        )
    };
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("the port is missing"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    if host.contains(':') && !text.starts_with('[') {
        return Err(bad("an IPv6 address must be in brackets"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| bad(&format!("'{port}' is not a port number (0-65535)")))?;
    Ok((host.to_string(), port))
}

/// An established connection and what was learned during the handshake.
pub struct Session {
    /// The endpoint must outlive the connection; it also lets us wait for a clean close.
    pub client: endpoint::Client,
    pub connection: Connection,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub alpn: String,
    pub server_name: String,
    pub handshake: Duration,
    /// Whether the handshake resumed a session (`--resume`, `--session`).
    pub resumed: bool,
    /// With `--resume`: the full handshake of the first connection, which fetched the ticket.
    pub full_handshake: Option<Duration>,
    /// The certificate the server presented in this handshake; none when it resumed.
    pub server_certificate: Option<crate::cert::Fingerprint>,
}

impl Session {
    /// Closes the connection cleanly, and lingers one probe timeout (at most a second) while the
    /// close goes out, not s2n-quic's whole closing period of three: that cost `send --count 1`
    /// a second at exit through `relay --delay 50ms` (1.2 s in all for one 100 ms ping). Within
    /// the probe timeout the server answers our last packets if the close was lost, and the
    /// closing connection answers that with the close again.
    pub async fn close(mut self) {
        let pto = self
            .connection
            .query_event_context(ConnectionStats::probe_timeout)
            .unwrap_or_default();
        self.connection.close(0u8.into());
        drop(self.connection);
        let linger = pto.min(Duration::from_secs(1));
        let _ = tokio::time::timeout(linger, self.client.quic.wait_idle()).await;
    }
}

/// Tries each address of `target` in turn; returns the first connection that completes its
/// handshake, or an error that covers every attempt.
pub async fn connect(target: &Target, tls: &ClientTls, timeout: Duration) -> Result<Session> {
    let mut failures = Vec::new();
    for &addr in &target.addrs {
        match attempt(addr, target, tls, timeout).await {
            Ok(session) => return Ok(session),
            Err(err) => {
                debug!("{addr}: {err:#}");
                failures.push(err);
            }
        }
    }
    if failures.len() == 1 {
        return Err(failures.remove(0));
    }
    let all = failures
        .iter()
        .map(|err| format!("{err:#}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(eyre!(
        "could not connect to any of the {} addresses of {}: {all}",
        failures.len(),
        target.text
    ))
}

async fn attempt(
    addr: SocketAddr,
    target: &Target,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<Session> {
    let client = endpoint::client(
        addr,
        target.bind,
        tls,
        target.mtu,
        target.cc,
        target.qlog.as_ref(),
    )?;
    let (connection, handshake) = handshake(&client, addr, target, tls, timeout).await?;
    let alpn = connection
        .application_protocol()
        .map(|alpn| String::from_utf8_lossy(&alpn).into_owned())
        .unwrap_or_default();
    let local = connection.local_addr().map(canonical).unwrap_or(addr);
    let resumed = resumed(&connection);
    Ok(Session {
        client,
        connection,
        remote: canonical(addr),
        local,
        alpn,
        server_name: target.server_name.clone(),
        handshake,
        resumed,
        full_handshake: None,
        server_certificate: tls.server_seen().certificate,
    })
}

/// Whether `connection`'s handshake resumed a session, from the event subscriber.
pub fn resumed(connection: &Connection) -> bool {
    connection
        .query_event_context(|stats: &ConnectionStats| stats.resumed)
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// How long `--resume` waits for the server's session ticket after the handshake. Tickets came
/// 1.0-1.7 ms after the handshake on loopback; a long path adds its round trip.
const TICKET_WAIT: Duration = Duration::from_secs(2);

/// `--resume`: a first connection fetches a ticket, then the session is a resumed one. A server
/// that sends no ticket leaves the first connection as the session, with a warning.
pub async fn connect_resumed(
    target: &Target,
    tls: &ClientTls,
    tickets: &ClientTickets,
    timeout: Duration,
) -> Result<Session> {
    let first = connect(target, tls, timeout).await?;
    if !fetch_ticket(tickets, first.remote, first.handshake).await {
        return Ok(first);
    }
    let full = first.handshake;
    first.close().await;
    let mut session = connect(target, tls, timeout).await?;
    session.full_handshake = Some(full);
    Ok(session)
}

/// Waits for the ticket of a first connection to `server` whose handshake took `handshake`, and
/// makes new connections offer it; false, with a warning, when none came.
pub async fn fetch_ticket(
    tickets: &ClientTickets,
    server: SocketAddr,
    handshake: Duration,
) -> bool {
    let wait = TICKET_WAIT.max(handshake * 4);
    match tickets.wait_for_new(wait).await {
        Some(ticket) => {
            tickets.offer(ticket);
            true
        }
        None => {
            tracing::warn!("{}", no_ticket(&server, wait));
            false
        }
    }
}

/// Why `--resume` could not resume.
fn no_ticket(server: &SocketAddr, waited: Duration) -> String {
    format!(
        "--resume: the server at {server} sent no session ticket within {} of the handshake, \
         so there is nothing to resume with: it may not issue tickets (qecho serve \
         --no-session-tickets, or a server without resumption); the run goes on with a full \
         handshake",
        humantime::format_duration(waited)
    )
}

/// One handshake with `addr` from an existing client endpoint, bounded by `timeout`; returns the
/// connection and how long the handshake took.
pub async fn handshake(
    client: &endpoint::Client,
    addr: SocketAddr,
    target: &Target,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<(Connection, Duration)> {
    let connect = Connect::new(addr).with_server_name(target.server_name.as_str());
    let started = Instant::now();
    let attempt = tokio::time::timeout(timeout, client.quic.connect(connect));
    let mut connection = tokio::select! {
        attempt = attempt => match attempt {
            Err(_) => return Err(no_answer(addr, timeout, tls)),
            Ok(Err(err)) => return Err(handshake_failed(&err, addr, target, tls)),
            Ok(Ok(connection)) => connection,
        },
        versions = client.negotiations.from(addr) => return Err(not_version_1(addr, &versions)),
        () = nothing_listens(addr, target.bind) => return Err(port_unreachable(addr)),
    };
    let elapsed = started.elapsed();
    if tls.server_seen().asked_for_client_certificate
        && let Ok(Err(err)) =
            tokio::time::timeout(timeout, client_cert_verdict(&mut connection)).await
    {
        return Err(client_cert_refused(&err, addr, tls));
    }
    Ok((connection, elapsed))
}

/// In TLS 1.3 the client's handshake completes before the server has checked the client's
/// certificate; a server that refuses it closes the connection a round trip later. So when the
/// server asked for a certificate, wait for its verdict here, where the error can say what to do,
/// rather than fail the first echo: the handshake is confirmed (HANDSHAKE_DONE) only once the
/// server has accepted us. Silence until the timeout is no verdict: the mode finds out.
async fn client_cert_verdict(connection: &mut Connection) -> Result<(), ConnectionError> {
    let verdict = connection.query_event_context(|stats: &ConnectionStats| stats.verdict.clone());
    match verdict {
        Ok(verdict) => verdict.wait().await,
        // No subscriber context (cannot happen with our endpoints): let the mode find out.
        Err(_) => Ok(()),
    }
}

/// How long a handshake may go unanswered before `send` checks whether anything listens on the
/// server's UDP port at all.
const PROBE_AFTER: Duration = Duration::from_millis(300);

/// Completes if the server's host answers one byte sent to its UDP port with ICMP port
/// unreachable: nothing listens there. s2n-quic's socket is not connected, so the kernel never
/// passes that ICMP on to it; a connected socket of our own hears it. Never completes otherwise
/// (silence, a firewall, or a live server, which drops a datagram too short to be QUIC).
async fn nothing_listens(addr: SocketAddr, bind: Option<SocketAddr>) {
    tokio::time::sleep(PROBE_AFTER).await;
    // The client's own address, on a port of its own: --bind's port is s2n-quic's.
    let local = SocketAddr::new(endpoint::client_address(addr, bind).ip(), 0);
    let refused = async {
        let socket = tokio::net::UdpSocket::bind(local).await.ok()?;
        socket.connect(addr).await.ok()?;
        socket.send(&[0]).await.ok()?;
        let mut answer = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut answer)).await {
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        }
    };
    if refused.await.is_none() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("127.0.0.1:9").unwrap(),
            ("127.0.0.1".into(), 9)
        );
        assert_eq!(split_host_port("[::1]:9").unwrap(), ("::1".into(), 9));
        assert_eq!(
            split_host_port("example.net:443").unwrap(),
            ("example.net".into(), 443)
        );
        for bad in ["example.net", ":9", "::1:9", "host:port", "host:70000"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
