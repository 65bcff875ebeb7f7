//! Datagram mode (`--datagram`): like ICMP ping, over QUIC DATAGRAM frames (RFC 9221). Messages go
//! out every interval whether or not earlier ones came back, and nothing is retransmitted, so a
//! lost packet shows up as a lost echo rather than as a late one.
//!
//! Each datagram starts with its sequence number (8 bytes, big-endian), so echoes are matched
//! even when they arrive out of order; one that arrives after `--timeout` is reported as late.

use super::ping::Payload;
use super::{Output, Session};
use crate::stats::RttStats;
use crate::units::millis;
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
    pub interval: Duration,
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
    duplicates: u64,
    lost: u64,
    rtt: RttStats,
    /// Sent and not yet answered: sequence number to (send time, datagram).
    pending: BTreeMap<u64, (Instant, Bytes)>,
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
                tally.pending.insert(seq, (sent_at, message));
            }
            if options.count.is_some_and(|count| seq >= count) {
                break;
            }
            super::wait_for_next(sent_at, options.interval).await;
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
            on_echo(&echo, &tally, &options, output, remote, quic.as_ref());
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
                    output.event(
                        || format!("seq={seq} lost: no echo within {}", humantime::format_duration(options.timeout)),
                        || json!({"type": "echo", "mode": "datagram", "seq": seq, "bytes": len, "ok": false, "rtt_ms": null, "error": "lost"}),
                    );
                }
            }
        }
    };

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
        _ = stop => Ok(()),
    };
    let elapsed = started.elapsed();
    let quic = options.stats.then(|| super::quic_stats(&handle)).flatten();
    session.close().await;
    let tally = tally.into_inner();
    print_summary(&tally, output, remote, elapsed, quic.as_ref());
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
        let late = seq <= tally.sent;
        let word = if late && datagram(&options.payload, seq) == *echo {
            "late"
        } else {
            "unexpected"
        };
        if late {
            tally.late += 1
        } else {
            tally.duplicates += 1
        }
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
        tally.received += 1;
        tally.rtt.record(rtt);
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

fn print_summary(
    tally: &Tally,
    output: &Output,
    remote: std::net::SocketAddr,
    elapsed: Duration,
    quic: Option<&crate::events::ConnectionStats>,
) {
    // Still pending at the end (interrupted): neither received nor lost.
    let lost = tally.sent - tally.received - tally.corrupted - tally.pending.len() as u64;
    let loss = if tally.sent == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / tally.sent as f64
    };
    output.summary(
        || {
            let mut text = format!(
                "\n--- {remote} qecho datagram statistics ---\n{} sent, {} received, {} corrupted, {} late, {loss:.0}% loss, time {}ms",
                tally.sent, tally.received, tally.corrupted, tally.late, elapsed.as_millis()
            );
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
                "corrupted": tally.corrupted, "late": tally.late, "unexpected": tally.duplicates,
                "lost": lost, "loss_percent": loss, "time_ms": elapsed.as_secs_f64() * 1000.0,
                "rtt_ms": tally.rtt.json(),
            });
            if let Some(quic) = quic {
                summary["quic"] = super::quic_stats_json(quic);
            }
            summary
        },
    );
}
