//! QUIC's ways of ending a connection or a stream, put in plain words for logs and error messages.

use s2n_quic::connection::Error as ConnectionError;
use s2n_quic::stream::Error as StreamError;

/// A server's refusal of a new connection (RFC 9000, 5.2.2), e.g. at --max-connections.
pub const CONNECTION_REFUSED: u64 = 0x2;
/// QUIC carries TLS alerts as transport errors 0x100 + alert (RFC 9001, section 4.8).
const TLS_ALERT_BASE: u64 = 0x100;
/// TLS alert 120: the peer shares none of the offered application protocols.
pub const NO_APPLICATION_PROTOCOL: u64 = TLS_ALERT_BASE + 120;
/// TLS alert 109: s2n-tls's answer when the client's ALPN list shares nothing with ours.
pub const MISSING_EXTENSION: u64 = TLS_ALERT_BASE + 109;
/// TLS alert 40: s2n-tls's answer, among others, to a missing or untrusted client certificate.
pub const HANDSHAKE_FAILURE: u64 = TLS_ALERT_BASE + 40;
/// TLS alert 116: a server that requires a client certificate got none.
pub const CERTIFICATE_REQUIRED: u64 = TLS_ALERT_BASE + 116;
/// TLS alerts the verifying side sends when it rejects the other side's certificate.
pub const CERTIFICATE_ALERTS: [u64; 6] = [
    TLS_ALERT_BASE + 42, // bad_certificate
    TLS_ALERT_BASE + 43, // unsupported_certificate
    TLS_ALERT_BASE + 44, // certificate_revoked
    TLS_ALERT_BASE + 45, // certificate_expired
    TLS_ALERT_BASE + 46, // certificate_unknown
    TLS_ALERT_BASE + 48, // unknown_ca
];

/// Why a connection ended, as a sentence fragment: "the client closed it", "idle timeout (...)".
/// `peer` names the other side: "the client" or "the server".
pub fn connection_closed(error: &ConnectionError, peer: &str) -> String {
    let by = |local: bool| if local { "us" } else { peer };
    match *error {
        ConnectionError::Closed { initiator, .. } => {
            format!("closed normally by {}", by(initiator.is_local()))
        }
        ConnectionError::Application {
            error, initiator, ..
        } => {
            let code = u64::from(error);
            if code == 0 {
                format!(
                    "closed by {} (application code 0, no error)",
                    by(initiator.is_local())
                )
            } else {
                format!(
                    "closed by {} with application error code {code}",
                    by(initiator.is_local())
                )
            }
        }
        ConnectionError::Transport {
            code,
            reason,
            initiator,
            ..
        } => {
            let words = transport_error_words(code.as_u64(), code.description());
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            format!(
                "closed by {} with QUIC error {words}{reason}",
                by(initiator.is_local())
            )
        }
        ConnectionError::IdleTimerExpired { .. } => {
            "idle timeout: nothing was heard from the other side for too long".to_string()
        }
        ConnectionError::StatelessReset { .. } => format!(
            "reset by {peer} (stateless reset: it no longer knows the connection, e.g. after a restart)"
        ),
        ConnectionError::MaxHandshakeDurationExceeded {
            max_handshake_duration,
            ..
        } => format!(
            "the handshake did not finish within {}",
            humantime::format_duration(max_handshake_duration)
        ),
        ConnectionError::EndpointClosing { .. } => "our endpoint is shutting down".to_string(),
        ConnectionError::NoValidPath { .. } => "no usable network path is left".to_string(),
        _ => error.to_string(),
    }
}

/// "0x178 (no application protocol)" from a transport error code and s2n-quic's name for it.
pub fn transport_error_words(code: u64, name: Option<&str>) -> String {
    match name {
        Some(name) => format!(
            "{code:#x} ({})",
            name.to_ascii_lowercase().replace('_', " ")
        ),
        None => format!("{code:#x}"),
    }
}

/// Whether `error` is a transport error that we sent (`true`) rather than our peer.
pub fn sent_by_us(error: &ConnectionError) -> bool {
    matches!(*error, ConnectionError::Transport { initiator, .. } if initiator.is_local())
}

/// Whether `error` is a transport error that our peer sent.
pub fn sent_by_peer(error: &ConnectionError) -> bool {
    matches!(*error, ConnectionError::Transport { initiator, .. } if initiator.is_remote())
}

/// The transport error code of a connection error, if it was one.
pub fn transport_code(error: &ConnectionError) -> Option<u64> {
    match *error {
        ConnectionError::Transport { code, .. } => Some(code.as_u64()),
        _ => None,
    }
}

/// Why a stream failed, in plain words; `peer` as for [`connection_closed`].
pub fn stream_failed(error: &StreamError, peer: &str) -> String {
    match *error {
        StreamError::StreamReset { error, .. } => {
            format!(
                "{peer} reset the stream (application error code {})",
                u64::from(error)
            )
        }
        StreamError::ConnectionError { error, .. } => {
            format!("the connection ended: {}", connection_closed(&error, peer))
        }
        _ => error.to_string(),
    }
}
