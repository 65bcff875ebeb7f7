//! A plain s2n-quic echo server (this binary re-executed as `s2n-server`), for the rows where the
//! plain s2n-quic client talks to it: s2n-quic on both ends with none of qecho's code, which tells
//! what `qecho serve` adds from what s2n-quic itself costs.
//!
//! Set as `qecho serve` is where it matters to these rows: a current-thread runtime, qecho's TLS
//! policy (X25519 first), an ECDSA P-256 certificate, 4 MiB socket buffers, a 512 KiB receive
//! ring and MTU discovery up to 9000 bytes. Not like it: no session tickets, no event subscriber,
//! no limits, no DATAGRAM echo; s2n-quic's defaults otherwise.

use super::*;

/// `echo s2n-server`: on 127.0.0.1, an ephemeral port, printed as `listening on ADDR`; every
/// bidirectional stream echoed. Runs until killed.
pub(crate) fn s2n_server() -> Result<()> {
    current_thread()?.block_on(async {
        let mut server = s2n_quic::Server::builder()
            .with_tls(plain_tls()?)
            .map_err(|err| eyre!("server TLS: {err}"))?
            .with_io(plain_io()?)
            .map_err(|err| eyre!("server I/O: {err}"))?
            .start()
            .map_err(|err| eyre!("cannot start the s2n-quic server: {err}"))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}", server.local_addr()?)?;
        stdout.flush()?;
        while let Some(mut connection) = server.accept().await {
            tokio::spawn(async move {
                while let Ok(Some(stream)) = connection.accept_bidirectional_stream().await {
                    tokio::spawn(echo_stream(stream));
                }
            });
        }
        Ok(())
    })
}

async fn echo_stream(stream: s2n_quic::stream::BidirectionalStream) {
    let (mut receiver, mut sender) = stream.split();
    while let Ok(Some(chunk)) = receiver.receive().await {
        if sender.send(chunk).await.is_err() {
            return;
        }
    }
    let _ = sender.finish();
}

fn plain_tls() -> Result<s2n_quic::provider::tls::default::Server> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let names = vec![SERVER_NAME.to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::CertificateParams::new(names)?.self_signed(&key)?;
    let mut tls = s2n_quic::provider::tls::default::Server::builder()
        .with_certificate(cert.pem(), key.serialize_pem())
        .and_then(|tls| tls.with_application_protocols(["qecho"].iter()))
        .map_err(|err| eyre!("server TLS: {err}"))?;
    qecho_policy(tls.config_mut())?;
    tls.build().map_err(|err| eyre!("server TLS: {err}"))
}

fn plain_io() -> Result<s2n_quic::provider::io::tokio::Provider> {
    s2n_quic::provider::io::tokio::Builder::default()
        .with_receive_address(([127, 0, 0, 1], 0).into())
        .and_then(|io| io.with_recv_buffer_size(4 << 20))
        .and_then(|io| io.with_send_buffer_size(4 << 20))
        // qecho serve's receive ring (SERVER_RECEIVE_RING in src/endpoint.rs): two GRO batches
        .and_then(|io| io.with_internal_recv_buffer_size(128 << 10))
        .and_then(|io| io.with_max_mtu(9000))
        .and_then(|io| io.build())
        .map_err(|err| eyre!("server I/O: {err}"))
}

/// The plain pair's rows for `bench`: the plain s2n-quic client (s2n_client.rs) against this
/// server, in a server process of its own started for them.
pub(crate) fn plain_pair_sample(
    bench: Bench,
    options: &Options,
    deadline: Instant,
) -> Result<Sample> {
    let exe = std::env::current_exe().wrap_err("cannot find this bench binary")?;
    let mut command = Command::new(exe);
    command.arg("s2n-server");
    let server = Server::start(command, "s2n-server")?;
    let addr = server.addr;
    harness_run(server, |runtime, _| match bench {
        Bench::Ping => {
            let pause = Duration::from_millis(options.ping_pause_ms);
            let rtts =
                runtime.block_on(bounded(deadline, quic_ping(addr, options.pings, pause)))?;
            Ok(ping_sample(rtts, "ping_plain_p50", "ping_plain_p99"))
        }
        Bench::Spaced => {
            let pings = options.spaced_pings;
            let rtts = runtime.block_on(bounded(deadline, quic_ping(addr, pings, PAUSE_10MS)))?;
            Ok(ping_sample(
                rtts,
                "ping_10ms_plain_p50",
                "ping_10ms_plain_p99",
            ))
        }
        Bench::Handshakes => {
            let (count, parallel) = (options.handshakes, options.parallel as usize);
            let direct =
                runtime.block_on(bounded(deadline, quic_handshakes(addr, count, parallel)))?;
            let rate = direct
                .iter()
                .find(|(key, _)| *key == "handshake_direct_rate");
            Ok(rate
                .map(|&(_, rate)| ("handshake_plain_rate", rate))
                .into_iter()
                .collect())
        }
        _ => Ok(Vec::new()),
    })
}
