//! What the relay did to each direction: datagrams and bytes in and out, drops by cause,
//! duplicates, corruptions, delays. Printed as text or, with `--log-format json`, as fields.

use super::impair::Direction;
use std::time::Duration;
use tracing::{debug, info};

/// Why the relay dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// `--outage`: the path was dark.
    Outage,
    /// `--mtu`: larger than the path carries.
    Mtu,
    /// `--pass-first`: past the first N.
    PassFirst,
    /// `--handshake-loss`.
    HandshakeLoss,
    /// `--loss`.
    Loss,
    /// `--rate`: the bottleneck's queue was full (tail drop).
    QueueFull,
    /// The memory bound of the delay line (see `link::MAX_HELD_BYTES`).
    HeldFull,
    /// A new client past the mapping bound (see `MAX_MAPPINGS`).
    TooManyClients,
    /// The operating system would not send it.
    SendFailed,
}

impl Drop {
    pub const ALL: [Drop; 9] = [
        Drop::Outage,
        Drop::Mtu,
        Drop::PassFirst,
        Drop::HandshakeLoss,
        Drop::Loss,
        Drop::QueueFull,
        Drop::HeldFull,
        Drop::TooManyClients,
        Drop::SendFailed,
    ];

    /// For text and JSON alike: `dropped_<name>` is the JSON field.
    pub fn name(self) -> &'static str {
        match self {
            Drop::Outage => "outage",
            Drop::Mtu => "mtu",
            Drop::PassFirst => "pass_first",
            Drop::HandshakeLoss => "handshake_loss",
            Drop::Loss => "loss",
            Drop::QueueFull => "queue_full",
            Drop::HeldFull => "held_full",
            Drop::TooManyClients => "too_many_clients",
            Drop::SendFailed => "send_failed",
        }
    }
}

/// One direction's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectionStats {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    dropped: [u64; Drop::ALL.len()],
    pub duplicated: u64,
    pub corrupted: u64,
    /// Datagrams held back by the delay or the rate limit before going on.
    pub delayed: u64,
    /// How much later than due the held datagrams left, in all and at most: the delay line's
    /// thread wakes late (0.2-0.3 ms each way at `--delay 20ms` here, 0.7-1.1 ms beside two busy
    /// loops), and a figure measured through the relay is to be held against what it added.
    late_total: Duration,
    late_max: Duration,
    /// Held datagrams sent so far (those still held at the end, or not sent, are not late).
    held_sent: u64,
    /// Bytes in of datagrams that begin with a QUIC long header (Initial, 0-RTT, Handshake,
    /// Retry): a connection's handshake, without the 1-RTT traffic and path MTU probes after it.
    pub long_header_bytes_in: u64,
}

impl DirectionStats {
    pub fn received(&mut self, bytes: usize) {
        self.datagrams_in += 1;
        self.bytes_in += bytes as u64;
    }

    pub fn sent(&mut self, bytes: usize) {
        self.datagrams_out += 1;
        self.bytes_out += bytes as u64;
    }

    /// A held datagram sent `late` after it was due.
    pub fn sent_late(&mut self, bytes: usize, late: Duration) {
        self.sent(bytes);
        self.held_sent += 1;
        self.late_total += late;
        self.late_max = self.late_max.max(late);
    }

    /// On average and at most, in milliseconds, how late the held datagrams left (0 with none).
    pub fn late_ms(&self) -> (f64, f64) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        (
            ms(self.late_total) / self.held_sent.max(1) as f64,
            ms(self.late_max),
        )
    }

    pub fn dropped(&mut self, cause: Drop) {
        self.dropped[cause as usize] += 1;
    }

    pub fn dropped_for(&self, cause: Drop) -> u64 {
        self.dropped[cause as usize]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// "client to server: in 120 datagrams / 98304 bytes, out 114 / 93000, dropped 6 (loss 6),
    /// duplicated 0, corrupted 0, delayed 114 (0.41 ms late on average, 1.20 at most)", logged at
    /// info when it is the `last` word, else at debug and beginning "so far, ".
    pub fn log(&self, direction: Direction, last: bool) {
        let causes: Vec<String> = Drop::ALL
            .iter()
            .filter(|cause| self.dropped_for(**cause) > 0)
            .map(|cause| {
                format!(
                    "{} {}",
                    cause.name().replace('_', " "),
                    self.dropped_for(*cause)
                )
            })
            .collect();
        let causes = if causes.is_empty() {
            String::new()
        } else {
            format!(" ({})", causes.join(", "))
        };
        let (late_avg_ms, late_max_ms) = self.late_ms();
        let late = if self.held_sent > 0 {
            format!(" ({late_avg_ms:.2} ms late on average, {late_max_ms:.2} at most)")
        } else {
            String::new()
        };
        let line = format!(
            "{}{}: in {} datagrams / {} bytes, out {} / {}, dropped {}{causes}, duplicated {}, \
             corrupted {}, delayed {}{late}",
            if last { "" } else { "so far, " },
            direction.name(),
            self.datagrams_in,
            self.bytes_in,
            self.datagrams_out,
            self.bytes_out,
            self.dropped_total(),
            self.duplicated,
            self.corrupted,
            self.delayed
        );
        let d = |cause: Drop| self.dropped_for(cause);
        macro_rules! emit {
            ($level:ident) => {
                $level!(
                    direction = direction.key(),
                    datagrams_in = self.datagrams_in,
                    bytes_in = self.bytes_in,
                    datagrams_out = self.datagrams_out,
                    bytes_out = self.bytes_out,
                    dropped = self.dropped_total(),
                    dropped_outage = d(Drop::Outage),
                    dropped_mtu = d(Drop::Mtu),
                    dropped_pass_first = d(Drop::PassFirst),
                    dropped_handshake_loss = d(Drop::HandshakeLoss),
                    dropped_loss = d(Drop::Loss),
                    dropped_queue_full = d(Drop::QueueFull),
                    dropped_held_full = d(Drop::HeldFull),
                    dropped_too_many_clients = d(Drop::TooManyClients),
                    dropped_send_failed = d(Drop::SendFailed),
                    duplicated = self.duplicated,
                    corrupted = self.corrupted,
                    delayed = self.delayed,
                    late_avg_ms,
                    late_max_ms,
                    long_header_bytes_in = self.long_header_bytes_in,
                    "{line}"
                )
            };
        }
        if last {
            emit!(info);
        } else {
            emit!(debug);
        }
    }
}
