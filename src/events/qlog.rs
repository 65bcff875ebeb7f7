//! qlog traces (`--qlog DIR`, or `QLOGDIR`): one JSON-SEQ file per connection in qlog 0.3, the
//! format qvis opens, named `<odcid>_client.sqlog` or `<odcid>_server.sqlog` as quiche, ngtcp2 and
//! the interop runner name theirs. The event subscriber (`mod.rs`) hands each s2n-quic event to
//! the connection's trace here; the `qlog` crate's data model does the writing.
//!
//! Cost: nothing when off (no trace, one `Option` check per event). When on, events are written
//! into a 64 KiB buffer per connection, flushed when it fills and when the connection closes.
//! Open traces are bounded (`qlog_dir.rs`): past 1000, new connections are not traced (a warning
//! says so), so that a flood of connections cannot exhaust file descriptors or memory.

use super::qlog_dir::TraceFile;
use super::qlog_model::{attach_ranges, frame, header, hex, ms, parameters_set};
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
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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

impl Trace {
    /// A trace that writes through `streamer` into `file`, and gives its place in `open` back
    /// at the close.
    pub(super) fn new(streamer: QlogStreamer, file: TraceFile, open: Arc<AtomicUsize>) -> Self {
        let inner = Inner {
            streamer,
            received: None,
            sent_frames: Vec::new(),
            sent_acks: Vec::new(),
            received_acks: Vec::new(),
            last_metrics: None,
            open: Some(open),
            closed: false,
            file,
        };
        Trace(Arc::new(Mutex::new(inner)))
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
    use super::super::QlogDir;
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
        assert_eq!(qlog.open_traces(), 1);
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
        assert_eq!(qlog.open_traces(), 0, "a closed trace gives its place back");
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
}
