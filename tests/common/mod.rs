//! Test harness: runs the real `qecho` binary on loopback. Servers bind port 0 and report their
//! real port on their "listening on" line, so tests run in parallel. Every wait has a deadline.
#![allow(dead_code)] // each test binary uses its own subset

pub mod peer;
pub mod skip_chain;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core CI machine; only reached when something is broken.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Held by each test of a figure against the clock (an RTT, a rate, a delay), so that within one
/// test binary those tests run one at a time: on 2 cores, a bulk transfer in a parallel test
/// delayed the relay's and qecho's wake-ups enough to push a measured 40 ms RTT past 42 ms.
pub fn timing_test() -> std::sync::MutexGuard<'static, ()> {
    static CLOCK: Mutex<()> = Mutex::new(());
    CLOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The built binary, with a predictable environment.
pub fn qecho() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qecho"));
    command
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("SSLKEYLOGFILE")
        .stdin(Stdio::null());
    command
}

/// Runs a command to completion, killing it (and failing the test) past `limit`.
pub fn run(mut command: Command, limit: Duration) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn qecho");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_with_deadline(&mut child, limit)
        .unwrap_or_else(|| panic!("{command:?} did not finish within {limit:?}"));
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Sends `child` the signal NAME (`TERM`, `INT`), as a user's `kill` or Ctrl-C would.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits for `child` until `limit`; kills it and returns `None` if it is still running then.
pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Lines a process wrote to stderr, shared with a reader thread.
#[derive(Clone, Default)]
pub struct Log(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Log {
    fn follow(pipe: impl Read + Send + 'static) -> Self {
        let log = Log::default();
        let writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let (lines, arrived) = &*writer.0;
                lines.lock().expect("log lock").push(line);
                arrived.notify_all();
            }
        });
        log
    }

    /// The first line containing `needle`, waiting up to `limit` for it to appear.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let (lines, arrived) = &*self.0;
        let mut guard = lines.lock().expect("log lock");
        loop {
            if let Some(line) = guard.iter().find(|line| line.contains(needle)) {
                return Some(line.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            guard = arrived.wait_timeout(guard, left).expect("log lock").0;
        }
    }

    /// Waits up to `limit` until at least `count` lines contain `needle`; returns how many do.
    pub fn wait_for_count(&self, needle: &str, count: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let (lines, arrived) = &*self.0;
        let mut guard = lines.lock().expect("log lock");
        loop {
            let found = guard.iter().filter(|line| line.contains(needle)).count();
            let left = deadline.checked_duration_since(Instant::now());
            match left {
                Some(left) if found < count => {
                    guard = arrived.wait_timeout(guard, left).expect("log lock").0;
                }
                _ => return found,
            }
        }
    }

    /// Follows any pipe (a child's stdout, say) line by line.
    pub fn follow_pub(pipe: impl Read + Send + 'static) -> Self {
        Self::follow(pipe)
    }

    pub fn text(&self) -> String {
        self.0.0.lock().expect("log lock").join("\n")
    }
}

/// A running `qecho serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// `sha256:<hex>` of the certificate it presents.
    pub fingerprint: String,
    pub log: Log,
}

/// Starts `qecho SUBCOMMAND ARGS` on 127.0.0.1 port 0 (unless ARGS has --listen) and waits for
/// its "listening on" line; returns the child, its log, that line and the address on it.
fn start_listening(subcommand: &str, args: &[&str]) -> (Child, Log, String, SocketAddr) {
    let mut command = qecho();
    command.arg(subcommand).args(args);
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn qecho {subcommand}: {err}"));
    let log = Log::follow(child.stderr.take().expect("stderr"));
    let Some(line) = log.wait_for("listening on ", DEADLINE) else {
        let _ = child.kill();
        panic!(
            "qecho {subcommand} {args:?} never said it was listening:\n{}",
            log.text()
        );
    };
    let addr = word_after(&line, "listening on ")
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("no address in {line:?}"));
    (child, log, line, addr)
}

impl Server {
    /// Starts `qecho serve ARGS` on 127.0.0.1 port 0 (unless ARGS has --listen) and waits for its
    /// "listening on" line.
    pub fn start(args: &[&str]) -> Self {
        let (child, log, line, addr) = start_listening("serve", args);
        let fingerprint = line
            .split_whitespace()
            .find(|word| word.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no fingerprint in {line:?}"))
            .trim_end_matches(',')
            .to_string();
        Server {
            child,
            addr,
            fingerprint,
            log,
        }
    }

    /// `127.0.0.1:PORT` (or `[::1]:PORT`) for `qecho send`.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        signal(&self.child, "TERM");
        let exit =
            wait_with_deadline(&mut self.child, DEADLINE).expect("server exits after SIGTERM");
        (exit, self.log.text())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `qecho relay` with JSON logs, in front of a server; killed when dropped.
pub struct Relay {
    child: Child,
    /// Where clients send.
    pub addr: SocketAddr,
    pub log: Log,
}

/// What a relay did in each direction, from its last log lines (the fields of `--log-format
/// json`): `up["dropped_loss"]`, `down["datagrams_out"]`, ...
pub struct RelayCounts {
    pub up: serde_json::Value,
    pub down: serde_json::Value,
    pub log: String,
}

impl RelayCounts {
    /// A count of one direction, `"up"` or `"down"`.
    pub fn get(&self, direction: &str, field: &str) -> u64 {
        let counts = self.direction(direction);
        counts[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field} in {counts}"))
    }

    /// A figure of one direction in milliseconds, such as `late_avg_ms`.
    pub fn ms(&self, direction: &str, field: &str) -> f64 {
        let counts = self.direction(direction);
        counts[field]
            .as_f64()
            .unwrap_or_else(|| panic!("no {field} in {counts}"))
    }

    fn direction(&self, direction: &str) -> &serde_json::Value {
        if direction == "up" {
            &self.up
        } else {
            &self.down
        }
    }
}

impl Relay {
    /// Starts `qecho relay --to TO ARGS` on 127.0.0.1 port 0.
    pub fn start(to: SocketAddr, args: &[&str]) -> Self {
        let to = to.to_string();
        let mut all = vec!["--log-format", "json", "--to", to.as_str()];
        all.extend_from_slice(args);
        let (child, log, _, addr) = start_listening("relay", &all);
        Relay { child, addr, log }
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// The JSON log lines whose message contains `needle`.
    pub fn events(&self, needle: &str) -> Vec<serde_json::Value> {
        json_lines(&self.log.text())
            .into_iter()
            .filter(|event| {
                event["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle))
            })
            .collect()
    }

    /// Sends SIGTERM, waits for the exit (status 0) and returns the final counts.
    pub fn finish(mut self) -> RelayCounts {
        signal(&self.child, "TERM");
        let exit = wait_with_deadline(&mut self.child, DEADLINE).expect("relay exits on SIGTERM");
        // The reader thread may still be taking in the last lines.
        self.log
            .wait_for("\"message\":\"server to client: in", DEADLINE);
        let log = self.log.text();
        assert!(exit.success(), "relay exited with {exit}:\n{log}");
        let last = |direction: &str| {
            json_lines(&log)
                .into_iter()
                .rev()
                .find(|event| event["direction"] == direction && event["level"] == "INFO")
                .unwrap_or_else(|| panic!("no final {direction} counts in:\n{log}"))
        };
        RelayCounts {
            up: last("up"),
            down: last("down"),
            log,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line of `text` that parses as a JSON object.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The whitespace-separated word right after `marker` in `line`.
pub fn word_after<'a>(line: &'a str, marker: &str) -> &'a str {
    let rest = &line[line
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in {line:?}"))
        + marker.len()..];
    rest.split_whitespace().next().unwrap_or("")
}

/// `qecho send TARGET ARGS`, run to completion.
pub fn send(target: &str, args: &[&str]) -> Output {
    let mut command = qecho();
    command.arg("send").arg(target).args(args);
    run(command, DEADLINE)
}

/// `qecho probe ARGS`, run to completion.
pub fn probe(args: &[&str]) -> Output {
    let mut command = qecho();
    command.arg("probe").args(args);
    run(command, DEADLINE)
}

/// `qecho probe --json ARGS` of one target: its exit status and its object.
pub fn probe_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = probe(&all);
    let lines = json_lines(&text(&out.stdout));
    assert_eq!(lines.len(), 1, "{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code(), lines[0].clone())
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the exit status, showing both output streams when it is wrong; returns stdout.
pub fn assert_status(output: &Output, code: i32) -> String {
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    stdout
}

/// The last line of standard output as JSON: `send --json`'s summary.
pub fn last_json(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no output"));
    serde_json::from_str(last).unwrap_or_else(|err| panic!("not JSON ({err}): {last}"))
}

/// Asserts an error exit with one paragraph on stderr (no panic, no backtrace) containing every
/// one of `needles`. Returns stderr.
pub fn assert_error(output: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    assert!(!stderr.contains("stack backtrace"), "backtrace:\n{stderr}");
    // Our errors are one line; clap's usage errors are a short block of their own.
    let error = match stderr
        .lines()
        .find(|line| line.starts_with("qecho: error: "))
    {
        Some(line) => line,
        None if stderr.starts_with("error: ") => stderr.as_str(),
        None => panic!("no error line in:\n{stderr}"),
    };
    for needle in needles {
        assert!(
            error.contains(needle),
            "{needle:?} not in the error:\n{error}"
        );
    }
    stderr
}
