//! The server's QUIC transport parameters (RFC 9000, section 18.2; RFC 9221 for
//! max_datagram_frame_size), decoded from the bytes it sent in its TLS EncryptedExtensions.
//! Absent parameters take the RFC's defaults, as a client must read them.

use serde_json::{Value, json};
use std::time::Duration;

/// What a server declared, with RFC 9000's defaults for what it left out.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportParameters {
    /// Zero: no idle timeout.
    pub max_idle_timeout: Duration,
    pub max_udp_payload_size: u64,
    pub initial_max_data: u64,
    pub initial_max_stream_data_bidi_local: u64,
    pub initial_max_stream_data_bidi_remote: u64,
    pub initial_max_stream_data_uni: u64,
    pub initial_max_streams_bidi: u64,
    pub initial_max_streams_uni: u64,
    pub ack_delay_exponent: u64,
    pub max_ack_delay: Duration,
    pub disable_active_migration: bool,
    pub preferred_address: bool,
    pub active_connection_id_limit: u64,
    /// Zero: the server does not take DATAGRAM frames.
    pub max_datagram_frame_size: u64,
    /// The server sent a Retry first (only then does it send retry_source_connection_id).
    pub retry: bool,
}

impl Default for TransportParameters {
    fn default() -> Self {
        Self {
            max_idle_timeout: Duration::ZERO,
            max_udp_payload_size: 65527,
            initial_max_data: 0,
            initial_max_stream_data_bidi_local: 0,
            initial_max_stream_data_bidi_remote: 0,
            initial_max_stream_data_uni: 0,
            initial_max_streams_bidi: 0,
            initial_max_streams_uni: 0,
            ack_delay_exponent: 3,
            max_ack_delay: Duration::from_millis(25),
            disable_active_migration: false,
            preferred_address: false,
            active_connection_id_limit: 2,
            max_datagram_frame_size: 0,
            retry: false,
        }
    }
}

impl TransportParameters {
    /// Decodes the extension's body; `None` if it is malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        use crate::transport_parameters::{entries, id, number};
        let mut params = Self::default();
        for (kind, value) in entries(bytes)? {
            let number = || number(value);
            match kind {
                id::MAX_IDLE_TIMEOUT => params.max_idle_timeout = Duration::from_millis(number()?),
                id::MAX_UDP_PAYLOAD_SIZE => params.max_udp_payload_size = number()?,
                id::INITIAL_MAX_DATA => params.initial_max_data = number()?,
                id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => {
                    params.initial_max_stream_data_bidi_local = number()?
                }
                id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => {
                    params.initial_max_stream_data_bidi_remote = number()?
                }
                id::INITIAL_MAX_STREAM_DATA_UNI => params.initial_max_stream_data_uni = number()?,
                id::INITIAL_MAX_STREAMS_BIDI => params.initial_max_streams_bidi = number()?,
                id::INITIAL_MAX_STREAMS_UNI => params.initial_max_streams_uni = number()?,
                id::ACK_DELAY_EXPONENT => params.ack_delay_exponent = number()?,
                id::MAX_ACK_DELAY => params.max_ack_delay = Duration::from_millis(number()?),
                id::DISABLE_ACTIVE_MIGRATION => params.disable_active_migration = true,
                id::PREFERRED_ADDRESS => params.preferred_address = true,
                id::ACTIVE_CONNECTION_ID_LIMIT => params.active_connection_id_limit = number()?,
                id::RETRY_SOURCE_CONNECTION_ID => params.retry = true,
                id::MAX_DATAGRAM_FRAME_SIZE => params.max_datagram_frame_size = number()?,
                // Connection IDs, the reset token, grease and extensions: not reported.
                _ => {}
            }
        }
        Some(params)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "max_idle_timeout_ms": self.max_idle_timeout.as_millis() as u64,
            "max_udp_payload_size": self.max_udp_payload_size,
            "initial_max_data": self.initial_max_data,
            "initial_max_stream_data_bidi_local": self.initial_max_stream_data_bidi_local,
            "initial_max_stream_data_bidi_remote": self.initial_max_stream_data_bidi_remote,
            "initial_max_stream_data_uni": self.initial_max_stream_data_uni,
            "initial_max_streams_bidi": self.initial_max_streams_bidi,
            "initial_max_streams_uni": self.initial_max_streams_uni,
            "ack_delay_exponent": self.ack_delay_exponent,
            "max_ack_delay_ms": self.max_ack_delay.as_millis() as u64,
            "disable_active_migration": self.disable_active_migration,
            "preferred_address": self.preferred_address,
            "active_connection_id_limit": self.active_connection_id_limit,
            "max_datagram_frame_size": self.max_datagram_frame_size,
        })
    }

    /// (name, value) pairs for the text report, in RFC order.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let idle = match self.max_idle_timeout {
            Duration::ZERO => "none".to_string(),
            idle => humantime::format_duration(idle).to_string(),
        };
        let datagrams = match self.max_datagram_frame_size {
            0 => "0 (no DATAGRAM support)".to_string(),
            size => format!("{size} (DATAGRAM frames accepted)"),
        };
        vec![
            ("max_idle_timeout", idle),
            (
                "max_udp_payload_size",
                self.max_udp_payload_size.to_string(),
            ),
            ("initial_max_data", self.initial_max_data.to_string()),
            (
                "initial_max_stream_data",
                format!(
                    "bidi local {}, bidi remote {}, uni {}",
                    self.initial_max_stream_data_bidi_local,
                    self.initial_max_stream_data_bidi_remote,
                    self.initial_max_stream_data_uni
                ),
            ),
            (
                "initial_max_streams_bidi",
                self.initial_max_streams_bidi.to_string(),
            ),
            (
                "initial_max_streams_uni",
                self.initial_max_streams_uni.to_string(),
            ),
            (
                "active_connection_id_limit",
                self.active_connection_id_limit.to_string(),
            ),
            ("max_datagram_frame_size", datagrams),
            (
                "disable_active_migration",
                self.disable_active_migration.to_string(),
            ),
            ("preferred_address", self.preferred_address.to_string()),
            ("ack_delay_exponent", self.ack_delay_exponent.to_string()),
            (
                "max_ack_delay",
                humantime::format_duration(self.max_ack_delay).to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_parameters_and_keeps_defaults_for_the_rest() {
        // max_idle_timeout 30000 (4-byte varint), initial_max_data 1048576, streams bidi 100,
        // disable_active_migration, an unknown (grease) parameter, max_datagram_frame_size 65535.
        let bytes = [
            0x01, 0x04, 0x80, 0x00, 0x75, 0x30, //
            0x04, 0x04, 0x80, 0x10, 0x00, 0x00, //
            0x08, 0x02, 0x40, 0x64, //
            0x0c, 0x00, //
            0x1b, 0x01, 0xff, //
            0x20, 0x04, 0x80, 0x00, 0xff, 0xff,
        ];
        let params = TransportParameters::decode(&bytes).unwrap_or_default();
        assert_eq!(params.max_idle_timeout, Duration::from_secs(30));
        assert_eq!(params.initial_max_data, 1 << 20);
        assert_eq!(params.initial_max_streams_bidi, 100);
        assert!(params.disable_active_migration);
        assert_eq!(params.max_datagram_frame_size, 65535);
        assert_eq!(params.max_ack_delay, Duration::from_millis(25), "default");
        assert!(!params.retry);
        assert_eq!(TransportParameters::decode(&[0x04, 0x08, 0x01]), None);
    }
}
