//! qecho against quinn's echo and a TCP+TLS echo baseline, on loopback, in one run (issues 5, 18).
//!
//! `cargo bench --bench echo` builds qecho and this harness with the bench profile (= release),
//! then for each benchmark runs the three echo pairs in turn, rotating who goes first (run 1:
//! qecho, quinn, baseline; run 2: quinn, baseline, qecho; ...), so that drift of this shared
//! machine falls on all alike. It prints the medians and the ratios qecho / quinn and qecho /
//! baseline as a table and writes the same, with every sample, to `target/bench-results.json`.
//! Options go after `--`: `cargo bench --bench echo -- --runs 6 --only bulk,ping` (`-- --help`
//! lists them).
//!
//! Every run gets a fresh server process, so that its peak RSS and CPU time belong to that run:
//! - qecho: `qecho serve --listen 127.0.0.1:0` driven by `qecho send` (both processes, so the
//!   harness idles while they work); the 1,000 idle connections are opened by this harness with
//!   the s2n-quic crate as a client.
//! - quinn: this same binary re-executed as `quinn-server`, driven by a quinn client in this
//!   process; tuned as qecho is (echo/quinn_side.rs says how).
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

#[path = "echo/baseline.rs"]
mod baseline;
#[path = "echo/counters.rs"]
mod counters;
#[path = "echo/load.rs"]
mod load;
#[path = "echo/procs.rs"]
mod procs;
#[path = "echo/qecho_side.rs"]
mod qecho_side;
#[path = "echo/quinn_side.rs"]
mod quinn_side;
#[path = "echo/report.rs"]
mod report;
#[path = "echo/s2n_client.rs"]
mod s2n_client;
#[path = "echo/s2n_server.rs"]
mod s2n_server;
use baseline::*;
use counters::*;
use load::*;
use procs::*;
use qecho_side::*;
use quinn_side::*;
use report::*;
use s2n_client::*;
use s2n_server::*;

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
    /// Runs of each benchmark on each side; the table shows medians. A multiple of 3 lets each
    /// side go first equally often.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Comma-separated subset of: bulk, streams, ping, spaced, load, handshakes, idle.
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
    /// Spaced: pings 10 ms apart on an idle server.
    #[arg(long, default_value_t = 300)]
    spaced_pings: u64,
    /// Load: pings 1 ms apart, alone and then during a storm of handshakes (`--parallel` in
    /// flight).
    #[arg(long, default_value_t = 2000)]
    load_pings: u64,
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
    /// A flag for `qecho serve`, repeated for several: `--serve-arg=--tls-thread`.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    serve_arg: Vec<String>,
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
    Spaced,
    Load,
    Handshakes,
    Idle,
}

const ALL: [Bench; 7] = [
    Bench::Bulk,
    Bench::Streams,
    Bench::Ping,
    Bench::Spaced,
    Bench::Load,
    Bench::Handshakes,
    Bench::Idle,
];

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::Bulk => "bulk",
            Bench::Streams => "streams",
            Bench::Ping => "ping",
            Bench::Spaced => "spaced",
            Bench::Load => "load",
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
            // 10 ms and 1 ms apart, at most 20 ms each (and 1 ms twice).
            Bench::Spaced => 30 + options.spaced_pings / 50,
            Bench::Load => 30 + options.load_pings / 25,
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

/// The three echo pairs, in the order of the report's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Qecho = 0,
    Quinn = 1,
    Baseline = 2,
}

/// Run 1 takes them in this order, run 2 starts with quinn, run 3 with the baseline, and so on,
/// so that each goes first as often as the others (with a multiple of 3 runs).
const SIDES: [Side; 3] = [Side::Qecho, Side::Quinn, Side::Baseline];

/// Each metric's values, one list per side (indexed by `Side as usize`).
type Samples = BTreeMap<&'static str, [Vec<f64>; 3]>;

type Sample = Vec<(&'static str, f64)>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let server = match args.get(1).map(String::as_str) {
        Some("baseline-server") => Some(baseline_server(&args[2..])),
        Some("quinn-server") => Some(quinn_server()),
        Some("s2n-server") => Some(s2n_server()),
        _ => None,
    };
    if let Some(result) = server {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{}: {err:#}", args[1]);
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
    let mut samples: Samples = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for &bench in &benches {
        for run in 0..options.runs {
            let mut order = SIDES;
            order.rotate_left(run % SIDES.len());
            for side in order {
                let result = match side {
                    Side::Qecho => qecho_run(bench, &qecho, &options),
                    Side::Quinn => quinn_run(bench, &options),
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
                            slot[side as usize].push(value);
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
