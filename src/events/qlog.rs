//! qlog traces (`--qlog DIR`, or `QLOGDIR`): one JSON-SEQ file per connection in qlog 0.3, the
//! format qvis opens, named `<odcid>_client.sqlog` or `<odcid>_server.sqlog` as quiche, ngtcp2 and
//! the interop runner name theirs. The event subscriber (`mod.rs`) hands each s2n-quic event to
//! the connection's trace here; the `qlog` crate's data model does the writing.
//!
//! Cost: nothing when off (no trace, one `Option` check per event). When on, events are written
//! into a 64 KiB buffer per connection, flushed when it fills and when the connection closes.
//! Open traces are bounded: past `MAX_OPEN_TRACES`, new connections are not traced (a warning says
//! so), so that a flood of connections cannot exhaust file descriptors or memory.

use super::qlog_model::{attach_ranges, frame, header, hex, ms, parameters_set};
use crate::tls::ParameterBook;
use color_eyre::eyre::{Result, eyre};
use qlog::events::connectivity::{
    ConnectionClosed, ConnectionStarted, ConnectionState, ConnectionStateUpdated, MtuUpdated,
    TransportOwner,
};
use qlog::events::quic::{
    CongestionStateUpdated, MetricsUpdated, PacketDropped, PacketLost, PacketReceived, PacketSent,
    QuicFrame, TransportParametersSet,
};
use qlog::events::security::{KeyType, KeyUpdated};
use qlog::events::{EventData, EventImportance, RawInfo};
use qlog::streamer::QlogStreamer;
use s2n_quic::provider::event::events;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// At most this many traces are open at once (a file descriptor and a buffer each).
const MAX_OPEN_TRACES: usize = 1000;

/// Each trace's write buffer.
const BUFFER: usize = 64 * 1024;

/// Where traces go, shared by all connections of an endpoint.
#[derive(Debug, Clone)]
pub struct QlogDir {
    dir: PathBuf,
    /// `MAX_OPEN_TRACES`, but in the unit test.
    bound: usize,
    open: Arc<AtomicUsize>,
    warned: Arc<AtomicBool>,
    book: ParameterBook,
}

impl QlogDir {
    /// Creates `dir` if need be and checks that files can be written in it: a directory that
    /// cannot be used is an error at start, not a silent loss of every trace.
    pub fn new(dir: &Path) -> Result<Self> {
        let shown = dir.display();
        std::fs::create_dir_all(dir).map_err(|err| {
            eyre!("--qlog {shown}: cannot create the directory: {err}; pick one you can write to")
        })?;
        let probe = dir.join(format!(".qecho-write-test-{}", std::process::id()));
        File::create(&probe).map_err(|err| {
            eyre!(
                "--qlog {shown}: cannot write in this directory: {err}; pick one you can write to"
            )
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(Self {
            dir: dir.to_path_buf(),
            bound: MAX_OPEN_TRACES,
            open: Arc::default(),
            warned: Arc::default(),
            book: ParameterBook::default(),
        })
    }

    /// Where the TLS watch records each connection's transport parameters for its trace.
    pub fn book(&self) -> ParameterBook {
        self.book.clone()
    }

    /// A trace for the connection whose original destination connection ID is `odcid`; none past
    /// the bound, or if the file cannot be created (with a warning).
    pub fn open(&self, odcid: &[u8], server: bool) -> Option<Trace> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.bound {
            self.open.fetch_sub(1, Ordering::AcqRel);
            if !self.warned.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    "--qlog: {} traces are open; new connections are not traced until some \
                     close",
                    self.bound
                );
            }
            return None;
        }
        self.warned.store(false, Ordering::Release);
        let vantage = if server { "server" } else { "client" };
        let path = self.dir.join(format!("{}_{vantage}.sqlog", hex(odcid)));
        let file = match File::create_new(&path) {
            Ok(file) => TraceFile(Arc::new(Mutex::new(BufWriter::with_capacity(BUFFER, file)))),
            Err(err) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!("--qlog: cannot create {}: {err}", path.display());
                return None;
            }
        };
        let vantage_point = qlog::VantagePoint {
            name: Some(format!("qecho {vantage}")),
            ty: match server {
                true => qlog::VantagePointType::Server,
                false => qlog::VantagePointType::Client,
            },
            flow: None,
        };
        let trace = qlog::TraceSeq::new(vantage_point, None, None, None, None);
        let started = Instant::now();
        let mut streamer = QlogStreamer::new(
            qlog::QLOG_VERSION.to_string(),
            Some(format!("qecho {vantage} {}", hex(odcid))),
            None,
            None,
            started,
            trace,
            EventImportance::Extra,
            Box::new(file.clone()),
        );
        if streamer.start_log().is_err() {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let inner = Inner {
            streamer,
            received: None,
            sent_frames: Vec::new(),
            sent_acks: Vec::new(),
            received_acks: Vec::new(),
            last_metrics: None,
            open: Some(self.open.clone()),
            closed: false,
            file,
        };
        Some(Trace(Arc::new(Mutex::new(inner))))
    }
}

/// One connection's trace; `Clone` so that the connection's statistics can be copied.
#[derive(Clone)]
pub struct Trace(Arc<Mutex<Inner>>);

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

struct Inner {
    streamer: QlogStreamer,
    /// A received packet is announced before its frames: it is written once they are in.
    received: Option<(PacketReceived, Instant)>,
    sent_frames: Vec<QuicFrame>,
    sent_acks: Vec<(u64, u64)>,
    /// The ACK ranges of the received packet not yet written.
    received_acks: Vec<(u64, u64)>,
    /// The last recovery metrics written: s2n-quic reports them again unchanged many times
    /// (547 identical events in 7 s of one server connection waiting for a client's Finished).
    last_metrics: Option<MetricsUpdated>,
    /// The open-trace count, given back once at the close.
    open: Option<Arc<AtomicUsize>>,
    /// Past the connection's close, each event is flushed as it is written: the subscriber lets
    /// go of the trace at the close (so the file closes with its connection), but a copy taken
    /// with the connection's statistics may still write, and the process may exit first.
    closed: bool,
    /// The streamer's writer, shared so that it can be flushed (the streamer owns its copy).
    file: TraceFile,
}

/// A trace's buffered file.
#[derive(Clone)]
struct TraceFile(Arc<Mutex<BufWriter<File>>>);

impl Write for TraceFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

impl Inner {
    fn write(&mut self, data: EventData, at: Instant) {
        // A full disk loses the rest of the trace, not the connection.
        let _ = self.streamer.add_event_data_with_instant(data, at);
        if self.closed {
            let _ = self.file.flush();
        }
    }

    /// Writes `event` (a `JsonEvent`, for what the crate's `EventData` cannot carry).
    fn write_json(&mut self, event: qlog::events::JsonEvent) {
        let _ = self.streamer.add_event(event);
        if self.closed {
            let _ = self.file.flush();
        }
    }

    fn flush_received(&mut self) {
        if let Some((mut packet, at)) = self.received.take() {
            if let Some(frames) = packet.frames.as_mut() {
                attach_ranges(frames, std::mem::take(&mut self.received_acks));
            }
            self.write(EventData::PacketReceived(packet), at);
        }
    }

    /// At the close: flushes, and gives the trace's place back to the bound.
    fn close(&mut self) {
        self.flush_received();
        self.closed = true;
        let _ = self.file.flush();
        if let Some(open) = self.open.take() {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
        let _ = self.streamer.finish_log();
    }
}

/// A packet's size on the wire.
fn raw(len: u16) -> RawInfo {
    RawInfo {
        length: Some(u64::from(len)),
        payload_length: None,
        data: None,
    }
}

impl Trace {
    fn with(&self, change: impl FnOnce(&mut Inner)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Writes `data` now, after any received packet still waiting for its frames.
    fn event(&self, data: EventData) {
        self.with(|inner| {
            inner.flush_received();
            inner.write(data, Instant::now());
        });
    }

    pub fn connection_started(&self, local: SocketAddr, remote: SocketAddr, path: &events::Path) {
        self.event(EventData::ConnectionStarted(ConnectionStarted {
            ip_version: Some(if remote.is_ipv4() { "v4" } else { "v6" }.to_string()),
            src_ip: local.ip().to_string(),
            dst_ip: remote.ip().to_string(),
            protocol: Some("QUIC".to_string()),
            src_port: Some(local.port()),
            dst_port: Some(remote.port()),
            src_cid: Some(hex(path.local_cid.bytes)),
            dst_cid: Some(hex(path.remote_cid.bytes)),
        }));
    }

    /// `transport:parameters_set` from parameters as they travelled.
    pub fn parameters(&self, local: bool, bytes: &[u8]) {
        let owner = if local {
            TransportOwner::Local
        } else {
            TransportOwner::Remote
        };
        self.event(EventData::TransportParametersSet(parameters_set(
            owner, bytes,
        )));
    }

    /// The peer's parameters from s2n-quic's event, when the TLS watch has none: it carries no
    /// initial_max_data.
    pub fn remote_parameters(&self, params: &events::TransportParameters) {
        self.event(EventData::TransportParametersSet(TransportParametersSet {
            owner: Some(TransportOwner::Remote),
            initial_source_connection_id: params
                .initial_source_connection_id
                .as_ref()
                .map(|cid| hex(cid.bytes)),
            disable_active_migration: Some(!params.migration_support),
            max_idle_timeout: Some(params.max_idle_timeout.as_millis() as u64),
            max_udp_payload_size: Some(params.max_udp_payload_size as u32),
            ack_delay_exponent: Some(u16::from(params.ack_delay_exponent)),
            max_ack_delay: Some(params.max_ack_delay.as_millis() as u16),
            active_connection_id_limit: Some(params.active_connection_id_limit as u32),
            initial_max_stream_data_bidi_local: Some(params.initial_max_stream_data_bidi_local),
            initial_max_stream_data_bidi_remote: Some(params.initial_max_stream_data_bidi_remote),
            initial_max_stream_data_uni: Some(params.initial_max_stream_data_uni),
            initial_max_streams_bidi: Some(params.initial_max_streams_bidi),
            initial_max_streams_uni: Some(params.initial_max_streams_uni),
            ..Default::default()
        }));
    }

    pub fn frame_sent(&self, sent: &events::Frame) {
        self.with(|inner| inner.sent_frames.push(frame(sent)));
    }

    pub fn ack_range_sent(&self, range: &std::ops::RangeInclusive<u64>) {
        self.with(|inner| inner.sent_acks.push((*range.start(), *range.end())));
    }

    pub fn packet_sent(&self, packet: &events::PacketHeader, len: u16) {
        self.with(|inner| {
            inner.flush_received();
            let mut frames = std::mem::take(&mut inner.sent_frames);
            attach_ranges(&mut frames, std::mem::take(&mut inner.sent_acks));
            let sent = PacketSent {
                header: header(packet, Some(len)),
                raw: Some(raw(len)),
                frames: Some(frames.into()),
                ..Default::default()
            };
            inner.write(EventData::PacketSent(sent), Instant::now());
        });
    }

    pub fn packet_received(&self, packet: &events::PacketHeader, len: u16) {
        self.with(|inner| {
            inner.flush_received();
            let received = PacketReceived {
                header: header(packet, Some(len)),
                raw: Some(raw(len)),
                frames: Some(Vec::new()),
                ..Default::default()
            };
            inner.received = Some((received, Instant::now()));
        });
    }

    pub fn frame_received(&self, received: &events::Frame) {
        self.with(|inner| {
            if let Some((packet, _)) = inner.received.as_mut() {
                packet
                    .frames
                    .get_or_insert_with(Vec::new)
                    .push(frame(received));
            }
        });
    }

    pub fn ack_range_received(&self, range: &std::ops::RangeInclusive<u64>) {
        self.with(|inner| {
            if inner.received.is_some() {
                inner.received_acks.push((*range.start(), *range.end()));
            }
        });
    }

    pub fn packet_dropped(&self, reason: &events::PacketDropReason) {
        self.event(EventData::PacketDropped(PacketDropped {
            details: Some(format!("{reason:?}")),
            ..Default::default()
        }));
    }

    /// `recovery:metrics_updated`, unless nothing changed since the last one.
    pub fn metrics(&self, event: &events::RecoveryMetrics) {
        let metrics = MetricsUpdated {
            min_rtt: Some(ms(event.min_rtt)),
            smoothed_rtt: Some(ms(event.smoothed_rtt)),
            latest_rtt: Some(ms(event.latest_rtt)),
            rtt_variance: Some(ms(event.rtt_variance)),
            pto_count: Some(event.pto_count.min(u32::from(u16::MAX)) as u16),
            congestion_window: Some(u64::from(event.congestion_window)),
            bytes_in_flight: Some(u64::from(event.bytes_in_flight)),
            ..Default::default()
        };
        self.with(|inner| {
            if inner.last_metrics.as_ref() == Some(&metrics) {
                return;
            }
            inner.last_metrics = Some(metrics.clone());
            inner.flush_received();
            inner.write(EventData::MetricsUpdated(metrics), Instant::now());
        });
    }

    pub fn pacing_rate(&self, bytes_per_second: u64) {
        self.event(EventData::MetricsUpdated(MetricsUpdated {
            pacing_rate: Some(bytes_per_second.saturating_mul(8)),
            ..Default::default()
        }));
    }

    pub fn packet_lost(&self, packet: &events::PacketHeader) {
        self.event(EventData::PacketLost(PacketLost {
            header: Some(header(packet, None)),
            frames: None,
            trigger: None,
        }));
    }

    pub fn congestion_state(&self, new: String) {
        self.event(EventData::CongestionStateUpdated(CongestionStateUpdated {
            old: None,
            new,
            trigger: None,
        }));
    }

    /// A 1-RTT key update (ours or the peer's): both directions' keys change.
    pub fn key_updated(&self, generation: u16) {
        for key_type in [KeyType::Client1RttSecret, KeyType::Server1RttSecret] {
            self.event(EventData::KeyUpdated(KeyUpdated {
                key_type,
                old: None,
                new: String::new(),
                generation: Some(u32::from(generation)),
                trigger: None,
            }));
        }
    }

    pub fn state(&self, new: ConnectionState) {
        self.event(EventData::ConnectionStateUpdated(ConnectionStateUpdated {
            old: None,
            new,
        }));
    }

    /// Something qlog 0.3 has no event for (a path change), as a `generic:message`. Written as
    /// a `JsonEvent`: the crate's own `EventData::Message` panics in 0.16 (it has no importance
    /// for generic events), and a panic here would stop the endpoint.
    pub fn message(&self, message: String) {
        self.with(|inner| {
            inner.flush_received();
            let event = qlog::events::JsonEvent {
                time: ms(inner.streamer.start_time().elapsed()),
                importance: EventImportance::Base,
                name: "generic:message".to_string(),
                data: serde_json::json!({ "message": message }),
            };
            inner.write_json(event);
        });
    }

    pub fn mtu_updated(&self, mtu: u16, done: bool) {
        self.event(EventData::MtuUpdated(MtuUpdated {
            old: None,
            new: mtu,
            done: Some(done),
        }));
    }

    /// The connection's close: the trace is flushed, and what follows (our CONNECTION_CLOSE
    /// packet) is flushed as it comes.
    pub fn closed(&self, reason: String, by_peer: bool) {
        self.with(|inner| {
            inner.flush_received();
            let closed = ConnectionClosed {
                owner: Some(if by_peer {
                    TransportOwner::Remote
                } else {
                    TransportOwner::Local
                }),
                connection_code: None,
                application_code: None,
                internal_code: None,
                reason: Some(reason),
                trigger: None,
            };
            inner.write(EventData::ConnectionClosed(closed), Instant::now());
            inner.close();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of event a trace writes without an s2n-quic event to build it from: none may
    /// reach a part of the qlog crate that panics (its generic events do, in 0.16).
    #[test]
    fn writes_each_event_kind_and_counts_open_traces() {
        let dir = std::env::temp_dir().join(format!("qecho-qlog-unit-{}", std::process::id()));
        let qlog = QlogDir::new(&dir).unwrap_or_else(|err| panic!("{err}"));
        let trace = qlog
            .open(&[1, 2, 3, 4, 5, 6, 7, 8], true)
            .unwrap_or_else(|| panic!("no trace"));
        assert_eq!(qlog.open.load(Ordering::Acquire), 1);
        // initial_max_data 1 MiB, disable_active_migration, grease.
        trace.parameters(
            true,
            &[
                0x04, 0x04, 0x80, 0x10, 0x00, 0x00, 0x0c, 0x00, 0x1b, 0x01, 0xff,
            ],
        );
        trace.pacing_rate(1_000_000);
        trace.congestion_state("congestion_avoidance".to_string());
        trace.key_updated(1);
        trace.state(ConnectionState::HandshakeConfirmed);
        trace.message("path changed".to_string());
        trace.mtu_updated(1472, true);
        trace.closed("closed normally".to_string(), true);
        assert_eq!(
            qlog.open.load(Ordering::Acquire),
            0,
            "a closed trace gives its place back"
        );
        trace.message("after the close".to_string());
        drop(trace);
        let text =
            std::fs::read_to_string(dir.join("0102030405060708_server.sqlog")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        for name in [
            "transport:parameters_set",
            "recovery:metrics_updated",
            "recovery:congestion_state_updated",
            "security:key_updated",
            "connectivity:connection_state_updated",
            "generic:message",
            "connectivity:mtu_updated",
            "connectivity:connection_closed",
        ] {
            assert!(
                text.contains(&format!("\"name\":\"{name}\"")),
                "{name} missing:\n{text}"
            );
        }
        assert!(text.contains("\"initial_max_data\":1048576"), "{text}");
        assert!(
            text.contains("after the close"),
            "flushed after the close: {text}"
        );
    }

    /// Past the bound, no trace (and no file) for new connections; a closed one makes room.
    #[test]
    fn past_the_bound_new_connections_are_not_traced() {
        let dir = std::env::temp_dir().join(format!("qecho-qlog-bound-{}", std::process::id()));
        let mut qlog = QlogDir::new(&dir).unwrap_or_else(|err| panic!("{err}"));
        qlog.bound = 2;
        let first = qlog.open(&[1; 8], false);
        let second = qlog.open(&[2; 8], false);
        assert!(first.is_some() && second.is_some());
        assert!(
            qlog.open(&[3; 8], false).is_none(),
            "the third is past the bound"
        );
        if let Some(first) = &first {
            first.closed("done".to_string(), false);
        }
        assert!(
            qlog.open(&[4; 8], false).is_some(),
            "a closed trace made room"
        );
        let files = std::fs::read_dir(&dir)
            .map(|entries| entries.count())
            .unwrap_or(0);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(files, 3, "no file for the untraced connection");
    }
}
