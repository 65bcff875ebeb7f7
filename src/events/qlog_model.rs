//! s2n-quic's events in qlog 0.3's data model (the `qlog` crate's types): packet headers,
//! frames, ACK ranges and transport parameters, for the traces of `qlog.rs`.

use crate::transport_parameters::{entries, id, number};
use qlog::events::connectivity::TransportOwner;
use qlog::events::quic::{
    AckedRanges, PacketHeader, PacketType, QuicFrame, StreamType, TransportParametersSet,
};
use s2n_quic::provider::event::events;
use std::time::Duration;

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(super) fn ms(duration: Duration) -> f32 {
    duration.as_secs_f32() * 1000.0
}

pub(super) fn header(packet: &events::PacketHeader, length: Option<u16>) -> PacketHeader {
    let (packet_type, number) = match *packet {
        events::PacketHeader::Initial { number, .. } => (PacketType::Initial, Some(number)),
        events::PacketHeader::Handshake { number, .. } => (PacketType::Handshake, Some(number)),
        events::PacketHeader::ZeroRtt { number, .. } => (PacketType::ZeroRtt, Some(number)),
        events::PacketHeader::OneRtt { number, .. } => (PacketType::OneRtt, Some(number)),
        events::PacketHeader::Retry { .. } => (PacketType::Retry, None),
        events::PacketHeader::VersionNegotiation { .. } => (PacketType::VersionNegotiation, None),
        _ => (PacketType::Unknown, None),
    };
    PacketHeader::new(packet_type, number, None, None, length, None, None, None)
}

fn stream_type(kind: &events::StreamType) -> StreamType {
    match kind {
        events::StreamType::Unidirectional { .. } => StreamType::Unidirectional,
        _ => StreamType::Bidirectional,
    }
}

/// s2n-quic's view of a frame in qlog's; ACK ranges come in events of their own.
pub(super) fn frame(frame: &events::Frame) -> QuicFrame {
    use events::Frame as F;
    match frame {
        F::Padding { len, .. } => QuicFrame::Padding {
            length: None,
            payload_length: u32::from(*len),
        },
        F::Ping { .. } => QuicFrame::Ping {
            length: None,
            payload_length: None,
        },
        F::Ack { ecn_counts, .. } => QuicFrame::Ack {
            ack_delay: None,
            acked_ranges: None,
            ect1: ecn_counts.as_ref().map(|ecn| ecn.ect_1_count),
            ect0: ecn_counts.as_ref().map(|ecn| ecn.ect_0_count),
            ce: ecn_counts.as_ref().map(|ecn| ecn.ce_count),
            length: None,
            payload_length: None,
        },
        F::ResetStream {
            id,
            error_code,
            final_size,
            ..
        } => QuicFrame::ResetStream {
            stream_id: *id,
            error_code: *error_code,
            final_size: *final_size,
            length: None,
            payload_length: None,
        },
        F::StopSending { id, error_code, .. } => QuicFrame::StopSending {
            stream_id: *id,
            error_code: *error_code,
            length: None,
            payload_length: None,
        },
        F::Crypto { offset, len, .. } => QuicFrame::Crypto {
            offset: *offset,
            length: u64::from(*len),
        },
        F::Stream {
            id,
            offset,
            len,
            is_fin,
            ..
        } => QuicFrame::Stream {
            stream_id: *id,
            offset: *offset,
            length: u64::from(*len),
            fin: Some(*is_fin),
            raw: None,
        },
        F::MaxData { value, .. } => QuicFrame::MaxData { maximum: *value },
        F::MaxStreamData { id, value, .. } => QuicFrame::MaxStreamData {
            stream_id: *id,
            maximum: *value,
        },
        F::MaxStreams {
            stream_type: kind,
            value,
            ..
        } => QuicFrame::MaxStreams {
            stream_type: stream_type(kind),
            maximum: *value,
        },
        F::DataBlocked { data_limit, .. } => QuicFrame::DataBlocked { limit: *data_limit },
        F::StreamDataBlocked {
            stream_id,
            stream_data_limit,
            ..
        } => QuicFrame::StreamDataBlocked {
            stream_id: *stream_id,
            limit: *stream_data_limit,
        },
        F::StreamsBlocked {
            stream_type: kind,
            stream_limit,
            ..
        } => QuicFrame::StreamsBlocked {
            stream_type: stream_type(kind),
            limit: *stream_limit,
        },
        F::NewConnectionId {
            sequence_number,
            retire_prior_to,
            ..
        } => QuicFrame::NewConnectionId {
            sequence_number: u32::try_from(*sequence_number).unwrap_or(u32::MAX),
            retire_prior_to: u32::try_from(*retire_prior_to).unwrap_or(u32::MAX),
            connection_id_length: None,
            connection_id: String::new(),
            stateless_reset_token: None,
        },
        F::RetireConnectionId { .. } => QuicFrame::RetireConnectionId { sequence_number: 0 },
        F::PathChallenge { .. } => QuicFrame::PathChallenge { data: None },
        F::PathResponse { .. } => QuicFrame::PathResponse { data: None },
        F::ConnectionClose { .. } => QuicFrame::ConnectionClose {
            error_space: None,
            error_code: None,
            error_code_value: None,
            reason: None,
            trigger_frame_type: None,
        },
        F::HandshakeDone { .. } => QuicFrame::HandshakeDone,
        F::Datagram { len, .. } => QuicFrame::Datagram {
            length: u64::from(*len),
            raw: None,
        },
        _ => QuicFrame::Unknown {
            raw_frame_type: 0,
            frame_type_value: None,
            raw: None,
        },
    }
}

/// Puts `ranges` into the (first) ACK frame of `frames`.
pub(super) fn attach_ranges(frames: &mut [QuicFrame], ranges: Vec<(u64, u64)>) {
    if ranges.is_empty() {
        return;
    }
    let ack = frames
        .iter_mut()
        .find(|frame| matches!(frame, QuicFrame::Ack { .. }));
    if let Some(QuicFrame::Ack { acked_ranges, .. }) = ack {
        *acked_ranges = Some(AckedRanges::Double(ranges));
    }
}

/// Decodes encoded transport parameters into qlog's event.
pub(super) fn parameters_set(owner: TransportOwner, bytes: &[u8]) -> TransportParametersSet {
    let mut set = TransportParametersSet {
        owner: Some(owner),
        ..Default::default()
    };
    for (kind, value) in entries(bytes).unwrap_or_default() {
        let n = number(value);
        match kind {
            id::ORIGINAL_DESTINATION_CONNECTION_ID => {
                set.original_destination_connection_id = Some(hex(value))
            }
            id::INITIAL_SOURCE_CONNECTION_ID => set.initial_source_connection_id = Some(hex(value)),
            id::RETRY_SOURCE_CONNECTION_ID => set.retry_source_connection_id = Some(hex(value)),
            id::STATELESS_RESET_TOKEN => set.stateless_reset_token = Some(hex(value)),
            id::DISABLE_ACTIVE_MIGRATION => set.disable_active_migration = Some(true),
            id::MAX_IDLE_TIMEOUT => set.max_idle_timeout = n,
            id::MAX_UDP_PAYLOAD_SIZE => set.max_udp_payload_size = n.map(|n| n as u32),
            id::ACK_DELAY_EXPONENT => set.ack_delay_exponent = n.map(|n| n as u16),
            id::MAX_ACK_DELAY => set.max_ack_delay = n.map(|n| n as u16),
            id::ACTIVE_CONNECTION_ID_LIMIT => set.active_connection_id_limit = n.map(|n| n as u32),
            id::INITIAL_MAX_DATA => set.initial_max_data = n,
            id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => set.initial_max_stream_data_bidi_local = n,
            id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => set.initial_max_stream_data_bidi_remote = n,
            id::INITIAL_MAX_STREAM_DATA_UNI => set.initial_max_stream_data_uni = n,
            id::INITIAL_MAX_STREAMS_BIDI => set.initial_max_streams_bidi = n,
            id::INITIAL_MAX_STREAMS_UNI => set.initial_max_streams_uni = n,
            _ => {}
        }
    }
    set
}
