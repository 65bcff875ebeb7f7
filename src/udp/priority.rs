//! A server's two receive sockets on one port, so that packets of established connections are
//! read before new connections' handshakes (issue 18, latency under load).
//!
//! Both sockets join one SO_REUSEPORT group, and a classic BPF program on the group picks the
//! socket for each datagram from its first bytes, which header protection leaves readable
//! enough (RFC 9000 17.2, RFC 9001 5.4.1): the Initial and 0-RTT packets that begin new
//! connections, where the server does a handshake's costly work, go to the regular socket;
//! everything else (1-RTT packets, Handshake packets, and Initials sent to a connection ID the
//! server chose) to the prioritized one, which s2n-quic's I/O drains first
//! (`with_prioritized_socket`). Without it, an echo of an established connection waits in the
//! kernel's queue behind every Initial that arrived before it. A client's Finished must not
//! fall behind its first 1-RTT packets, which the server could not yet read: with every long
//! header in the slow lane, and then with every Initial (a client's Finished shares a datagram
//! with its Initial ACK), the first DATAGRAM frames of a fast client were lost.
//!
//! SO_REUSEPORT alone would let a second server bind the same port and share its traffic
//! without a word; so the port is first bound plainly, which fails as any busy port does, and
//! only then taken by the group.

use super::SERVER_CONNECTION_ID_LEN;
use color_eyre::eyre::Result;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, UdpSocket};

/// The regular socket (new connections' Initial and 0-RTT packets) and the prioritized one
/// (everything else), bound to one port.
pub struct Sockets {
    pub regular: UdpSocket,
    pub prioritized: UdpSocket,
}

/// What `bind` got: the pair, or one plain socket where the kernel refused the pair (a kernel
/// before 4.5, a seccomp filter), after a warning.
pub enum Bound {
    Pair(Sockets),
    Single(UdpSocket),
}

/// Binds the pair on `addr` (port 0: any free port) and steers datagrams between them.
pub fn bind(addr: SocketAddr, doing: &str) -> Result<Bound> {
    let port = super::bind(addr, doing)?.local_addr()?.port();
    let addr = SocketAddr::new(addr.ip(), port);
    match bind_pair(addr) {
        Ok(sockets) => Ok(Bound::Pair(sockets)),
        Err(err) => {
            tracing::warn!(
                "cannot give established connections a socket of their own on {addr} ({err}); \
                 every datagram is read in arrival order"
            );
            Ok(Bound::Single(super::bind(addr, doing)?))
        }
    }
}

fn bind_pair(addr: SocketAddr) -> std::io::Result<Sockets> {
    let join = || -> std::io::Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        Ok(socket.into())
    };
    // The group's sockets are numbered in the order they joined: 0, then 1.
    let regular = join()?;
    let prioritized = join()?;
    steer_by_packet_type(&regular)?;
    Ok(Sockets {
        regular,
        prioritized,
    })
}

/// Attaches the program to the group. It sees the UDP payload. Its first byte, masked to the
/// header form (0x80) and the low bit of the long packet type (0x20), is 0x80 for an Initial
/// (type 0) or a 0-RTT packet (type 1) in QUIC v1; those go to socket 0 unless their destination
/// connection ID (its length at byte 5) is one of ours. Everything else goes to socket 1.
fn steer_by_packet_type(socket: &UdpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let instruction = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // Jump offsets count from the next instruction.
    let program = [
        instruction(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0, 0, 0),
        instruction(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0, 0, 0xa0),
        instruction(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 2, 0x80),
        instruction(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0, 0, 5),
        instruction(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            1,
            SERVER_CONNECTION_ID_LEN as u32,
        ),
        instruction(libc::BPF_RET | libc::BPF_K, 0, 0, 1),
        instruction(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`, which lives to the end of this call; the kernel copies it.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A loopback address with a port that was free a moment ago.
    fn free_port() -> SocketAddr {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        probe.local_addr().expect("its address")
    }

    /// Sends a datagram that starts with `first_byte`, a version, and a destination connection
    /// ID length `dcid_len`, to the pair, and says which socket got it.
    fn receiver_of(sockets: &Sockets, first_byte: u8, dcid_len: u8) -> &'static str {
        let port = sockets.regular.local_addr().map(|a| a.port()).unwrap_or(0);
        let sender = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let datagram = [first_byte, 0, 0, 0, 1, dcid_len, 6, 7];
        sender
            .send_to(&datagram, ("127.0.0.1", port))
            .expect("send");
        let mut buffer = [0u8; 64];
        for socket in [&sockets.regular, &sockets.prioritized] {
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("a read timeout");
        }
        // One of the two has it, the other times out: loopback delivers within send_to.
        let regular = sockets.regular.recv(&mut buffer);
        let prioritized = sockets.prioritized.recv(&mut buffer);
        match (regular, prioritized) {
            (Ok(_), Err(_)) => "regular",
            (Err(_), Ok(_)) => "prioritized",
            (Ok(_), Ok(_)) => "both",
            (Err(_), Err(_)) => "neither",
        }
    }

    #[test]
    fn new_connections_initial_and_0rtt_packets_go_to_the_regular_socket_the_rest_to_the_other() {
        let sockets = bind_pair(free_port()).expect("binding the pair");
        // The first byte: form bit 0x80, fixed bit 0x40, long packet type 0x30, then the bits
        // header protection masks (set here to show they do not count).
        let ours = SERVER_CONNECTION_ID_LEN as u8;
        let cases = [
            (0x40, 8, "prioritized"),    // 1-RTT
            (0x5f, 8, "prioritized"),    // 1-RTT, protected bits set
            (0xc0, 8, "regular"),        // Initial: a new connection
            (0xcf, 20, "regular"),       // the same, protected bits set
            (0xc0, ours, "prioritized"), // Initial to one of our IDs (an ACK, with a Finished)
            (0xd0, 16, "regular"),       // 0-RTT
            (0xd0, ours, "prioritized"), // 0-RTT to one of ours
            (0xe0, 8, "prioritized"),    // Handshake
            (0xf0, 8, "prioritized"),    // Retry
            (0x00, 0, "prioritized"),
        ];
        for _ in 0..2 {
            for (first_byte, dcid_len, receiver) in cases {
                let got = receiver_of(&sockets, first_byte, dcid_len);
                assert_eq!(got, receiver, "{first_byte:#04x}, DCID length {dcid_len}");
            }
        }
    }

    #[test]
    fn a_port_held_by_the_pair_is_refused_to_another_server() {
        let sockets = bind_pair(free_port()).expect("binding the pair");
        let taken = sockets.regular.local_addr().expect("its address");
        let second = bind(taken, "listen on").err().map(|err| err.to_string());
        assert!(
            second
                .as_deref()
                .is_some_and(|e| e.contains("already in use")),
            "a second pair on {taken}: {second:?}"
        );
        assert!(
            UdpSocket::bind(taken).is_err(),
            "a plain socket on {taken} bound"
        );
    }
}
