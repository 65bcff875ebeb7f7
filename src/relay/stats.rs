//! What the relay did to each direction: datagrams and bytes in and out, drops by cause,
//! duplicates, corruptions, delays. Printed as text or, with `--log-format json`, as fields.

use super::impair::Direction;
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
    /// duplicated 0, corrupted 0, delayed 114", logged at info when it is the `last` word, else
    /// at debug and beginning "so far, ".
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
        let line = format!(
            "{}{}: in {} datagrams / {} bytes, out {} / {}, dropped {}{causes}, duplicated {}, \
             corrupted {}, delayed {}",
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
