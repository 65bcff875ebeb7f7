//! Interop with quinn, the other Rust QUIC stack (independent of s2n-quic, on rustls): a quinn
//! client against `qecho serve`, and `qecho send` in each mode against a quinn echo server. Both
//! quinn ends run inside the test, on loopback, with a fresh self-signed certificate.

mod common;

use common::skip_chain::SkipChainCheck;
use common::{DEADLINE, Server, assert_status, last_json, send};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const ALPN: &str = "quic-example";
/// The quinn server's streams and idle timeout.
const QUINN_STREAMS: u32 = 64;
const QUINN_IDLE_TIMEOUT_MS: u32 = 20_000;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A quinn echo server on 127.0.0.1:0: every bidirectional stream and every datagram echoed.
/// Runs until the returned runtime is dropped.
fn quinn_server() -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der()).expect("key");
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    tls.alpn_protocols = vec![ALPN.as_bytes().to_vec()];
    let crypto = QuicServerConfig::try_from(tls).expect("QUIC TLS config");
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    // Set rather than left to quinn's defaults, so that `probe` can be checked against them.
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(QUINN_STREAMS.into())
        .max_idle_timeout(Some(quinn::VarInt::from_u32(QUINN_IDLE_TIMEOUT_MS).into()));
    config.transport_config(Arc::new(transport));
    let endpoint = runtime
        .block_on(async { quinn::Endpoint::server(config, ([127, 0, 0, 1], 0).into()) })
        .expect("quinn server");
    let addr = endpoint.local_addr().expect("local addr");
    runtime.spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                let datagrams = connection.clone();
                tokio::spawn(async move {
                    while let Ok(datagram) = datagrams.read_datagram().await {
                        let _ = datagrams.send_datagram(datagram);
                    }
                });
                while let Ok((mut send, mut receive)) = connection.accept_bi().await {
                    tokio::spawn(async move {
                        if tokio::io::copy(&mut receive, &mut send).await.is_ok() {
                            let _ = send.finish();
                        }
                    });
                }
            });
        }
    });
    (runtime, addr)
}

#[test]
fn qecho_send_in_every_mode_against_a_quinn_server() {
    let (_runtime, addr) = quinn_server();
    let target = addr.to_string();

    let out = send(&target, &["-k", "--count", "3", "--interval", "20ms"]);
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains(", alpn quic-example,"), "{stdout}");
    assert!(
        stdout.contains("3 sent, 3 received, 0 corrupted, 0% loss"),
        "{stdout}"
    );

    let out = send(
        &target,
        &["-k", "--datagram", "--count", "5", "--interval", "20ms"],
    );
    let stdout = assert_status(&out, 0);
    assert!(
        stdout.contains("5 sent, 5 received, 0 corrupted"),
        "{stdout}"
    );

    let out = send(
        &target,
        &["-k", "--bytes", "20MiB", "--streams", "4", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    assert_eq!(summary["echoed_bytes"], 20 << 20, "{summary}");

    let out = send(
        &target,
        &["-k", "--connections", "50", "--parallel", "8", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    assert_eq!(summary["ok"], 50, "{summary}");
}

/// A quinn client configured for qecho's ALPN that skips the chain check, as `send -k` does.
fn quinn_client_config() -> quinn::ClientConfig {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipChainCheck(provider())))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.as_bytes().to_vec()];
    let crypto = QuicClientConfig::try_from(tls).expect("QUIC TLS config");
    quinn::ClientConfig::new(Arc::new(crypto))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects a quinn client with `config` to `server`, runs `session` on the connection within the
/// test's deadline, closes it, and returns `serve`'s line about the closed connection.
fn quinn_session<F, Fut>(server: &Server, config: quinn::ClientConfig, session: F) -> String
where
    F: FnOnce(quinn::Connection) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let run = async {
        let mut endpoint = quinn::Endpoint::client(([127, 0, 0, 1], 0).into())?;
        endpoint.set_default_client_config(config);
        let connection = endpoint.connect(server.addr, "localhost")?.await?;
        session(connection.clone()).await?;
        connection.close(0u32.into(), b"done");
        endpoint.wait_idle().await;
        Ok::<_, BoxError>(())
    };
    runtime
        .block_on(async { tokio::time::timeout(DEADLINE, run).await })
        .expect("within the deadline")
        .unwrap_or_else(|err| panic!("quinn client: {err}\n{}", server.log.text()));
    server
        .log
        .wait_for("bytes echoed", DEADLINE)
        .unwrap_or_else(|| panic!("no close logged:\n{}", server.log.text()))
}

#[test]
fn unidirectional_streams_are_echoed_on_the_servers_in_order() {
    let server = Server::start(&[]);
    let messages: Vec<bytes::Bytes> = (0..3)
        .map(|i| common::peer::payload(i, 1000 + i as usize * 70_000))
        .collect();
    let sent = &messages;
    let closed = quinn_session(&server, quinn_client_config(), |connection| async move {
        // All three written and finished before any echo is read: the server must queue them.
        for message in sent {
            let mut send = connection.open_uni().await?;
            send.write_all(message).await?;
            send.finish()?;
        }
        for (i, message) in sent.iter().enumerate() {
            let mut receive = connection.accept_uni().await?;
            let echo = receive.read_to_end(1 << 20).await?;
            assert!(
                echo == *message,
                "echo {i}: {} bytes, expected {}",
                echo.len(),
                message.len()
            );
        }
        Ok(())
    });
    let bytes: usize = messages.iter().map(bytes::Bytes::len).sum();
    assert!(
        closed.contains(&format!("{bytes} bytes echoed on 3 stream(s)")),
        "{closed}"
    );
}

#[test]
fn a_client_that_allows_no_streams_back_still_gets_its_bidirectional_echoes() {
    let server = Server::start(&[]);
    let mut config = quinn_client_config();
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_uni_streams(0u8.into());
    config.transport_config(Arc::new(transport));
    let closed = quinn_session(&server, config, |connection| async move {
        // The server cannot open a stream to echo this on; it must not stop serving the rest.
        let mut unechoed = connection.open_uni().await?;
        unechoed.write_all(b"nowhere to echo this").await?;
        let (mut send, mut receive) = connection.open_bi().await?;
        send.write_all(b"bidirectional").await?;
        send.finish()?;
        assert_eq!(receive.read_to_end(1024).await?, b"bidirectional");
        Ok(())
    });
    assert!(
        closed.contains("13 bytes echoed on 2 stream(s)"),
        "{closed}"
    );
    assert!(closed.contains("closed by the client"), "{closed}");
}

/// An echo mirrors an abort: a client that resets its side of a stream gets the rest of the echo
/// reset with the same code, not finished as if it were whole (dropping an s2n-quic send stream
/// finishes it); the same for a unidirectional stream and the server's stream that echoes it; and
/// a client that stops reading (STOP_SENDING) is told to stop sending, with its code.
#[test]
fn a_stream_the_client_resets_is_reset_back_with_its_code() {
    let server = Server::start(&[]);
    let closed = quinn_session(&server, quinn_client_config(), |connection| async move {
        let (mut send, mut receive) = connection.open_bi().await?;
        send.write_all(b"cut short").await?;
        let mut echo = [0u8; 9];
        receive.read_exact(&mut echo).await?;
        send.reset(42u32.into())?;
        match receive.read_to_end(1024).await {
            Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code))) => {
                assert_eq!(code, 42u32.into(), "bidirectional: reset code")
            }
            other => panic!("bidirectional: expected a reset with code 42, got {other:?}"),
        }

        let mut send = connection.open_uni().await?;
        send.write_all(b"one way").await?;
        let mut receive = connection.accept_uni().await?;
        let mut echo = [0u8; 7];
        receive.read_exact(&mut echo).await?;
        send.reset(43u32.into())?;
        match receive.read_to_end(1024).await {
            Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code))) => {
                assert_eq!(code, 43u32.into(), "unidirectional: reset code")
            }
            other => panic!("unidirectional: expected a reset with code 43, got {other:?}"),
        }

        // And the other way round: a client that stops reading its echo is told to stop sending
        // (4 MB is past the stream's 2 MiB window, so the writes cannot all be taken in unread).
        let (mut send, mut receive) = connection.open_bi().await?;
        receive.stop(44u32.into())?;
        let mut stopped = None;
        for _ in 0..4000 {
            match send.write_all(&[7; 1024]).await {
                Ok(()) => continue,
                Err(quinn::WriteError::Stopped(code)) => {
                    stopped = Some(code);
                    // quinn leaves the RESET_STREAM that STOP_SENDING calls for to us; until
                    // then it keeps sending what it buffered, and once it had filled its
                    // congestion window that way it could not even send its CONNECTION_CLOSE.
                    send.reset(code)?;
                    break;
                }
                Err(other) => panic!("expected STOP_SENDING with code 44, got {other:?}"),
            }
        }
        assert_eq!(stopped, Some(44u32.into()), "STOP_SENDING code");

        // The connection carries on.
        let (mut send, mut receive) = connection.open_bi().await?;
        send.write_all(b"still here").await?;
        send.finish()?;
        assert_eq!(receive.read_to_end(1024).await?, b"still here");
        Ok(())
    });
    assert!(closed.contains("echoed on 4 stream(s)"), "{closed}");
}

#[test]
fn quinn_client_against_qecho_serve() {
    let server = Server::start(&[]);
    let closed = quinn_session(&server, quinn_client_config(), |connection| async move {
        // Three messages on one stream, each read back before the next, then FIN both ways.
        let (mut send, mut receive) = connection.open_bi().await?;
        for i in 0..3 {
            let message = format!("quinn message {i}");
            send.write_all(message.as_bytes()).await?;
            let mut echo = vec![0; message.len()];
            receive.read_exact(&mut echo).await?;
            assert_eq!(echo, message.as_bytes(), "echo {i}");
        }
        send.finish()?;
        assert_eq!(
            receive.read_to_end(1024).await?.len(),
            0,
            "bytes after the echo"
        );

        // Datagrams, one at a time.
        for i in 0..3 {
            let message = bytes::Bytes::from(format!("quinn datagram {i}"));
            connection.send_datagram(message.clone())?;
            let echo =
                tokio::time::timeout(Duration::from_secs(5), connection.read_datagram()).await??;
            assert_eq!(echo, message, "datagram {i}");
        }

        // 4 MiB on a second stream, written and read at once.
        let (mut send, mut receive) = connection.open_bi().await?;
        let data = common::peer::payload(5, 4 << 20);
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            send.write_all(&data).await?;
            send.finish()?;
            Ok::<_, BoxError>(())
        });
        let echo = receive.read_to_end(8 << 20).await?;
        writer.await??;
        assert!(echo == expected, "bulk echo differs ({} bytes)", echo.len());
        Ok(())
    });
    let bytes = 3 * "quinn message 0".len() + (4 << 20) + 3 * "quinn datagram 0".len();
    assert!(
        closed.contains(&format!(
            "{bytes} bytes echoed on 2 stream(s) and 3 datagram(s)"
        )),
        "{closed}"
    );
    assert!(closed.contains("closed by the client"), "{closed}");
}

/// Resumption, quinn's client against `qecho serve`: rustls keeps the ticket qecho's server sends,
/// and quinn's second connection from the same configuration resumes.
#[test]
fn a_quinn_client_resumes_its_session_with_qecho_serve() {
    let server = Server::start(&["--alpn", ALPN]);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let run = async {
        let mut endpoint = quinn::Endpoint::client(([127, 0, 0, 1], 0).into())?;
        endpoint.set_default_client_config(quinn_client_config());
        for _ in 0..2 {
            let connection = endpoint.connect(server.addr, "localhost")?.await?;
            let (mut send, mut receive) = connection.open_bi().await?;
            send.write_all(b"resume me").await?;
            send.finish()?;
            let echo = receive.read_to_end(64).await?;
            assert_eq!(echo, b"resume me");
            connection.close(0u32.into(), b"done");
        }
        endpoint.wait_idle().await;
        Ok::<_, BoxError>(())
    };
    runtime
        .block_on(async { tokio::time::timeout(DEADLINE, run).await })
        .expect("within the deadline")
        .unwrap_or_else(|err| panic!("quinn client: {err}\n{}", server.log.text()));
    let first = server
        .log
        .wait_for("connection 0: handshake complete", DEADLINE)
        .unwrap();
    let second = server
        .log
        .wait_for("connection 1: handshake complete", DEADLINE)
        .unwrap();
    assert!(first.contains("(full)"), "{first}");
    assert!(
        second.contains("(resumed)"),
        "quinn did not resume: {second}"
    );
}

/// Resumption, `qecho send --resume` against quinn's server (rustls issues TLS 1.3 tickets).
#[test]
fn qecho_send_resumes_with_a_quinn_server() {
    let (_runtime, addr) = quinn_server();
    let out = send(
        &addr.to_string(),
        &["-k", "--resume", "--count", "2", "--interval", "0s"],
    );
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains("(resumed; the full one took"), "{stdout}");
    assert!(stdout.contains("2 sent, 2 received"), "{stdout}");
}

/// `qecho probe` against the quinn server reports the settings it was given.
#[test]
fn qecho_probe_reads_a_quinn_server() {
    let (_runtime, addr) = quinn_server();
    let (code, report) = common::probe_json(&[&addr.to_string(), "-k", "--alpn", ALPN]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["alpn"], ALPN, "{report}");
    let tp = &report["transport_parameters"];
    assert_eq!(tp["initial_max_streams_bidi"], QUINN_STREAMS, "{tp}");
    assert_eq!(tp["max_idle_timeout_ms"], QUINN_IDLE_TIMEOUT_MS, "{tp}");
    assert_eq!(
        report["tls"]["chain"][0]["names"][0], "localhost",
        "{report}"
    );
}
