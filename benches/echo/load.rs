//! Pings as people send them, and latency under load (issue 18): 64-byte pings on one connection
//! spaced 1 ms and 10 ms apart on an otherwise idle server, then 1 ms apart again while the same
//! server takes a storm of full handshakes (`--parallel` in flight, 64 by default), each with one
//! echo: what an echo server's existing users feel when others connect.
//!
//! The same for each side: the storm comes from a client of its own (qecho: a second `qecho send`
//! process; quinn and the baseline: a second thread with its own runtime and endpoint in this
//! process), pinned with the pinger under `--pin`. The storm's client stands for other machines:
//! it runs at idle priority (SCHED_IDLE), else on this 2-core machine the pinger waits for a CPU
//! that the storm's client keeps busy, and the row measures the client's machine, not the server.
//! The pings start once the server has spent `STORM_WARM` of CPU on the storm, and the storm
//! stops after the last ping.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The pause between pings in the load row and the first spaced row, and the second's.
pub(crate) const PAUSE_1MS: Duration = Duration::from_millis(1);
pub(crate) const PAUSE_10MS: Duration = Duration::from_millis(10);
/// Server CPU the storm must have cost before the pings start (about 100 handshakes of qecho's):
/// the storm has reached the server, not just started in its client.
const STORM_WARM: Duration = Duration::from_millis(30);

/// Pings of one side, alone: `count` of them `pause` apart.
pub(crate) type Pinger<'a> = dyn FnMut(u64, Duration) -> Result<Vec<Duration>> + 'a;

/// A running storm: `stop` ends it and gives the handshakes it completed and how long it ran.
pub(crate) trait Storm {
    fn stop(self: Box<Self>) -> Result<(u64, Duration)>;
}

/// The spaced row: `options.spaced_pings` pings 10 ms apart.
pub(crate) fn spaced_sample(ping: &mut Pinger<'_>, options: &Options) -> Result<Sample> {
    let rtts = ping(options.spaced_pings, PAUSE_10MS)?;
    Ok(ping_sample(rtts, "ping_10ms_p50", "ping_10ms_p99"))
}

/// The spaced or load row of a side whose client is this harness (quinn, the baseline): `ping`
/// from this thread; the storm's connections made by what `make` returns, on a thread of its own.
pub(crate) fn rows_apart_of_this_client<M, C, F>(
    bench: Bench,
    server: &Server,
    options: &Options,
    deadline: Instant,
    ping: &mut Pinger<'_>,
    make: M,
) -> Result<Sample>
where
    M: FnOnce() -> Result<C> + Send + 'static,
    C: Fn(u64) -> F,
    F: Future<Output = Result<()>>,
{
    if bench == Bench::Spaced {
        return spaced_sample_of_this_client(ping, options);
    }
    let storm = || Ok(ThreadStorm::start(options.parallel, deadline, make));
    load_sample(server, ping, storm, options)
}

/// The spaced row of a side whose client is this harness: its figures stand in the s2n-quic
/// client's row too.
fn spaced_sample_of_this_client(ping: &mut Pinger<'_>, options: &Options) -> Result<Sample> {
    let mut sample = spaced_sample(ping, options)?;
    let direct: Sample = sample
        .iter()
        .map(|&(key, value)| match key {
            "ping_10ms_p50" => ("ping_10ms_direct_p50", value),
            _ => ("ping_10ms_direct_p99", value),
        })
        .collect();
    sample.extend(direct);
    Ok(sample)
}

/// The load row: `options.load_pings` pings 1 ms apart alone, then as many during a storm that
/// `start_storm` starts.
pub(crate) fn load_sample(
    server: &Server,
    ping: &mut Pinger<'_>,
    start_storm: impl FnOnce() -> Result<Box<dyn Storm>>,
    options: &Options,
) -> Result<Sample> {
    let alone = ping(options.load_pings, PAUSE_1MS)?;
    let cpu = server.cpu()?;
    let storm = start_storm()?;
    let warm = wait_for_cpu(server, cpu + STORM_WARM);
    let loaded = warm.and_then(|()| ping(options.load_pings, PAUSE_1MS));
    let (handshakes, lasted) = storm.stop()?;
    let loaded = loaded?;
    let mut sample = ping_sample(alone, "ping_1ms_p50", "ping_1ms_p99");
    sample.extend(ping_sample(loaded, "load_p50", "load_p99"));
    let p99 = |key: &str| sample.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if let (Some(alone), Some(loaded)) = (p99("ping_1ms_p99"), p99("load_p99")) {
        sample.push(("load_p99_ratio", loaded / alone));
    }
    sample.push(("load_storm_rate", handshakes as f64 / lasted.as_secs_f64()));
    Ok(sample)
}

/// Waits, at most 10 s, until the server's CPU time reaches `target`.
fn wait_for_cpu(server: &Server, target: Duration) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.cpu()? < target {
        ensure!(
            Instant::now() < deadline,
            "the handshake storm did not reach the server within 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// qecho's storm: `qecho send --connections` with more than it can make, interrupted at the end
/// (it then prints its summary, as for Ctrl-C).
pub(crate) struct QechoStorm {
    proc: Proc,
    deadline: Instant,
}

impl QechoStorm {
    pub(crate) fn start(
        qecho: &Path,
        addr: SocketAddr,
        options: &Options,
        deadline: Instant,
    ) -> Result<Box<dyn Storm>> {
        let mut command = Command::new(qecho);
        command.arg("send").arg(addr.to_string()).args([
            "-k",
            "-q",
            "--json",
            "--size",
            &MESSAGE.to_string(),
            "--connections",
            "1000000",
            "--parallel",
            &options.parallel.to_string(),
        ]);
        let proc = Proc::spawn(command, "qecho send (storm)", None, true, Role::Background)?;
        Ok(Box::new(QechoStorm { proc, deadline }))
    }
}

impl Storm for QechoStorm {
    fn stop(self: Box<Self>) -> Result<(u64, Duration)> {
        ensure!(
            self.proc.exited.try_recv().is_err(),
            "the qecho storm ended before the pings did; its output:\n{}",
            self.proc.tail()
        );
        self.proc.signal(libc::SIGINT);
        let (_, lines) = self.proc.finish(self.deadline)?;
        let s = summary(&lines)?;
        ensure!(
            number(&s, &["failed"])? == 0.0,
            "storm handshakes failed: {s}"
        );
        let seconds = number(&s, &["seconds"])?;
        Ok((
            number(&s, &["ok"])? as u64,
            Duration::from_secs_f64(seconds),
        ))
    }
}

/// A storm in a thread of this process: `parallel` loops, each making one connection after
/// another with `connect_once(n)` until told to stop.
pub(crate) struct ThreadStorm {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(u64, Duration)>>,
}

impl ThreadStorm {
    /// `make` builds the client on the storm's thread and returns one connection's work.
    pub(crate) fn start<M, C, F>(parallel: u64, deadline: Instant, make: M) -> Box<dyn Storm>
    where
        M: FnOnce() -> Result<C> + Send + 'static,
        C: Fn(u64) -> F,
        F: Future<Output = Result<()>>,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            idle_priority()?;
            let runtime = current_thread()?;
            // quinn's endpoint wants to be made inside the runtime it runs on.
            let connect_once = {
                let _inside = runtime.enter();
                make()?
            };
            let done = AtomicU64::new(0);
            let started = Instant::now();
            let workers = (0..parallel).map(|_| {
                let (connect_once, done, stop) = (&connect_once, &done, &stopping);
                async move {
                    while !stop.load(Ordering::Relaxed) {
                        connect_once(done.load(Ordering::Relaxed)).await?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok::<_, color_eyre::Report>(())
                }
            });
            let all = futures::future::try_join_all(workers);
            runtime.block_on(bounded(deadline, all))?;
            Ok((done.load(Ordering::Relaxed), started.elapsed()))
        });
        Box::new(ThreadStorm { stop, thread })
    }
}

impl Storm for ThreadStorm {
    fn stop(self: Box<Self>) -> Result<(u64, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| eyre!("the storm's thread panicked"))?
    }
}

/// The pings `qecho send --count N --interval PAUSE` measured.
pub(crate) fn qecho_pings(
    qecho: &Path,
    addr: SocketAddr,
    count: u64,
    pause: Duration,
    deadline: Instant,
) -> Result<Vec<Duration>> {
    let args = [
        "--size".to_string(),
        MESSAGE.to_string(),
        "--count".into(),
        count.to_string(),
        "--interval".into(),
        format!("{}us", pause.as_micros()),
    ];
    let lines = qecho_send(qecho, addr, &args, deadline)?;
    let mut rtts = Vec::new();
    for line in &lines {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if value["type"] == "echo" {
            ensure!(value["ok"] == true, "a qecho echo failed: {line}");
            rtts.push(Duration::from_secs_f64(
                number(&value, &["rtt_ms"])? / 1000.0,
            ));
        }
    }
    let s = summary(&lines)?;
    ensure!(
        rtts.len() as u64 == count && number(&s, &["received"])? == count as f64,
        "qecho ping: {} echo lines, summary {s}",
        rtts.len()
    );
    Ok(rtts)
}
