//! Bulk mode (`--bytes SIZE` or `--duration D`): sends as fast as the connection allows on
//! `--streams N` streams of each of one or more connections (`--connections K`, as iperf3's -P)
//! while reading the echo back, checks every byte against the pattern it was generated from, and
//! reports throughput in each direction, every `--interval` (see `intervals.rs`) and in the
//! summary (`summary.rs`). Each stream's work is in `stream.rs`.

mod stream;
mod summary;

use super::intervals::{Intervals, QuicSample};
use super::pattern::Pattern;
use super::{Output, Session};
use crate::units::Rate;
use crate::{endpoint, explain, usage};
use color_eyre::eyre::{Result, eyre};
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use stream::{Counters, InFlight, Problem, Schedule, Share};

/// Bytes sent but not yet echoed, across all streams of a connection. The flow-control windows
/// bound what travels, not what the server holds in its send buffers (2 MiB a stream): with 100
/// streams and no cap, a client that sends faster than it can check the echo made the server
/// buffer up to 77 MiB, and the churn of that memory slowed both ends. One connection window is
/// all an echo can use: the window already caps each direction at one window per round trip. 100
/// streams x 1 MiB, medians of 5 runs: 5.4 Gbit/s at 32 MiB, 6.4 at 16, 6.8 at 8 (bulk on one
/// stream the same).
const IN_FLIGHT: u64 = endpoint::CONNECTION_WINDOW;

pub struct Options {
    /// `--rate`: the most to send per second, over all streams of all connections.
    pub rate: Option<Rate>,
    /// `--bytes`: shared over all streams of all connections.
    pub bytes: Option<u64>,
    pub duration: Option<Duration>,
    /// Streams on each connection.
    pub streams: u32,
    /// `--timeout`: how long the echo may make no progress while bytes are outstanding.
    pub timeout: Duration,
    /// `--stats`: QUIC's totals in the summary, and its RTT and losses in the interval reports.
    pub stats: bool,
    /// `--interval`: how often to report; zero for never.
    pub report_every: Duration,
}

pub async fn run(
    sessions: Vec<Session>,
    options: Options,
    output: &Output,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode> {
    let Some(remote) = sessions.first().map(|session| session.remote) else {
        return Err(eyre!("bulk mode needs at least one connection"));
    };
    let handles: Vec<_> = sessions.iter().map(|s| s.connection.handle()).collect();
    let per_connection = options.streams as usize;
    let streams = handles.len() * per_connection;
    let pattern = Pattern::new();
    let counters: Vec<Counters> = (0..streams).map(|_| Counters::default()).collect();
    // --bytes is split over the streams; the first ones take the remainder.
    let quota = |index: usize| {
        options.bytes.map(|total| {
            total / streams as u64 + u64::from((index as u64) < total % streams as u64)
        })
    };
    let started = Instant::now();
    let cpu_at_start = usage::Cpu::now();
    let schedule = Schedule::new(started, options.duration, options.rate);
    let intervals = Intervals::new(output, options.report_every, started);
    let quic = || {
        options
            .stats
            .then(|| QuicSample::over(&quic_stats(&handles)))
            .flatten()
    };

    let mut problems: Vec<Option<Problem>> = (0..streams).map(|_| None).collect();
    let in_flight: Vec<InFlight> = handles
        .iter()
        .map(|handle| InFlight::new(handle.clone(), IN_FLIGHT))
        .collect();
    let mut stalled = None;
    let interrupted = {
        let work = counters.iter().zip(problems.iter_mut()).enumerate().map(
            |(index, (counters, problem))| {
                let connection = index / per_connection;
                let mut handle = handles[connection].clone();
                let share = Share {
                    pattern: &pattern,
                    start: Pattern::start(index as u32 + 1),
                    quota: quota(index),
                    schedule: &schedule,
                    in_flight: &in_flight[connection],
                };
                async move {
                    *problem = stream::echo_stream(&mut handle, share, counters)
                        .await
                        .err();
                }
            },
        );
        let reports = intervals.run(|| stream::totals(&counters), quic);
        tokio::select! {
            _ = futures::future::join_all(work) => false,
            _ = reports => false,
            why = super::stall(|| stream::totals(&counters), options.timeout, "the server") => {
                stalled = Some(why);
                false
            }
            _ = stop => true,
        }
    };
    intervals.finish(stream::totals(&counters), quic());
    let quic_totals = options.stats.then(|| quic_stats(&handles));
    let connections = sessions
        .iter()
        .zip(counters.chunks(per_connection))
        .enumerate()
        .map(|(index, (session, counters))| {
            connection_figures(session, counters, started, quic_totals.as_ref(), index)
        })
        .collect();
    futures::future::join_all(sessions.into_iter().map(Session::close)).await;

    let (sent, echoed) = stream::totals(&counters);
    let errors = problems_to_errors(&problems, &counters, per_connection, interrupted, stalled);
    let figures = summary::Figures {
        remote,
        streams: per_connection,
        connections,
        interrupted,
        ok: errors.is_empty(),
        sent,
        echoed,
        send_time: last(&counters, |c| c.sent_done.get()).duration_since(started),
        echo_time: last(&counters, |c| c.echo_done.get()).duration_since(started),
        rate: options.rate,
        cpu: usage::Cpu::now().since(cpu_at_start),
        wall: started.elapsed(),
        per_stream: counters
            .iter()
            .map(|c| (c.sent.get(), c.echoed.get()))
            .collect(),
    };
    summary::print(output, &figures, &errors);
    if !figures.ok {
        crate::exit::print_error(&eyre!(
            "bulk transfer to {remote} failed: {}",
            errors.join("; ")
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// QUIC's figures for each connection that has them.
fn quic_stats(handles: &[s2n_quic::connection::Handle]) -> Vec<crate::events::ConnectionStats> {
    handles.iter().filter_map(super::quic_stats).collect()
}

/// The latest of the streams' `done` times, or now if some stream never got there.
fn last(counters: &[Counters], done: fn(&Counters) -> Option<Instant>) -> Instant {
    counters
        .iter()
        .filter_map(done)
        .max()
        .unwrap_or_else(Instant::now)
}

fn connection_figures(
    session: &Session,
    counters: &[Counters],
    started: Instant,
    quic: Option<&Vec<crate::events::ConnectionStats>>,
    index: usize,
) -> summary::ConnectionFigures {
    let (sent, echoed) = stream::totals(counters);
    summary::ConnectionFigures {
        local: session.local,
        sent,
        echoed,
        send_time: last(counters, |c| c.sent_done.get()).duration_since(started),
        echo_time: last(counters, |c| c.echo_done.get()).duration_since(started),
        quic: quic.and_then(|all| all.get(index).cloned()),
    }
}

/// What went wrong, stream by stream, in sentences; empty when every byte came back intact.
/// Streams are named `stream S` on one connection, `connection C stream S` on several.
fn problems_to_errors(
    problems: &[Option<Problem>],
    counters: &[Counters],
    per_connection: usize,
    interrupted: bool,
    stalled: Option<String>,
) -> Vec<String> {
    let several = counters.len() > per_connection;
    let name = |index: usize| match several {
        false => format!("stream {}", index + 1),
        true => format!(
            "connection {} stream {}",
            index / per_connection + 1,
            index % per_connection + 1
        ),
    };
    let mut errors = Vec::new();
    for (index, (problem, counters)) in problems.iter().zip(counters).enumerate() {
        match problem {
            Some(Problem::Corrupted(at)) => errors.push(format!(
                "{}: the echo differs from what was sent at byte {at}",
                name(index)
            )),
            Some(Problem::Stream(err)) => errors.push(format!(
                "{}: {}",
                name(index),
                explain::stream_failed(err, "the server")
            )),
            None if !interrupted
                && stalled.is_none()
                && counters.echoed.get() != counters.sent.get() =>
            {
                errors.push(format!(
                    "{}: the server finished after echoing {} of {} bytes",
                    name(index),
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
        for connection in counters.chunks(per_connection) {
            let per_stream: Vec<(u64, u64)> = connection
                .iter()
                .map(|c| (c.sent.get(), c.echoed.get()))
                .collect();
            if let Some(hint) = super::streams_without_echo(&per_stream, 1) {
                errors.push(hint);
                break;
            }
        }
    }
    // Like ping -w: an interrupted run passes if echoes came back intact, fails if none did.
    let (total_sent, total_echoed) = stream::totals(counters);
    if interrupted && total_sent > 0 && total_echoed == 0 {
        errors.push(format!(
            "interrupted after sending {total_sent} bytes, none of them echoed: the server \
             accepts data but does not echo it"
        ));
    }
    errors
}
