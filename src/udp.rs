//! UDP sockets, as every part of qecho opens them: bound with an error that says what to do, and
//! with buffers large enough for bursts. Shared by the QUIC endpoints and the relay.

#[cfg(target_os = "linux")]
pub mod priority;

use color_eyre::eyre::{Result, eyre};
use std::io;
use std::net::{SocketAddr, UdpSocket};

/// The length of the connection IDs the server chooses (`endpoint::server`), one that clients
/// rarely pick for a new connection (s2n-quic's clients choose 16 bytes, quinn's 20, aioquic's
/// and Chrome's 8, quic-go's 8 to 20): a long header packet with a destination connection ID of
/// this length belongs to a connection the server already knows (`priority`).
pub const SERVER_CONNECTION_ID_LEN: usize = 17;

/// Binds a UDP socket on `addr`, so that a busy port or a foreign address gets a clear message
/// (`doing` says what for: "listen on", "bind") instead of a bare OS error.
pub fn bind(addr: SocketAddr, doing: &str) -> Result<UdpSocket> {
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

/// Asks the kernel for `bytes` of receive and send buffer. Linux caps the request silently at
/// net.core.rmem_max / wmem_max; a refusal leaves the default, which is merely smaller.
pub fn set_buffers(socket: &UdpSocket, bytes: usize) {
    let socket = socket2::SockRef::from(socket);
    let _ = socket.set_recv_buffer_size(bytes);
    let _ = socket.set_send_buffer_size(bytes);
}

/// The unspecified address of `remote`'s family, port 0: where to bind to reach `remote` from any
/// local address.
pub fn any_address_for(remote: SocketAddr) -> SocketAddr {
    if remote.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    }
}
