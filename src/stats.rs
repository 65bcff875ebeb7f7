//! Round-trip statistics for `send`'s summary, as ping prints them: min/avg/max/mdev.

use std::time::Duration;

#[derive(Debug, Default)]
pub struct RttStats {
    count: u64,
    min: Option<Duration>,
    max: Duration,
    sum_ms: f64,
    sum_sq_ms: f64,
}

impl RttStats {
    pub fn record(&mut self, rtt: Duration) {
        let ms = rtt.as_secs_f64() * 1000.0;
        self.count += 1;
        self.min = Some(self.min.map_or(rtt, |min| min.min(rtt)));
        self.max = self.max.max(rtt);
        self.sum_ms += ms;
        self.sum_sq_ms += ms * ms;
    }

    /// Adds another set of samples to this one.
    pub fn merge(&mut self, other: &RttStats) {
        let Some(other_min) = other.min else { return };
        self.count += other.count;
        self.min = Some(self.min.map_or(other_min, |min| min.min(other_min)));
        self.max = self.max.max(other.max);
        self.sum_ms += other.sum_ms;
        self.sum_sq_ms += other.sum_sq_ms;
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
    /// `rtt min/avg/max/mdev = 0.081/0.102/0.143/0.020 ms`, as ping ends; `None` before a sample.
    pub fn text(&self) -> Option<String> {
        let [min, avg, max, mdev] = self.summary_ms()?;
        Some(format!(
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
        ))
    }

    /// `{"min":..,"avg":..,"max":..,"mdev":..}` in milliseconds, or null before a sample.
    pub fn json(&self) -> serde_json::Value {
        match self.summary_ms() {
            Some([min, avg, max, mdev]) => {
                serde_json::json!({ "min": min, "avg": avg, "max": max, "mdev": mdev })
            }
            None => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
