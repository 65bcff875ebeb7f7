//! What this process has used so far: CPU time (user and system, from getrusage) and resident
//! memory (from /proc/self/statm), for `send`'s bulk summary and `serve`'s close lines.

use std::time::Duration;

/// CPU time used by this process since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu {
    pub user: Duration,
    pub system: Duration,
}

impl Cpu {
    /// Now; zero where getrusage fails (it does not on Linux).
    pub fn now() -> Self {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return Self::default();
        }
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        Self {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
        }
    }

    /// The CPU time used between `earlier` and this.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(self) -> Duration {
        self.user + self.system
    }

    /// This CPU time as a share of `wall` time, in percent (100% is one core busy throughout).
    pub fn percent_of(self, wall: Duration) -> f64 {
        self.total().as_secs_f64() / wall.as_secs_f64().max(1e-9) * 100.0
    }
}

/// This process's resident memory in bytes, if /proc tells: /proc/self/statm's second figure, in
/// pages. `serve` reads it at every connection's close; /proc/self/status (the same VmRSS among
/// fifty other lines) cost 4.6% of the server's CPU in a handshake storm (perf, 8,000 connections
/// 64 in flight); statm takes about half as long to read (8.5 against 15.4 us a read from Python,
/// its own overhead included).
pub fn resident_bytes() -> Option<u64> {
    let mut statm = [0u8; 128];
    let read = std::fs::File::open("/proc/self/statm")
        .and_then(|mut file| std::io::Read::read(&mut file, &mut statm))
        .ok()?;
    let pages: u64 = std::str::from_utf8(&statm[..read])
        .ok()?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let page_size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(pages * page_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work_and_memory_is_read() {
        let before = Cpu::now();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let used = Cpu::now().since(before);
        assert!(used.total() > Duration::ZERO, "{used:?}");
        assert!(resident_bytes().is_some_and(|bytes| bytes > 1 << 20));
    }

    #[test]
    fn resident_memory_is_what_proc_status_calls_vm_rss() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let vm_rss_kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let ours = resident_bytes().unwrap_or(0);
        // Two reads a moment apart: within 10% of each other.
        let theirs = vm_rss_kib * 1024;
        assert!(
            theirs > 0 && ours.abs_diff(theirs) * 10 < theirs,
            "statm says {ours} bytes, VmRSS {theirs}"
        );
    }
}
