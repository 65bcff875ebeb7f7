//! Bulk mode (`--bytes SIZE` or `--duration D`): sends as fast as the connection allows on
//! `--streams N` streams while reading the echo back, checks every byte against the pattern it was
//! generated from, and reports throughput in each direction, every `--interval` (see
//! `intervals.rs`) and in the summary.

use super::intervals::Intervals;
use super::pattern::Pattern;
use super::{Output, Session};
use crate::units::Rate;
use crate::{endpoint, explain, usage};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::stream::{Error as StreamError, ReceiveStream, SendStream};
use serde_json::json;
use std::cell::Cell;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// Bytes handed to the stream per `send` call: big enough that per-call costs vanish.
const CHUNK: usize = 256 * 1024;

/// Bytes sent but not yet echoed, across all streams. The flow-control windows bound what travels,
/// not what the server holds in its send buffers (2 MiB a stream): with 100 streams and no cap, a
/// client that sends faster than it can check the echo made the server buffer up to 77 MiB, and
/// the churn of that memory slowed both ends. One connection window is all an echo can use: the
/// window already caps each direction at one window per round trip. 100 streams x 1 MiB, medians
/// of 5 runs: 5.4 Gbit/s at 32 MiB, 6.4 at 16, 6.8 at 8 (bulk on one stream the same).
const IN_FLIGHT: usize = endpoint::CONNECTION_WINDOW as usize;

pub struct Options {
    /// `--rate`: the most to send per second, over all streams.
    pub rate: Option<Rate>,
    pub bytes: Option<u64>,
    pub duration: Option<Duration>,
    pub streams: u32,
    /// `--timeout`: how long the echo may make no progress while bytes are outstanding.
    pub timeout: Duration,
    /// `--stats`: QUIC's totals in the summary, and its RTT and losses in the interval reports.
    pub stats: bool,
    /// `--interval`: how often to report; zero for never.
    pub report_every: Duration,
}

/// One stream's progress, shared with the progress line.
#[derive(Default)]
struct Counters {
    sent: Cell<u64>,
    echoed: Cell<u64>,
    /// When the server acknowledged all we sent (and `all_sent` is notified).
    sent_done: Cell<Option<Instant>>,
    all_sent: Notify,
    /// When the last echoed byte arrived.
    echo_done: Cell<Option<Instant>>,
}

/// What went wrong on a stream, if anything.
enum Problem {
    /// The echo differs from what was sent at this offset of the stream.
    Corrupted(u64),
    Stream(StreamError),
}

pub async fn run(
    session: Session,
    options: Options,
    output: &Output,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode> {
    let remote = session.remote;
    let handle = session.connection.handle();
    let pattern = Pattern::new();
    let streams = options.streams as usize;
    let counters: Vec<Counters> = (0..streams).map(|_| Counters::default()).collect();
    // --bytes is split over the streams; the first ones take the remainder.
    let quota = |index: usize| {
        options.bytes.map(|total| {
            total / streams as u64 + u64::from((index as u64) < total % streams as u64)
        })
    };
    let started = Instant::now();
    let cpu_at_start = usage::Cpu::now();
    let schedule = Schedule {
        until: options.duration.map(|duration| started + duration),
        rate: options.rate,
        started,
        reserved: Cell::new(0),
    };
    let intervals = Intervals::new(output, options.report_every, started);

    let mut problems: Vec<Option<Problem>> = (0..streams).map(|_| None).collect();
    let in_flight = Semaphore::new(IN_FLIGHT);
    let mut stalled = None;
    let interrupted = {
        let work = counters.iter().zip(problems.iter_mut()).enumerate().map(
            |(index, (counters, problem))| {
                let mut handle = handle.clone();
                let pattern = &pattern;
                let start = Pattern::start(index as u32 + 1);
                let in_flight = &in_flight;
                let schedule = &schedule;
                async move {
                    let result = echo_stream(
                        &mut handle,
                        pattern,
                        start,
                        quota(index),
                        schedule,
                        counters,
                        in_flight,
                    );
                    *problem = result.await.err();
                }
            },
        );
        let quic = || options.stats.then(|| super::quic_stats(&handle)).flatten();
        let reports = intervals.run(|| totals(&counters), quic);
        tokio::select! {
            _ = futures::future::join_all(work) => false,
            _ = reports => false,
            why = super::stall(|| totals(&counters), options.timeout, "the server") => {
                stalled = Some(why);
                false
            }
            _ = stop => true,
        }
    };
    intervals.finish(
        totals(&counters),
        options.stats.then(|| super::quic_stats(&handle)).flatten(),
    );
    session.close().await;

    let (total_sent, total_echoed) = totals(&counters);
    let last = |done: fn(&Counters) -> Option<Instant>| {
        counters
            .iter()
            .filter_map(done)
            .max()
            .unwrap_or_else(Instant::now)
    };
    let send_time = last(|c| c.sent_done.get()).duration_since(started);
    let echo_time = last(|c| c.echo_done.get()).duration_since(started);
    let errors = problems_to_errors(&problems, &counters, interrupted, stalled);
    let ok = errors.is_empty();
    let figures = Figures {
        remote,
        streams,
        interrupted,
        ok,
        sent: total_sent,
        echoed: total_echoed,
        send_time,
        echo_time,
        rate: options.rate,
        cpu: usage::Cpu::now().since(cpu_at_start),
        wall: started.elapsed(),
        quic: options.stats.then(|| super::quic_stats(&handle)).flatten(),
    };
    print_summary(output, &figures, &errors, &counters);
    if !ok {
        crate::exit::print_error(&eyre!(
            "bulk transfer to {remote} failed: {}",
            errors.join("; ")
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// One stream of the run: opens it, writes its share while reading the echo back, and returns
/// what went wrong, if anything.
async fn echo_stream(
    handle: &mut s2n_quic::connection::Handle,
    pattern: &Pattern,
    start: u64,
    quota: Option<u64>,
    schedule: &Schedule,
    counters: &Counters,
    in_flight: &Semaphore,
) -> Result<(), Problem> {
    let stream = handle
        .open_bidirectional_stream()
        .await
        .map_err(StreamError::from)?;
    let (receiver, sender) = stream.split();
    let write = write(sender, pattern, start, quota, schedule, counters, in_flight);
    let read = read(receiver, pattern, start, counters, in_flight);
    tokio::pin!(write, read);
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

/// What went wrong, stream by stream, in sentences; empty when every byte came back intact.
fn problems_to_errors(
    problems: &[Option<Problem>],
    counters: &[Counters],
    interrupted: bool,
    stalled: Option<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for (index, (problem, counters)) in problems.iter().zip(counters).enumerate() {
        let stream_no = index + 1;
        match problem {
            Some(Problem::Corrupted(at)) => errors.push(format!(
                "stream {stream_no}: the echo differs from what was sent at byte {at}"
            )),
            Some(Problem::Stream(err)) => errors.push(format!(
                "stream {stream_no}: {}",
                explain::stream_failed(err, "the server")
            )),
            None if !interrupted
                && stalled.is_none()
                && counters.echoed.get() != counters.sent.get() =>
            {
                errors.push(format!(
                    "stream {stream_no}: the server finished after echoing {} of {} bytes",
                    counters.echoed.get(),
                    counters.sent.get()
                ))
            }
            None => {}
        }
    }
    errors.extend(stalled);
    // Why, when it failed: a stream that had no echo yet when the run was cut short is no news.
    if !errors.is_empty() {
        let per_stream: Vec<(u64, u64)> = counters
            .iter()
            .map(|c| (c.sent.get(), c.echoed.get()))
            .collect();
        errors.extend(super::streams_without_echo(&per_stream, 1));
    }
    // Like ping -w: an interrupted run passes if echoes came back intact, fails if none did.
    let (total_sent, total_echoed) = totals(counters);
    if interrupted && total_sent > 0 && total_echoed == 0 {
        errors.push(format!(
            "interrupted after sending {total_sent} bytes, none of them echoed: the server \
             accepts data but does not echo it"
        ));
    }
    errors
}

/// A bulk run's figures, for its summary.
struct Figures {
    remote: std::net::SocketAddr,
    streams: usize,
    interrupted: bool,
    ok: bool,
    sent: u64,
    echoed: u64,
    send_time: Duration,
    echo_time: Duration,
    rate: Option<Rate>,
    cpu: usage::Cpu,
    wall: Duration,
    quic: Option<crate::events::ConnectionStats>,
}

fn gbits(bytes: u64, time: Duration) -> f64 {
    bytes as f64 * 8.0 / time.as_secs_f64().max(1e-9) / 1e9
}

/// The summary, in text or JSON.
fn print_summary(output: &Output, figures: &Figures, errors: &[String], counters: &[Counters]) {
    let Figures {
        remote,
        streams,
        interrupted,
        ok,
        sent: total_sent,
        echoed: total_echoed,
        send_time,
        echo_time,
        rate,
        cpu,
        wall,
        ref quic,
    } = *figures;
    output.summary(
        || {
            let mut text = format!("--- {remote} qecho bulk, {streams} stream(s) ---\n");
            if interrupted {
                text.push_str("interrupted: figures up to the interruption\n");
            }
            text.push_str(&format!(
                "sent   {total_sent} bytes in {:.3} s: {:.3} Gbit/s\n",
                send_time.as_secs_f64(),
                gbits(total_sent, send_time)
            ));
            text.push_str(&format!(
                "echoed {total_echoed} bytes in {:.3} s: {:.3} Gbit/s, {}",
                echo_time.as_secs_f64(),
                gbits(total_echoed, echo_time),
                if ok { "every byte intact" } else { "with errors" }
            ));
            if let Some(rate) = rate {
                text.push_str(&format!(
                    "\nrate: asked {rate}, achieved {:.3} Gbit/s sent, {:.3} echoed",
                    gbits(total_sent, send_time),
                    gbits(total_echoed, echo_time)
                ));
            }
            text.push_str(&format!(
                "\nCPU (this client): {:.3} s user, {:.3} s system, {:.1}% of the {:.3} s run",
                cpu.user.as_secs_f64(),
                cpu.system.as_secs_f64(),
                cpu.percent_of(wall),
                wall.as_secs_f64()
            ));
            if let Some(quic) = &quic {
                text.push_str(&format!("\nQUIC: {}", quic.summary()));
            }
            text
        },
        || {
            let mut summary = json!({
                "type": "summary", "mode": "bulk", "streams": streams, "ok": ok,
                "interrupted": interrupted,
                "sent_bytes": total_sent, "echoed_bytes": total_echoed,
                "send_seconds": send_time.as_secs_f64(), "echo_seconds": echo_time.as_secs_f64(),
                "send_gbit_per_s": gbits(total_sent, send_time),
                "echo_gbit_per_s": gbits(total_echoed, echo_time),
                "errors": errors,
                "per_stream": counters.iter().map(|c| json!({"sent": c.sent.get(), "echoed": c.echoed.get()})).collect::<Vec<_>>(),
            });
            if let Some(rate) = rate {
                summary["rate_asked_gbit_per_s"] = json!(rate.bits_per_second / 1e9);
            }
            summary["cpu"] = json!({
                "user_s": cpu.user.as_secs_f64(), "system_s": cpu.system.as_secs_f64(),
                "percent": cpu.percent_of(wall), "wall_s": wall.as_secs_f64(),
            });
            if let Some(quic) = &quic {
                summary["quic"] = super::quic_stats_json(quic);
            }
            summary
        },
    );
}

/// When the streams may send: until `--duration` is over, and with `--rate` no faster than it,
/// over all streams together.
struct Schedule {
    until: Option<Instant>,
    rate: Option<Rate>,
    started: Instant,
    /// Bytes the streams have been given leave to send so far.
    reserved: Cell<u64>,
}

impl Schedule {
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

async fn write(
    mut sender: SendStream,
    pattern: &Pattern,
    start: u64,
    quota: Option<u64>,
    schedule: &Schedule,
    counters: &Counters,
    in_flight: &Semaphore,
) -> Result<(), StreamError> {
    let mut offset = 0u64;
    loop {
        let left = quota.map_or(CHUNK as u64, |quota| quota - offset);
        if left == 0 || schedule.over() {
            break;
        }
        let len = left.min(schedule.chunk()) as usize;
        schedule.leave_to_send(len as u64).await;
        // Never closed, so acquiring only waits; the reader gives the credit back.
        if let Ok(credit) = in_flight.acquire_many(len as u32).await {
            credit.forget();
        }
        sender.send(pattern.slice(start + offset, len)).await?;
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
    pattern: &Pattern,
    start: u64,
    counters: &Counters,
    in_flight: &Semaphore,
) -> Result<(), Problem> {
    let all_back =
        || counters.sent_done.get().is_some() && counters.echoed.get() == counters.sent.get();
    let mut offset = 0u64;
    while let Some(chunk) = super::next_echo(&mut receiver, all_back, &counters.all_sent)
        .await
        .map_err(Problem::Stream)?
    {
        pattern
            .check(start + offset, &chunk)
            .map_err(|at| Problem::Corrupted(at - start))?;
        in_flight.add_permits(chunk.len());
        offset += chunk.len() as u64;
        counters.echoed.set(offset);
        counters.echo_done.set(Some(Instant::now()));
    }
    Ok(())
}

/// Bytes (sent, echoed) over all streams so far.
fn totals(counters: &[Counters]) -> (u64, u64) {
    counters.iter().fold((0, 0), |(sent, echoed), c| {
        (sent + c.sent.get(), echoed + c.echoed.get())
    })
}

impl From<StreamError> for Problem {
    fn from(err: StreamError) -> Self {
        Problem::Stream(err)
    }
}
