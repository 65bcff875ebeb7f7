//! What one echo of the ping row costs besides time (issue 18): the packets on the wire and the
//! times each end went to sleep and was woken, per echo.
//!
//! Packets: the kernel's own counters in /proc/net/snmp (UDP datagrams sent, TCP segments sent),
//! for the whole machine, read before and after the pings: loopback carries nothing else during
//! the bench, so the difference is the two ends' packets both ways, ACKs included. Wake-ups: the
//! voluntary context switches (a thread blocked, to be woken later) of the server's threads from
//! /proc/PID/task/*/status, and of the client from getrusage: RUSAGE_CHILDREN for `qecho send`
//! (counted once it has been reaped), RUSAGE_THREAD for this harness's own clients (each runs on
//! the calling thread). CPU time per echo likewise: the server's from /proc/PID/stat (10 ms
//! ticks: about 10% over 5,000 echoes), the client's from getrusage.

use super::*;

/// The counters at the start of the pings.
pub(crate) struct PingCost {
    server_pid: i32,
    client: libc::c_int,
    packets: u64,
    server_wakeups: u64,
    client_wakeups: u64,
    server_cpu: Duration,
    client_cpu: Duration,
}

impl PingCost {
    /// `client` is RUSAGE_CHILDREN or RUSAGE_THREAD, as above.
    pub(crate) fn start(server: &Server, client: libc::c_int) -> Result<PingCost> {
        Ok(PingCost {
            server_pid: server.proc.pid,
            client,
            packets: packets_sent()?,
            server_wakeups: process_wakeups(server.proc.pid)?,
            client_wakeups: rusage_wakeups(client),
            server_cpu: proc_cpu(server.proc.pid)?,
            client_cpu: rusage(client),
        })
    }

    /// Per echo since the start, for `echoes` of them.
    pub(crate) fn per_echo(&self, echoes: u64) -> Result<Sample> {
        let per = |n: u64| n as f64 / echoes.max(1) as f64;
        let packets = packets_sent()?.saturating_sub(self.packets);
        let server = process_wakeups(self.server_pid)?.saturating_sub(self.server_wakeups);
        let client = rusage_wakeups(self.client).saturating_sub(self.client_wakeups);
        let us = |cpu: Duration| cpu.as_secs_f64() * 1e6 / echoes.max(1) as f64;
        let server_cpu = proc_cpu(self.server_pid)?.saturating_sub(self.server_cpu);
        let client_cpu = rusage(self.client).saturating_sub(self.client_cpu);
        Ok(vec![
            ("ping_packets_per_echo", per(packets)),
            ("ping_server_wakeups_per_echo", per(server)),
            ("ping_client_wakeups_per_echo", per(client)),
            ("ping_server_cpu_per_echo", us(server_cpu)),
            ("ping_client_cpu_per_echo", us(client_cpu)),
        ])
    }

    /// `per_echo`, for a client that is this harness: its CPU stands in the s2n-quic client's
    /// row too, as its RTTs do.
    pub(crate) fn per_echo_of_this_client(&self, echoes: u64) -> Result<Sample> {
        let mut sample = self.per_echo(echoes)?;
        let client_cpu = sample
            .iter()
            .find(|(key, _)| *key == "ping_client_cpu_per_echo");
        if let Some(&(_, cpu)) = client_cpu {
            sample.push(("ping_direct_client_cpu_per_echo", cpu));
        }
        Ok(sample)
    }
}

/// UDP datagrams plus TCP segments sent by this machine so far.
fn packets_sent() -> Result<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").wrap_err("cannot read /proc/net/snmp")?;
    Ok(snmp_field(&snmp, "Udp:", "OutDatagrams")? + snmp_field(&snmp, "Tcp:", "OutSegs")?)
}

/// In /proc/net/snmp each protocol has a line of names and then a line of values.
fn snmp_field(snmp: &str, protocol: &str, name: &str) -> Result<u64> {
    let mut lines = snmp.lines().filter(|line| line.starts_with(protocol));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        bail!("no {protocol} lines in /proc/net/snmp");
    };
    let at = names
        .split_whitespace()
        .position(|field| field == name)
        .ok_or_else(|| eyre!("no {protocol} {name} in /proc/net/snmp"))?;
    values
        .split_whitespace()
        .nth(at)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| eyre!("bad {protocol} {name} in /proc/net/snmp"))
}

/// Voluntary context switches of every thread of process `pid` so far.
fn process_wakeups(pid: i32) -> Result<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .wrap_err_with(|| format!("cannot list /proc/{pid}/task"))?;
    let mut total = 0;
    for task in tasks.flatten() {
        // A thread that has just exited has no status any more: it counts no longer.
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        total += status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

fn rusage_wakeups(who: libc::c_int) -> u64 {
    // SAFETY: getrusage fills in the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    usage.ru_nvcsw as u64
}
