//! One direction's impairments as the command line set them, and the choice each makes for a
//! datagram: let it through or drop it (and why), duplicate it, flip a bit, or hold it.

use super::stats::Drop;
use crate::cli::RelayArgs;
use crate::units::{Percent, Rate};
use color_eyre::eyre::{Result, eyre};
use std::fmt::Write as _;
use std::time::Duration;

/// IPv4 (20 bytes) and UDP (8) headers: what `--mtu` adds to a UDP payload.
const IPV4_UDP_HEADERS: usize = 28;
/// IPv6 (40 bytes) and UDP (8) headers.
const IPV6_UDP_HEADERS: usize = 48;

/// The bottleneck queue when `--queue` is not given: what the rate carries in this long, so that a
/// full queue adds at most this much delay (a shallow buffer, as on a well-run router)...
const DEFAULT_QUEUE_TIME: Duration = Duration::from_millis(50);
/// ...but never less than this, so that a slow link still holds a few full-size packets.
const MIN_DEFAULT_QUEUE: u64 = 64 << 10;

/// What one direction does to the datagrams that cross it.
#[derive(Debug, Clone, Default)]
pub struct Impairments {
    pub loss: f64,
    pub handshake_loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    pub delay: Duration,
    pub jitter: Duration,
    pub rate: Option<Rate>,
    /// The bottleneck's queue in bytes; only with `rate`.
    pub queue: u64,
    /// The largest IP packet that passes.
    pub mtu: Option<usize>,
    pub outage: Option<Outage>,
    pub pass_first: Option<u64>,
}

/// `--outage D --outage-every P`: dark for D at the start of every period P, from P on.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub length: Duration,
    pub every: Duration,
}

impl Outage {
    /// Whether the path is dark `elapsed` after the relay started.
    pub fn is_dark(&self, elapsed: Duration) -> bool {
        elapsed >= self.every && elapsed.as_nanos() % self.every.as_nanos() < self.length.as_nanos()
    }
}

/// Which direction a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "client to server",
            Direction::Down => "server to client",
        }
    }

    /// For JSON fields: "up", "down".
    pub fn key(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

impl Impairments {
    /// One direction's impairments: its `--up-`/`--down-` flag where given, else the plain one.
    pub fn from_args(args: &RelayArgs, direction: Direction) -> Result<Self> {
        let up = direction == Direction::Up;
        fn pick_for<T>(
            up: bool,
            both: Option<T>,
            up_only: Option<T>,
            down_only: Option<T>,
        ) -> Option<T> {
            if up { up_only } else { down_only }.or(both)
        }
        let percent = |both: Option<Percent>, up_only, down_only| {
            pick_for(up, both, up_only, down_only).map_or(0.0, |percent| percent.fraction)
        };
        let rate = pick_for(up, args.rate, args.up_rate, args.down_rate);
        let queue = pick_for(up, args.queue, args.up_queue, args.down_queue);
        let queue = match (rate, queue) {
            (Some(_), Some(queue)) if queue.0 < 1500 => {
                return Err(eyre!(
                    "--queue {}: a bottleneck's queue must hold at least one full-size packet \
                     (1500 bytes); leave it out for 50 ms at the rate",
                    queue.0
                ));
            }
            (Some(_), Some(queue)) => queue.0,
            (Some(rate), None) => rate.bytes_in(DEFAULT_QUEUE_TIME).max(MIN_DEFAULT_QUEUE),
            (None, Some(_)) => {
                return Err(eyre!(
                    "--queue is the queue of a bottleneck, and {} has none: add --rate (or \
                     --up-rate / --down-rate) to make one",
                    direction.name()
                ));
            }
            (None, None) => 0,
        };
        let outage = match (
            pick_for(up, args.outage, args.up_outage, args.down_outage),
            args.outage_every,
        ) {
            (Some(length), Some(every)) if length >= every => {
                return Err(eyre!(
                    "an outage of {} every {} would never end: make --outage shorter than \
                     --outage-every",
                    humantime::format_duration(length),
                    humantime::format_duration(every)
                ));
            }
            (Some(length), Some(every)) if !length.is_zero() => Some(Outage { length, every }),
            _ => None,
        };
        Ok(Self {
            loss: percent(args.loss, args.up_loss, args.down_loss),
            handshake_loss: percent(
                args.handshake_loss,
                args.up_handshake_loss,
                args.down_handshake_loss,
            ),
            duplicate: percent(args.duplicate, args.up_duplicate, args.down_duplicate),
            corrupt: percent(args.corrupt, args.up_corrupt, args.down_corrupt),
            delay: pick_for(up, args.delay, args.up_delay, args.down_delay).unwrap_or_default(),
            jitter: pick_for(up, args.jitter, args.up_jitter, args.down_jitter).unwrap_or_default(),
            rate,
            queue,
            mtu: pick_for(up, args.mtu, args.up_mtu, args.down_mtu).map(|mtu| mtu as usize),
            outage,
            pass_first: pick_for(
                up,
                args.pass_first,
                args.up_pass_first,
                args.down_pass_first,
            ),
        })
    }

    /// Whether any datagram may have to wait (and so needs the delay line).
    pub fn holds(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero() || self.rate.is_some()
    }

    /// "loss 5%, delay 20ms, rate 50Mbit (queue 312500 bytes)", or "none".
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let mut add = |part: String| {
            let _ = write!(text, "{}{part}", if text.is_empty() { "" } else { ", " });
        };
        let percent = |fraction: f64| Percent { fraction }.to_string();
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        if let Some(outage) = self.outage {
            add(format!(
                "outage {} every {}",
                duration(outage.length),
                duration(outage.every)
            ));
        }
        if let Some(mtu) = self.mtu {
            add(format!("mtu {mtu}"));
        }
        if let Some(first) = self.pass_first {
            add(format!("pass first {first}"));
        }
        for (name, fraction) in [
            ("handshake loss", self.handshake_loss),
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ] {
            if fraction > 0.0 {
                add(format!("{name} {}", percent(fraction)));
            }
        }
        if let Some(rate) = self.rate {
            add(format!("rate {rate} (queue {} bytes)", self.queue));
        }
        if !self.delay.is_zero() {
            add(format!("delay {}", duration(self.delay)));
        }
        if !self.jitter.is_zero() {
            add(format!("jitter {}", duration(self.jitter)));
        }
        if text.is_empty() {
            text.push_str("none");
        }
        text
    }

    /// The first choices for a datagram, in the order the help gives: whether it is dropped
    /// before it reaches the queue, and how many copies go on (1, or 2 when duplicated). `seen`
    /// counts the datagrams of this direction before this one; `ipv6` picks the header size.
    pub fn admit(
        &self,
        datagram: &mut [u8],
        elapsed: Duration,
        seen: u64,
        ipv6: bool,
        random: &mut Random,
    ) -> Result<Admitted, Drop> {
        if self.outage.is_some_and(|outage| outage.is_dark(elapsed)) {
            return Err(Drop::Outage);
        }
        let headers = if ipv6 {
            IPV6_UDP_HEADERS
        } else {
            IPV4_UDP_HEADERS
        };
        if self.mtu.is_some_and(|mtu| datagram.len() + headers > mtu) {
            return Err(Drop::Mtu);
        }
        if self.pass_first.is_some_and(|first| seen >= first) {
            return Err(Drop::PassFirst);
        }
        // A long header has the top bit of its first byte set (RFC 9000, 17.2).
        let long_header = datagram.first().is_some_and(|first| first & 0x80 != 0);
        if long_header && random.chance(self.handshake_loss) {
            return Err(Drop::HandshakeLoss);
        }
        if random.chance(self.loss) {
            return Err(Drop::Loss);
        }
        let copies = if random.chance(self.duplicate) { 2 } else { 1 };
        let corrupted = !datagram.is_empty() && random.chance(self.corrupt);
        if corrupted {
            let bit = random.below(datagram.len() as u64 * 8);
            datagram[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        Ok(Admitted { copies, corrupted })
    }

    /// This datagram's delay: `delay`, varied by up to `jitter` either way, never below zero.
    pub fn delay_for(&self, random: &mut Random) -> Duration {
        if self.jitter.is_zero() {
            return self.delay;
        }
        let jitter = self.jitter.as_secs_f64();
        let delay = self.delay.as_secs_f64() + (random.fraction() * 2.0 - 1.0) * jitter;
        Duration::from_secs_f64(delay.max(0.0))
    }
}

/// A datagram that passed the first choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub copies: u8,
    pub corrupted: bool,
}

/// A small, seedable random number generator (SplitMix64): the same seed gives the same choices,
/// which `--seed` promises; nothing here needs cryptographic randomness.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed from the clock and the process, for runs without `--seed`.
    pub fn fresh_seed() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Random(nanos ^ u64::from(std::process::id()).rotate_left(32)).next()
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`; draws nothing when `p` is 0, so that an impairment left off
    /// does not change the choices of the others under the same seed.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.fraction() < p
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(impairments: &Impairments, datagram: &mut [u8], seen: u64) -> Result<Admitted, Drop> {
        impairments.admit(datagram, Duration::ZERO, seen, false, &mut Random::new(1))
    }

    #[test]
    fn loss_matches_its_probability() {
        let impairments = Impairments {
            loss: 0.1,
            ..Default::default()
        };
        let mut random = Random::new(42);
        let n = 100_000;
        let lost = (0..n)
            .filter(|_| {
                impairments
                    .admit(&mut [0x40; 100], Duration::ZERO, 0, false, &mut random)
                    .is_err()
            })
            .count();
        // 99.9% binomial bound around 10%: 3.29 standard deviations of sqrt(n p (1-p)) = 95.
        assert!((9_687..=10_313).contains(&lost), "{lost} of {n}");
    }

    #[test]
    fn handshake_loss_drops_long_headers_only() {
        let impairments = Impairments {
            handshake_loss: 1.0,
            ..Default::default()
        };
        assert_eq!(
            admit(&impairments, &mut [0xc0; 1200], 0),
            Err(Drop::HandshakeLoss)
        );
        assert!(admit(&impairments, &mut [0x40; 1200], 0).is_ok());
    }

    #[test]
    fn mtu_counts_the_ip_and_udp_headers() {
        let impairments = Impairments {
            mtu: Some(1280),
            ..Default::default()
        };
        assert!(admit(&impairments, &mut vec![0; 1252], 0).is_ok());
        assert_eq!(admit(&impairments, &mut vec![0; 1253], 0), Err(Drop::Mtu));
        let mut random = Random::new(1);
        let v6 = impairments.admit(&mut vec![0; 1233], Duration::ZERO, 0, true, &mut random);
        assert_eq!(v6, Err(Drop::Mtu));
    }

    #[test]
    fn corruption_flips_exactly_one_bit() {
        let impairments = Impairments {
            corrupt: 1.0,
            ..Default::default()
        };
        let mut datagram = vec![0u8; 64];
        let admitted = admit(&impairments, &mut datagram, 0);
        assert_eq!(admitted.map(|a| a.corrupted), Ok(true));
        let flipped: u32 = datagram.iter().map(|byte| byte.count_ones()).sum();
        assert_eq!(flipped, 1);
    }

    #[test]
    fn pass_first_passes_exactly_that_many() {
        let impairments = Impairments {
            pass_first: Some(2),
            ..Default::default()
        };
        assert!(admit(&impairments, &mut [0; 10], 1).is_ok());
        assert_eq!(admit(&impairments, &mut [0; 10], 2), Err(Drop::PassFirst));
    }

    #[test]
    fn outages_start_one_period_in() {
        let outage = Outage {
            length: Duration::from_secs(2),
            every: Duration::from_secs(5),
        };
        let dark = |secs: f64| outage.is_dark(Duration::from_secs_f64(secs));
        assert!(!dark(0.5), "the first period is clear");
        assert!(dark(5.1) && dark(6.9) && !dark(7.1) && dark(10.0));
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_above_zero() {
        let impairments = Impairments {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(15),
            ..Default::default()
        };
        let mut random = Random::new(3);
        let delays: Vec<Duration> = (0..1000)
            .map(|_| impairments.delay_for(&mut random))
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(25)));
        assert!(delays.iter().any(|d| d.is_zero()), "clamped at zero");
        assert!(delays.iter().any(|d| *d > Duration::from_millis(20)));
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let mut a = Random::new(7);
        let mut b = Random::new(7);
        assert!((0..100).all(|_| a.next() == b.next()));
        assert!((0..1000).all(|_| a.below(10) < 10));
    }
}
