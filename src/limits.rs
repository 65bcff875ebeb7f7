//! What `serve` lets a client have: connections, handshakes in flight, streams, idle time, and
//! buffers. Everything here is bounded so that no client, or crowd of clients, can make the server
//! grow without limit.
//!
//! New connections pass through [`Admission`]: past `--max-connections` they are refused with
//! CONNECTION_REFUSED (RFC 9000, 5.2.2) while existing connections carry on; past
//! `--retry-threshold` handshakes in flight, clients must first prove their address with a Retry
//! round trip, which makes a spoofed-source flood cheap to survive.

use s2n_quic::provider::endpoint_limits::{self, ConnectionAttempt, Limiter, Outcome};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// The limits `serve` was given on the command line.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub retry_threshold: usize,
    pub max_streams: u64,
    pub idle_timeout: Duration,
    pub handshake_timeout: Duration,
}

/// Decides, per connection attempt, whether to accept, Retry or refuse.
pub struct Admission {
    limits: ServerLimits,
    /// s2n-quic's own checks (dropping attempts from reflection-prone source ports, Retry past
    /// the in-flight threshold), applied after ours.
    default: endpoint_limits::Default,
    refused: RateLimitedLog,
    retried: RateLimitedLog,
}

impl Admission {
    pub fn new(limits: ServerLimits) -> Self {
        let default = endpoint_limits::Default::builder()
            .with_inflight_handshake_limit(limits.retry_threshold)
            .and_then(|builder| builder.build());
        let default = match default {
            Ok(default) => default,
            Err(never) => match never {},
        };
        Self {
            limits,
            default,
            refused: RateLimitedLog::new(),
            retried: RateLimitedLog::new(),
        }
    }
}

impl Limiter for Admission {
    fn on_connection_attempt(&mut self, info: &ConnectionAttempt) -> Outcome {
        if info.connection_count >= self.limits.max_connections {
            let max = self.limits.max_connections;
            self.refused.note(|count| {
                warn!(
                    "refused {count} connection attempt(s): at the limit of {max} connections \
                     (--max-connections)"
                )
            });
            return Outcome::close();
        }
        let outcome = self.default.on_connection_attempt(info);
        if outcome == Outcome::retry() {
            let threshold = self.limits.retry_threshold;
            let inflight = info.inflight_handshakes;
            self.retried.note(|count| {
                debug!(
                    "sent Retry to {count} connection attempt(s): {inflight} handshakes in flight, \
                     past --retry-threshold {threshold}"
                )
            });
        }
        outcome
    }
}

/// Collapses a burst of identical events into at most one log line a second, with a count, so
/// that a flood cannot turn into a log storm.
struct RateLimitedLog {
    last: Option<Instant>,
    pending: u64,
}

impl RateLimitedLog {
    const EVERY: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Self {
            last: None,
            pending: 0,
        }
    }

    fn note(&mut self, log: impl FnOnce(u64)) {
        self.pending += 1;
        if self.last.is_none_or(|last| last.elapsed() >= Self::EVERY) {
            log(self.pending);
            self.pending = 0;
            self.last = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimitedLog;

    #[test]
    fn a_burst_becomes_one_line() {
        let mut log = RateLimitedLog::new();
        let mut lines = Vec::new();
        for _ in 0..1000 {
            log.note(|count| lines.push(count));
        }
        assert_eq!(
            lines,
            vec![1],
            "the first is logged at once, the rest wait for the next second"
        );
    }
}
