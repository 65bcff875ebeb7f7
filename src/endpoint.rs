//! The QUIC endpoint setup that `serve` and `send` share: the UDP socket, the I/O and MTU settings,
//! and the event subscriber. Both ends are built here so that they cannot drift apart.

use crate::events::PathLogger;
use crate::tls::{ClientTls, ServerTls};
use color_eyre::eyre::{Result, eyre};
use std::io;
use std::net::{SocketAddr, UdpSocket};

/// The largest UDP payload we let path MTU discovery probe for. s2n-quic's default of 1500 caps
/// loopback and jumbo-frame paths; discovery still starts small and only grows on paths that carry
/// it. (s2n-quic 1.91 corrupted its heap at 65000 with GSO, hence not higher.)
const MAX_MTU: u16 = 9000;

/// Starts a server endpoint listening on `listen`.
pub fn server(listen: SocketAddr, tls: &ServerTls) -> Result<s2n_quic::Server> {
    let socket = bind(listen, "listen on")?;
    let io = s2n_quic::provider::io::tokio::Builder::default()
        .with_rx_socket(socket)
        .and_then(|io| io.with_max_mtu(MAX_MTU))
        .and_then(|io| io.build())
        .map_err(|err| eyre!("cannot set up the UDP socket on {listen}: {err}"))?;
    s2n_quic::Server::builder()
        .with_tls(tls.provider()?)
        .map_err(|err| eyre!("cannot set up TLS: {err}"))?
        .with_io(io)
        .map_err(|err| eyre!("cannot set up I/O: {err}"))?
        .with_event(PathLogger)
        .map_err(|err| eyre!("cannot set up event logging: {err}"))?
        .start()
        .map_err(|err| eyre!("cannot start the QUIC server on {listen}: {err}"))
}

/// Starts a client endpoint on an ephemeral port of the same address family as `remote`.
pub fn client(remote: SocketAddr, tls: &ClientTls) -> Result<s2n_quic::Client> {
    let local: SocketAddr = if remote.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = bind(local, "bind")?;
    let io = s2n_quic::provider::io::tokio::Builder::default()
        .with_rx_socket(socket)
        .and_then(|io| io.with_max_mtu(MAX_MTU))
        .and_then(|io| io.build())
        .map_err(|err| eyre!("cannot set up the UDP socket on {local}: {err}"))?;
    s2n_quic::Client::builder()
        .with_tls(tls.provider()?)
        .map_err(|err| eyre!("cannot set up TLS: {err}"))?
        .with_io(io)
        .map_err(|err| eyre!("cannot set up I/O: {err}"))?
        .with_event(PathLogger)
        .map_err(|err| eyre!("cannot set up event logging: {err}"))?
        .start()
        .map_err(|err| eyre!("cannot start the QUIC client: {err}"))
}

/// Binds the UDP socket ourselves, so that a busy port or a foreign address gets a clear message
/// instead of s2n-quic's generic start error.
fn bind(addr: SocketAddr, doing: &str) -> Result<UdpSocket> {
    UdpSocket::bind(addr).map_err(|err| {
        let advice = match err.kind() {
            io::ErrorKind::AddrInUse => format!(
                "the port {} is already in use by another program; pick another port, or port 0 \
                 for any free one",
                addr.port()
            ),
            io::ErrorKind::AddrNotAvailable => format!(
                "{} is not an address of this machine; use one of its addresses, or 0.0.0.0 / [::] \
                 for all of them",
                addr.ip()
            ),
            io::ErrorKind::PermissionDenied => {
                "permission denied; ports below 1024 need privileges, pick a higher one".to_string()
            }
            _ => err.to_string(),
        };
        eyre!("cannot {doing} {addr}: {advice}")
    })
}
