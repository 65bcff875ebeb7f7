//! The handshake as the subscriber sees it: when it completes and is confirmed (for the figures,
//! the client-certificate verdict `send` waits on, and the qlog trace), and the one log line that
//! says how it went.

use super::stats::ms;
use super::{ConnectionEvents, ConnectionStats, End, Role};
use crate::tls::ParameterKey;
use ::qlog::events::connectivity::ConnectionState;
use s2n_quic::provider::event::events::HandshakeStatus;
use tracing::{debug, info};

/// s2n-quic speaks QUIC version 1 (RFC 9000) only, so every connection that completes uses it.
const QUIC_VERSION: &str = "QUIC v1";

impl ConnectionEvents {
    /// Completion times the handshake; confirmation (HANDSHAKE_DONE) settles the verdict on our
    /// client certificate.
    pub(super) fn handshake_status_updated(
        &self,
        stats: &mut ConnectionStats,
        status: &HandshakeStatus,
    ) {
        if let HandshakeStatus::Confirmed { .. } = status {
            stats.verdict.settle(Ok(()));
            qlog_event!(stats, |trace| trace
                .state(ConnectionState::HandshakeConfirmed));
        }
        if !matches!(status, HandshakeStatus::Complete { .. }) {
            return;
        }
        qlog_event!(stats, |trace| trace
            .state(ConnectionState::HandshakeCompleted));
        // A client's watch has read both ends' transport parameters by now.
        if let (End::Client(_), Some(qlog), Some(odcid)) = (&self.end, &self.qlog, &stats.odcid)
            && let Some(entry) = qlog.book().take(&ParameterKey::Odcid(odcid.clone()))
        {
            for (local, bytes) in [(true, entry.local), (false, entry.remote)] {
                if let Some(bytes) = bytes {
                    qlog_event!(stats, |trace| trace.parameters(local, &bytes));
                }
            }
        }
        let took = stats
            .started
            .map(|started| started.elapsed())
            .unwrap_or_default();
        stats.handshake = Some(took);
        stats.handshake_bytes = Some((stats.bytes_sent, stats.bytes_received));
    }

    /// "handshake complete in ... ms": at info on a server, at debug on a client.
    pub(super) fn log_handshake(&self, stats: &mut ConnectionStats, id: u64) {
        let took = stats.handshake.unwrap_or_default();
        let resumed = stats.signature_scheme.is_none();
        stats.resumed = Some(resumed);
        let handshake_ms = ms(took);
        log!(
            self.role(),
            conn = id,
            handshake_ms,
            alpn = stats.alpn.as_deref().unwrap_or("-"),
            server_name = stats.server_name.as_deref().unwrap_or(""),
            cipher_suite = stats.cipher_suite.as_deref().unwrap_or(""),
            key_exchange_group = stats.key_exchange_group.as_deref().unwrap_or(""),
            quic_version = QUIC_VERSION,
            resumed,
            cc = self.cc.name(),
            "connection {}: handshake complete in {:.3} ms ({}): alpn {}, server name {}, {}, {}, {QUIC_VERSION}, cc {}",
            id,
            handshake_ms,
            if resumed { "resumed" } else { "full" },
            stats.alpn.as_deref().unwrap_or("-"),
            stats.server_name.as_deref().unwrap_or("(none)"),
            stats
                .cipher_suite
                .as_deref()
                .unwrap_or("cipher suite unknown"),
            stats
                .key_exchange_group
                .as_deref()
                .unwrap_or("key exchange group unknown"),
            self.cc.name(),
        );
    }
}
