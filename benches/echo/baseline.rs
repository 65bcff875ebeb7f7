//! The baseline side: TCP + TLS 1.3 (tokio-rustls), its server re-executed from this binary as
//! `baseline-server`, its client in this process on a current-thread runtime.

use super::*;

pub(crate) fn baseline_run(bench: Bench, options: &Options) -> Result<Sample> {
    let deadline = Instant::now() + bench.timeout(options);
    let server = Server::baseline(options.server_runtime, options.server_buffer_kib)?;
    harness_run(server, |runtime, server| match bench {
        Bench::Spaced | Bench::Load => {
            baseline_pings_apart(bench, runtime, server, options, deadline)
        }
        _ => runtime.block_on(bounded(deadline, baseline_work(bench, server, options))),
    })
}

/// The spaced and load rows (echo/load.rs): pings from this thread, a storm from another.
fn baseline_pings_apart(
    bench: Bench,
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    options: &Options,
    deadline: Instant,
) -> Result<Sample> {
    let addr = server.addr;
    let connector = TlsConnector::from(Arc::new(client_config()?));
    let mut ping = |count, pause| {
        runtime.block_on(bounded(
            deadline,
            baseline_ping(addr, &connector, count, pause),
        ))
    };
    let make = move || {
        let connector = TlsConnector::from(Arc::new(client_config()?));
        Ok(move |n| {
            let connector = connector.clone();
            async move {
                let mut stream = tls_connect(addr, &connector).await?;
                tls_echo(&mut stream, n).await?;
                let _ = stream.shutdown().await;
                Ok(())
            }
        })
    };
    rows_apart_of_this_client(bench, server, options, deadline, &mut ping, make)
}

/// `count` sequential 64-byte echoes on one connection, `pause` apart (0: back to back).
pub(crate) async fn baseline_ping(
    addr: SocketAddr,
    connector: &TlsConnector,
    count: u64,
    pause: Duration,
) -> Result<Vec<Duration>> {
    let mut stream = tls_connect(addr, connector).await?;
    let mut rtts = Vec::with_capacity(count as usize);
    let mut echo = [0u8; MESSAGE];
    for seq in 1..=count {
        let message = message(seq);
        let sent = Instant::now();
        stream.write_all(&message).await?;
        stream.flush().await?;
        stream.read_exact(&mut echo).await?;
        rtts.push(sent.elapsed());
        ensure!(echo == message, "baseline ping {seq}: wrong echo");
        pace(sent, pause).await;
    }
    let _ = stream.shutdown().await;
    Ok(rtts)
}

pub(crate) async fn baseline_work(
    bench: Bench,
    server: &Server,
    options: &Options,
) -> Result<Sample> {
    let addr = server.addr;
    let connector = TlsConnector::from(Arc::new(client_config()?));
    match bench {
        Bench::Bulk => {
            let bytes = options.bulk_mib << 20;
            let pattern = Pattern::new();
            let cpu = server.cpu()?;
            // The client's CPU from the connection on, as `qecho send`'s is counted whole.
            let client_cpu = rusage(libc::RUSAGE_SELF);
            let stream = tls_connect(addr, &connector).await?;
            let started = Instant::now();
            transfer(stream, &pattern, Pattern::start(1), bytes).await?;
            let elapsed = started.elapsed();
            let cpu = server.cpu()? - cpu;
            let client_cpu = rusage(libc::RUSAGE_SELF) - client_cpu;
            let peak = server.status_kib("VmHWM")?;
            Ok(vec![
                ("bulk_gbps", gbits(bytes, elapsed)),
                ("bulk_peak_rss", peak / 1024.0),
                ("bulk_server_cpu", cpu_per_gib(cpu, bytes)),
                ("bulk_client_cpu", cpu_per_gib(client_cpu, bytes)),
            ])
        }
        Bench::Streams => {
            let pattern = Pattern::new();
            let streams: Vec<_> = futures::stream::iter(0..options.streams)
                .map(|_| tls_connect(addr, &connector))
                .buffer_unordered(options.streams as usize)
                .try_collect()
                .await?;
            let started = Instant::now();
            let work = streams.into_iter().enumerate().map(|(i, stream)| {
                transfer(stream, &pattern, Pattern::start(i as u32 + 1), 1 << 20)
            });
            futures::future::try_join_all(work).await?;
            Ok(vec![(
                "streams_gbps",
                gbits(options.streams << 20, started.elapsed()),
            )])
        }
        Bench::Spaced | Bench::Load => unreachable!("baseline_pings_apart runs these"),
        Bench::Ping => {
            let pause = Duration::from_millis(options.ping_pause_ms);
            let cost = PingCost::start(server, libc::RUSAGE_THREAD)?;
            let rtts = baseline_ping(addr, &connector, options.pings, pause).await?;
            let cost = cost.per_echo_of_this_client(options.pings)?;
            // The baseline's client is back to back already: its figures stand for both rows.
            let mut sample = ping_sample(rtts.clone(), "ping_p50", "ping_p99");
            sample.extend(ping_sample(rtts, "ping_direct_p50", "ping_direct_p99"));
            sample.extend(cost);
            Ok(sample)
        }
        Bench::Handshakes => {
            let cpu = server.cpu()?;
            let client_cpu = rusage(libc::RUSAGE_SELF);
            let started = Instant::now();
            let mut handshakes: Vec<Duration> = futures::stream::iter(1..=options.handshakes)
                .map(|n| {
                    let connector = &connector;
                    async move {
                        let began = Instant::now();
                        let mut stream = tls_connect(addr, connector).await?;
                        let handshake = began.elapsed();
                        tls_echo(&mut stream, n).await?;
                        let _ = stream.shutdown().await;
                        Ok::<_, color_eyre::Report>(handshake)
                    }
                })
                .buffer_unordered(options.parallel as usize)
                .try_collect()
                .await?;
            let elapsed = started.elapsed();
            let cpu = server.cpu()? - cpu;
            let client_cpu = rusage(libc::RUSAGE_SELF) - client_cpu;
            handshakes.sort();
            let ms = |p: f64| percentile(&handshakes, p).as_secs_f64() * 1000.0;
            let rate = options.handshakes as f64 / elapsed.as_secs_f64();
            let client_cpu = client_cpu.as_secs_f64() * 1e6 / options.handshakes as f64;
            // The baseline's client is this harness already: its figures stand for both rows.
            let mut sample = vec![
                ("handshake_rate", rate),
                ("handshake_p50", ms(0.5)),
                ("handshake_p99", ms(0.99)),
                ("handshake_max", ms(1.0)),
                (
                    "handshake_server_cpu",
                    cpu.as_secs_f64() * 1e6 / options.handshakes as f64,
                ),
                ("handshake_client_cpu", client_cpu),
                ("handshake_direct_rate", rate),
                ("handshake_direct_p99", ms(0.99)),
                ("handshake_direct_max", ms(1.0)),
                ("handshake_direct_client_cpu", client_cpu),
            ];
            sample.extend(baseline_resumed(server, options).await?);
            Ok(sample)
        }
        Bench::Idle => {
            let mut warm = tls_connect(addr, &connector).await?;
            tls_echo(&mut warm, 0).await?;
            let before = server.status_kib("VmRSS")?;
            let open: Vec<_> = futures::stream::iter(1..=options.idle)
                .map(|n| {
                    let connector = &connector;
                    async move {
                        let mut stream = tls_connect(addr, connector).await?;
                        tls_echo(&mut stream, n).await?;
                        Ok::<_, color_eyre::Report>(stream)
                    }
                })
                .buffer_unordered(options.parallel as usize)
                .try_collect()
                .await?;
            let after = server.status_kib("VmRSS")?;
            ensure!(
                open.len() as u64 == options.idle,
                "opened {} connections",
                open.len()
            );
            drop(open);
            Ok(vec![(
                "idle_bytes_per_conn",
                (after - before) * 1024.0 / options.idle as f64,
            )])
        }
    }
}

pub(crate) fn gbits(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9
}

pub(crate) type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

pub(crate) async fn tls_connect(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> Result<ClientStream> {
    let tcp = TcpStream::connect(addr)
        .await
        .wrap_err_with(|| format!("cannot connect to {addr}"))?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(SERVER_NAME)?;
    connector
        .connect(name, tcp)
        .await
        .wrap_err("TLS handshake failed")
}

/// Resumed TCP+TLS handshakes: a warm-up of `parallel` full ones fills the ticket pool (each
/// server handshake sends a ticket), then every measured connection offers a ticket, and must
/// have resumed.
pub(crate) async fn baseline_resumed(server: &Server, options: &Options) -> Result<Sample> {
    let addr = server.addr;
    let pool = Arc::new(tickets::TicketPool::default());
    let mut config = client_config()?;
    config.resumption = rustls::client::Resumption::store(pool.clone());
    let connector = TlsConnector::from(Arc::new(config));
    let handshakes = |count: u64| {
        let connector = &connector;
        futures::stream::iter(1..=count)
            .map(move |n| async move {
                let began = Instant::now();
                let mut stream = tls_connect(addr, connector).await?;
                let handshake = began.elapsed();
                let kind = stream.get_ref().1.handshake_kind();
                // Reading the echo also reads the ticket that came before it.
                tls_echo(&mut stream, n).await?;
                let _ = stream.shutdown().await;
                Ok::<_, color_eyre::Report>((
                    handshake,
                    kind == Some(rustls::HandshakeKind::Resumed),
                ))
            })
            .buffer_unordered(options.parallel as usize)
            .try_collect::<Vec<_>>()
    };
    handshakes(options.parallel).await?;
    ensure!(
        pool.len() as u64 >= options.parallel,
        "the warm-up left {} tickets",
        pool.len()
    );
    let cpu = server.cpu()?;
    let client_cpu = rusage(libc::RUSAGE_SELF);
    let started = Instant::now();
    let results = handshakes(options.handshakes).await?;
    let elapsed = started.elapsed();
    let cpu = server.cpu()? - cpu;
    let client_cpu = rusage(libc::RUSAGE_SELF) - client_cpu;
    let resumed = results.iter().filter(|(_, resumed)| *resumed).count() as u64;
    ensure!(
        resumed == options.handshakes,
        "baseline resumed handshakes: {resumed} of {} resumed",
        options.handshakes
    );
    let times: Vec<Duration> = results.into_iter().map(|(time, _)| time).collect();
    Ok(resumed_sample(times, elapsed, cpu, client_cpu))
}

/// The resumed rows from the handshake times of one measured batch, how long it took, and the
/// server's and the client's CPU over it.
pub(crate) fn resumed_sample(
    mut times: Vec<Duration>,
    elapsed: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
) -> Sample {
    times.sort();
    let count = times.len().max(1) as f64;
    let per_conn = |cpu: Duration| cpu.as_secs_f64() * 1e6 / count;
    vec![
        ("resumed_rate", count / elapsed.as_secs_f64()),
        (
            "resumed_p99",
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
        ),
        ("resumed_server_cpu", per_conn(server_cpu)),
        ("resumed_client_cpu", per_conn(client_cpu)),
    ]
}

pub(crate) async fn tls_echo(stream: &mut ClientStream, n: u64) -> Result<()> {
    let message = message(n);
    stream.write_all(&message).await?;
    stream.flush().await?;
    let mut echo = [0u8; MESSAGE];
    stream.read_exact(&mut echo).await?;
    ensure!(echo == message, "baseline connection {n}: wrong echo");
    Ok(())
}

/// Writes `bytes` of the pattern from `start` while reading the echo back and checking it.
pub(crate) async fn transfer(
    stream: ClientStream,
    pattern: &Pattern,
    start: u64,
    bytes: u64,
) -> Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write = async {
        let mut offset = 0u64;
        while offset < bytes {
            let len = (bytes - offset).min(CHUNK as u64) as usize;
            writer
                .write_all(&pattern.slice(start + offset, len))
                .await?;
            offset += len as u64;
        }
        writer.shutdown().await?;
        Ok::<_, color_eyre::Report>(())
    };
    let read = async {
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0u64;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if let Err(at) = pattern.check(start + offset, &buf[..n]) {
                bail!("the baseline echo differs at byte {}", at - start);
            }
            offset += n as u64;
        }
        ensure!(
            offset == bytes,
            "the baseline echoed {offset} of {bytes} bytes"
        );
        Ok(())
    };
    tokio::try_join!(write, read)?;
    Ok(())
}

/// TLS 1.3 with what qecho negotiates with itself (its `serve` log names the group): x25519 and
/// TLS_AES_128_GCM_SHA256.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::aws_lc_rs as aws;
    Arc::new(CryptoProvider {
        cipher_suites: vec![aws::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![aws::kx_group::X25519],
        ..aws::default_provider()
    })
}

pub(crate) fn client_config() -> Result<ClientConfig> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipChainCheck(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// A fresh ECDSA P-256 certificate, as `qecho serve` makes for itself; one session ticket after
/// each handshake (stateless, encrypted with a key of this process), as `qecho serve` sends.
pub(crate) fn server_config() -> Result<ServerConfig> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let params =
        rcgen::CertificateParams::new(vec![SERVER_NAME.to_string(), "127.0.0.1".to_string()])?;
    let cert = params.self_signed(&key)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)?;
    config.send_tls13_tickets = 1;
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// `echo baseline-server current|multi [BUFFER_KIB]`: the TCP+TLS echo server, on 127.0.0.1, an ephemeral
/// port, printed as `listening on ADDR`. It runs until killed (SIGTERM; it also dies with its
/// parent).
pub(crate) fn baseline_server(args: &[String]) -> Result<()> {
    let mut builder = match args.first().map(String::as_str) {
        Some("multi") => tokio::runtime::Builder::new_multi_thread(),
        Some("current") | None => tokio::runtime::Builder::new_current_thread(),
        Some(other) => bail!("unknown runtime {other}: current or multi"),
    };
    let buffer = match args.get(1) {
        Some(kib) => kib.parse::<usize>().wrap_err("buffer size in KiB")? * 1024,
        None => 16 * 1024,
    };
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async {
        let acceptor = TlsAcceptor::from(Arc::new(server_config()?));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}", listener.local_addr()?)?;
        stdout.flush()?;
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of descriptors, say: the client sees the failure; keep serving.
                Err(err) => {
                    eprintln!("baseline-server: accept: {err}");
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Err(err) = echo_connection(&acceptor, tcp, buffer).await
                    && err.kind() != std::io::ErrorKind::UnexpectedEof
                    && err.kind() != std::io::ErrorKind::ConnectionReset
                {
                    eprintln!("baseline-server: connection: {err}");
                }
            });
        }
    })
}

/// Echoes one connection: each read is written back before the next read, so a client that
/// stops reading stops the server reading too (bounded memory, like qecho's stream echo).
pub(crate) async fn echo_connection(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    buffer: usize,
) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut stream = acceptor.accept(tcp).await?;
    let mut buf = vec![0u8; buffer.max(1)];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
        stream.flush().await?;
    }
    stream.shutdown().await
}
