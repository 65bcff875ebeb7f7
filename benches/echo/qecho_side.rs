//! The qecho side: `qecho serve` driven by `qecho send` for each row, and the idle connections.

use super::*;

pub(crate) fn qecho_run(bench: Bench, qecho: &Path, options: &Options) -> Result<Sample> {
    let deadline = Instant::now() + bench.timeout(options);
    let connections = (bench == Bench::Idle).then_some(options.idle + options.parallel + 1);
    let server = Server::qecho(qecho, connections, &options.serve_arg)?;
    let result = qecho_work(bench, qecho, &server, options, deadline);
    let stopped = server.stop();
    let mut sample = result?;
    stopped?;
    // s2n-quic on both ends without qecho, for the same rows: what `qecho serve` adds.
    sample.extend(plain_pair_sample(bench, options, deadline)?);
    Ok(sample)
}

pub(crate) fn qecho_work(
    bench: Bench,
    qecho: &Path,
    server: &Server,
    options: &Options,
    deadline: Instant,
) -> Result<Sample> {
    let addr = server.addr;
    let args = |list: &[String]| list.to_vec();
    match bench {
        Bench::Bulk => {
            let cpu = server.cpu()?;
            let client_cpu = rusage(libc::RUSAGE_CHILDREN);
            let bytes = options.bulk_mib << 20;
            let lines = qecho_send(
                qecho,
                addr,
                &args(&[
                    "-q".into(),
                    "--bytes".into(),
                    format!("{}MiB", options.bulk_mib),
                ]),
                deadline,
            )?;
            let cpu = server.cpu()? - cpu;
            let client_cpu = rusage(libc::RUSAGE_CHILDREN) - client_cpu;
            let peak = server.status_kib("VmHWM")?;
            let s = summary(&lines)?;
            ensure!(s["ok"] == true, "qecho bulk not ok: {s}");
            ensure!(
                number(&s, &["echoed_bytes"])? == bytes as f64,
                "qecho bulk echoed the wrong amount: {s}"
            );
            Ok(vec![
                ("bulk_gbps", number(&s, &["echo_gbit_per_s"])?),
                ("bulk_peak_rss", peak / 1024.0),
                ("bulk_server_cpu", cpu_per_gib(cpu, bytes)),
                ("bulk_client_cpu", cpu_per_gib(client_cpu, bytes)),
            ])
        }
        Bench::Streams => {
            let bytes = options.streams << 20;
            let lines = qecho_send(
                qecho,
                addr,
                &args(&[
                    "-q".into(),
                    "--streams".into(),
                    options.streams.to_string(),
                    "--bytes".into(),
                    format!("{}MiB", options.streams),
                ]),
                deadline,
            )?;
            let s = summary(&lines)?;
            ensure!(s["ok"] == true, "qecho streams not ok: {s}");
            ensure!(
                number(&s, &["echoed_bytes"])? == bytes as f64,
                "qecho streams echoed the wrong amount: {s}"
            );
            Ok(vec![("streams_gbps", number(&s, &["echo_gbit_per_s"])?)])
        }
        Bench::Ping => {
            let cost = PingCost::start(server, libc::RUSAGE_CHILDREN)?;
            let rtts = qecho_pings(qecho, addr, options.pings, Duration::ZERO, deadline)?;
            let mut sample = ping_sample(rtts, "ping_p50", "ping_p99");
            sample.extend(cost.per_echo(options.pings)?);
            // The same pings from this harness with the s2n-quic crate, back to back: qecho's
            // server and s2n-quic without `qecho send`'s ping loop.
            let (pings, pause) = (options.pings, Duration::from_millis(options.ping_pause_ms));
            let cpu = rusage(libc::RUSAGE_THREAD);
            let direct =
                current_thread()?.block_on(bounded(deadline, quic_ping(addr, pings, pause)))?;
            let cpu = rusage(libc::RUSAGE_THREAD) - cpu;
            sample.extend(ping_sample(direct, "ping_direct_p50", "ping_direct_p99"));
            sample.push((
                "ping_direct_client_cpu_per_echo",
                cpu.as_secs_f64() * 1e6 / pings as f64,
            ));
            Ok(sample)
        }
        Bench::Spaced => {
            let mut ping = |count, pause| qecho_pings(qecho, addr, count, pause, deadline);
            let mut sample = spaced_sample(&mut ping, options)?;
            // The same from this harness with the s2n-quic crate: what waking from idle costs
            // s2n-quic itself.
            let pings = options.spaced_pings;
            let direct = current_thread()?
                .block_on(bounded(deadline, quic_ping(addr, pings, PAUSE_10MS)))?;
            sample.extend(ping_sample(
                direct,
                "ping_10ms_direct_p50",
                "ping_10ms_direct_p99",
            ));
            Ok(sample)
        }
        Bench::Load => {
            let mut ping = |count, pause| qecho_pings(qecho, addr, count, pause, deadline);
            let storm = || QechoStorm::start(qecho, addr, options, deadline);
            load_sample(server, &mut ping, storm, options)
        }
        Bench::Handshakes => {
            let (s, server_cpu, client_cpu) =
                qecho_connections(qecho, addr, server, options, deadline, &[])?;
            ensure!(
                number(&s, &["ok"])? == options.handshakes as f64
                    && number(&s, &["failed"])? == 0.0,
                "qecho handshakes: not every connection succeeded: {s}"
            );
            let mut sample = vec![
                ("handshake_rate", number(&s, &["connections_per_s"])?),
                ("handshake_p50", number(&s, &["handshake_ms", "p50"])?),
                ("handshake_p99", number(&s, &["handshake_ms", "p99"])?),
                ("handshake_max", number(&s, &["handshake_ms", "max"])?),
                ("handshake_server_cpu", server_cpu),
                ("handshake_client_cpu", client_cpu),
            ];
            // The same connections from this harness with the s2n-quic crate: how much of the
            // client's cost is s2n-quic's own, and how much `qecho send` adds.
            let (count, parallel) = (options.handshakes, options.parallel as usize);
            let direct = current_thread()?
                .block_on(bounded(deadline, quic_handshakes(addr, count, parallel)))?;
            sample.extend(direct);
            sample.extend(qecho_resumed(qecho, addr, server, options, deadline)?);
            Ok(sample)
        }
        Bench::Idle => {
            let runtime = current_thread()?;
            let idle = options.idle;
            let parallel = options.parallel;
            runtime.block_on(bounded(deadline, async move {
                let client = quic_client()?;
                // One connection first, so that one-time costs are not counted per connection.
                let _warm = quic_echo_connection(&client, addr, 0).await?;
                let before = proc_status_kib(server.proc.pid, "VmRSS")?;
                let open: Vec<(s2n_quic::Connection, Duration)> = futures::stream::iter(1..=idle)
                    .map(|n| quic_echo_connection(&client, addr, n))
                    .buffer_unordered(parallel as usize)
                    .try_collect()
                    .await?;
                let after = proc_status_kib(server.proc.pid, "VmRSS")?;
                ensure!(open.len() as u64 == idle, "opened {} of {idle}", open.len());
                for (connection, _) in &open {
                    connection.close(0u8.into());
                }
                Ok(vec![(
                    "idle_bytes_per_conn",
                    (after - before) * 1024.0 / idle as f64,
                )])
            }))
        }
    }
}

/// `qecho send --connections N --parallel K` with `extra` flags: its summary, and the server's and
/// the client's CPU per connection, in us.
pub(crate) fn qecho_connections(
    qecho: &Path,
    addr: SocketAddr,
    server: &Server,
    options: &Options,
    deadline: Instant,
    extra: &[&str],
) -> Result<(Value, f64, f64)> {
    let cpu = server.cpu()?;
    let client_cpu = rusage(libc::RUSAGE_CHILDREN);
    let mut args = vec![
        "-q".to_string(),
        "--size".into(),
        MESSAGE.to_string(),
        "--connections".into(),
        options.handshakes.to_string(),
        "--parallel".into(),
        options.parallel.to_string(),
    ];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let lines = qecho_send(qecho, addr, &args, deadline)?;
    let cpu = server.cpu()? - cpu;
    let client_cpu = rusage(libc::RUSAGE_CHILDREN) - client_cpu;
    let per_conn = |cpu: Duration| cpu.as_secs_f64() * 1e6 / options.handshakes as f64;
    Ok((summary(&lines)?, per_conn(cpu), per_conn(client_cpu)))
}

/// `qecho send --connections N --resume`: the first connection fetches a ticket, the others
/// resume with it.
pub(crate) fn qecho_resumed(
    qecho: &Path,
    addr: SocketAddr,
    server: &Server,
    options: &Options,
    deadline: Instant,
) -> Result<Sample> {
    let (s, server_cpu, client_cpu) =
        qecho_connections(qecho, addr, server, options, deadline, &["--resume"])?;
    ensure!(
        number(&s, &["resumed_connections"])? == options.handshakes as f64 - 1.0
            && number(&s, &["failed"])? == 0.0,
        "qecho resumed handshakes: not every connection after the first resumed: {s}"
    );
    Ok(vec![
        ("resumed_rate", number(&s, &["connections_per_s"])?),
        ("resumed_p99", number(&s, &["handshake_ms", "p99"])?),
        ("resumed_server_cpu", server_cpu),
        ("resumed_client_cpu", client_cpu),
    ])
}

pub(crate) fn cpu_per_gib(cpu: Duration, bytes: u64) -> f64 {
    cpu.as_secs_f64() * 1000.0 / (bytes as f64 / f64::from(1 << 30))
}

pub(crate) fn ping_sample(mut rtts: Vec<Duration>, p50: &'static str, p99: &'static str) -> Sample {
    rtts.sort();
    let us = |p: f64| percentile(&rtts, p).as_secs_f64() * 1e6;
    vec![(p50, us(0.5)), (p99, us(0.99))]
}

/// Nearest rank, as qecho's own summaries compute it.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(crate) fn current_thread() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) async fn bounded<T>(
    deadline: Instant,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), work).await {
        Ok(result) => result,
        Err(_) => Err(eyre!("timed out")),
    }
}
