//! The quinn side: quinn 0.11 (on rustls) as the other QUIC stack a user might pick. Its echo
//! server is this binary re-executed as `quinn-server`; its client runs in this process, as the
//! baseline's does.
//!
//! Tuned as qecho is, so that the rows compare stacks and not settings: a current-thread tokio
//! runtime on each end (qecho's; on this 2-core machine about twice the multi-thread one's
//! throughput for s2n-quic), UDP socket buffers of 4 MiB (qecho's `SOCKET_BUFFER`), path MTU
//! discovery up to a 9000-byte MTU (qecho's `Mtu::Jumbo`: 8972 bytes of UDP payload), GSO on
//! (quinn's default, and s2n-quic's), qecho's windows (8 MiB per connection, 2 MiB per stream,
//! 8 MiB of send window), 100 concurrent streams (both defaults), CUBIC (both defaults), and the
//! baseline's TLS: TLS 1.3, x25519, TLS_AES_128_GCM_SHA256, an ECDSA P-256 certificate, one ticket
//! after each handshake. The echo moves quinn's own chunks (`read_chunk`/`write_chunk`), no copy.

use super::*;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

/// qecho's socket buffers (src/endpoint.rs: `SOCKET_BUFFER`).
const SOCKET_BUFFER: usize = 4 << 20;
/// qecho's largest MTU on loopback, 9000, less 28 bytes of IPv4 and UDP headers.
const UDP_PAYLOAD: u16 = 9000 - 28;
/// qecho's windows (src/endpoint.rs: `CONNECTION_WINDOW`, `STREAM_WINDOW`).
const CONNECTION_WINDOW: u32 = 8 << 20;
const STREAM_WINDOW: u32 = 2 << 20;

pub(crate) fn quinn_run(bench: Bench, options: &Options) -> Result<Sample> {
    let deadline = Instant::now() + bench.timeout(options);
    harness_run(Server::quinn()?, |runtime, server| match bench {
        Bench::Spaced | Bench::Load => quinn_pings_apart(bench, runtime, server, options, deadline),
        _ => runtime.block_on(bounded(deadline, quinn_work(bench, server, options))),
    })
}

/// The spaced and load rows (echo/load.rs): pings from this thread, a storm from another.
fn quinn_pings_apart(
    bench: Bench,
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    options: &Options,
    deadline: Instant,
) -> Result<Sample> {
    let addr = server.addr;
    let endpoint = {
        let _inside = runtime.enter();
        quinn_client(client_config()?)?
    };
    let mut ping = |count, pause| {
        runtime.block_on(bounded(deadline, quinn_ping(&endpoint, addr, count, pause)))
    };
    let make = move || {
        let endpoint = quinn_client(client_config()?)?;
        Ok(move |n| {
            let endpoint = endpoint.clone();
            async move {
                let connection = quinn_connect(&endpoint, addr).await?;
                quinn_echo(&connection, n).await?;
                connection.close(0u8.into(), b"");
                Ok(())
            }
        })
    };
    rows_apart_of_this_client(bench, server, options, deadline, &mut ping, make)
}

async fn quinn_work(bench: Bench, server: &Server, options: &Options) -> Result<Sample> {
    let addr = server.addr;
    let endpoint = quinn_client(client_config()?)?;
    match bench {
        Bench::Bulk => {
            let bytes = options.bulk_mib << 20;
            let cpu = server.cpu()?;
            let client_cpu = rusage(libc::RUSAGE_SELF);
            let connection = quinn_connect(&endpoint, addr).await?;
            let started = Instant::now();
            quinn_transfer(&connection, &Pattern::new(), Pattern::start(1), bytes).await?;
            let elapsed = started.elapsed();
            let cpu = server.cpu()? - cpu;
            let client_cpu = rusage(libc::RUSAGE_SELF) - client_cpu;
            let peak = server.status_kib("VmHWM")?;
            connection.close(0u8.into(), b"");
            Ok(vec![
                ("bulk_gbps", gbits(bytes, elapsed)),
                ("bulk_peak_rss", peak / 1024.0),
                ("bulk_server_cpu", cpu_per_gib(cpu, bytes)),
                ("bulk_client_cpu", cpu_per_gib(client_cpu, bytes)),
            ])
        }
        Bench::Streams => {
            let connection = quinn_connect(&endpoint, addr).await?;
            let pattern = Pattern::new();
            let started = Instant::now();
            let work = (0..options.streams).map(|i| {
                quinn_transfer(&connection, &pattern, Pattern::start(i as u32 + 1), 1 << 20)
            });
            futures::future::try_join_all(work).await?;
            let elapsed = started.elapsed();
            connection.close(0u8.into(), b"");
            Ok(vec![(
                "streams_gbps",
                gbits(options.streams << 20, elapsed),
            )])
        }
        Bench::Spaced | Bench::Load => unreachable!("quinn_pings_apart runs these"),
        Bench::Ping => {
            let pause = Duration::from_millis(options.ping_pause_ms);
            let cost = PingCost::start(server, libc::RUSAGE_THREAD)?;
            let rtts = quinn_ping(&endpoint, addr, options.pings, pause).await?;
            let cost = cost.per_echo_of_this_client(options.pings)?;
            // Like the baseline, this client is the harness already: its figures stand for both.
            let mut sample = ping_sample(rtts.clone(), "ping_p50", "ping_p99");
            sample.extend(ping_sample(rtts, "ping_direct_p50", "ping_direct_p99"));
            sample.extend(cost);
            Ok(sample)
        }
        Bench::Handshakes => {
            let cpu = server.cpu()?;
            let client_cpu = rusage(libc::RUSAGE_SELF);
            let started = Instant::now();
            let mut times = quinn_handshakes(&endpoint, addr, 1, options).await?;
            let elapsed = started.elapsed();
            let cpu = server.cpu()? - cpu;
            let client_cpu = rusage(libc::RUSAGE_SELF) - client_cpu;
            times.sort();
            let ms = |p: f64| percentile(&times, p).as_secs_f64() * 1000.0;
            let per_conn = |cpu: Duration| cpu.as_secs_f64() * 1e6 / options.handshakes as f64;
            let rate = options.handshakes as f64 / elapsed.as_secs_f64();
            let mut sample = vec![
                ("handshake_rate", rate),
                ("handshake_p50", ms(0.5)),
                ("handshake_p99", ms(0.99)),
                ("handshake_max", ms(1.0)),
                ("handshake_server_cpu", per_conn(cpu)),
                ("handshake_client_cpu", per_conn(client_cpu)),
                ("handshake_direct_rate", rate),
                ("handshake_direct_p99", ms(0.99)),
                ("handshake_direct_max", ms(1.0)),
                ("handshake_direct_client_cpu", per_conn(client_cpu)),
            ];
            sample.extend(quinn_resumed(server, options).await?);
            Ok(sample)
        }
        Bench::Idle => {
            let warm = quinn_connect(&endpoint, addr).await?;
            quinn_echo(&warm, 0).await?;
            let before = server.status_kib("VmRSS")?;
            let open: Vec<quinn::Connection> = futures::stream::iter(1..=options.idle)
                .map(|n| {
                    let endpoint = &endpoint;
                    async move {
                        let connection = quinn_connect(endpoint, addr).await?;
                        quinn_echo(&connection, n).await?;
                        Ok::<_, color_eyre::Report>(connection)
                    }
                })
                .buffer_unordered(options.parallel as usize)
                .try_collect()
                .await?;
            let after = server.status_kib("VmRSS")?;
            ensure!(open.len() as u64 == options.idle, "opened {}", open.len());
            for connection in open.iter().chain([&warm]) {
                connection.close(0u8.into(), b"");
            }
            Ok(vec![(
                "idle_bytes_per_conn",
                (after - before) * 1024.0 / options.idle as f64,
            )])
        }
    }
}

/// `options.handshakes` connections, `parallel` in flight, each with one 64-byte echo, numbered
/// from `first`; returns their handshake times.
async fn quinn_handshakes(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    first: u64,
    options: &Options,
) -> Result<Vec<Duration>> {
    futures::stream::iter(first..first + options.handshakes)
        .map(|n| async move {
            let began = Instant::now();
            let connection = quinn_connect(endpoint, addr).await?;
            let handshake = began.elapsed();
            quinn_echo(&connection, n).await?;
            connection.close(0u8.into(), b"");
            Ok::<_, color_eyre::Report>(handshake)
        })
        .buffer_unordered(options.parallel as usize)
        .try_collect()
        .await
}

/// Resumed quinn handshakes, as the baseline's: a warm-up of `parallel` full ones fills a ticket
/// pool, then every measured connection must offer a ticket. quinn does not tell a client whether
/// the server took it; the server's CPU per connection shows that it did (see the report).
async fn quinn_resumed(server: &Server, options: &Options) -> Result<Sample> {
    let pool = Arc::new(tickets::TicketPool::default());
    let mut config = client_config()?;
    config.resumption = rustls::client::Resumption::store(pool.clone());
    let endpoint = quinn_client(config)?;
    let warm_up = Options {
        handshakes: options.parallel,
        ..options.clone()
    };
    quinn_handshakes(&endpoint, server.addr, 1, &warm_up).await?;
    let offered = pool.offered();
    let cpu = server.cpu()?;
    let client_cpu = rusage(libc::RUSAGE_SELF);
    let started = Instant::now();
    let times = quinn_handshakes(&endpoint, server.addr, 1, options).await?;
    let elapsed = started.elapsed();
    let cpu = server.cpu()? - cpu;
    let client_cpu = rusage(libc::RUSAGE_SELF) - client_cpu;
    let offered = pool.offered() - offered;
    ensure!(
        offered == options.handshakes,
        "quinn resumed handshakes: {offered} of {} offered a ticket",
        options.handshakes
    );
    Ok(resumed_sample(times, elapsed, cpu, client_cpu))
}

/// `count` sequential 64-byte echoes on one stream, `pause` apart (0: back to back).
pub(crate) async fn quinn_ping(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    count: u64,
    pause: Duration,
) -> Result<Vec<Duration>> {
    let connection = quinn_connect(endpoint, addr).await?;
    let (mut send, mut receive) = connection.open_bi().await?;
    let mut rtts = Vec::with_capacity(count as usize);
    let mut echo = [0u8; MESSAGE];
    for seq in 1..=count {
        let message = message(seq);
        let sent = Instant::now();
        send.write_all(&message).await?;
        receive.read_exact(&mut echo).await?;
        rtts.push(sent.elapsed());
        ensure!(echo == message, "quinn ping {seq}: wrong echo");
        pace(sent, pause).await;
    }
    send.finish()?;
    connection.close(0u8.into(), b"");
    Ok(rtts)
}

async fn quinn_connect(endpoint: &quinn::Endpoint, addr: SocketAddr) -> Result<quinn::Connection> {
    endpoint
        .connect(addr, SERVER_NAME)?
        .await
        .wrap_err("quinn handshake failed")
}

/// One 64-byte echo on a stream of its own.
async fn quinn_echo(connection: &quinn::Connection, n: u64) -> Result<()> {
    let message = message(n);
    let (mut send, mut receive) = connection.open_bi().await?;
    send.write_all(&message).await?;
    send.finish()?;
    let echo = receive.read_to_end(MESSAGE).await?;
    ensure!(echo == message, "quinn connection {n}: wrong echo");
    Ok(())
}

/// Writes `bytes` of the pattern from `start` on a new stream while reading the echo back and
/// checking it.
async fn quinn_transfer(
    connection: &quinn::Connection,
    pattern: &Pattern,
    start: u64,
    bytes: u64,
) -> Result<()> {
    let (mut send, mut receive) = connection.open_bi().await?;
    let write = async {
        let mut offset = 0u64;
        while offset < bytes {
            let len = (bytes - offset).min(CHUNK as u64) as usize;
            send.write_all(&pattern.slice(start + offset, len)).await?;
            offset += len as u64;
        }
        send.finish()?;
        Ok::<_, color_eyre::Report>(())
    };
    let read = async {
        let mut offset = 0u64;
        while let Some(chunk) = receive.read_chunk(CHUNK, true).await? {
            if let Err(at) = pattern.check(start + offset, &chunk.bytes) {
                bail!("the quinn echo differs at byte {}", at - start);
            }
            offset += chunk.bytes.len() as u64;
        }
        ensure!(offset == bytes, "quinn echoed {offset} of {bytes} bytes");
        Ok(())
    };
    tokio::try_join!(write, read)?;
    Ok(())
}

/// qecho's transport settings (see the top of this file).
fn transport() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(UDP_PAYLOAD);
    transport
        .mtu_discovery_config(Some(mtu))
        .receive_window(CONNECTION_WINDOW.into())
        .stream_receive_window(STREAM_WINDOW.into())
        .send_window(CONNECTION_WINDOW.into());
    transport
}

/// A UDP socket on 127.0.0.1:0 with qecho's buffer sizes.
fn socket() -> Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    Ok(socket.into())
}

fn quinn_client(tls: ClientConfig) -> Result<quinn::Endpoint> {
    let crypto = QuicClientConfig::try_from(tls).wrap_err("QUIC client TLS")?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport()));
    let runtime = quinn::default_runtime().ok_or_else(|| eyre!("no async runtime for quinn"))?;
    let mut endpoint =
        quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket()?, runtime)?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

/// `echo quinn-server`: the quinn echo server on 127.0.0.1, an ephemeral port, printed as
/// `listening on ADDR`; every bidirectional stream echoed. Runs until killed.
pub(crate) fn quinn_server() -> Result<()> {
    let runtime = current_thread()?;
    runtime.block_on(async {
        let crypto = QuicServerConfig::try_from(server_config()?).wrap_err("QUIC server TLS")?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(Arc::new(transport()));
        let runtime = quinn::default_runtime().ok_or_else(|| eyre!("no async runtime"))?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(config),
            socket()?,
            runtime,
        )?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}", endpoint.local_addr()?)?;
        stdout.flush()?;
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((send, receive)) = connection.accept_bi().await {
                    tokio::spawn(quinn_echo_stream(send, receive));
                }
            });
        }
        Ok(())
    })
}

/// Echoes one stream, chunk by chunk as quinn hands them over.
async fn quinn_echo_stream(mut send: quinn::SendStream, mut receive: quinn::RecvStream) {
    while let Ok(Some(chunk)) = receive.read_chunk(usize::MAX, true).await {
        if send.write_chunk(chunk.bytes).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}
