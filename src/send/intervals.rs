//! Interval reports, as iperf3 prints them: every `--interval` of a bulk run, one line (or with
//! `--json`, one `{"type":"interval",...}` object, as it happens) with the bytes sent and echoed in
//! that interval and their rates, and with `--stats` QUIC's smoothed RTT and the packets it lost
//! in it (over several connections: their mean smoothed RTT and all their losses). The last,
//! shorter interval is reported when the run ends, so that the intervals add up to the summary.

use super::Output;
use crate::events::ConnectionStats;
use crate::units::bit_rate;
use serde_json::json;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// QUIC's view at the end of an interval: its smoothed RTT and the packets it has lost so far.
#[derive(Clone, Copy)]
pub struct QuicSample {
    pub srtt: Duration,
    pub lost: u64,
}

impl QuicSample {
    /// Over several connections: the mean of their smoothed RTTs, and all their losses.
    pub fn over(stats: &[ConnectionStats]) -> Option<Self> {
        let count = u32::try_from(stats.len()).ok().filter(|count| *count > 0)?;
        Some(Self {
            srtt: stats.iter().map(|s| s.smoothed_rtt).sum::<Duration>() / count,
            lost: stats.iter().map(|s| s.packets_lost).sum(),
        })
    }
}

pub struct Intervals<'a> {
    output: &'a Output,
    every: Duration,
    started: Instant,
    /// Where the last interval ended: its time, (sent, echoed) bytes, and QUIC's loss count.
    last_end: Cell<Instant>,
    last_totals: Cell<(u64, u64)>,
    last_lost: Cell<u64>,
}

impl<'a> Intervals<'a> {
    /// Reports every `every` from `started`; `every` of zero reports nothing.
    pub fn new(output: &'a Output, every: Duration, started: Instant) -> Self {
        Self {
            output,
            every,
            started,
            last_end: Cell::new(started),
            last_totals: Cell::new((0, 0)),
            last_lost: Cell::new(0),
        }
    }

    /// Reports each interval as it ends; never completes. `totals` gives (sent, echoed) so far,
    /// `quic` QUIC's figures when `--stats` asked for them.
    pub async fn run(
        &self,
        totals: impl Fn() -> (u64, u64),
        quic: impl Fn() -> Option<QuicSample>,
    ) {
        if self.every.is_zero() {
            return std::future::pending().await;
        }
        let start = tokio::time::Instant::from_std(self.started);
        let mut tick = tokio::time::interval_at(start + self.every, self.every);
        loop {
            tick.tick().await;
            self.report(totals(), quic());
        }
    }

    /// Reports the interval from the last report to now, if any bytes went by in it.
    pub fn finish(&self, totals: (u64, u64), quic: Option<QuicSample>) {
        if !self.every.is_zero() && totals != self.last_totals.get() {
            self.report(totals, quic);
        }
    }

    fn report(&self, totals: (u64, u64), quic: Option<QuicSample>) {
        let now = Instant::now();
        let (from, to) = (self.last_end.replace(now), now);
        let (sent_before, echoed_before) = self.last_totals.replace(totals);
        let (sent, echoed) = (totals.0 - sent_before, totals.1 - echoed_before);
        let seconds = to.duration_since(from).as_secs_f64().max(1e-9);
        let gbits = |bytes: u64| bytes as f64 * 8.0 / seconds / 1e9;
        let (start_s, end_s) = (
            from.duration_since(self.started).as_secs_f64(),
            to.duration_since(self.started).as_secs_f64(),
        );
        let lost = quic.map(|quic| {
            let before = self.last_lost.replace(quic.lost);
            (quic.srtt, quic.lost - before.min(quic.lost))
        });
        self.output.event(
            || {
                let mut line = format!(
                    "[{start_s:6.2}-{end_s:6.2} s]  sent {:9.2} MiB {:>12}  echoed {:9.2} MiB {:>12}",
                    sent as f64 / 1048576.0,
                    bit_rate(sent, to.duration_since(from)),
                    echoed as f64 / 1048576.0,
                    bit_rate(echoed, to.duration_since(from))
                );
                if let Some((srtt, lost)) = lost {
                    line.push_str(&format!(
                        "  quic_srtt={:.3} ms lost={lost}",
                        srtt.as_secs_f64() * 1000.0
                    ));
                }
                line
            },
            || {
                let mut value = json!({
                    "type": "interval", "start_s": start_s, "end_s": end_s,
                    "sent_bytes": sent, "echoed_bytes": echoed,
                    "send_gbit_per_s": gbits(sent), "echo_gbit_per_s": gbits(echoed),
                });
                if let Some((srtt, lost)) = lost {
                    value["quic_srtt_ms"] = json!(srtt.as_secs_f64() * 1000.0);
                    value["quic_packets_lost"] = json!(lost);
                }
                value
            },
        );
    }
}
