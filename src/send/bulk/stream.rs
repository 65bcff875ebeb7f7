//! One stream of a bulk run: it writes its share of the pattern while reading the echo back and
//! checking it, within the connection's in-flight credit and the run's schedule (`--duration`,
//! `--rate`).

use super::super::pattern::Pattern;
use crate::units::Rate;
use s2n_quic::stream::{Error as StreamError, ReceiveStream, SendStream};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Bytes handed to the stream per `send` call: big enough that per-call costs vanish.
const CHUNK: usize = 256 * 1024;

/// One stream's progress, shared with the reports.
#[derive(Default)]
pub struct Counters {
    pub sent: Cell<u64>,
    pub echoed: Cell<u64>,
    /// When the server acknowledged all we sent (and `all_sent` is notified).
    pub sent_done: Cell<Option<Instant>>,
    all_sent: Notify,
    /// When the last echoed byte arrived.
    pub echo_done: Cell<Option<Instant>>,
    /// This stream's part of its connection's `InFlight`, given back when the stream ends.
    held: Cell<u64>,
}

/// What went wrong on a stream, if anything.
pub enum Problem {
    /// The echo differs from what was sent at this offset of the stream.
    Corrupted(u64),
    Stream(StreamError),
}

impl From<StreamError> for Problem {
    fn from(err: StreamError) -> Self {
        Problem::Stream(err)
    }
}

/// Bytes (sent, echoed) over `counters` so far.
pub fn totals<'a>(counters: impl IntoIterator<Item = &'a Counters>) -> (u64, u64) {
    counters.into_iter().fold((0, 0), |(sent, echoed), c| {
        (sent + c.sent.get(), echoed + c.echoed.get())
    })
}

/// When the streams may send: until `--duration` is over, and with `--rate` no faster than it,
/// over all streams (of all connections) together.
pub struct Schedule {
    until: Option<Instant>,
    rate: Option<Rate>,
    started: Instant,
    /// Bytes the streams have been given leave to send so far.
    reserved: Cell<u64>,
}

impl Schedule {
    pub fn new(started: Instant, duration: Option<Duration>, rate: Option<Rate>) -> Self {
        Self {
            until: duration.map(|duration| started + duration),
            rate,
            started,
            reserved: Cell::new(0),
        }
    }

    fn over(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() >= until)
    }

    /// The largest piece to hand to a stream at once: a whole `CHUNK`, or with a rate what it
    /// carries in 10 ms, so that pacing stays smooth at low rates.
    fn chunk(&self) -> u64 {
        self.rate.map_or(CHUNK as u64, |rate| {
            rate.bytes_in(Duration::from_millis(10))
                .clamp(1200, CHUNK as u64)
        })
    }

    /// Waits until `len` more bytes may go out at the rate.
    async fn leave_to_send(&self, len: u64) {
        let Some(rate) = self.rate else { return };
        let reserved = self.reserved.get();
        self.reserved.set(reserved + len);
        let due = self.started + rate.transmission_time(reserved as usize);
        // Behind schedule (the connection was slower than the rate): no timer, no tick to wait.
        if due > Instant::now() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        }
    }
}

/// The bytes a connection has sent but not yet seen echoed, and how many it may have: at most
/// `cap` (one connection window), and no more than twice QUIC's congestion window plus a chunk,
/// which is what the echo's two directions carry in a round trip. Without the second bound a
/// client on a slow path queued the whole cap in its own buffers: through a 40 Mbit/s relay a
/// 3 s run read 105 Mbit/s "sent" in its first second and went on for 2 s after its --duration
/// while the queue drained.
pub struct InFlight {
    handle: s2n_quic::connection::Handle,
    cap: u64,
    outstanding: Cell<u64>,
    echoed: Notify,
}

impl InFlight {
    pub fn new(handle: s2n_quic::connection::Handle, cap: u64) -> Self {
        Self {
            handle,
            cap,
            outstanding: Cell::new(0),
            echoed: Notify::new(),
        }
    }

    fn limit(&self) -> u64 {
        let cwnd = self
            .handle
            .query_event_context(|stats: &crate::events::ConnectionStats| stats.congestion_window)
            .map_or(u64::MAX, u64::from);
        (cwnd.saturating_mul(2) + CHUNK as u64).min(self.cap)
    }

    /// Waits until `len` more bytes may be outstanding, and counts them. Something may always be
    /// outstanding, so a chunk larger than the limit still goes when nothing else is.
    async fn reserve(&self, len: u64, stream: &Counters) {
        loop {
            let outstanding = self.outstanding.get();
            if outstanding == 0 || outstanding + len <= self.limit() {
                self.outstanding.set(outstanding + len);
                stream.held.set(stream.held.get() + len);
                return;
            }
            // All streams of the run share one task, so no echo can land between the check and
            // the wait.
            self.echoed.notified().await;
        }
    }

    fn release(&self, len: u64, stream: &Counters) {
        let len = len.min(stream.held.get());
        stream.held.set(stream.held.get() - len);
        self.outstanding
            .set(self.outstanding.get().saturating_sub(len));
        self.echoed.notify_waiters();
    }
}

/// What one stream needs from the run: the pattern and where on it the stream starts, its share
/// of `--bytes`, the schedule, and its connection's in-flight credit.
pub struct Share<'a> {
    pub pattern: &'a Pattern,
    pub start: u64,
    pub quota: Option<u64>,
    pub schedule: &'a Schedule,
    pub in_flight: &'a InFlight,
}

/// One stream of the run: opens it, writes its share while reading the echo back, and returns
/// what went wrong, if anything.
pub async fn echo_stream(
    handle: &mut s2n_quic::connection::Handle,
    share: Share<'_>,
    counters: &Counters,
) -> Result<(), Problem> {
    let stream = handle
        .open_bidirectional_stream()
        .await
        .map_err(StreamError::from)?;
    let (receiver, sender) = stream.split();
    let write = write(sender, &share, counters);
    let read = read(receiver, &share, counters);
    tokio::pin!(write, read);
    let result = echo_or_error(write, read, counters).await;
    // What will never be echoed now must not hold back the connection's other streams.
    share.in_flight.release(u64::MAX, counters);
    result
}

/// Runs a stream's writer and reader to the stream's outcome.
async fn echo_or_error(
    mut write: Pin<&mut impl Future<Output = Result<(), StreamError>>>,
    mut read: Pin<&mut impl Future<Output = Result<(), Problem>>>,
    counters: &Counters,
) -> Result<(), Problem> {
    // The echo decides. Once it has ended (an error, or the server finished early) no more echo
    // will release credit, so the writer is abandoned; and a write that failed because the
    // server stopped reading after finishing early is no news. Either way the summary reports
    // what was sent and what came back.
    tokio::select! {
        written = &mut write => {
            let read = read.await;
            let truncated = read.is_ok() && counters.echoed.get() < counters.sent.get();
            if truncated {
                read
            } else {
                read.and(written.map_err(Problem::Stream))
            }
        }
        read = &mut read => read,
    }
}

async fn write(
    mut sender: SendStream,
    share: &Share<'_>,
    counters: &Counters,
) -> Result<(), StreamError> {
    let schedule = share.schedule;
    let mut offset = 0u64;
    loop {
        let left = share.quota.map_or(CHUNK as u64, |quota| quota - offset);
        if left == 0 || schedule.over() {
            break;
        }
        let len = left.min(schedule.chunk()) as usize;
        schedule.leave_to_send(len as u64).await;
        share.in_flight.reserve(len as u64, counters).await;
        sender
            .send(share.pattern.slice(share.start + offset, len))
            .await?;
        offset += len as u64;
        counters.sent.set(offset);
    }
    // Sent means acknowledged by the server: `send` returns once data is buffered, which for a
    // short stream is at once, and would make the send rate measure the buffer, not the path.
    sender.close().await?;
    counters.sent_done.set(Some(Instant::now()));
    counters.all_sent.notify_one();
    Ok(())
}

async fn read(
    mut receiver: ReceiveStream,
    share: &Share<'_>,
    counters: &Counters,
) -> Result<(), Problem> {
    let all_back =
        || counters.sent_done.get().is_some() && counters.echoed.get() == counters.sent.get();
    let mut offset = 0u64;
    while let Some(chunk) = super::super::next_echo(&mut receiver, all_back, &counters.all_sent)
        .await
        .map_err(Problem::Stream)?
    {
        share
            .pattern
            .check(share.start + offset, &chunk)
            .map_err(|at| Problem::Corrupted(at - share.start))?;
        share.in_flight.release(chunk.len() as u64, counters);
        offset += chunk.len() as u64;
        counters.echoed.set(offset);
        counters.echo_done.set(Some(Instant::now()));
    }
    Ok(())
}
