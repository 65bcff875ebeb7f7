//! Child processes: the servers and `qecho send`, each bounded in time, stopped by pid, pinned to
//! a CPU with `--pin`, with their CPU time and peak RSS read from /proc and getrusage.

use super::*;

/// `--pin C,S`: the CPUs of clients and servers.
pub(crate) static PIN: std::sync::OnceLock<[usize; 2]> = std::sync::OnceLock::new();

#[derive(Clone, Copy)]
pub(crate) enum Role {
    Client,
    Server,
    /// A client that stands for other machines (the load row's storm): on the clients' CPU, but
    /// at idle priority, so that it never delays the client being measured.
    Background,
}

/// Binds the calling thread (and what it starts later) to one CPU.
pub(crate) fn pin_to(cpu: usize) -> std::io::Result<()> {
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

/// Puts the calling thread (and what it starts later) in SCHED_IDLE: it runs only when nothing
/// else on its CPU wants to.
pub(crate) fn idle_priority() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) struct Proc {
    pub(crate) pid: i32,
    pub(crate) label: String,
    pub(crate) exited: mpsc::Receiver<ExitStatus>,
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: Option<JoinHandle<Vec<String>>>,
    pub(crate) stderr: Option<JoinHandle<Vec<String>>>,
    /// The last lines of both outputs, for error messages.
    pub(crate) tail: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Starts `command` with stdout and stderr piped; `watch` gets every line of both until its
    /// receiver is dropped. `keep_stdout` keeps all of stdout for `finish`.
    pub(crate) fn spawn(
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
            Role::Client | Role::Background => client,
            Role::Server => server,
        });
        let background = matches!(role, Role::Background);
        // SAFETY: prctl and sched_setaffinity are plain system calls, fine between fork and exec.
        // The first makes the child die with this process, so that no server outlives a harness
        // that is killed.
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(cpu) = cpu {
                    pin_to(cpu)?;
                }
                if background {
                    idle_priority()?;
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

    pub(crate) fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Has it exited by `deadline`?
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        if self.status.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            self.status = self.exited.recv_timeout(left).ok();
        }
        self.status
    }

    pub(crate) fn signal(&self, signal: i32) {
        if self.status.is_none() {
            // SAFETY: kill(2) on our own child, which the waiter thread has not reaped yet (its
            // status would be in `exited`), so the pid is still ours.
            unsafe {
                libc::kill(self.pid, signal);
            }
        }
    }

    /// SIGTERM, then SIGKILL if it does not exit within `SERVER_STOP`.
    pub(crate) fn stop(&mut self) -> Option<ExitStatus> {
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
    pub(crate) fn finish(mut self, deadline: Instant) -> Result<(ExitStatus, Vec<String>)> {
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

pub(crate) fn spawn_reader(
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
pub(crate) struct Server {
    pub(crate) proc: Proc,
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts the server and waits, at most `SERVER_READY`, for its `listening on ADDR` line.
    pub(crate) fn start(command: Command, label: &str) -> Result<Server> {
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
    pub(crate) fn qecho(
        qecho: &Path,
        connections: Option<u64>,
        extra: &[String],
    ) -> Result<Server> {
        let mut command = Command::new(qecho);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra);
        if let Some(connections) = connections
            && connections >= 1000
            && serve_has_flag(qecho, "--max-connections")
        {
            command.args(["--max-connections", &(connections + 1).to_string()]);
        }
        Server::start(command, "qecho serve")
    }

    pub(crate) fn baseline(flavor: Flavor, buffer_kib: usize) -> Result<Server> {
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

    /// The quinn echo server (benches/echo/quinn_side.rs).
    pub(crate) fn quinn() -> Result<Server> {
        let exe = std::env::current_exe().wrap_err("cannot find this bench binary")?;
        let mut command = Command::new(exe);
        command.arg("quinn-server");
        Server::start(command, "quinn-server")
    }

    pub(crate) fn status_kib(&self, key: &str) -> Result<f64> {
        proc_status_kib(self.proc.pid, key)
    }

    pub(crate) fn cpu(&self) -> Result<Duration> {
        proc_cpu(self.proc.pid)
    }

    /// Stops the server; an error if it had died before it was told to stop.
    pub(crate) fn stop(mut self) -> Result<()> {
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

/// One run of a side whose client is this harness (quinn, the baseline): `run` on a
/// current-thread runtime against `server`, which is then stopped; an error also if the server
/// died during the run.
pub(crate) fn harness_run(
    server: Server,
    run: impl FnOnce(&tokio::runtime::Runtime, &Server) -> Result<Sample>,
) -> Result<Sample> {
    let result = current_thread().and_then(|runtime| run(&runtime, &server));
    let stopped = server.stop();
    let sample = result?;
    stopped?;
    Ok(sample)
}

/// Does `qecho serve` take `flag`? (Older builds have no `--max-connections`.)
pub(crate) fn serve_has_flag(qecho: &Path, flag: &str) -> bool {
    Command::new(qecho)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(flag))
}

/// The address in a `... listening on 127.0.0.1:PORT, ...` line, qecho's or the baseline's.
pub(crate) fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    let addr = rest.split([',', ' ']).next()?;
    addr.parse().ok()
}

pub(crate) fn proc_status_kib(pid: i32, key: &str) -> Result<f64> {
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
pub(crate) fn rusage(who: libc::c_int) -> Duration {
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
pub(crate) fn proc_cpu(pid: i32) -> Result<Duration> {
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
pub(crate) fn qecho_send(
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

pub(crate) fn summary(lines: &[String]) -> Result<Value> {
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

pub(crate) fn number(value: &Value, path: &[&str]) -> Result<f64> {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    at.as_f64()
        .ok_or_else(|| eyre!("no number at {} in {value}", path.join(".")))
}
