//! A small s2n-quic peer inside the tests, for what `qecho send` cannot do (yet): many streams at
//! once, and servers that misbehave on purpose.

use bytes::Bytes;
use s2n_quic::client::Connect;
use s2n_quic::provider::tls::default as tls;
use s2n_quic::{Client, Connection, Server};
use std::net::SocketAddr;
use std::time::Duration;

pub const ALPN: &str = "qecho";

/// A self-signed certificate and key for localhost and 127.0.0.1.
pub fn self_signed() -> (String, String) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// A client endpoint on 127.0.0.1 that trusts `cert_pem` only.
pub fn client(cert_pem: &str) -> Client {
    let tls = tls::Client::builder()
        .with_empty_trust_store()
        .and_then(|b| b.with_certificate(cert_pem))
        .and_then(|b| b.with_application_protocols([ALPN]))
        .and_then(|b| b.build())
        .expect("client tls");
    // Per-stream windows below the connection window, as qecho sets them: with s2n-quic's defaults
    // (equal windows) one unread stream would block the whole connection on the client side.
    let limits = s2n_quic::provider::limits::Limits::new()
        .with_data_window(8 << 20)
        .and_then(|l| l.with_bidirectional_local_data_window(2 << 20))
        .and_then(|l| l.with_bidirectional_remote_data_window(2 << 20))
        .expect("limits");
    Client::builder()
        .with_tls(tls)
        .expect("with_tls")
        .with_limits(limits)
        .expect("with_limits")
        .with_io("127.0.0.1:0")
        .expect("with_io")
        .start()
        .expect("start client")
}

pub async fn connect(client: &Client, addr: SocketAddr) -> Connection {
    let attempt = client.connect(Connect::new(addr).with_server_name("localhost"));
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .expect("handshake within 10 s")
        .expect("handshake")
}

/// Pseudo-random bytes, different for every `seed`.
pub fn payload(seed: u64, len: usize) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Opens a stream, sends `data` while reading the echo, finishes, and checks every byte and the
/// server's FIN.
pub async fn echo_stream(connection: &mut s2n_quic::connection::Handle, data: Bytes) {
    let stream = connection
        .open_bidirectional_stream()
        .await
        .expect("open stream");
    let (mut receiver, mut sender) = stream.split();
    let expected = data.clone();
    let write = async move {
        for chunk in data.chunks(16 * 1024) {
            sender
                .send(Bytes::copy_from_slice(chunk))
                .await
                .expect("send");
        }
        sender.finish().expect("finish");
    };
    let read = async move {
        let mut echo = Vec::with_capacity(expected.len());
        while let Some(chunk) = receiver.receive().await.expect("receive") {
            echo.extend_from_slice(&chunk);
            assert!(
                echo.len() <= expected.len(),
                "more bytes came back than were sent"
            );
        }
        assert_eq!(echo.len(), expected.len(), "echo length");
        assert!(echo == expected, "echo differs from what was sent");
    };
    tokio::join!(write, read);
}

/// How a deliberately broken server treats each stream.
#[derive(Clone, Copy)]
pub enum Misbehaviour {
    /// Reads the first chunk, then resets the stream with application code 7.
    ResetStream,
    /// Reads the first chunk, then closes the connection with application code 9.
    CloseConnection,
    /// Echoes everything, but with the 10th byte of the stream flipped.
    Corrupt,
    /// Echoes half of the first chunk, then finishes the stream.
    Truncate,
    /// Echoes every chunk twice.
    Duplicate,
    /// Reads everything and never echoes.
    Silent,
    /// Echoes every chunk after this many milliseconds.
    Delay(u64),
    /// Echoes everything and never finishes its side, as quic-go's echo example does.
    NeverFinish,
}

/// A server endpoint on 127.0.0.1:0 presenting `cert_pem`, speaking ALPN qecho; what it does
/// with connections is up to the caller. Must be called inside a tokio runtime.
pub fn server(cert_pem: &str, key_pem: &str) -> (Server, SocketAddr) {
    let tls = tls::Server::builder()
        .with_certificate(cert_pem, key_pem)
        .and_then(|b| b.with_application_protocols([ALPN]))
        .and_then(|b| b.build())
        .expect("server tls");
    let server = Server::builder()
        .with_tls(tls)
        .expect("with_tls")
        .with_io("127.0.0.1:0")
        .expect("with_io")
        .start()
        .expect("start server");
    let addr = server.local_addr().expect("local addr");
    (server, addr)
}

/// Broken servers for a test: one runtime that keeps them all running, and one certificate.
pub struct BrokenServers {
    runtime: tokio::runtime::Runtime,
    cert: String,
    key: String,
}

impl BrokenServers {
    pub fn new() -> Self {
        let (cert, key) = self_signed();
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        BrokenServers { runtime, cert, key }
    }

    /// Starts a server that does `behaviour`; returns its address as `qecho send` takes it.
    pub fn start(&self, behaviour: Misbehaviour) -> String {
        self.runtime
            .block_on(async { broken_server(behaviour, &self.cert, &self.key) })
            .to_string()
    }
}

/// Starts a broken server on 127.0.0.1:0 in the current runtime; returns its address.
pub fn broken_server(behaviour: Misbehaviour, cert_pem: &str, key_pem: &str) -> SocketAddr {
    let (mut server, addr) = server(cert_pem, key_pem);
    tokio::spawn(async move {
        while let Some(connection) = server.accept().await {
            tokio::spawn(misbehave(connection, behaviour));
        }
    });
    addr
}

async fn misbehave(mut connection: Connection, behaviour: Misbehaviour) {
    while let Ok(Some(stream)) = connection.accept_bidirectional_stream().await {
        if let Misbehaviour::CloseConnection = behaviour {
            let mut stream = stream;
            if stream.receive().await.ok().flatten().is_some() {
                connection.close(9u8.into());
                return;
            }
            continue;
        }
        tokio::spawn(misbehave_on_stream(stream, behaviour));
    }
}

async fn misbehave_on_stream(
    mut stream: s2n_quic::stream::BidirectionalStream,
    behaviour: Misbehaviour,
) {
    let mut offset = 0usize;
    while let Ok(Some(chunk)) = stream.receive().await {
        let mut bytes = chunk.to_vec();
        let echo: Vec<Vec<u8>> = match behaviour {
            Misbehaviour::ResetStream => {
                let _ = stream.reset(7u8.into());
                return;
            }
            Misbehaviour::Corrupt => {
                if (offset..offset + bytes.len()).contains(&9) {
                    bytes[9 - offset] ^= 0xff;
                }
                vec![bytes]
            }
            Misbehaviour::Truncate => {
                bytes.truncate(bytes.len() / 2);
                let _ = stream.send(bytes.into()).await;
                let _ = stream.finish();
                return;
            }
            Misbehaviour::Duplicate => vec![bytes.clone(), bytes],
            Misbehaviour::Silent => vec![],
            Misbehaviour::Delay(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                vec![bytes]
            }
            Misbehaviour::NeverFinish => vec![bytes],
            Misbehaviour::CloseConnection => unreachable!("handled per connection"),
        };
        offset += chunk.len();
        for part in echo {
            if stream.send(part.into()).await.is_err() {
                return;
            }
        }
    }
    if let Misbehaviour::NeverFinish = behaviour {
        // Dropping the stream would end it: hold it until the test's runtime goes.
        std::future::pending::<()>().await;
    }
    let _ = stream.finish();
}
