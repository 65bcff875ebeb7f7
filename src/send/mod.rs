//! `qecho send`: the client. This module resolves the command line into a target, a TLS config and
//! a mode, connects once, and hands the connection to the mode. Each mode lives in its own file:
//! `ping` (messages at an interval, the default), `pipe` (standard input through the echo),
//! `bulk` (as fast as the connection allows) and `datagram` (ping over unreliable DATAGRAM frames).

mod bulk;
pub mod connect;
mod connections;
mod datagram;
mod intervals;
mod output;
mod pattern;
mod payload;
mod ping;
mod pipe;

use crate::cli::SendArgs;
use crate::events::ConnectionStats;
use crate::tls::{ClientTickets, ClientTls, SessionFile, Trust};
use crate::units::millis;
use bytes::Bytes;
use color_eyre::eyre::{Result, eyre};
use s2n_quic::stream::{Error as StreamError, ReceiveStream};
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::Notify;

pub use connect::Session;
pub use output::Output;
use payload::Payload;

/// `--interval` in ping and datagram mode: ping's own default is 1 s; qecho's has been 2 s since
/// the quic-go example's ticker it descends from.
const MESSAGE_INTERVAL: Duration = Duration::from_secs(2);
/// `--interval` in bulk mode: one report a second, as iperf3's.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The largest message ping mode holds in memory (it keeps the message and its echo).
const MAX_MESSAGE: u64 = 64 << 20;

/// What `send` does: something on one connection, or many connections (which opens its own).
enum Mode {
    OnOneConnection(SessionMode),
    Connections(connections::Options),
}

/// What `send` does on its one connection.
enum SessionMode {
    Ping(ping::Options),
    Pipe,
    Bulk(bulk::Options),
    Datagram(datagram::Options),
}

impl Mode {
    fn from_args(args: &SendArgs) -> Result<Self> {
        let bulk = bulk_mode(args);
        if let Some(connections) = args.connections.filter(|_| !bulk) {
            return Ok(Self::Connections(connections::Options {
                connections,
                parallel: args.parallel.min(connections),
                payload: payload(args)?,
                timeout: args.timeout,
                connect_timeout: args.connect_timeout,
            }));
        }
        SessionMode::from_args(args).map(Self::OnOneConnection)
    }
}

impl SessionMode {
    fn from_args(args: &SendArgs) -> Result<Self> {
        let bulk = bulk_mode(args);
        if let Some(rate) = args.rate.filter(|_| !bulk && !args.datagram) {
            return Err(eyre!(
                "--rate {rate} paces bulk mode (--bytes SIZE or --duration D) and datagram mode \
                 (--datagram); ping mode sends one message every --interval instead"
            ));
        }
        if args.stdin || args.dash.is_some() || args.addr == "-" {
            if let Some(other) = args.dash.as_deref().filter(|dash| *dash != "-") {
                return Err(eyre!(
                    "unexpected argument '{other}': qecho send takes one address, and '-' for pipe mode"
                ));
            }
            if args.streams != 1 {
                return Err(eyre!("pipe mode uses one stream: leave out --streams"));
            }
            return Ok(Self::Pipe);
        }
        if args.datagram {
            if args.streams != 1 {
                return Err(eyre!("datagram mode uses no streams: leave out --streams"));
            }
            // With --rate the rate sets the pace, and --interval, as in bulk mode, the reports.
            let default_interval = match args.rate {
                Some(_) => REPORT_INTERVAL,
                None => MESSAGE_INTERVAL,
            };
            return Ok(Self::Datagram(datagram::Options {
                payload: payload(args)?,
                interval: args.interval.unwrap_or(default_interval),
                rate: args.rate,
                count: args.count,
                timeout: args.timeout,
                stats: args.stats,
            }));
        }
        if bulk {
            check_bulk_connections(args)?;
            return Ok(Self::Bulk(bulk::Options {
                rate: args.rate,
                bytes: args.bytes.map(|size| size.0),
                duration: args.duration,
                streams: args.streams,
                timeout: args.timeout,
                stats: args.stats,
                report_every: args.interval.unwrap_or(REPORT_INTERVAL),
            }));
        }
        Ok(Self::Ping(ping::Options {
            payload: payload(args)?,
            interval: args.interval.unwrap_or(MESSAGE_INTERVAL),
            count: args.count,
            timeout: args.timeout,
            streams: args.streams,
            fin: args.fin,
            stats: args.stats,
        }))
    }
}

/// What `send` changes in the process before it starts: back to back (ping mode, `--interval
/// 0s`), the client is busy anyway and a round trip is short, so s2n-quic's I/O spins a while
/// before it sleeps, and the RTT holds less of the client's own wake-up
/// (`endpoint::spin_before_sleeping`).
///
/// # Safety
///
/// It may set environment variables: no other thread may exist yet.
pub unsafe fn prepare_process(args: &SendArgs) {
    if let Ok(Mode::OnOneConnection(SessionMode::Ping(options))) = Mode::from_args(args)
        && options.interval.is_zero()
    {
        // SAFETY: the caller's.
        unsafe { crate::endpoint::spin_before_sleeping() }
    }
}

pub async fn run(args: SendArgs, quiet: bool) -> Result<ExitCode> {
    let mode = Mode::from_args(&args)?;
    let mut output = Output::new(args.json, quiet);
    if matches!(mode, Mode::OnOneConnection(SessionMode::Pipe)) {
        if args.resume {
            return Err(eyre!(
                "--resume means nothing in pipe mode, which makes one connection: leave it out, \
                 or use --session FILE to resume from an earlier run"
            ));
        }
        output.for_pipe();
    }
    let session_file = args.session.as_deref().map(SessionFile::new).transpose()?;
    let tickets = (args.resume || session_file.is_some()).then(ClientTickets::default);
    let tls = ClientTls::new(
        args.trust.ca.as_deref(),
        args.trust.insecure,
        args.trust.pin,
        args.trust.cert.as_deref().zip(args.trust.key.as_deref()),
        args.keylog.as_deref(),
        args.alpn.protocols.clone(),
        tickets.clone(),
    )?;
    let addr = if args.addr == "-" {
        crate::cli::DEFAULT_ADDR
    } else {
        args.addr.as_str()
    };
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => connect::Family::V4,
        (_, true) => connect::Family::V6,
        _ => connect::Family::Any,
    };
    let mut target =
        connect::Target::resolve(addr, args.server_name.as_deref(), family, args.bind).await?;
    target.cc = args.congestion.controller;
    target.qlog = args.qlog.open()?;
    if matches!(tls.trust, Trust::Insecure) {
        tracing::warn!(
            "--insecure: the server's certificate is not verified; anyone on the path could pose as {}",
            target.server_name
        );
    }
    if let (Some(file), Some(tickets)) = (&session_file, &tickets)
        && let Some(ticket) = file.load(&target.server_name, args.trust.pin)
    {
        tickets.offer(ticket);
    }
    let stop = stop_signal(args.deadline);
    let result = match mode {
        Mode::Connections(options) => {
            let resume = tickets.as_ref().filter(|_| args.resume);
            connections::run(&target, &tls, options, resume, &output, stop).await
        }
        Mode::OnOneConnection(mode) => {
            let session = match tickets.as_ref().filter(|_| args.resume) {
                Some(tickets) => {
                    connect::connect_resumed(&target, &tls, tickets, args.connect_timeout).await?
                }
                None => connect::connect(&target, &tls, args.connect_timeout).await?,
            };
            output.connected(&session);
            match mode {
                SessionMode::Ping(options) => ping::run(session, options, &output, stop).await,
                SessionMode::Pipe => pipe::run(session, args.timeout, &output, stop).await,
                SessionMode::Bulk(options) => {
                    let mut sessions = vec![session];
                    let more = args.connections.unwrap_or(1).saturating_sub(1);
                    sessions
                        .extend(more_sessions(more, &target, &tls, args.connect_timeout).await?);
                    for session in &sessions[1..] {
                        output.connected(session);
                    }
                    bulk::run(sessions, options, &output, stop).await
                }
                SessionMode::Datagram(options) => {
                    datagram::run(session, options, &output, stop).await
                }
            }
        }
    };
    if let (Some(file), Some(tickets)) = (&session_file, &tickets) {
        save_session(file, tickets, &target.server_name, args.trust.pin);
    }
    result
}

/// Bulk mode is `--bytes SIZE` or `--duration D`, on one connection or on `--connections N`.
fn bulk_mode(args: &SendArgs) -> bool {
    args.bytes.is_some() || args.duration.is_some()
}

/// The most connections bulk mode runs at once: iperf3's limit for -P.
const MAX_BULK_CONNECTIONS: u64 = 128;

/// `--connections` in bulk mode: all run at once, so `--parallel` has nothing to say, and more
/// than `MAX_BULK_CONNECTIONS` would measure the client's scheduling rather than the path.
fn check_bulk_connections(args: &SendArgs) -> Result<()> {
    let Some(connections) = args.connections else {
        return Ok(());
    };
    if connections > MAX_BULK_CONNECTIONS {
        return Err(eyre!(
            "--connections {connections} with --bytes or --duration: bulk mode runs at most \
             {MAX_BULK_CONNECTIONS} connections at once (as iperf3 -P); for more streams, give \
             each connection several with --streams"
        ));
    }
    if args.parallel != 1 {
        return Err(eyre!(
            "--parallel spreads the handshakes of connections mode; with --bytes or --duration \
             all --connections run at once: leave out --parallel"
        ));
    }
    Ok(())
}

/// Bulk mode over `--connections K`: the connections after the first, opened at once (each from
/// an endpoint and port of its own, as iperf3 -P's TCP connections). With `--resume` the first
/// connection's ticket is already on offer, so these resume too.
async fn more_sessions(
    count: u64,
    target: &connect::Target,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<Vec<Session>> {
    let connecting = (0..count).map(|_| connect::connect(target, tls, timeout));
    futures::future::try_join_all(connecting).await
}

/// `--session FILE`: writes the newest ticket of this run; a failure to write is a warning, not
/// a failed run. A run that resumed gets no new ticket (s2n-quic's server sends none then), and
/// leaves the file as it was.
fn save_session(
    file: &SessionFile,
    tickets: &ClientTickets,
    server_name: &str,
    pin: Option<crate::cert::Fingerprint>,
) {
    match tickets.newest() {
        Some(ticket) => {
            if let Err(err) = file.save(&ticket, server_name, pin) {
                tracing::warn!("{err:#}");
            }
        }
        None if tickets.offering() => {}
        None => tracing::warn!(
            "--session {}: the server sent no session ticket, so there is nothing to save",
            file.path.display()
        ),
    }
}

/// Completes on Ctrl-C, SIGTERM or when `--deadline` has passed: every mode then stops, prints
/// its summary, and exits with the status its results call for. The signal handlers are
/// registered at once, not on first poll.
fn stop_signal(deadline: Option<Duration>) -> impl std::future::Future<Output = ()> {
    let signal = crate::shutdown::signal();
    async move {
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    _ = signal => {}
                    _ = tokio::time::sleep(deadline) => {}
                }
            }
            None => signal.await,
        }
    }
}

/// QUIC's own figures for a connection, from the event subscriber (`--stats`).
fn quic_stats(handle: &s2n_quic::connection::Handle) -> Option<ConnectionStats> {
    handle
        .query_event_context(|stats: &ConnectionStats| stats.clone())
        .ok()
}

/// ` quic_srtt=0.312 ms lost=0`, to follow an RTT on an echo line.
fn quic_stats_suffix(stats: Option<&ConnectionStats>) -> String {
    stats.map_or(String::new(), |stats| {
        format!(
            " quic_srtt={:.3} ms lost={}",
            stats.smoothed_rtt.as_secs_f64() * 1000.0,
            stats.packets_lost
        )
    })
}

/// QUIC's totals as JSON, for summaries.
fn quic_stats_json(stats: &ConnectionStats) -> serde_json::Value {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    serde_json::json!({
        "smoothed_rtt_ms": ms(stats.smoothed_rtt), "min_rtt_ms": ms(stats.min_rtt),
        "rtt_variance_ms": ms(stats.rtt_variance), "packets_sent": stats.packets_sent,
        "packets_received": stats.packets_received, "packets_lost": stats.packets_lost,
        "mtu_probes_lost": stats.mtu_probes_lost, "congestion_window": stats.congestion_window,
        "bytes_sent": stats.bytes_sent, "bytes_received": stats.bytes_received,
        "path_mtu": stats.path_mtu, "congestion_controller": stats.congestion_controller,
        "bbr_state_changes": stats.bbr_state_changes,
    })
}

/// What each message carries, from `--message` or `--size`: ping, datagram and connections modes.
fn payload(args: &SendArgs) -> Result<Payload> {
    Payload::from_args(args.message.as_deref(), args.size.map(|size| size.0))
}

/// Waits until `interval` after `sent_at`, when the next message of ping or datagram mode is due.
/// Back to back (`--interval 0s`) takes no timer at all: tokio's would add a 1 ms tick per message.
async fn wait_for_next(sent_at: std::time::Instant, interval: Duration) {
    if !interval.is_zero() {
        tokio::time::sleep_until(tokio::time::Instant::from_std(sent_at + interval)).await;
    }
}

/// For the streaming modes (bulk, pipe): completes when bytes are outstanding and no echo has come
/// back from `peer` for `timeout`, with the sentence that says so; never while the echo keeps up
/// or nothing is outstanding. `totals` gives (sent, echoed) so far. Checked four times per
/// `timeout`, so a stall is reported within 1.25 x `timeout`.
async fn stall(totals: impl Fn() -> (u64, u64), timeout: Duration, peer: &str) -> String {
    let tick = (timeout / 4).max(Duration::from_millis(1));
    let mut last_echoed = totals().1;
    let mut since = std::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let (sent, echoed) = totals();
        if echoed != last_echoed || sent == echoed {
            last_echoed = echoed;
            since = std::time::Instant::now();
        } else if since.elapsed() >= timeout {
            return format!(
                "no echo for {} with {} bytes sent and not yet echoed: {peer} stopped echoing (a \
                 longer --timeout waits longer)",
                humantime::format_duration(timeout),
                sent - echoed
            );
        }
    }
}

/// With several streams, (sent, echoed) per stream: when some streams got echoes and others sent
/// at least `min_sent` but got none at all, the likely reason, as a sentence. quic-go's echo
/// example, for one, echoes only the first stream of a connection.
fn streams_without_echo(streams: &[(u64, u64)], min_sent: u64) -> Option<String> {
    let silent: Vec<String> = (1..)
        .zip(streams)
        .filter(|(_, (sent, echoed))| *sent >= min_sent.max(1) && *echoed == 0)
        .map(|(stream_no, _)| stream_no.to_string())
        .collect();
    let some_echoed = streams.iter().any(|(_, echoed)| *echoed > 0);
    (some_echoed && !silent.is_empty()).then(|| {
        format!(
            "stream(s) {} got no echo at all while others did: the server may echo only one \
             stream per connection (quic-go's echo example echoes just the first); --streams 1 \
             works with such a server",
            silent.join(", ")
        )
    })
}

/// How long the streaming modes wait, once every byte sent has come back, for the server to
/// finish its side of the stream, or to send more than it was sent (an error). A server that
/// neither finishes nor sends more is done echoing: quic-go's echo example never finishes.
const FIN_GRACE: Duration = Duration::from_millis(250);

/// The next chunk of an echo stream, or `None` at its end: the server's FIN, or `FIN_GRACE` of
/// silence once `all_back()` says everything sent has come back. `sent_all` is notified when our
/// side has finished, since that can make `all_back()` true with no chunk arriving.
async fn next_echo(
    receiver: &mut ReceiveStream,
    all_back: impl Fn() -> bool,
    sent_all: &Notify,
) -> Result<Option<Bytes>, StreamError> {
    loop {
        if all_back() {
            return tokio::time::timeout(FIN_GRACE, receiver.receive())
                .await
                .unwrap_or(Ok(None));
        }
        tokio::select! {
            next = receiver.receive() => return next,
            () = sent_all.notified() => {}
        }
    }
}

/// Checks `--size` against what a message may be.
fn check_size(size: u64) -> Result<u64> {
    match size {
        0 => Err(eyre!("--size 0: a message must be at least 1 byte")),
        size if size > MAX_MESSAGE => Err(eyre!(
            "--size {size}: a message may be at most {} MiB; for more data use bulk mode (--bytes)",
            MAX_MESSAGE >> 20
        )),
        size => Ok(size),
    }
}

/// The handshake line, in text.
fn connected_line(session: &Session) -> String {
    let how = match (session.resumed, session.full_handshake) {
        (true, Some(full)) => format!(" (resumed; the full one took {} ms)", millis(full)),
        (true, None) => " (resumed)".to_string(),
        (false, _) => String::new(),
    };
    format!(
        "connected to {} from {}, alpn {}, server name {}, handshake {} ms{how}",
        session.remote,
        session.local,
        session.alpn,
        session.server_name,
        millis(session.handshake)
    )
}

#[cfg(test)]
mod tests {
    use super::streams_without_echo;

    #[test]
    fn names_silent_streams_only_next_to_echoing_ones() {
        let hint = streams_without_echo(&[(3, 3), (3, 0), (3, 0)], 2).unwrap_or_default();
        assert!(
            hint.starts_with("stream(s) 2, 3 got no echo at all"),
            "{hint}"
        );
        // All silent: the server echoes nothing, a different story.
        assert_eq!(streams_without_echo(&[(3, 0), (3, 0)], 1), None);
        // One message lost on a stream is just loss.
        assert_eq!(streams_without_echo(&[(1, 1), (1, 0)], 2), None);
        // A stream that sent nothing has nothing to say.
        assert_eq!(streams_without_echo(&[(5, 5), (0, 0)], 1), None);
    }
}
