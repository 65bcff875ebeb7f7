//! Ping mode, `send`'s default: every interval a message goes out on a stream, exactly that many
//! bytes are read back and compared. With `--streams N`, N such loops run at once on the one
//! connection, each on its own stream. Prints a line per echo and a ping-style summary.
//!
//! A message that is lost (no echo within `--timeout`), truncated or answered by a stream reset
//! leaves its stream in an unknown state, so the next message goes out on a fresh stream: a late
//! echo can then never be mistaken for the next one.

use super::{Output, Payload, Session};
use crate::events::ConnectionStats;
use crate::explain;
use crate::stats::RttStats;
use crate::units::millis;
use bytes::{Bytes, BytesMut};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::connection::Handle;
use s2n_quic::stream::{Error as StreamError, ReceiveStream, SendStream};
use serde_json::json;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct Options {
    pub payload: Payload,
    pub interval: Duration,
    pub count: Option<u64>,
    pub timeout: Duration,
    pub streams: u32,
    /// `--fin`: each message on a stream of its own, finished right after it.
    pub fin: bool,
    /// `--stats`: QUIC's own figures beside ours.
    pub stats: bool,
}

/// How one echo went.
enum Echo {
    Intact,
    /// Came back, but not as sent.
    Corrupted(String),
    /// Did not come back in time, or the stream was reset: counted as lost.
    Lost(String),
}

/// The counts of one stream's loop, or of all of them.
#[derive(Default)]
struct Tally {
    sent: u64,
    received: u64,
    corrupted: u64,
    rtt: RttStats,
    /// The error that ended the connection, if one did.
    fatal: Option<StreamError>,
    /// Whether the loop's first message came back: with --fin, a server that echoes only the
    /// first stream of a connection shows as this and nothing after.
    first_echoed: bool,
}

impl Tally {
    fn lost(&self) -> u64 {
        self.sent - self.received - self.corrupted
    }

    fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.lost() as f64 * 100.0 / self.sent as f64
        }
    }

    fn counts_text(&self) -> String {
        format!(
            "{} sent, {} received, {} corrupted, {}% loss",
            self.sent,
            self.received,
            self.corrupted,
            crate::units::loss_percent(self.lost(), self.sent)
        )
    }

    fn json(&self) -> serde_json::Value {
        let rtt = self.rtt.json();
        json!({
            "sent": self.sent,
            "received": self.received,
            "corrupted": self.corrupted,
            "lost": self.lost(),
            "loss_percent": self.loss_percent(),
            "rtt_ms": rtt,
        })
    }

    fn add(&mut self, other: &Tally) {
        self.sent += other.sent;
        self.received += other.received;
        self.corrupted += other.corrupted;
        self.rtt.merge(&other.rtt);
    }
}

pub async fn run(
    session: Session,
    options: Options,
    output: &Output,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode> {
    let remote = session.remote;
    let mut handle = session.connection.handle();
    // Keep the connection alive through long intervals; the idle timeout is for dead peers.
    let _ = handle.keep_alive(true);
    let started = Instant::now();
    let mut tallies: Vec<Tally> = (0..options.streams)
        .map(|_| Tally {
            rtt: RttStats::one_of(options.streams as usize),
            ..Tally::default()
        })
        .collect();
    {
        let loops = tallies.iter_mut().zip(1..).map(|(tally, stream_no)| {
            ping_stream(handle.clone(), stream_no, &options, output, remote, tally)
        });
        // Stopping drops the loops mid-echo: a message that was not given its chance is not
        // counted, as ping does on Ctrl-C.
        tokio::select! {
            _ = futures::future::join_all(loops) => {}
            _ = stop => {}
        }
    }

    let mut total = Tally::default();
    tallies.iter().for_each(|tally| total.add(tally));
    let fatal = tallies.iter().find_map(|tally| tally.fatal);
    let elapsed = started.elapsed();
    let quic = options.stats.then(|| super::quic_stats(&handle)).flatten();
    let per_stream: Vec<(u64, u64)> = tallies.iter().map(|t| (t.sent, t.received)).collect();
    // Two messages at least: one lost message is just loss.
    let hint = super::streams_without_echo(&per_stream, 2).or_else(|| {
        let silent = total.sent >= 2 && total.received == 0 && fatal.is_none() && !options.fin;
        // Two lost after the first: one lost message is just loss.
        let first_only = options.fin
            && tallies
                .iter()
                .all(|t| t.first_echoed && t.received == 1 && t.sent >= 3);
        if silent {
            Some(
                "nothing came back, though the connection stayed up: the server may echo a \
                 stream only once the client has finished it (then use --fin), or not echo at all"
                    .to_string(),
            )
        } else if first_only {
            Some(
                "only the first stream of the connection was echoed: the server may echo just \
                 one stream per connection, as quic-go's echo example does; without --fin every \
                 message goes on that one stream"
                    .to_string(),
            )
        } else {
            None
        }
    });
    output.summary(
        || {
            let mut text = format!("\n--- {remote} qecho statistics ---\n");
            if tallies.len() > 1 {
                for (stream_no, tally) in (1..).zip(&tallies) {
                    let rtt = tally
                        .rtt
                        .text()
                        .map(|rtt| format!(", {rtt}"))
                        .unwrap_or_default();
                    text.push_str(&format!(
                        "stream {stream_no}: {}{rtt}\n",
                        tally.counts_text()
                    ));
                }
            }
            text.push_str(&format!(
                "{}, time {}ms",
                total.counts_text(),
                elapsed.as_millis()
            ));
            if let Some(rtt) = total.rtt.text() {
                text.push('\n');
                text.push_str(&rtt);
            }
            if let Some(quic) = &quic {
                text.push_str(&format!("\nQUIC: {}", quic.summary()));
            }
            if let Some(hint) = &hint {
                text.push_str(&format!("\n{hint}"));
            }
            text
        },
        || {
            let mut summary = total.json();
            summary["type"] = json!("summary");
            summary["time_ms"] = json!(elapsed.as_secs_f64() * 1000.0);
            if tallies.len() > 1 {
                summary["streams"] = tallies.iter().map(Tally::json).collect();
            }
            if let Some(quic) = &quic {
                summary["quic"] = super::quic_stats_json(quic);
            }
            summary
        },
    );
    session.close().await;
    if let Some(err) = fatal {
        // Echoes were lost, so the status is 1, not 2: we did have a connection.
        crate::exit::print_error(&eyre!(
            "the connection to {remote} was lost: {}",
            explain::stream_failed(&err, "the server")
        ));
        return Ok(ExitCode::from(1));
    }
    let all_intact = total.sent > 0 && total.received == total.sent;
    Ok(if all_intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One stream's loop: message, echo, check, wait for the next interval.
async fn ping_stream(
    mut handle: Handle,
    stream_no: u32,
    options: &Options,
    output: &Output,
    remote: std::net::SocketAddr,
    tally: &mut Tally,
) {
    let mut stream: Option<(ReceiveStream, SendStream)> = None;
    let label = if options.streams > 1 {
        format!("stream={stream_no} ")
    } else {
        String::new()
    };
    for seq in 1.. {
        if options.count.is_some_and(|count| seq > count) {
            break;
        }
        let message = options.payload.message(stream_no, seq);
        let sent_at = Instant::now();
        let outcome = async {
            let (receiver, sender) = match &mut stream {
                Some(halves) => halves,
                None => stream.insert(handle.open_bidirectional_stream().await?.split()),
            };
            let echo = echo_once(receiver, sender, &message, options.fin);
            match tokio::time::timeout(options.timeout, echo).await {
                Ok(result) => result,
                Err(_) => Ok(Echo::Lost(no_echo(options.timeout, &handle))),
            }
        }
        .await;
        tally.sent += 1;
        let rtt = sent_at.elapsed();
        let len = message.len();
        let (ok, problem) = match outcome {
            Ok(Echo::Intact) => {
                tally.received += 1;
                tally.first_echoed |= seq == 1;
                tally.rtt.record(rtt);
                if options.fin {
                    // Finished by us, echoed whole: the next message gets a stream of its own.
                    stream = None;
                }
                (true, None)
            }
            Ok(Echo::Corrupted(why)) => {
                tally.corrupted += 1;
                stream = None;
                (false, Some(format!("CORRUPTED: {why}")))
            }
            Ok(Echo::Lost(why)) => {
                reset(&mut stream);
                (false, Some(format!("lost: {why}")))
            }
            Err(StreamError::StreamReset { error, .. }) => {
                stream = None;
                let why = format!(
                    "lost: the server reset the stream (application error code {})",
                    u64::from(error)
                );
                (false, Some(why))
            }
            Err(err) => {
                tally.fatal = Some(err);
                (
                    false,
                    Some(format!(
                        "lost: {}",
                        explain::stream_failed(&err, "the server")
                    )),
                )
            }
        };
        let quic = options.stats.then(|| super::quic_stats(&handle)).flatten();
        output.event(
            || match &problem {
                None => format!(
                    "{len} bytes from {remote}: {label}seq={seq} time={} ms{}",
                    millis(rtt),
                    super::quic_stats_suffix(quic.as_ref())
                ),
                Some(problem) => format!("{label}seq={seq} {problem}"),
            },
            || {
                let mut echo = json!({
                    "type": "echo", "stream": stream_no, "seq": seq, "bytes": len, "ok": ok,
                    "rtt_ms": ok.then_some(rtt.as_secs_f64() * 1000.0), "error": problem,
                });
                if let Some(quic) = &quic {
                    echo["quic_srtt_ms"] = json!(quic.smoothed_rtt.as_secs_f64() * 1000.0);
                    echo["quic_packets_lost"] = json!(quic.packets_lost);
                }
                echo
            },
        );
        if tally.fatal.is_some() || options.count.is_some_and(|count| seq >= count) {
            break;
        }
        super::wait_for_next(sent_at, options.interval).await;
    }
}

/// One echo of `message` on a stream of its own, finished right after the message, for modes that
/// need just one (connections mode): the round-trip time, or why it failed. Finishing at once
/// suits every kind of echo server: those that echo as the bytes come, and those that wait for
/// the end of the stream.
pub async fn echo_on_new_stream(
    connection: &s2n_quic::Connection,
    message: &Bytes,
    timeout: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let round = async {
        let mut handle = connection.handle();
        let (mut receiver, mut sender) = handle.open_bidirectional_stream().await?.split();
        echo_once(&mut receiver, &mut sender, message, true).await
    };
    match tokio::time::timeout(timeout, round).await {
        Err(_) => Err(no_echo(timeout, &connection.handle())),
        Ok(Err(err)) => Err(explain::stream_failed(&err, "the server")),
        Ok(Ok(Echo::Intact)) => Ok(started.elapsed()),
        Ok(Ok(Echo::Corrupted(why))) => Err(format!("CORRUPTED: {why}")),
        Ok(Ok(Echo::Lost(why))) => Err(why),
    }
}

/// Sends `message` while reading its echo, so that a message larger than the flow-control windows
/// cannot deadlock against its own echo; with `finish`, finishes the stream after it. The echo is
/// whole once as many bytes are back; the server's FIN is not waited for.
async fn echo_once(
    receiver: &mut ReceiveStream,
    sender: &mut SendStream,
    message: &Bytes,
    finish: bool,
) -> Result<Echo, StreamError> {
    let write = async {
        sender.send(message.clone()).await?;
        if finish {
            sender.finish()?;
        }
        Ok::<(), StreamError>(())
    };
    let read = async {
        let mut echo = BytesMut::with_capacity(message.len());
        while echo.len() < message.len() {
            match receiver.receive().await? {
                Some(chunk) => echo.extend_from_slice(&chunk),
                None => {
                    return Ok(Echo::Corrupted(format!(
                        "truncated: the server finished the stream after {} of {} bytes",
                        echo.len(),
                        message.len()
                    )));
                }
            }
        }
        Ok(compare(message, &echo))
    };
    let (written, echoed) = tokio::join!(write, read);
    written?;
    echoed
}

fn compare(sent: &[u8], echo: &[u8]) -> Echo {
    if echo.len() > sent.len() {
        return Echo::Corrupted(format!(
            "{} bytes came back for {} sent",
            echo.len(),
            sent.len()
        ));
    }
    match sent.iter().zip(echo).position(|(a, b)| a != b) {
        None => Echo::Intact,
        Some(at) => Echo::Corrupted(format!(
            "byte {at} differs (sent {:#04x}, got {:#04x})",
            sent[at], echo[at]
        )),
    }
}

/// Abandons a stream whose echo is overdue: tell the server to stop, and start afresh next time.
fn reset(stream: &mut Option<(ReceiveStream, SendStream)>) {
    if let Some((mut receiver, mut sender)) = stream.take() {
        let _ = receiver.stop_sending(0u8.into());
        let _ = sender.reset(0u8.into());
    }
}

/// "no echo within 5s", and, when the server never confirmed the handshake, what that suggests.
/// Through `relay --corrupt 30%` about 1 connection in 500 ended so: the client's handshake was
/// complete, but its Finished and the two copies resent 3 s later were lost, the next came 6 s
/// after those (a first RTT sample of 1 s, from a server's Initial resent on its own timer), and
/// the server had given up on the handshake at its 10 s limit.
///
/// A confirmation is due a round trip after the Finished; the note waits for three probe
/// timeouts' worth, so that a short --timeout does not earn it.
fn no_echo(timeout: Duration, handle: &Handle) -> String {
    let overdue = handle
        .query_event_context(|stats: &ConnectionStats| {
            !stats.verdict.confirmed() && timeout >= 3 * stats.probe_timeout()
        })
        .unwrap_or(false);
    let within = humantime::format_duration(timeout);
    if !overdue {
        format!("no echo within {within}")
    } else {
        format!(
            "no echo within {within}, and the server never confirmed the handshake (no \
             HANDSHAKE_DONE arrived): it may not have our last handshake flight yet, or it gave \
             up on the handshake (qecho serve does after 10 s, its --handshake-timeout)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_finds_the_first_difference() {
        assert!(matches!(compare(b"abc", b"abc"), Echo::Intact));
        assert!(matches!(compare(b"abc", b"abd"), Echo::Corrupted(why) if why.contains("byte 2")));
        assert!(matches!(compare(b"abc", b"abcd"), Echo::Corrupted(_)));
    }
}
