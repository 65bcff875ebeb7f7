//! Pipe mode (`qecho send ADDR -`): standard input goes out on one stream, the stream is finished
//! at end of input, and the echo is written to standard output, so that
//! `qecho send ADDR - < file | cmp - file` holds.
//!
//! Every echoed byte is checked against what was sent. What was sent is kept only until its echo
//! comes back, in a bounded queue: when the queue is full, reading standard input waits, so memory
//! stays flat whatever the size of the input.

use super::{Output, Session};
use crate::explain;
use bytes::Bytes;
use color_eyre::eyre::{Result, eyre};
use serde_json::json;
use std::cell::Cell;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

/// Something that ended pipe mode early, with the exit status it calls for: 1 when the echo is
/// lost or wrong, 2 when standard input or output failed.
struct Failure(u8, color_eyre::Report);

fn echo_problem(report: color_eyre::Report) -> Failure {
    Failure(1, report)
}

fn local_problem(report: color_eyre::Report) -> Failure {
    Failure(crate::exit::EXIT_ERROR, report)
}

/// Read size from standard input.
const CHUNK: usize = 64 * 1024;
/// Chunks sent but not yet echoed, at most: 16 MiB, more than the flow-control windows hold.
const IN_FLIGHT: usize = 256;

pub async fn run(
    session: Session,
    timeout: Duration,
    output: &Output,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode> {
    let remote = session.remote;
    let mut handle = session.connection.handle();
    let (mut receiver, mut sender) = handle
        .open_bidirectional_stream()
        .await
        .map_err(|err| {
            eyre!(
                "cannot open a stream to {remote}: {}",
                explain::connection_closed(&err, "the server")
            )
        })?
        .split();
    let started = Instant::now();
    let (sent_tx, mut sent_rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    // Bytes that went to the stream, and bytes that came back matching; the stall check reads them
    // while the transfer runs.
    let (total_sent, total_echoed) = (Cell::new(0u64), Cell::new(0u64));
    let total_sent = &total_sent;
    // Set, and `all_sent` notified, once standard input has ended and the stream is finished.
    let (input_done, all_sent) = (Cell::new(false), Notify::new());
    let (input_done, all_sent) = (&input_done, &all_sent);
    let last_echo = Cell::new(None::<Instant>);

    let send_input = async move {
        let mut stdin = tokio::io::stdin();
        loop {
            let mut buffer = vec![0u8; CHUNK];
            let read = stdin
                .read(&mut buffer)
                .await
                .map_err(|err| local_problem(eyre!("cannot read standard input: {err}")))?;
            if read == 0 {
                break;
            }
            buffer.truncate(read);
            let chunk = Bytes::from(buffer);
            // Waits while IN_FLIGHT chunks are unechoed: that is what keeps memory flat.
            if sent_tx.send(chunk.clone()).await.is_err() {
                break; // the checker gave up; its error says why
            }
            sender.send(chunk).await.map_err(|err| {
                echo_problem(eyre!(
                    "sending to {remote} failed: {}",
                    explain::stream_failed(&err, "the server")
                ))
            })?;
            total_sent.set(total_sent.get() + read as u64);
        }
        sender
            .finish()
            .map_err(|err| echo_problem(eyre!("cannot finish the stream: {err}")))?;
        input_done.set(true);
        all_sent.notify_one();
        Ok::<u64, Failure>(total_sent.get())
    };

    let check_echo = async {
        let mut stdout = tokio::io::stdout();
        let mut expected = Bytes::new();
        let all_back = || input_done.get() && total_echoed.get() == total_sent.get();
        while let Some(chunk) = super::next_echo(&mut receiver, all_back, all_sent)
            .await
            .map_err(|err| {
                echo_problem(eyre!(
                    "receiving from {remote} failed: {}",
                    explain::stream_failed(&err, "the server")
                ))
            })?
        {
            last_echo.set(Some(Instant::now()));
            stdout
                .write_all(&chunk)
                .await
                .map_err(|err| local_problem(eyre!("cannot write standard output: {err}")))?;
            let mut got = &chunk[..];
            while !got.is_empty() {
                if expected.is_empty() {
                    expected = sent_rx.recv().await.ok_or_else(|| {
                        echo_problem(eyre!(
                            "{remote} echoed more than was sent: {} bytes and counting",
                            total_echoed.get() + got.len() as u64
                        ))
                    })?;
                }
                let len = got.len().min(expected.len());
                if got[..len] != expected[..len] {
                    let at = got
                        .iter()
                        .zip(&expected[..])
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    return Err(echo_problem(eyre!(
                        "the echo from {remote} differs from what was sent at byte {}",
                        total_echoed.get() + at as u64
                    )));
                }
                got = &got[len..];
                expected = expected.slice(len..);
                total_echoed.set(total_echoed.get() + len as u64);
            }
        }
        stdout
            .flush()
            .await
            .map_err(|err| local_problem(eyre!("cannot write standard output: {err}")))?;
        Ok::<u64, Failure>(total_echoed.get())
    };

    let totals = || (total_sent.get(), total_echoed.get());
    let peer = remote.to_string();
    let result = tokio::select! {
        (sent, echoed) = async { tokio::join!(send_input, check_echo) } => Some((sent, echoed)),
        why = super::stall(totals, timeout, &peer) => {
            crate::exit::print_error(&eyre!(why));
            session.close().await;
            return Ok(ExitCode::from(1));
        }
        _ = stop => None,
    };
    // Up to the last echoed byte: a server that never finishes the stream costs FIN_GRACE more.
    let elapsed = last_echo.get().unwrap_or_else(Instant::now) - started;
    session.close().await;
    let (sent, echoed) = match result {
        Some((Ok(sent), Ok(echoed))) => (sent, echoed),
        // The echo side's error says more about what happened to the data, so it goes first.
        Some((_, Err(Failure(code, report)))) | Some((Err(Failure(code, report)), _)) => {
            crate::exit::print_error(&report);
            return Ok(ExitCode::from(code));
        }
        None => {
            crate::exit::print_error(&eyre!("interrupted before the whole echo came back"));
            return Ok(ExitCode::from(1));
        }
    };
    let intact = echoed == sent;
    output.summary(
        || {
            format!(
                "--- {remote} qecho pipe ---\n{sent} bytes sent, {echoed} bytes echoed intact{}, {:.3} s, {}",
                if intact { String::new() } else { format!(", {} bytes missing", sent - echoed) },
                elapsed.as_secs_f64(),
                crate::units::bit_rate(echoed, elapsed)
            )
        },
        || json!({"type": "summary", "mode": "pipe", "sent": sent, "echoed": echoed, "ok": intact, "time_ms": elapsed.as_secs_f64() * 1000.0}),
    );
    if !intact {
        crate::exit::print_error(&eyre!(
            "{remote} finished the stream after echoing {echoed} of {sent} bytes"
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
