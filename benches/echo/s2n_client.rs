//! The plain s2n-quic client (this harness as the client, no `qecho send`): what s2n-quic itself
//! costs, apart from what `qecho send` adds.

use super::*;

/// An s2n-quic client endpoint like `qecho send -k`'s: ALPN qecho, no certificate checks, qecho's
/// TLS policy (X25519 first) and socket buffers (4 MiB: with the kernel's default, a burst of 64
/// handshakes overflows them, and a lost Initial waits out a 1 s PTO); s2n-quic's defaults
/// otherwise.
pub(crate) fn quic_client() -> Result<s2n_quic::Client> {
    let mut tls = s2n_quic::provider::tls::default::Client::builder()
        .with_application_protocols(["qecho"].iter())
        .map_err(|err| eyre!("ALPN: {err}"))?;
    qecho_policy(tls.config_mut())?;
    // SAFETY: turns off certificate verification, as `qecho send -k` does, for our own
    // loopback server with its ephemeral certificate.
    unsafe { tls.config_mut().disable_x509_verification() }
        .map_err(|err| eyre!("cannot disable certificate verification: {err}"))?;
    let tls = tls.build().map_err(|err| eyre!("client TLS: {err}"))?;
    let io = s2n_quic::provider::io::tokio::Builder::default()
        .with_receive_address(([127, 0, 0, 1], 0).into())
        .and_then(|io| io.with_recv_buffer_size(4 << 20))
        .and_then(|io| io.with_send_buffer_size(4 << 20))
        .and_then(|io| io.with_internal_recv_buffer_size(512 << 10))
        .and_then(|io| io.build())
        .map_err(|err| eyre!("client I/O: {err}"))?;
    s2n_quic::Client::builder()
        .with_tls(tls)
        .map_err(|err| eyre!("client TLS: {err}"))?
        .with_io(io)
        .map_err(|err| eyre!("client I/O: {err}"))?
        .start()
        .map_err(|err| eyre!("cannot start the QUIC client: {err}"))
}

/// qecho's TLS policy (src/tls.rs: X25519 first), for the plain s2n-quic client and server.
pub(crate) fn qecho_policy(
    config: &mut s2n_quic::provider::tls::default::config::Builder,
) -> Result<()> {
    let policy = s2n_quic::provider::tls::default::security::Policy::from_version("20240603")
        .map_err(|err| eyre!("TLS policy: {err}"))?;
    config
        .set_security_policy(&policy)
        .map_err(|err| eyre!("TLS policy: {err}"))?;
    Ok(())
}

/// Opens a QUIC connection and does one 64-byte echo on it; returns the open connection and how
/// long its handshake took.
pub(crate) async fn quic_echo_connection(
    client: &s2n_quic::Client,
    addr: SocketAddr,
    n: u64,
) -> Result<(s2n_quic::Connection, Duration)> {
    let connect = s2n_quic::client::Connect::new(addr).with_server_name(SERVER_NAME);
    let began = Instant::now();
    let mut connection = client
        .connect(connect)
        .await
        .map_err(|err| eyre!("QUIC handshake {n}: {err}"))?;
    let handshake = began.elapsed();
    let message = message(n);
    let mut stream = connection
        .open_bidirectional_stream()
        .await
        .map_err(|err| eyre!("QUIC stream {n}: {err}"))?;
    stream
        .send(bytes::Bytes::copy_from_slice(&message))
        .await
        .map_err(|err| eyre!("QUIC send {n}: {err}"))?;
    stream
        .finish()
        .map_err(|err| eyre!("QUIC finish {n}: {err}"))?;
    let mut echoed = Vec::new();
    while let Some(chunk) = stream
        .receive()
        .await
        .map_err(|err| eyre!("QUIC receive {n}: {err}"))?
    {
        echoed.extend_from_slice(&chunk);
    }
    ensure!(echoed == message, "QUIC connection {n}: wrong echo");
    Ok((connection, handshake))
}

/// `count` connections, `parallel` at a time, each with one 64-byte echo and then closed, as
/// `qecho send --connections` makes them; returns their rate, the p99 handshake time and the CPU
/// time per connection of this thread (the client endpoint runs on it, on a current-thread
/// runtime).
pub(crate) async fn quic_handshakes(
    addr: SocketAddr,
    count: u64,
    parallel: usize,
) -> Result<Sample> {
    let client = quic_client()?;
    let cpu = rusage(libc::RUSAGE_THREAD);
    let started = Instant::now();
    let mut handshakes: Vec<Duration> = futures::stream::iter(1..=count)
        .map(|n| {
            let client = &client;
            async move {
                let (connection, handshake) = quic_echo_connection(client, addr, n).await?;
                connection.close(0u8.into());
                Ok::<_, color_eyre::Report>(handshake)
            }
        })
        .buffer_unordered(parallel)
        .try_collect()
        .await?;
    let elapsed = started.elapsed();
    let cpu = rusage(libc::RUSAGE_THREAD) - cpu;
    handshakes.sort();
    Ok(vec![
        (
            "handshake_direct_rate",
            count as f64 / elapsed.as_secs_f64(),
        ),
        (
            "handshake_direct_p99",
            percentile(&handshakes, 0.99).as_secs_f64() * 1e3,
        ),
        (
            "handshake_direct_max",
            percentile(&handshakes, 1.0).as_secs_f64() * 1e3,
        ),
        (
            "handshake_direct_client_cpu",
            cpu.as_secs_f64() * 1e6 / count as f64,
        ),
    ])
}

/// `count` sequential 64-byte echoes on one stream of one connection, back to back, as the
/// baseline's ping does; returns the round-trip times.
pub(crate) async fn quic_ping(
    addr: SocketAddr,
    count: u64,
    pause: Duration,
) -> Result<Vec<Duration>> {
    let client = quic_client()?;
    let connect = s2n_quic::client::Connect::new(addr).with_server_name(SERVER_NAME);
    let mut connection = client
        .connect(connect)
        .await
        .map_err(|err| eyre!("QUIC handshake: {err}"))?;
    let stream = connection
        .open_bidirectional_stream()
        .await
        .map_err(|err| eyre!("QUIC stream: {err}"))?;
    let (mut receiver, mut sender) = stream.split();
    let mut rtts = Vec::with_capacity(count as usize);
    let mut echo = Vec::with_capacity(MESSAGE);
    for seq in 1..=count {
        let message = message(seq);
        echo.clear();
        let sent = Instant::now();
        sender
            .send(bytes::Bytes::copy_from_slice(&message))
            .await
            .map_err(|err| eyre!("QUIC send: {err}"))?;
        while echo.len() < MESSAGE {
            match receiver.receive().await {
                Ok(Some(chunk)) => echo.extend_from_slice(&chunk),
                Ok(None) => bail!("the server finished the ping stream"),
                Err(err) => bail!("QUIC receive: {err}"),
            }
        }
        rtts.push(sent.elapsed());
        ensure!(echo == message, "QUIC ping {seq}: wrong echo");
        pace(sent, pause).await;
    }
    let _ = sender.finish();
    connection.close(0u8.into());
    Ok(rtts)
}

/// Waits until `pause` after `sent`, as `qecho send`'s ping loop does; not at all for 0.
pub(crate) async fn pace(sent: Instant, pause: Duration) {
    if !pause.is_zero() {
        tokio::time::sleep_until(tokio::time::Instant::from_std(sent + pause)).await;
    }
}

/// A 64-byte message, different for every `n`.
pub(crate) fn message(n: u64) -> [u8; MESSAGE] {
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut message = [0u8; MESSAGE];
    for byte in &mut message {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = (state >> 24) as u8;
    }
    message
}
