//! qecho against a TCP+TLS echo baseline, on loopback, in one run (issue 5).
//!
//! `cargo bench --bench echo` builds qecho and this harness with the bench profile (= release),
//! then for each benchmark runs qecho and the baseline alternately, ABBA (run 1: qecho then
//! baseline, run 2: baseline then qecho, ...), so that drift of this shared machine falls on both
//! alike. It prints the medians and the qecho / baseline ratio as a table and writes the same, with
//! every sample, to `target/bench-results.json`. Options go after `--`:
//! `cargo bench --bench echo -- --runs 5 --only bulk,ping` (`-- --help` lists them).
//!
//! Every run gets a fresh server process, so that its peak RSS and CPU time belong to that run:
//! - qecho: `qecho serve --listen 127.0.0.1:0` driven by `qecho send` (both processes, so the
//!   harness idles while they work); the 1,000 idle connections are opened by this harness with
//!   the s2n-quic crate as a client.
//! - baseline: this same binary re-executed as `baseline-server` (tokio + tokio-rustls, TLS 1.3,
//!   TCP_NODELAY, one task per connection echoing each read back before the next) driven by a
//!   client in this process on a current-thread runtime, as `qecho send` has.
//!
//! Like for like: TLS 1.3 only; full handshakes in the handshake rows, where each server issues a
//! session ticket after each handshake, as `qecho serve` does, and the clients never offer one;
//! resumed handshakes in the "resumed" rows, where every connection after a warm-up offers a
//! ticket (`qecho send --resume`, and a rustls client with a deep ticket store); the same
//! certificate kind as qecho's ephemeral one (ECDSA P-256 from rcgen); the key exchange group and
//! cipher that qecho negotiates with itself (x25519, TLS_AES_128_GCM_SHA256); and the client
//! checks the handshake signature but not the certificate chain, as `qecho send -k` does.
//! Every echoed byte is checked on both sides. The TCP analogue of "100 streams on one connection"
//! is 100 TCP+TLS connections in parallel, each carrying 1 MiB: TCP has no streams, and that is
//! what an application on TCP would do. Their handshakes are done before the clock starts, as
//! qecho's timer starts after its one handshake.
//!
//! Besides the figures issue 5 asks for, the table has the CPU time of server and client per GiB
//! and per connection (from /proc and getrusage, 10 ms ticks), and second ping and handshake rows
//! measured from this harness with the s2n-quic crate as the client, which separate qecho's
//! server and s2n-quic itself from what `qecho send` adds (the baseline's client is this harness
//! already, so its figures stand in both rows).
//!
//! The baseline server runs on a current-thread runtime by default, as qecho does: on this 2-core
//! machine it measured faster than the multi-thread one when the machine was quiet (handshakes
//! ~15% more per second, bulk and streams alike) and slower only while other builds ran
//! (`--server-runtime multi` to compare). `--pin C,S` pins clients and servers to two CPUs; ping
//! RTTs depend severalfold on whether the two processes share a core.
//!
//! Bounded throughout: servers must say where they listen within 20 s, each run has a deadline
//! (its child processes are killed past it), and every child dies with the harness
//! (PR_SET_PDEATHSIG). qecho runs from a private copy of the binary, so that a rebuild in the
//! same tree during the run cannot swap it. Only 127.0.0.1 and port 0 are used.

/// The bulk data, the very pattern qecho's bulk mode sends and checks (there is no library target
/// to import it from): a pseudo-random block of prime length, repeated.
#[path = "../src/send/pattern.rs"]
mod pattern;
use pattern::Pattern;

/// The baseline's resumption: a ticket store deep enough for every handshake in flight.
#[path = "echo/tickets.rs"]
mod tickets;

/// The baseline client's certificate check, shared with the quinn interop tests.
#[path = "../tests/common/skip_chain.rs"]
mod skip_chain;
use skip_chain::SkipChainCheck;

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr, bail, ensure, eyre};
use futures::{StreamExt, TryStreamExt};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const ALPN: &[u8] = b"qecho";
const SERVER_NAME: &str = "localhost";
/// How long a server may take to say where it listens, and to exit when told to.
const SERVER_READY: Duration = Duration::from_secs(20);
const SERVER_STOP: Duration = Duration::from_secs(5);
/// Bytes per write in bulk transfers: qecho's bulk mode hands s2n-quic 256 KiB at a time too.
const CHUNK: usize = 256 * 1024;
/// Echo message size for ping, handshakes and idle connections.
const MESSAGE: usize = 64;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "echo",
    about = "qecho vs a TCP+TLS (tokio-rustls) echo baseline on loopback: medians of alternating runs"
)]
struct Options {
    /// Runs of each benchmark on each side; the table shows medians.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Comma-separated subset of: bulk, streams, ping, handshakes, idle.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Bulk: MiB sent on one connection, one stream (echoed back and checked).
    #[arg(long, default_value_t = 1000)]
    bulk_mib: u64,
    /// Streams: concurrent streams (qecho) / connections (baseline), 1 MiB each.
    #[arg(long, default_value_t = 100)]
    streams: u64,
    /// Ping: sequential 64-byte echoes on one stream.
    #[arg(long, default_value_t = 5000)]
    pings: u64,
    /// Ping: pause between the harness's own pings (baseline and s2n-quic client), in ms, as
    /// `qecho send --interval` does: 0 = back to back. (Its loop waits for the next timer tick
    /// even with --interval 0s; 1 here paces the others alike.)
    #[arg(long, default_value_t = 0)]
    ping_pause_ms: u64,
    /// Handshakes: connections, each doing one 64-byte echo.
    #[arg(long, default_value_t = 2000)]
    handshakes: u64,
    /// Handshakes and idle connections: how many are in flight at once.
    #[arg(long, default_value_t = 64)]
    parallel: u64,
    /// Idle: connections held open while the server's RSS is read.
    #[arg(long, default_value_t = 1000)]
    idle: u64,
    /// The baseline server's tokio runtime: current (one thread, as qecho) or multi (one worker
    /// per core).
    #[arg(long, value_enum, default_value_t = Flavor::Current)]
    server_runtime: Flavor,
    /// The baseline server's read buffer per connection, KiB.
    #[arg(long, default_value_t = 16)]
    server_buffer_kib: usize,
    /// Pin the clients (this harness, `qecho send`) to CPU C and the servers to CPU S: `--pin 0,1`.
    /// Off by default: the scheduler may then put both on one core or on two, which changes
    /// ping RTTs severalfold between runs (on this VM: ~20 us on one core, ~70 us across two).
    #[arg(long, value_name = "C,S", value_delimiter = ',', num_args = 1)]
    pin: Vec<usize>,
    /// The qecho binary to measure [default: the one cargo built with this bench].
    #[arg(long, env = "QECHO_BIN")]
    qecho: Option<PathBuf>,
    /// Where to write the results as JSON [default: target/bench-results.json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Passed by `cargo bench`; without it (as under `cargo test --benches`) nothing is run.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Bench {
    Bulk,
    Streams,
    Ping,
    Handshakes,
    Idle,
}

const ALL: [Bench; 5] = [
    Bench::Bulk,
    Bench::Streams,
    Bench::Ping,
    Bench::Handshakes,
    Bench::Idle,
];

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::Bulk => "bulk",
            Bench::Streams => "streams",
            Bench::Ping => "ping",
            Bench::Handshakes => "handshakes",
            Bench::Idle => "idle",
        }
    }

    /// An upper bound for one run of one side, server start and stop included.
    fn timeout(self, options: &Options) -> Duration {
        let secs = match self {
            // Even at 0.1 Gbit/s.
            Bench::Bulk => 30 + options.bulk_mib * 84 / 1000,
            Bench::Streams => 30 + options.streams * 84 / 1000,
            Bench::Ping => 30 + options.pings / 100,
            Bench::Handshakes => 30 + options.handshakes / 20,
            Bench::Idle => 30 + options.idle / 20,
        };
        Duration::from_secs(secs)
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Current,
    Multi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Qecho,
    Baseline,
}

/// What one metric means, for the table.
struct MetricInfo {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    higher_is_better: bool,
}

const METRICS: &[MetricInfo] = &[
    MetricInfo {
        key: "bulk_gbps",
        label: "bulk: 1 conn x 1 stream, echo rate",
        unit: "Gbit/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "bulk_peak_rss",
        label: "bulk: server peak RSS (VmHWM)",
        unit: "MiB",
        higher_is_better: false,
    },
    MetricInfo {
        key: "bulk_server_cpu",
        label: "bulk: server CPU per GiB echoed",
        unit: "ms/GiB",
        higher_is_better: false,
    },
    MetricInfo {
        key: "bulk_client_cpu",
        label: "bulk: client CPU per GiB echoed",
        unit: "ms/GiB",
        higher_is_better: false,
    },
    MetricInfo {
        key: "streams_gbps",
        label: "streams: 100 x 1 MiB, echo rate",
        unit: "Gbit/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "ping_p50",
        label: "ping, qecho send: RTT p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_p99",
        label: "ping, qecho send: RTT p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_direct_p50",
        label: "ping, s2n-quic client: RTT p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_direct_p99",
        label: "ping, s2n-quic client: RTT p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_rate",
        label: "handshakes: connections/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "handshake_p50",
        label: "handshakes: latency p50",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_p99",
        label: "handshakes: latency p99",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_max",
        label: "handshakes: latency max",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_server_cpu",
        label: "handshakes: server CPU per conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_client_cpu",
        label: "handshakes: client CPU per conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_direct_rate",
        label: "handshakes, s2n-quic client: conn/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "handshake_direct_p99",
        label: "handshakes, s2n-quic client: p99",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_direct_max",
        label: "handshakes, s2n-quic client: max",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_direct_client_cpu",
        label: "handshakes, s2n-quic client: CPU/conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "resumed_rate",
        label: "handshakes, resumed: conn/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "resumed_p99",
        label: "handshakes, resumed: latency p99",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "resumed_server_cpu",
        label: "handshakes, resumed: server CPU/conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "resumed_client_cpu",
        label: "handshakes, resumed: client CPU/conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "idle_bytes_per_conn",
        label: "idle: server RSS per open conn",
        unit: "bytes",
        higher_is_better: false,
    },
];

type Sample = Vec<(&'static str, f64)>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("baseline-server") {
        return match baseline_server(&args[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("baseline-server: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let options = Options::parse();
    if !options.bench {
        println!("benches/echo.rs runs only under `cargo bench --bench echo` (or with --bench)");
        return ExitCode::SUCCESS;
    }
    match run(options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; returns whether every run succeeded.
fn run(options: Options) -> Result<bool> {
    let qecho = options
        .qecho
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_qecho")));
    ensure!(
        qecho.is_file(),
        "no qecho binary at {}: build it, or pass --qecho PATH",
        qecho.display()
    );
    // A private copy: a `cargo build --release` in the same tree during the run (this machine is
    // shared) would otherwise swap the binary between runs.
    let private = tempfile::tempdir().wrap_err("cannot make a temporary directory")?;
    let copy = private.path().join("qecho");
    std::fs::copy(&qecho, &copy)
        .wrap_err_with(|| format!("cannot copy {} to {}", qecho.display(), copy.display()))?;
    let built = std::fs::metadata(&qecho)
        .and_then(|meta| meta.modified())
        .ok()
        .map(modified_text)
        .unwrap_or_default();
    let source = qecho;
    let qecho = copy;
    let out = options.out.clone().unwrap_or_else(default_out);
    match options.pin[..] {
        [] => {}
        [client, server] => {
            // This thread runs the baseline's clients; the servers get theirs when started.
            pin_to(client).wrap_err_with(|| format!("cannot pin to CPU {client}"))?;
            let _ = PIN.set([client, server]);
        }
        _ => bail!("--pin takes two CPUs, the clients' and the servers': --pin 0,1"),
    }
    let benches: Vec<Bench> = if options.only.is_empty() {
        ALL.to_vec()
    } else {
        ALL.into_iter()
            .filter(|b| options.only.contains(b))
            .collect()
    };
    let load_before = loadavg();
    eprintln!(
        "qecho {} (modified {built}) vs TCP+TLS baseline (server runtime: {:?}), {} run(s) each, \
         load average {load_before}",
        source.display(),
        options.server_runtime,
        options.runs
    );
    let started = Instant::now();
    let mut samples: BTreeMap<&'static str, [Vec<f64>; 2]> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for &bench in &benches {
        for run in 0..options.runs {
            let order = if run % 2 == 0 {
                [Side::Qecho, Side::Baseline]
            } else {
                [Side::Baseline, Side::Qecho]
            };
            for side in order {
                let result = match side {
                    Side::Qecho => qecho_run(bench, &qecho, &options),
                    Side::Baseline => baseline_run(bench, &options),
                };
                match result {
                    Ok(values) => {
                        let shown: Vec<String> =
                            values.iter().map(|(k, v)| format!("{k}={v:.3}")).collect();
                        eprintln!(
                            "[{:>6.1}s] {} run {}/{} {side:?}: {}",
                            started.elapsed().as_secs_f64(),
                            bench.name(),
                            run + 1,
                            options.runs,
                            shown.join(" ")
                        );
                        for (key, value) in values {
                            let slot = samples.entry(key).or_default();
                            slot[(side == Side::Baseline) as usize].push(value);
                        }
                    }
                    Err(err) => {
                        let line =
                            format!("{} run {} {side:?} failed: {err:#}", bench.name(), run + 1);
                        eprintln!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
                        failures.push(line);
                    }
                }
            }
        }
    }
    let load_after = loadavg();
    let (text, mut value) = report(
        &options,
        &samples,
        &failures,
        &load_before,
        &load_after,
        started.elapsed(),
    );
    value["config"]["qecho_binary"] = json!(source.display().to_string());
    value["config"]["qecho_binary_modified"] = json!(built);
    println!("{text}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&value)? + "\n")
        .wrap_err_with(|| format!("cannot write {}", out.display()))?;
    println!("results written to {}", out.display());
    Ok(failures.is_empty())
}

/// `target/bench-results.json`: the bench binary lives in `<target>/<profile>/deps/`.
fn default_out() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then_some(deps.parent()?.parent()?.to_path_buf())
    });
    target
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-results.json")
}

/// A modification time as seconds since the epoch and how long ago.
fn modified_text(time: std::time::SystemTime) -> String {
    let epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ago = time.elapsed().map_or(0, |d| d.as_secs());
    format!("{ago} s ago, unix time {epoch}")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_string())
}

// ---------------------------------------------------------------------------------------------
// The report.

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

fn fmt_value(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn fmt_range(values: &[f64]) -> String {
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    match (min, max) {
        (Some(min), Some(max)) => format!("{}..{}", fmt_value(Some(min)), fmt_value(Some(max))),
        _ => "-".to_string(),
    }
}

fn report(
    options: &Options,
    samples: &BTreeMap<&'static str, [Vec<f64>; 2]>,
    failures: &[String],
    load_before: &str,
    load_after: &str,
    elapsed: Duration,
) -> (String, Value) {
    let header = [
        "benchmark",
        "unit",
        "qecho",
        "baseline",
        "qecho/base",
        "better",
        "runs q/b",
        "qecho min..max",
        "baseline min..max",
    ];
    let mut rows: Vec<[String; 9]> = Vec::new();
    let mut results = Vec::new();
    for info in METRICS {
        let Some([q, b]) = samples.get(info.key) else {
            continue;
        };
        let (qm, bm) = (median(q), median(b));
        let ratio = match (qm, bm) {
            (Some(q), Some(b)) if b != 0.0 => Some(q / b),
            _ => None,
        };
        let better = if info.higher_is_better {
            "higher"
        } else {
            "lower"
        };
        rows.push([
            info.label.to_string(),
            info.unit.to_string(),
            fmt_value(qm),
            fmt_value(bm),
            ratio.map_or("-".to_string(), |r| format!("{r:.2}")),
            better.to_string(),
            format!("{}/{}", q.len(), b.len()),
            fmt_range(q),
            fmt_range(b),
        ]);
        results.push(json!({
            "metric": info.key, "label": info.label, "unit": info.unit,
            "higher_is_better": info.higher_is_better,
            "qecho": {"median": qm, "runs": q.len(), "samples": q},
            "baseline": {"median": bm, "runs": b.len(), "samples": b},
            "ratio_qecho_over_baseline": ratio,
        }));
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i == 0 {
                text.push_str(&format!("{cell:<width$}"));
            } else {
                text.push_str(&format!("  {cell:>width$}"));
            }
        }
        text.trim_end().to_string()
    };
    let mut text = format!(
        "\nqecho vs TCP+TLS baseline on 127.0.0.1: medians of {} alternating run(s); \
         ratio = qecho / baseline\n\n",
        options.runs
    );
    text.push_str(&line(&header.map(String::from)));
    text.push('\n');
    text.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    text.push('\n');
    for row in &rows {
        text.push_str(&line(row));
        text.push('\n');
    }
    text.push_str(&format!(
        "\nload average {load_before} before, {load_after} after; {:.0} s in all; baseline server \
         runtime {:?}; {}\n",
        elapsed.as_secs_f64(),
        options.server_runtime,
        match options.pin[..] {
            [client, server] => format!("clients on CPU {client}, servers on CPU {server}"),
            _ => "not pinned to CPUs".to_string(),
        }
    ));
    for failure in failures {
        text.push_str(&format!("FAILED: {failure}\n"));
    }
    let value = json!({
        "config": {
            "runs": options.runs, "bulk_mib": options.bulk_mib, "streams": options.streams,
            "stream_mib": 1, "pings": options.pings, "message_bytes": MESSAGE,
            "ping_pause_ms": options.ping_pause_ms,
            "handshakes": options.handshakes, "parallel": options.parallel, "idle": options.idle,
            "baseline_server_runtime": format!("{:?}", options.server_runtime).to_lowercase(),
            "baseline_client_runtime": "current",
            "pin_client_server_cpus": options.pin,
            "baseline_server_buffer_kib": options.server_buffer_kib,
            "baseline_tls": "TLS 1.3, TLS_AES_128_GCM_SHA256, x25519, ECDSA P-256 cert, no resumption",
            "order": "ABBA: odd runs qecho first, even runs baseline first",
        },
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_before": load_before, "loadavg_after": load_after,
        },
        "seconds": elapsed.as_secs_f64(),
        "results": results,
        "failures": failures,
    });
    (text, value)
}

// ---------------------------------------------------------------------------------------------
// Child processes: servers and `qecho send`, each bounded in time and stopped by pid.

/// `--pin C,S`: the CPUs of clients and servers.
static PIN: std::sync::OnceLock<[usize; 2]> = std::sync::OnceLock::new();

#[derive(Clone, Copy)]
enum Role {
    Client,
    Server,
}

/// Binds the calling thread (and what it starts later) to one CPU.
fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

struct Proc {
    pid: i32,
    label: String,
    exited: mpsc::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
    stdout: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<Vec<String>>>,
    /// The last lines of both outputs, for error messages.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Starts `command` with stdout and stderr piped; `watch` gets every line of both until its
    /// receiver is dropped. `keep_stdout` keeps all of stdout for `finish`.
    fn spawn(
        mut command: Command,
        label: &str,
        watch: Option<mpsc::Sender<String>>,
        keep_stdout: bool,
        role: Role,
    ) -> Result<Proc> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let cpu = PIN.get().map(|&[client, server]| match role {
            Role::Client => client,
            Role::Server => server,
        });
        // SAFETY: prctl and sched_setaffinity are plain system calls, fine between fork and exec.
        // The first makes the child die with this process, so that no server outlives a harness
        // that is killed.
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(cpu) = cpu {
                    pin_to(cpu)?;
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .wrap_err_with(|| format!("cannot start {label}"))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let stdout = child
            .stdout
            .take()
            .map(|pipe| spawn_reader(pipe, keep_stdout, watch.clone(), tail.clone()));
        let stderr = child
            .stderr
            .take()
            .map(|pipe| spawn_reader(pipe, false, watch, tail.clone()));
        let pid = child.id() as i32;
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Ok(Proc {
            pid,
            label: label.to_string(),
            exited,
            status: None,
            stdout,
            stderr,
            tail,
        })
    }

    fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Has it exited by `deadline`?
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        if self.status.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            self.status = self.exited.recv_timeout(left).ok();
        }
        self.status
    }

    fn signal(&self, signal: i32) {
        if self.status.is_none() {
            // SAFETY: kill(2) on our own child, which the waiter thread has not reaped yet (its
            // status would be in `exited`), so the pid is still ours.
            unsafe {
                libc::kill(self.pid, signal);
            }
        }
    }

    /// SIGTERM, then SIGKILL if it does not exit within `SERVER_STOP`.
    fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(status) = self.exited.try_recv() {
            self.status = Some(status);
        }
        self.signal(libc::SIGTERM);
        if self.wait_until(Instant::now() + SERVER_STOP).is_none() {
            self.signal(libc::SIGKILL);
            self.wait_until(Instant::now() + SERVER_STOP);
        }
        self.status
    }

    /// Waits for the process to exit by itself (killing it at `deadline`), and returns its status
    /// and its whole stdout.
    fn finish(mut self, deadline: Instant) -> Result<(ExitStatus, Vec<String>)> {
        let Some(status) = self.wait_until(deadline) else {
            self.stop();
            bail!(
                "{} did not finish in time and was killed; its last output:\n{}",
                self.label,
                self.tail()
            );
        };
        let stdout = self
            .stdout
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        if let Some(reader) = self.stderr.take() {
            let _ = reader.join();
        }
        Ok((status, stdout))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.stop();
        }
    }
}

fn spawn_reader(
    pipe: impl Read + Send + 'static,
    keep: bool,
    mut watch: Option<mpsc::Sender<String>>,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &watch
                && tx.send(line.clone()).is_err()
            {
                watch = None;
            }
            {
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == 20 {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
            }
            if keep {
                kept.push(line);
            }
        }
        kept
    })
}

/// A server process and the address it listens on.
struct Server {
    proc: Proc,
    addr: SocketAddr,
}

impl Server {
    /// Starts the server and waits, at most `SERVER_READY`, for its `listening on ADDR` line.
    fn start(command: Command, label: &str) -> Result<Server> {
        let (tx, rx) = mpsc::channel();
        let mut proc = Proc::spawn(command, label, Some(tx), false, Role::Server)?;
        let deadline = Instant::now() + SERVER_READY;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(_) => {
                    proc.stop();
                    bail!(
                        "{label} did not report its address within {SERVER_READY:?}; its output:\n{}",
                        proc.tail()
                    );
                }
            }
        };
        // Dropping `rx` stops the forwarding; the readers keep draining the pipes.
        drop(rx);
        Ok(Server { proc, addr })
    }

    /// `qecho serve` with its defaults, but room for `connections` at once where it limits them
    /// (`--max-connections`, 1,000 by default).
    fn qecho(qecho: &Path, connections: Option<u64>) -> Result<Server> {
        let mut command = Command::new(qecho);
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        if let Some(connections) = connections
            && connections >= 1000
            && serve_has_flag(qecho, "--max-connections")
        {
            command.args(["--max-connections", &(connections + 1).to_string()]);
        }
        Server::start(command, "qecho serve")
    }

    fn baseline(flavor: Flavor, buffer_kib: usize) -> Result<Server> {
        let exe = std::env::current_exe().wrap_err("cannot find this bench binary")?;
        let mut command = Command::new(exe);
        command.args([
            "baseline-server",
            match flavor {
                Flavor::Current => "current",
                Flavor::Multi => "multi",
            },
            &buffer_kib.to_string(),
        ]);
        Server::start(command, "baseline-server")
    }

    fn status_kib(&self, key: &str) -> Result<f64> {
        proc_status_kib(self.proc.pid, key)
    }

    fn cpu(&self) -> Result<Duration> {
        proc_cpu(self.proc.pid)
    }

    /// Stops the server; an error if it had died before it was told to stop.
    fn stop(mut self) -> Result<()> {
        if let Ok(status) = self.proc.exited.try_recv() {
            self.proc.status = Some(status);
            bail!(
                "{} exited during the run ({status}); its last output:\n{}",
                self.proc.label,
                self.proc.tail()
            );
        }
        self.proc.stop();
        Ok(())
    }
}

/// Does `qecho serve` take `flag`? (Older builds have no `--max-connections`.)
fn serve_has_flag(qecho: &Path, flag: &str) -> bool {
    Command::new(qecho)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(flag))
}

/// The address in a `... listening on 127.0.0.1:PORT, ...` line, qecho's or the baseline's.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    let addr = rest.split([',', ' ']).next()?;
    addr.parse().ok()
}

fn proc_status_kib(pid: i32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .wrap_err_with(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .ok_or_else(|| eyre!("no {key} in /proc/{pid}/status"))
}

/// User plus system CPU time from getrusage(2): this process (`RUSAGE_SELF`), or its children
/// that have been waited for (`RUSAGE_CHILDREN`: here, the `qecho send` runs).
fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills in the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let time = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// User plus system CPU time of a process so far.
fn proc_cpu(pid: i32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .wrap_err_with(|| format!("cannot read /proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses: state is field 3, utime 14.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| eyre!("bad /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| eyre!("bad /proc/{pid}/stat"))
    };
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Duration::from_secs_f64(total as f64 / hz))
}

/// Runs `qecho send ADDR -k ARGS... --json` to completion and returns its stdout lines.
fn qecho_send(
    qecho: &Path,
    addr: SocketAddr,
    args: &[String],
    deadline: Instant,
) -> Result<Vec<String>> {
    let mut command = Command::new(qecho);
    command
        .arg("send")
        .arg(addr.to_string())
        .args(["-k", "--json"])
        .args(args);
    let proc = Proc::spawn(command, "qecho send", None, true, Role::Client)?;
    let tail = proc.tail.clone();
    let (status, stdout) = proc.finish(deadline)?;
    if !status.success() {
        let tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        bail!(
            "qecho send {} exited with {status}; its last output:\n{}",
            args.join(" "),
            tail.iter().cloned().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(stdout)
}

fn summary(lines: &[String]) -> Result<Value> {
    let last = lines
        .iter()
        .rev()
        .find(|line| !line.trim().is_empty())
        .ok_or_else(|| eyre!("qecho send printed nothing"))?;
    let value: Value = serde_json::from_str(last).wrap_err_with(|| format!("not JSON: {last}"))?;
    ensure!(
        value["type"] == "summary",
        "the last line is not the summary: {last}"
    );
    Ok(value)
}

fn number(value: &Value, path: &[&str]) -> Result<f64> {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    at.as_f64()
        .ok_or_else(|| eyre!("no number at {} in {value}", path.join(".")))
}

// ---------------------------------------------------------------------------------------------
// The qecho side.

fn qecho_run(bench: Bench, qecho: &Path, options: &Options) -> Result<Sample> {
    let deadline = Instant::now() + bench.timeout(options);
    let connections = (bench == Bench::Idle).then_some(options.idle + options.parallel + 1);
    let server = Server::qecho(qecho, connections)?;
    let result = qecho_work(bench, qecho, &server, options, deadline);
    let stopped = server.stop();
    let sample = result?;
    stopped?;
    Ok(sample)
}

fn qecho_work(
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
            let lines = qecho_send(
                qecho,
                addr,
                &args(&[
                    "--size".into(),
                    MESSAGE.to_string(),
                    "--count".into(),
                    options.pings.to_string(),
                    "--interval".into(),
                    "0s".into(),
                ]),
                deadline,
            )?;
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
                rtts.len() as u64 == options.pings
                    && number(&s, &["received"])? == options.pings as f64,
                "qecho ping: {} echo lines, summary {s}",
                rtts.len()
            );
            let mut sample = ping_sample(rtts, "ping_p50", "ping_p99");
            // The same pings from this harness with the s2n-quic crate, back to back: qecho's
            // server and s2n-quic without `qecho send`'s ping loop.
            let (pings, pause) = (options.pings, Duration::from_millis(options.ping_pause_ms));
            let direct =
                current_thread()?.block_on(bounded(deadline, quic_ping(addr, pings, pause)))?;
            sample.extend(ping_sample(direct, "ping_direct_p50", "ping_direct_p99"));
            Ok(sample)
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
fn qecho_connections(
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
fn qecho_resumed(
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

fn cpu_per_gib(cpu: Duration, bytes: u64) -> f64 {
    cpu.as_secs_f64() * 1000.0 / (bytes as f64 / f64::from(1 << 30))
}

fn ping_sample(mut rtts: Vec<Duration>, p50: &'static str, p99: &'static str) -> Sample {
    rtts.sort();
    let us = |p: f64| percentile(&rtts, p).as_secs_f64() * 1e6;
    vec![(p50, us(0.5)), (p99, us(0.99))]
}

/// Nearest rank, as qecho's own summaries compute it.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn current_thread() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn bounded<T>(deadline: Instant, work: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), work).await {
        Ok(result) => result,
        Err(_) => Err(eyre!("timed out")),
    }
}

/// An s2n-quic client endpoint like `qecho send -k`'s: ALPN qecho, no certificate checks, qecho's
/// TLS policy (X25519 first) and socket buffers (4 MiB: with the kernel's default, a burst of 64
/// handshakes overflows them, and a lost Initial waits out a 1 s PTO); s2n-quic's defaults
/// otherwise.
fn quic_client() -> Result<s2n_quic::Client> {
    let mut tls = s2n_quic::provider::tls::default::Client::builder()
        .with_application_protocols(["qecho"].iter())
        .map_err(|err| eyre!("ALPN: {err}"))?;
    let policy = s2n_quic::provider::tls::default::security::Policy::from_version("20240603")
        .map_err(|err| eyre!("TLS policy: {err}"))?;
    tls.config_mut()
        .set_security_policy(&policy)
        .map_err(|err| eyre!("TLS policy: {err}"))?;
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

/// Opens a QUIC connection and does one 64-byte echo on it; returns the open connection and how
/// long its handshake took.
async fn quic_echo_connection(
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
async fn quic_handshakes(addr: SocketAddr, count: u64, parallel: usize) -> Result<Sample> {
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
async fn quic_ping(addr: SocketAddr, count: u64, pause: Duration) -> Result<Vec<Duration>> {
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
async fn pace(sent: Instant, pause: Duration) {
    if !pause.is_zero() {
        tokio::time::sleep_until(tokio::time::Instant::from_std(sent + pause)).await;
    }
}

/// A 64-byte message, different for every `n`.
fn message(n: u64) -> [u8; MESSAGE] {
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

// ---------------------------------------------------------------------------------------------
// The baseline side: TCP + TLS 1.3 (tokio-rustls).

fn baseline_run(bench: Bench, options: &Options) -> Result<Sample> {
    let deadline = Instant::now() + bench.timeout(options);
    let server = Server::baseline(options.server_runtime, options.server_buffer_kib)?;
    let result = current_thread().and_then(|runtime| {
        runtime.block_on(bounded(deadline, baseline_work(bench, &server, options)))
    });
    let stopped = server.stop();
    let sample = result?;
    stopped?;
    Ok(sample)
}

async fn baseline_work(bench: Bench, server: &Server, options: &Options) -> Result<Sample> {
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
        Bench::Ping => {
            let mut stream = tls_connect(addr, &connector).await?;
            let mut rtts = Vec::with_capacity(options.pings as usize);
            let mut echo = [0u8; MESSAGE];
            for seq in 1..=options.pings {
                let message = message(seq);
                let sent = Instant::now();
                stream.write_all(&message).await?;
                stream.flush().await?;
                stream.read_exact(&mut echo).await?;
                rtts.push(sent.elapsed());
                ensure!(echo == message, "baseline ping {seq}: wrong echo");
                pace(sent, Duration::from_millis(options.ping_pause_ms)).await;
            }
            let _ = stream.shutdown().await;
            // The baseline's client is back to back already: its figures stand for both rows.
            let mut sample = ping_sample(rtts.clone(), "ping_p50", "ping_p99");
            sample.extend(ping_sample(rtts, "ping_direct_p50", "ping_direct_p99"));
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

fn gbits(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9
}

type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(addr: SocketAddr, connector: &TlsConnector) -> Result<ClientStream> {
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
async fn baseline_resumed(server: &Server, options: &Options) -> Result<Sample> {
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
    let mut times: Vec<Duration> = results.into_iter().map(|(time, _)| time).collect();
    times.sort();
    let per_conn = |cpu: Duration| cpu.as_secs_f64() * 1e6 / options.handshakes as f64;
    Ok(vec![
        (
            "resumed_rate",
            options.handshakes as f64 / elapsed.as_secs_f64(),
        ),
        (
            "resumed_p99",
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
        ),
        ("resumed_server_cpu", per_conn(cpu)),
        ("resumed_client_cpu", per_conn(client_cpu)),
    ])
}

async fn tls_echo(stream: &mut ClientStream, n: u64) -> Result<()> {
    let message = message(n);
    stream.write_all(&message).await?;
    stream.flush().await?;
    let mut echo = [0u8; MESSAGE];
    stream.read_exact(&mut echo).await?;
    ensure!(echo == message, "baseline connection {n}: wrong echo");
    Ok(())
}

/// Writes `bytes` of the pattern from `start` while reading the echo back and checking it.
async fn transfer(stream: ClientStream, pattern: &Pattern, start: u64, bytes: u64) -> Result<()> {
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
fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::aws_lc_rs as aws;
    Arc::new(CryptoProvider {
        cipher_suites: vec![aws::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![aws::kx_group::X25519],
        ..aws::default_provider()
    })
}

fn client_config() -> Result<ClientConfig> {
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
fn server_config() -> Result<ServerConfig> {
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
fn baseline_server(args: &[String]) -> Result<()> {
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
async fn echo_connection(
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
