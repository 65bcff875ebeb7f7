//! `qecho serve`: the echo server. Every stream a client opens is echoed back byte for byte until
//! the client finishes its side: a bidirectional stream on itself, a unidirectional one on a
//! unidirectional stream of ours (as WebTransport echo servers do). Every connection is logged
//! when it opens (with its addresses, server name and ALPN) and when it closes (duration, bytes,
//! streams, reason).
//!
//! One task per connection, one per stream, and one more that opens our unidirectional streams
//! in the order the client's arrive, so that a client can pair them up. Shutdown (Ctrl-C,
//! SIGTERM) stops accepting, closes every connection with application code 0, waits briefly for
//! the tasks to finish, and returns.

use crate::cli::ServeArgs;
use crate::datagram_echo::{EchoCounts, EchoSender};
use crate::events::{CloseReasons, canonical};
use crate::limits::ServerLimits;
use crate::tls::{ClientIdentity, ServerTickets, ServerTls};
use crate::{endpoint, explain, shutdown, usage};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::Connection;
use s2n_quic::connection::Handle;
use s2n_quic::stream::{Error as StreamError, PeerStream, ReceiveStream, SendStream};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// How long shutdown waits for connections to say goodbye before exiting anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let (listen, listen_host) = resolve_listen(&args.listen).await?;
    let cert_and_key = args.cert.as_deref().zip(args.key.as_deref());
    let mut tls = ServerTls::new(
        cert_and_key,
        args.client_ca.as_deref(),
        args.keylog.as_deref(),
        &listen_host,
        args.alpn.protocols,
        ServerTickets::from_args(args.no_session_tickets, args.ticket_key.as_deref())?,
    )?;
    tls.own_thread = args.tls_thread;
    let limits = ServerLimits {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        retry_threshold: usize::try_from(args.retry_threshold).unwrap_or(usize::MAX),
        max_streams: args.max_streams,
        idle_timeout: args.idle_timeout,
        handshake_timeout: args.handshake_timeout,
    };
    let reasons = CloseReasons::default();
    let mut server = endpoint::server(
        listen,
        &tls,
        &limits,
        args.congestion.controller,
        reasons.clone(),
        args.qlog.open()?.as_ref(),
    )?;
    let local = server
        .local_addr()
        .map_err(|err| eyre!("cannot read the bound address: {err}"))?;
    // Before "listening on": whoever reads that line may send SIGTERM at once.
    let signal = shutdown::signal();
    let alpn = tls.protocols.join(",");
    let fingerprint = tls.fingerprint().to_string();
    let tickets = tls.tickets.describe();
    info!(
        %local, %alpn, certificate = %tls.origin, %fingerprint,
        "listening on {local}, alpn {alpn}, certificate {} {fingerprint}, {tickets}",
        tls.origin,
    );
    if let Some(warning) = endpoint::kernel_buffer_warning() {
        warn!("{warning}");
    }
    if let Some(ca) = &tls.client_ca {
        info!(
            "clients must present a certificate signed by --client-ca {} ({})",
            ca.path.display(),
            ca.fingerprint
        );
    }

    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = server.accept() => match accepted {
                Some(connection) => {
                    connections.spawn(serve_connection(connection, stopped.clone(), reasons.clone()));
                }
                None => return Err(eyre!("the QUIC endpoint stopped unexpectedly")),
            },
            // Reap finished connection tasks so that a long-running server does not pile them up.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut signal => break,
        }
    }

    info!("shutting down: closing {} connection(s)", connections.len());
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("some connections did not close within {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    // Give the endpoint a moment to put the CONNECTION_CLOSE frames on the wire.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(ExitCode::SUCCESS)
}

/// Turns `--listen` into a socket address, and the host part the user typed (for the ephemeral
/// certificate's names; empty for the wildcard addresses).
async fn resolve_listen(text: &str) -> Result<(SocketAddr, String)> {
    let not_an_address = || {
        eyre!(
            "--listen '{text}' is not an address to listen on: expected IP:PORT such as \
             127.0.0.1:9999, [::1]:9999 or [::]:9999 (all interfaces), or port 0 for any free port"
        )
    };
    if let Ok(addr) = text.parse::<SocketAddr>() {
        let host = if addr.ip().is_unspecified() {
            String::new()
        } else {
            addr.ip().to_string()
        };
        return Ok((addr, host));
    }
    let (host, _) = text.rsplit_once(':').ok_or_else(not_an_address)?;
    let addr = tokio::net::lookup_host(text)
        .await
        .map_err(|_| not_an_address())?
        .next()
        .ok_or_else(not_an_address)?;
    Ok((addr, host.to_string()))
}

async fn serve_connection(
    mut connection: Connection,
    mut stopped: watch::Receiver<bool>,
    reasons: CloseReasons,
) {
    let id = connection.id();
    // With --client-ca, the TLS layer hands over who the (verified) client is.
    let client = connection
        .take_tls_context()
        .and_then(|context| context.downcast::<ClientIdentity>().ok())
        .map(|identity| format!("{} {}", identity.subject, identity.fingerprint));
    let client_text = client
        .as_ref()
        .map(|client| format!(", client certificate {client}"))
        .unwrap_or_default();
    let remote = connection.remote_addr().map(canonical);
    let remote = remote.map_or_else(|_| "?".to_string(), |addr| addr.to_string());
    let local = connection.local_addr().map(canonical);
    let local = local.map_or_else(|_| "?".to_string(), |addr| addr.to_string());
    let server_name = match connection.server_name() {
        Ok(Some(name)) => name.to_string(),
        _ => "(none)".to_string(),
    };
    let alpn = connection
        .application_protocol()
        .map(|alpn| String::from_utf8_lossy(&alpn).into_owned())
        .unwrap_or_default();
    info!(
        conn = id, %remote, %local, %server_name, %alpn, client_certificate = client.as_deref(),
        "connection {id} from {remote} to {local}, server name {server_name}, alpn {alpn}{client_text}"
    );

    let started = Instant::now();
    let echoed = Arc::new(AtomicU64::new(0));
    let mut stream_count = 0u64;
    let mut streams = JoinSet::new();
    // Started with the client's first unidirectional stream: most clients open none.
    let mut unidirectional: Option<mpsc::UnboundedSender<ReceiveStream>> = None;
    let (handle, mut acceptor) = connection.split();
    let datagram_echo = handle
        .datagram_mut(|echo: &mut EchoSender| echo.counter())
        .unwrap_or_default();
    let reason = loop {
        tokio::select! {
            accepted = acceptor.accept() => match accepted {
                Ok(Some(PeerStream::Bidirectional(stream))) => {
                    stream_count += 1;
                    let (receiver, sender) = stream.split();
                    streams.spawn(echo_stream(receiver, sender, id, echoed.clone()));
                }
                Ok(Some(PeerStream::Receive(stream))) => {
                    stream_count += 1;
                    let queue = unidirectional.get_or_insert_with(|| {
                        let (queue, incoming) = mpsc::unbounded_channel();
                        streams.spawn(echo_unidirectional_streams(
                            handle.clone(),
                            incoming,
                            id,
                            echoed.clone(),
                        ));
                        queue
                    });
                    // Fails only once that task has stopped because the connection is closing;
                    // the stream then goes with it.
                    let _ = queue.send(stream);
                }
                Ok(None) => break "closed normally".to_string(),
                Err(err) => break explain::connection_closed(&err, "the client"),
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            _ = stopped.changed() => {
                handle.close(0u8.into());
                break "closed by us: the server is shutting down".to_string();
            }
        }
    };
    // The event subscriber knows best why QUIC closed the connection (an idle timeout looks like a
    // normal close from here); let it publish first.
    tokio::task::yield_now().await;
    let quic_reason = reasons.take(id);
    // When we closed it ourselves (shutdown), our words say more than QUIC's "closed by us".
    let reason = match quic_reason {
        Some(quic_reason) if !*stopped.borrow() => quic_reason,
        _ => reason,
    };
    let datagrams = datagram_echo.counts();
    let datagram_text = datagram_text(&datagrams);
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let bytes_echoed = echoed.load(Ordering::Relaxed) + datagrams.echoed_bytes;
    // The whole server's, not this connection's: its CPU since it started and its memory now.
    let cpu = usage::Cpu::now();
    let (server_cpu_user_s, server_cpu_system_s) =
        (cpu.user.as_secs_f64(), cpu.system.as_secs_f64());
    let server_rss_bytes = usage::resident_bytes().unwrap_or(0);
    info!(
        conn = id, %remote, duration_ms, bytes_echoed, streams = stream_count, %reason,
        datagrams_echoed = datagrams.echoed,
        datagrams_not_echoed = datagrams.not_echoed(),
        server_cpu_user_s, server_cpu_system_s, server_rss_bytes,
        "connection {id} from {remote} closed after {}: {bytes_echoed} bytes echoed on {stream_count} stream(s){datagram_text}; {reason}; server CPU {server_cpu_user_s:.3} s user / {server_cpu_system_s:.3} s system so far, RSS {:.1} MiB",
        humantime::format_duration(round_to_millis(started.elapsed())),
        server_rss_bytes as f64 / 1048576.0,
    );
}

/// Echoes the client's unidirectional streams, each on a unidirectional stream of ours, opened in
/// the order theirs arrived. Opening waits until the client allows us one more stream; meanwhile
/// nothing is read from theirs, so QUIC flow control holds the client back. The queue is bounded
/// by `--max-streams`, the number of streams the client may have open.
async fn echo_unidirectional_streams(
    mut handle: Handle,
    mut incoming: mpsc::UnboundedReceiver<ReceiveStream>,
    conn: u64,
    echoed: Arc<AtomicU64>,
) {
    let mut echoes = JoinSet::new();
    loop {
        tokio::select! {
            received = incoming.recv() => {
                let Some(receiver) = received else { break };
                match handle.open_send_stream().await {
                    Ok(sender) => {
                        echoes.spawn(echo_stream(receiver, sender, conn, echoed.clone()));
                    }
                    Err(err) => {
                        let reason = explain::connection_closed(&err, "the client");
                        debug!(conn, stream = receiver.id(), "no stream to echo on: {reason}");
                        break;
                    }
                }
            }
            Some(_) = echoes.join_next(), if !echoes.is_empty() => {}
        }
    }
    while echoes.join_next().await.is_some() {}
}

/// Echoes one stream until the client finishes its side, then finishes ours. `receiver` and
/// `sender` are the two halves of a client's bidirectional stream, or a client's unidirectional
/// stream and the one of ours that echoes it.
async fn echo_stream(
    mut receiver: ReceiveStream,
    mut sender: SendStream,
    conn: u64,
    echoed: Arc<AtomicU64>,
) {
    let id = receiver.id();
    match sender.id() {
        ours if ours == id => debug!(conn, stream = id, "stream {id} opened"),
        ours => debug!(
            conn,
            stream = id,
            "stream {id} opened, echoed on stream {ours}"
        ),
    }
    let mut bytes = 0u64;
    let result = async {
        // `send` waits while the client is not reading, so an idle reader stops us reading too:
        // QUIC flow control then holds the client back, and memory stays bounded. (Batching with
        // receive_vectored/send_vectored measured no faster here: 5 runs each, bulk and 100
        // streams, medians within noise.)
        while let Some(chunk) = receiver.receive().await? {
            let len = chunk.len() as u64;
            sender.send(chunk).await?;
            bytes += len;
            echoed.fetch_add(len, Ordering::Relaxed);
        }
        sender.finish()
    }
    .await;
    match result {
        Ok(()) => debug!(conn, stream = id, "stream {id} done: {bytes} bytes echoed"),
        Err(err) => {
            debug!(
                conn,
                stream = id,
                "stream {id} ended after {bytes} bytes: {}",
                explain::stream_failed(&err, "the client")
            );
            // Echo the abort too, with the client's code: a dropped send stream would be
            // finished, passing a cut-short echo off as whole. (Of the two calls, the one for the
            // side that is already closed does nothing.)
            if let StreamError::StreamReset { error, .. } = err {
                let _ = sender.reset(error);
                let _ = receiver.stop_sending(error);
            }
        }
    }
}

/// The close line's words for the DATAGRAM echo: nothing for a connection that sent none.
fn datagram_text(counts: &EchoCounts) -> String {
    match (counts.echoed, counts.not_echoed()) {
        (0, 0) => String::new(),
        (echoed, 0) => format!(" and {echoed} datagram(s)"),
        (echoed, dropped) => format!(
            " and {echoed} datagram(s) ({dropped} not echoed: {} with the queue full, {} too \
             large for the path back, {} still queued at the close)",
            counts.dropped_queue_full, counts.dropped_too_large, counts.left_at_close
        ),
    }
}

fn round_to_millis(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis() as u64)
}
