//! Round-trip statistics for `send`'s summary, as ping prints them (min/avg/max/mdev), and the
//! percentiles p50/p90/p99.
//!
//! Percentiles are exact, from the samples themselves, for up to `EXACT_SAMPLES` of them: a ping
//! of 20 echoes reports its true median. Past that they come from a histogram of logarithmic
//! buckets, each 1% wider than the one before, so that memory stays the same however long a ping
//! runs (5,000 echoes a second for a day would be 432 million samples): a percentile is then
//! exact to within 1%, and clamped to the true min and max.

use std::collections::BTreeMap;
use std::time::Duration;

/// Each bucket's upper bound is this factor times its lower one.
const BUCKET_GROWTH: f64 = 1.01;

/// Samples kept as they are, for exact percentiles: 65,536 of 16 bytes, 1 MiB (13 s of pings
/// back to back at 5,000 a second), shared among the stats that are merged in the end (`send
/// --streams`: one per stream). Past it they are dropped, and the buckets answer.
const EXACT_SAMPLES: usize = 1 << 16;

#[derive(Debug)]
pub struct RttStats {
    count: u64,
    min: Option<Duration>,
    max: Duration,
    sum_ms: f64,
    sum_sq_ms: f64,
    /// Samples per bucket (see `bucket`); sparse, since RTTs cluster.
    buckets: BTreeMap<u32, u64>,
    /// Every sample, while there are at most `exact_limit`; empty after.
    exact: Vec<Duration>,
    exact_limit: usize,
}

impl Default for RttStats {
    fn default() -> Self {
        Self::one_of(1)
    }
}

/// The bucket of an RTT: floor(log base 1.01 of its nanoseconds).
fn bucket(rtt: Duration) -> u32 {
    let nanos = rtt.as_nanos().max(1) as f64;
    (nanos.ln() / BUCKET_GROWTH.ln()) as u32
}

/// The middle of a bucket, in milliseconds.
fn bucket_ms(bucket: u32) -> f64 {
    BUCKET_GROWTH.powf(f64::from(bucket) + 0.5) / 1e6
}

impl RttStats {
    /// Stats that keep their share of `EXACT_SAMPLES` as one of `shares` to be merged.
    pub fn one_of(shares: usize) -> Self {
        Self {
            count: 0,
            min: None,
            max: Duration::ZERO,
            sum_ms: 0.0,
            sum_sq_ms: 0.0,
            buckets: BTreeMap::new(),
            exact: Vec::new(),
            exact_limit: EXACT_SAMPLES / shares.max(1),
        }
    }

    pub fn record(&mut self, rtt: Duration) {
        let ms = rtt.as_secs_f64() * 1000.0;
        self.count += 1;
        self.min = Some(self.min.map_or(rtt, |min| min.min(rtt)));
        self.max = self.max.max(rtt);
        self.sum_ms += ms;
        self.sum_sq_ms += ms * ms;
        *self.buckets.entry(bucket(rtt)).or_default() += 1;
        if self.count as usize <= self.exact_limit {
            self.exact.push(rtt);
        } else if !self.exact.is_empty() {
            self.exact = Vec::new();
        }
    }

    /// Whether `exact` holds every sample.
    fn is_exact(&self) -> bool {
        self.count > 0 && self.exact.len() as u64 == self.count
    }

    /// Adds another set of samples to this one.
    pub fn merge(&mut self, other: &RttStats) {
        let Some(other_min) = other.min else { return };
        self.count += other.count;
        self.min = Some(self.min.map_or(other_min, |min| min.min(other_min)));
        self.max = self.max.max(other.max);
        self.sum_ms += other.sum_ms;
        self.sum_sq_ms += other.sum_sq_ms;
        for (bucket, count) in &other.buckets {
            *self.buckets.entry(*bucket).or_default() += count;
        }
        if self.exact.len() + other.exact.len() == self.count as usize
            && self.exact.len() + other.exact.len() <= self.exact_limit
        {
            self.exact.extend_from_slice(&other.exact);
        } else {
            self.exact = Vec::new();
        }
    }

    /// The `p` quantiles (0.5 for p50) in milliseconds, exact or within 1% (see the module's
    /// doc); `None` before a sample. The nearest-rank definition: the smallest RTT that at least
    /// `p` of the samples do not exceed.
    fn quantiles_ms<const N: usize>(&self, ps: [f64; N]) -> Option<[f64; N]> {
        let sorted = self.is_exact().then(|| {
            let mut sorted = self.exact.clone();
            sorted.sort_unstable();
            sorted
        });
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut quantiles = [0.0; N];
        for (quantile, p) in quantiles.iter_mut().zip(ps) {
            *quantile = match &sorted {
                Some(sorted) => percentile(sorted, p).map(ms)?,
                None => self.bucket_quantile_ms(p)?,
            };
        }
        Some(quantiles)
    }

    /// The `p` quantile from the buckets: the middle of the bucket that holds it, clamped.
    fn bucket_quantile_ms(&self, p: f64) -> Option<f64> {
        let (min, max) = (self.min?, self.max);
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        let bucket = self.buckets.iter().find_map(|(bucket, count)| {
            seen += count;
            (seen >= rank).then_some(*bucket)
        })?;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Some(bucket_ms(bucket).clamp(ms(min), ms(max)))
    }

    /// p50, p90 and p99 in milliseconds.
    fn percentiles_ms(&self) -> Option<[f64; 3]> {
        self.quantiles_ms([0.5, 0.9, 0.99])
    }

    /// `min/avg/max/mdev` in milliseconds, or `None` before the first sample.
    fn summary_ms(&self) -> Option<[f64; 4]> {
        let min = self.min?;
        let n = self.count as f64;
        let avg = self.sum_ms / n;
        // ping's mdev is the population standard deviation.
        let mdev = (self.sum_sq_ms / n - avg * avg).max(0.0).sqrt();
        Some([
            min.as_secs_f64() * 1000.0,
            avg,
            self.max.as_secs_f64() * 1000.0,
            mdev,
        ])
    }
    /// `rtt min/avg/max/mdev = 0.081/0.102/0.143/0.020 ms`, as ping ends, then a line
    /// `rtt p50/p90/p99 = 0.100/0.120/0.140 ms`; `None` before a sample.
    pub fn text(&self) -> Option<String> {
        let [min, avg, max, mdev] = self.summary_ms()?;
        let [p50, p90, p99] = self.percentiles_ms()?;
        Some(format!(
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms\n\
             rtt p50/p90/p99 = {p50:.3}/{p90:.3}/{p99:.3} ms"
        ))
    }

    /// `{"min":..,"avg":..,"max":..,"mdev":..,"p50":..,"p90":..,"p99":..}` in milliseconds, or
    /// null before a sample.
    pub fn json(&self) -> serde_json::Value {
        match (self.summary_ms(), self.percentiles_ms()) {
            (Some([min, avg, max, mdev]), Some([p50, p90, p99])) => serde_json::json!({
                "min": min, "avg": avg, "max": max, "mdev": mdev,
                "p50": p50, "p90": p90, "p99": p99,
            }),
            _ => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RttStats {
        fn quantile_ms(&self, p: f64) -> Option<f64> {
            self.quantiles_ms([p]).map(|[q]| q)
        }
    }

    #[test]
    fn min_avg_max_mdev() {
        let mut stats = RttStats::default();
        assert!(stats.summary_ms().is_none());
        for ms in [1, 2, 3] {
            stats.record(Duration::from_millis(ms));
        }
        let [min, avg, max, mdev] = stats.summary_ms().unwrap();
        assert!((min - 1.0).abs() < 1e-9);
        assert!((avg - 2.0).abs() < 1e-9);
        assert!((max - 3.0).abs() < 1e-9);
        assert!((mdev - (2.0f64 / 3.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn short_runs_have_exact_percentiles() {
        let mut stats = RttStats::default();
        // 20 echoes, 40.001 to 40.020 ms, in a shuffled order: the median is the 10th.
        for i in 0..20u64 {
            stats.record(Duration::from_micros(40_000 + (i * 7) % 20 + 1));
        }
        assert_eq!(stats.quantile_ms(0.5), Some(40.010));
        assert_eq!(stats.quantile_ms(0.9), Some(40.018));
        let mut more = RttStats::default();
        more.record(Duration::from_micros(1));
        stats.merge(&more);
        assert_eq!(stats.quantile_ms(0.0), Some(0.001));
        assert_eq!(stats.quantile_ms(0.5), Some(40.010));
    }

    #[test]
    fn merged_stats_share_the_exact_samples() {
        let mut halves = [RttStats::one_of(2), RttStats::one_of(2)];
        for (i, half) in halves.iter_mut().enumerate() {
            for us in 1..=EXACT_SAMPLES as u64 / 2 {
                half.record(Duration::from_micros(us * 2 + i as u64));
            }
            assert!(half.is_exact());
        }
        let mut total = RttStats::default();
        halves.iter().for_each(|half| total.merge(half));
        assert!(total.is_exact());
        halves[0].record(Duration::from_micros(1));
        assert!(!halves[0].is_exact(), "past its share");
        assert!(halves[0].exact.is_empty());
    }

    #[test]
    fn long_runs_have_percentiles_within_one_percent() {
        let mut stats = RttStats::default();
        assert_eq!(stats.quantile_ms(0.5), None);
        // 1..=1000 us, shuffled by a stride, 70 times over, past what is kept exactly: p50 = 500
        // us, p90 = 900, p99 = 990.
        for i in 0..70_000u64 {
            stats.record(Duration::from_micros((i * 337) % 1000 + 1));
        }
        assert!(
            stats.exact.is_empty(),
            "the samples are let go past EXACT_SAMPLES"
        );
        for (p, exact) in [(0.5, 0.5), (0.9, 0.9), (0.99, 0.99), (1.0, 1.0)] {
            let got = stats.quantile_ms(p).unwrap();
            assert!(
                (got - exact).abs() <= exact * 0.01,
                "p{p}: {got} against {exact}"
            );
        }
        // Clamped to the true extremes, and merged like the rest.
        let mut one = RttStats::default();
        one.record(Duration::from_micros(123));
        let only = one.quantile_ms(0.5).unwrap();
        assert!((only - 0.123).abs() < 1e-9, "{only}");
        one.merge(&stats);
        assert_eq!(one.count, 70_001);
        assert!(!one.is_exact());
        assert!(one.text().unwrap().contains("\nrtt p50/p90/p99 = "));
    }
}

/// The `p`-th percentile (0.0 to 1.0) of sorted samples, nearest-rank; `None` when empty.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> Option<std::time::Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod percentile_tests {
    use super::percentile;
    use std::time::Duration;

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&samples, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&samples, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
