//! One direction of the relay: the impairments' choices, the bottleneck, the delay line and the
//! counts, shared by every task that carries datagrams that way.
//!
//! A datagram that need not wait is sent at once by the task that received it. One that must wait
//! (delay, jitter, a busy bottleneck) goes into a heap ordered by its departure time, and a thread
//! of the direction's own sends it when it is due. The thread sleeps on a condition variable: a
//! 20 ms one-way delay measured 20.4-20.7 ms here, round trip to a Python UDP echo included
//! (which adds its own share). tokio's timer counts whole milliseconds and would add up to 1 ms to
//! every delay, so an RTT through `--delay 20ms` would read anywhere in 40-42 ms. Yielding in a
//! loop for the last 0.7 ms instead of sleeping gained only 0.05-0.1 ms, not worth a busy core.

use super::impair::{Direction, Impairments, Random};
use super::stats::{DirectionStats, Drop};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The most bytes one direction holds back, whatever the delay and rate: past it, datagrams are
/// dropped (`held_full`). 64 MiB holds 1 Gbit/s for half a second.
pub const MAX_HELD_BYTES: usize = 64 << 20;

/// Datagrams due this soon are sent with those due now: waking again would cost more.
const SEND_AHEAD: Duration = Duration::from_micros(20);

/// How long the delay line retries a datagram the kernel has no room for (its socket buffer is
/// full) before dropping it: 20 tries 50 us apart.
const SEND_RETRIES: u32 = 20;
const SEND_RETRY_PAUSE: Duration = Duration::from_micros(50);

pub struct Link {
    direction: Direction,
    state: Mutex<State>,
    /// Wakes the delay line when a datagram becomes the first due, or at shutdown.
    wake: Condvar,
}

struct State {
    impairments: Impairments,
    random: Random,
    stats: DirectionStats,
    started: Instant,
    /// When the bottleneck has finished sending what it has accepted so far.
    bottleneck_free_at: Instant,
    held: BinaryHeap<Reverse<Held>>,
    held_bytes: usize,
    /// Orders datagrams due at the same instant by arrival.
    next_seq: u64,
    /// The delay line has taken datagrams off the heap and is sending them: nothing may overtake
    /// them by being sent at once.
    sending: bool,
    closed: bool,
}

/// A datagram waiting for its departure.
struct Held {
    due: Instant,
    seq: u64,
    datagram: Vec<u8>,
    socket: Arc<UdpSocket>,
    to: SocketAddr,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

impl Link {
    /// A direction with these impairments; its delay line thread starts only if some datagram
    /// may have to wait.
    pub fn start(direction: Direction, impairments: Impairments, seed: u64) -> Arc<Self> {
        let now = Instant::now();
        let holds = impairments.holds();
        let link = Arc::new(Self {
            direction,
            state: Mutex::new(State {
                impairments,
                random: Random::new(seed),
                stats: DirectionStats::default(),
                started: now,
                bottleneck_free_at: now,
                held: BinaryHeap::new(),
                held_bytes: 0,
                next_seq: 0,
                sending: false,
                closed: false,
            }),
            wake: Condvar::new(),
        });
        if holds {
            let line = link.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("relay {}", direction.key()))
                .spawn(move || line.run_delay_line());
            if let Err(err) = spawned {
                tracing::error!("cannot start the {} delay line: {err}", direction.name());
            }
        }
        link
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn describe(&self) -> String {
        self.lock().impairments.describe()
    }

    /// Takes one datagram that arrived for this direction, to go to `to` from `socket`: counts
    /// it, applies the impairments (corrupting it in place), holds back the copies that must
    /// wait, and returns how many copies the caller sends now (0, 1 or 2).
    pub fn admit(&self, datagram: &mut [u8], socket: &Arc<UdpSocket>, to: SocketAddr) -> u8 {
        let now = Instant::now();
        let mut state = self.lock();
        let state = &mut *state;
        let seen = state.stats.datagrams_in;
        state.stats.received(datagram.len());
        // A long header has the top bit of its first byte set (RFC 9000, 17.2).
        if datagram.first().is_some_and(|first| first & 0x80 != 0) {
            state.stats.long_header_bytes_in += datagram.len() as u64;
        }
        let elapsed = now.duration_since(state.started);
        let admitted =
            match state
                .impairments
                .admit(datagram, elapsed, seen, to.is_ipv6(), &mut state.random)
            {
                Ok(admitted) => admitted,
                Err(cause) => {
                    state.stats.dropped(cause);
                    return 0;
                }
            };
        state.stats.corrupted += u64::from(admitted.corrupted);
        state.stats.duplicated += u64::from(admitted.copies - 1);
        if !state.impairments.holds() {
            return admitted.copies;
        }
        let mut send_now = 0;
        for _ in 0..admitted.copies {
            let Some(departs) = state.through_bottleneck(now, datagram.len()) else {
                state.stats.dropped(Drop::QueueFull);
                continue;
            };
            let due = departs + state.impairments.delay_for(&mut state.random);
            if due <= now && state.held.is_empty() && !state.sending {
                send_now += 1;
            } else if state.held_bytes + datagram.len() > MAX_HELD_BYTES {
                state.stats.dropped(Drop::HeldFull);
            } else {
                let first = state.held.peek().is_none_or(|Reverse(head)| due < head.due);
                state.hold(Held {
                    due,
                    seq: 0,
                    datagram: datagram.to_vec(),
                    socket: socket.clone(),
                    to,
                });
                if first {
                    self.wake.notify_one();
                }
            }
        }
        send_now
    }

    /// Counts a datagram the caller sent (or failed to send) after `admit`.
    pub fn sent(&self, bytes: usize, result: io::Result<usize>) {
        let mut state = self.lock();
        match result {
            Ok(_) => state.stats.sent(bytes),
            Err(_) => state.stats.dropped(Drop::SendFailed),
        }
    }

    /// Counts a datagram dropped before `admit` could see it (a client past the mapping bound).
    pub fn refused(&self, bytes: usize) {
        let mut state = self.lock();
        state.stats.received(bytes);
        state.stats.dropped(Drop::TooManyClients);
    }

    pub fn stats(&self) -> DirectionStats {
        self.lock().stats.clone()
    }

    /// Stops the delay line; what it still holds is dropped with the process.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the counts half-updated in a way that matters here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The delay line: sends held datagrams as they fall due, until `close`.
    fn run_delay_line(&self) {
        let mut due = Vec::new();
        let mut state = self.lock();
        loop {
            if state.closed {
                return;
            }
            let now = Instant::now();
            while let Some(Reverse(head)) = state.held.peek() {
                if head.due > now + SEND_AHEAD {
                    break;
                }
                if let Some(Reverse(held)) = state.held.pop() {
                    state.held_bytes -= held.datagram.len();
                    due.push(held);
                }
            }
            if due.is_empty() {
                let wait = state.held.peek().map(|Reverse(head)| head.due - now);
                state = match wait {
                    Some(wait) => match self.wake.wait_timeout(state, wait) {
                        Ok((state, _)) => state,
                        Err(poisoned) => poisoned.into_inner().0,
                    },
                    None => self
                        .wake
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner),
                };
                continue;
            }
            state.sending = true;
            drop(state);
            let results: Vec<(usize, Duration, io::Result<usize>)> = due
                .drain(..)
                .map(|held| {
                    let late = Instant::now().saturating_duration_since(held.due);
                    (held.datagram.len(), late, send_blocking(&held))
                })
                .collect();
            state = self.lock();
            state.sending = false;
            for (bytes, late, result) in results {
                match result {
                    Ok(_) => state.stats.sent_late(bytes, late),
                    Err(_) => state.stats.dropped(Drop::SendFailed),
                }
            }
        }
    }
}

impl State {
    /// When a datagram of `bytes` that arrives `now` has left the bottleneck (`now` without
    /// one), or `None` when the bottleneck's queue has no room for it.
    fn through_bottleneck(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        let Some(rate) = self.impairments.rate else {
            return Some(now);
        };
        let backlog = rate.bytes_in(self.bottleneck_free_at.saturating_duration_since(now));
        if backlog + bytes as u64 > self.impairments.queue {
            return None;
        }
        self.bottleneck_free_at = self.bottleneck_free_at.max(now) + rate.transmission_time(bytes);
        Some(self.bottleneck_free_at)
    }

    fn hold(&mut self, mut held: Held) {
        held.seq = self.next_seq;
        self.next_seq += 1;
        self.held_bytes += held.datagram.len();
        self.stats.delayed += 1;
        self.held.push(Reverse(held));
    }
}

/// Sends from the delay line's thread, retrying briefly while the socket buffer is full.
fn send_blocking(held: &Held) -> io::Result<usize> {
    let mut tries = 0;
    loop {
        match held.socket.try_send_to(&held.datagram, held.to) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && tries < SEND_RETRIES => {
                tries += 1;
                std::thread::sleep(SEND_RETRY_PAUSE);
            }
            result => return result,
        }
    }
}
