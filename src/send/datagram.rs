//! Datagram mode (`--datagram`): like ICMP ping, over QUIC DATAGRAM frames (RFC 9221). Messages go
//! out every interval whether or not earlier ones came back, and nothing is retransmitted, so a
//! lost packet shows up as a lost echo rather than as a late one.
//!
//! Each datagram starts with its sequence number (8 bytes, big-endian), so echoes are matched
//! even when they arrive out of order; one that arrives after `--timeout` is reported as late.
//!
//! With `--rate` it is iperf3's UDP mode over QUIC: datagrams go out on a schedule that makes
//! that rate, and the summary adds echoes that came out of order, duplicates, and the jitter as
//! RFC 3550 (and iperf3) estimate it, J += (|D| - J) / 16, where D is the difference between
//! the transit times of consecutive echoes; here the transit is the round trip.

use super::Payload;
use super::{Output, Session};
use crate::stats::RttStats;
use crate::units::{Rate, millis};
use bytes::{BufMut, Bytes, BytesMut};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::provider::datagram::default::{DatagramError, Receiver, Sender};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::task::Poll;
use std::time::{Duration, Instant};

pub struct Options {
    pub payload: Payload,
    /// Between datagrams; with `rate`, between interval reports instead (zero: none).
    pub interval: Duration,
    /// `--rate`: send on a schedule at this rate instead of one datagram per `interval`.
    pub rate: Option<Rate>,
    pub count: Option<u64>,
    pub timeout: Duration,
    pub stats: bool,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    received: u64,
    corrupted: u64,
    late: u64,
    /// Echoes of no datagram we sent.
    unexpected: u64,
    /// Echoes of a datagram already answered.
    duplicates: u64,
    /// Echoes that came after the echo of a later datagram.
    out_of_order: u64,
    lost: u64,
    rtt: RttStats,
    /// RFC 3550's jitter estimate over the round trips, in ms, and the last round trip.
    jitter_ms: f64,
    last_rtt_ms: Option<f64>,
    highest_answered: u64,
    /// Answered sequence numbers, the last `ANSWERED_WINDOW` of them, to tell duplicates.
    answered: std::collections::BTreeSet<u64>,
    bytes_sent: u64,
    /// From the start to the last datagram sent: the time the send rate is over.
    sending: Duration,
    /// Sent and not yet answered: sequence number to (send time, datagram).
    pending: BTreeMap<u64, (Instant, Bytes)>,
}

/// How many answered sequence numbers are remembered to recognise a duplicate: 10 s at 6,500
/// datagrams a second, in about 2 MB.
const ANSWERED_WINDOW: u64 = 65_536;

impl Tally {
    /// Records an intact echo of `seq` that took `rtt`.
    fn answered(&mut self, seq: u64, rtt: Duration) {
        self.received += 1;
        self.rtt.record(rtt);
        let rtt_ms = rtt.as_secs_f64() * 1000.0;
        if let Some(last) = self.last_rtt_ms.replace(rtt_ms) {
            self.jitter_ms += ((rtt_ms - last).abs() - self.jitter_ms) / 16.0;
        }
        if seq < self.highest_answered {
            self.out_of_order += 1;
        }
        self.highest_answered = self.highest_answered.max(seq);
        self.answered.insert(seq);
        while self
            .answered
            .first()
            .is_some_and(|oldest| oldest + ANSWERED_WINDOW < self.highest_answered)
        {
            self.answered.pop_first();
        }
    }
}

fn datagram(payload: &Payload, seq: u64) -> Bytes {
    let body = payload.message(0, seq);
    let mut out = BytesMut::with_capacity(8 + body.len());
    out.put_u64(seq);
    out.extend_from_slice(&body);
    out.freeze()
}

pub async fn run(
    session: Session,
    options: Options,
    output: &Output,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode> {
    let remote = session.remote;
    let mut handle = session.connection.handle();
    let _ = handle.keep_alive(true);
    let tally = RefCell::new(Tally::default());
    let started = Instant::now();
    let quic_lost_before = quic_packets_lost(&handle);
    // At a rate, a line per datagram would be thousands a second: intervals and the summary only.
    let quiet;
    let per_echo = match options.rate {
        Some(_) => {
            quiet = output.without_events();
            &quiet
        }
        None => output,
    };

    let send = async {
        let mut warned = false;
        for seq in 1.. {
            if options.count.is_some_and(|count| seq > count) {
                break;
            }
            let message = datagram(&options.payload, seq);
            let room = handle.datagram_mut(|sender: &mut Sender| sender.max_packet_space());
            if let Some(room) = room
                .ok()
                .filter(|room| *room > 0 && message.len() > *room && !warned)
            {
                warned = true;
                tracing::warn!(
                    "{}-byte datagrams do not fit the {room} bytes a packet on this path holds now; \
                     they are dropped (counted as lost) until path MTU discovery finds more room",
                    message.len()
                );
            }
            let sent_at = Instant::now();
            // Wait for room in the send queue rather than push out an older datagram: a drop
            // here would be our own doing, not the network's, yet count as loss.
            let mut outgoing = message.clone();
            let queued = futures::future::poll_fn(|cx| {
                match handle.datagram_mut(|sender: &mut Sender| {
                    sender.poll_send_datagram(&mut outgoing, cx)
                }) {
                    Ok(poll) => poll.map(Ok),
                    Err(err) => Poll::Ready(Err(err)),
                }
            })
            .await
            .map_err(|err| eyre!("cannot reach the connection: {err}"))?;
            match queued {
                Ok(_) => {}
                Err(DatagramError::ExceedsPeerTransportLimits { .. }) => {
                    return Err(eyre!(
                        "{remote} does not accept a {}-byte QUIC DATAGRAM frame: the server did not \
                         negotiate datagrams (RFC 9221), or the message is larger than a packet \
                         holds; qecho serve echoes datagrams, and --size 1000 fits any path",
                        message.len()
                    ));
                }
                Err(err) => return Err(eyre!("cannot send a datagram to {remote}: {err}")),
            }
            {
                let mut tally = tally.borrow_mut();
                tally.sent += 1;
                tally.bytes_sent += message.len() as u64;
                tally.sending = started.elapsed();
                tally.pending.insert(seq, (sent_at, message));
            }
            if options.count.is_some_and(|count| seq >= count) {
                break;
            }
            match options.rate {
                // On a schedule from the start, so that the rate holds on average even though
                // tokio's timer wakes in whole milliseconds (several datagrams per wake-up then).
                Some(rate) => {
                    let bytes = tally.borrow().bytes_sent as usize;
                    let due = started + rate.transmission_time(bytes);
                    if due > Instant::now() {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                    }
                }
                None => super::wait_for_next(sent_at, options.interval).await,
            }
        }
        // Give the last ones their --timeout to come back; the sweep declares them lost then.
        let waiting = Instant::now();
        while !tally.borrow().pending.is_empty() && waiting.elapsed() <= options.timeout {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok::<(), color_eyre::Report>(())
    };

    let receive = async {
        loop {
            let received = futures::future::poll_fn(|cx| {
                match handle.datagram_mut(|receiver: &mut Receiver| receiver.poll_recv_datagram(cx))
                {
                    Ok(poll) => poll.map(|result| result.ok()),
                    Err(_) => Poll::Ready(None),
                }
            })
            .await;
            let Some(echo) = received else { return };
            let quic = options.stats.then(|| super::quic_stats(&handle)).flatten();
            on_echo(&echo, &tally, &options, per_echo, remote, quic.as_ref());
        }
    };

    // Declares echoes overdue as they pass --timeout, so the lines come out in time.
    let sweep = async {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            let mut tally = tally.borrow_mut();
            let overdue: Vec<u64> = tally
                .pending
                .iter()
                .filter(|(_, (sent_at, _))| sent_at.elapsed() > options.timeout)
                .map(|(seq, _)| *seq)
                .collect();
            for seq in overdue {
                tally.lost += 1;
                if let Some((_, message)) = tally.pending.remove(&seq) {
                    let len = message.len();
                    per_echo.event(
                        || format!("seq={seq} lost: no echo within {}", humantime::format_duration(options.timeout)),
                        || json!({"type": "echo", "mode": "datagram", "seq": seq, "bytes": len, "ok": false, "rtt_ms": null, "error": "lost"}),
                    );
                }
            }
        }
    };

    let reports = report_intervals(&tally, &options, output, started);
    let result = tokio::select! {
        result = send => {
            // Given their --timeout and still not back: lost. (On Ctrl-C or --deadline they are
            // left out instead, as ping leaves out the packet in flight.)
            let mut tally = tally.borrow_mut();
            tally.lost += tally.pending.len() as u64;
            tally.pending.clear();
            result
        }
        _ = receive => Err(eyre!("the connection to {remote} ended")),
        _ = sweep => Ok(()),
        _ = reports => Ok(()),
        _ = stop => Ok(()),
    };
    let elapsed = started.elapsed();
    let quic = options.stats.then(|| super::quic_stats(&handle)).flatten();
    let ours_lost = quic_packets_lost(&handle).saturating_sub(quic_lost_before);
    session.close().await;
    let tally = tally.into_inner();
    let run = Run {
        remote,
        elapsed,
        rate: options.rate,
        ours_lost,
    };
    print_summary(&tally, output, &run, quic.as_ref());
    if let Err(report) = result {
        crate::exit::print_error(&report);
        let code = if tally.sent == 0 {
            crate::exit::EXIT_ERROR
        } else {
            1
        };
        return Ok(ExitCode::from(code));
    }
    let all_intact = tally.sent > 0 && tally.received == tally.sent;
    Ok(if all_intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn on_echo(
    echo: &Bytes,
    tally: &RefCell<Tally>,
    options: &Options,
    output: &Output,
    remote: std::net::SocketAddr,
    quic: Option<&crate::events::ConnectionStats>,
) {
    let mut tally = tally.borrow_mut();
    let seq = echo
        .get(..8)
        .map(|head| u64::from_be_bytes(head.try_into().unwrap_or_default()));
    let Some(seq) = seq else {
        tally.corrupted += 1;
        output.event(
            || {
                format!(
                    "{} bytes from {remote}: CORRUPTED: too short to carry a sequence number",
                    echo.len()
                )
            },
            || json!({"type": "echo", "mode": "datagram", "ok": false, "error": "corrupted"}),
        );
        return;
    };
    let len = echo.len();
    let Some((sent_at, message)) = tally.pending.remove(&seq) else {
        // Not waiting for it: answered already (a duplicate), declared lost (late), or never sent.
        let ours = seq <= tally.sent && datagram(&options.payload, seq) == *echo;
        let word = match ours {
            true if tally.answered.contains(&seq) => {
                tally.duplicates += 1;
                "duplicate"
            }
            true => {
                tally.late += 1;
                "late"
            }
            false => {
                tally.unexpected += 1;
                "unexpected"
            }
        };
        output.event(
            || {
                format!(
                    "{len} bytes from {remote}: seq={seq} {word} (already answered or given up on)"
                )
            },
            || json!({"type": "echo", "mode": "datagram", "seq": seq, "ok": false, "error": word}),
        );
        return;
    };
    let rtt = sent_at.elapsed();
    if *echo == message {
        tally.answered(seq, rtt);
        output.event(
            || {
                format!(
                    "{len} bytes from {remote}: datagram seq={seq} time={} ms{}",
                    millis(rtt),
                    super::quic_stats_suffix(quic)
                )
            },
            || json!({"type": "echo", "mode": "datagram", "seq": seq, "bytes": len, "ok": true, "rtt_ms": rtt.as_secs_f64() * 1000.0, "error": null}),
        );
    } else {
        tally.corrupted += 1;
        output.event(
            || format!("{len} bytes from {remote}: datagram seq={seq} CORRUPTED"),
            || json!({"type": "echo", "mode": "datagram", "seq": seq, "bytes": len, "ok": false, "error": "corrupted"}),
        );
    }
}

/// With `--rate`, iperf3's interval lines: every `--interval`, the datagrams sent, received and
/// declared lost in it, those that came out of order, and the jitter estimate at its end (RFC
/// 3550's estimate is a running one). Never completes.
async fn report_intervals(
    tally: &RefCell<Tally>,
    options: &Options,
    output: &Output,
    started: Instant,
) {
    if options.rate.is_none() || options.interval.is_zero() {
        return std::future::pending().await;
    }
    let every = options.interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(started) + every, every);
    let mut last = [0u64; 4];
    for n in 1u32.. {
        tick.tick().await;
        let tally = tally.borrow();
        let now = [tally.sent, tally.received, tally.lost, tally.out_of_order];
        let [sent, received, lost, out_of_order] =
            std::array::from_fn(|i| now[i] - last[i].min(now[i]));
        last = now;
        let (start_s, end_s) = ((every * (n - 1)).as_secs_f64(), (every * n).as_secs_f64());
        let jitter_ms = tally.jitter_ms;
        output.event(
            || {
                format!(
                    "[{start_s:6.2}-{end_s:6.2} s]  sent {sent}, received {received}, lost \
                     {lost}, out of order {out_of_order}, jitter {jitter_ms:.3} ms"
                )
            },
            || {
                json!({
                    "type": "interval", "mode": "datagram", "start_s": start_s, "end_s": end_s,
                    "sent": sent, "received": received, "lost": lost,
                    "out_of_order": out_of_order, "jitter_ms": jitter_ms,
                })
            },
        );
    }
}

/// Packets of ours that QUIC has declared lost on this connection so far.
fn quic_packets_lost(handle: &s2n_quic::connection::Handle) -> u64 {
    super::quic_stats(handle).map_or(0, |stats| stats.packets_lost)
}

/// What the summary needs besides the tally.
struct Run {
    remote: std::net::SocketAddr,
    elapsed: Duration,
    rate: Option<Rate>,
    /// Packets of ours QUIC declared lost during the run: the datagrams lost on the way to the
    /// server, since each datagram travels in a packet of its own and the server's
    /// acknowledgements tell which arrived.
    ours_lost: u64,
}

fn print_summary(
    tally: &Tally,
    output: &Output,
    run: &Run,
    quic: Option<&crate::events::ConnectionStats>,
) {
    let Run {
        remote,
        elapsed,
        rate,
        ours_lost,
    } = *run;
    // Over the time it took to send them: the wait for the last echoes is not sending. The last
    // datagram was sent at `sending`, and took its share of the rate after that.
    let per_datagram = tally.sending.as_secs_f64() / (tally.sent.max(2) - 1) as f64;
    let sending = tally.sending.as_secs_f64() + per_datagram;
    let send_rate = tally.bytes_sent as f64 * 8.0 / sending.max(1e-9) / 1e9;
    // Still pending at the end (interrupted): neither received nor lost.
    let lost = tally.sent - tally.received - tally.corrupted - tally.pending.len() as u64;
    let loss = if tally.sent == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / tally.sent as f64
    };
    // By direction, as far as QUIC's acknowledgements tell: lost toward the server are those the
    // server never acknowledged; the rest of the loss happened on the way back.
    let toward_server = ours_lost.min(lost);
    let back = lost - toward_server;
    output.summary(
        || {
            let mut text = format!(
                "\n--- {remote} qecho datagram statistics ---\n{} sent, {} received, {} corrupted, {} late, {}% loss, time {}ms\n\
                 {} out of order, {} duplicates, jitter {:.3} ms",
                tally.sent, tally.received, tally.corrupted, tally.late,
                crate::units::loss_percent(lost, tally.sent), elapsed.as_millis(),
                tally.out_of_order, tally.duplicates, tally.jitter_ms
            );
            if lost > 0 {
                text.push_str(&format!(
                    "\nlost {toward_server} on the way to the server, {back} on the way back (as \
                     QUIC's acknowledgements tell)"
                ));
            }
            if let Some(rate) = rate {
                text.push_str(&format!(
                    "\nrate: asked {rate}, sent {:.3} Mbit/s",
                    send_rate * 1000.0
                ));
            }
            if let Some(rtt) = tally.rtt.text() {
                text.push('\n');
                text.push_str(&rtt);
            }
            if let Some(quic) = quic {
                text.push_str(&format!("\nQUIC: {}", quic.summary()));
            }
            text
        },
        || {
            let mut summary = json!({
                "type": "summary", "mode": "datagram", "sent": tally.sent, "received": tally.received,
                "corrupted": tally.corrupted, "late": tally.late, "unexpected": tally.unexpected,
                "duplicates": tally.duplicates, "out_of_order": tally.out_of_order,
                "lost": lost, "loss_percent": loss, "time_ms": elapsed.as_secs_f64() * 1000.0,
                "rtt_ms": tally.rtt.json(), "jitter_ms": tally.jitter_ms,
                "lost_toward_server": toward_server, "lost_toward_client": back,
                "send_gbit_per_s": send_rate,
            });
            if let Some(rate) = rate {
                summary["rate_asked_gbit_per_s"] = json!(rate.bits_per_second / 1e9);
            }
            if let Some(quic) = quic {
                summary["quic"] = super::quic_stats_json(quic);
            }
            summary
        },
    );
}
