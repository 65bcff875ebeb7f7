//! What only a server's subscriber keeps: why each connection closed, for `serve` to pick up, and
//! the handshakes that failed, which `serve` never sees, logged once per client and failure.

use super::ConnectionStats;
use crate::explain;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// What a server's subscriber keeps.
#[derive(Debug)]
pub struct ServerEnd {
    /// Receives why each connection that completed its handshake closed.
    pub(super) reasons: CloseReasons,
    /// The server's application protocols, to compare with what a refused client offered.
    pub(super) protocols: Vec<String>,
    /// The last failed handshake logged, and when: its repeats go to debug.
    pub(super) last_failure: Option<(String, Instant)>,
}

/// How long a failed handshake's repeats (the same client, the same failure) stay at debug.
const REPEATS_QUIET_FOR: Duration = Duration::from_secs(10);

impl ServerEnd {
    /// Why a client's handshake ended in "missing extension" or "no application protocol", when
    /// its hello says: what it offered against what we speak.
    fn alpn_hint(&self, offered: Option<&[String]>) -> String {
        match offered {
            // s2n-tls also ends a handshake with no common ALPN this way and, unlike RFC 9001
            // asks, without telling the client.
            None => {
                " (most likely the client offered none of our application protocols: see --alpn)"
                    .to_string()
            }
            Some([]) => " (the client offered no application protocol (ALPN), which QUIC requires)"
                .to_string(),
            Some(offered) if !offered.iter().any(|alpn| self.protocols.contains(alpn)) => format!(
                " (the client offers ALPN {}; this server speaks {}: add the client's with --alpn)",
                offered.join(", "),
                self.protocols.join(", ")
            ),
            Some(_) => String::new(),
        }
    }

    /// A handshake that failed: the application never saw this connection, so say so here, or
    /// nobody will; once per client and failure, the repeats at debug.
    pub(super) fn handshake_failed(
        &mut self,
        stats: &ConnectionStats,
        id: u64,
        error: &s2n_quic::connection::Error,
        reason: &str,
        remote: &str,
    ) {
        // A client certificate we refused has been explained by the TLS layer already
        // (tls/watch.rs, with --client-ca): once is enough.
        let code = explain::transport_code(error);
        let refused_client_certificate = code.is_some_and(|code| {
            code == explain::CERTIFICATE_REQUIRED || explain::CERTIFICATE_ALERTS.contains(&code)
        }) && explain::sent_by_us(error);
        if refused_client_certificate {
            return;
        }
        let hint = match code {
            Some(explain::MISSING_EXTENSION | explain::NO_APPLICATION_PROTOCOL) => {
                self.alpn_hint(stats.offered_alpns.as_deref())
            }
            _ => String::new(),
        };
        let failure = format!("handshake with {remote} failed: {reason}{hint}");
        // A client that hears nothing back (s2n-quic does not answer a refused handshake)
        // retransmits, and each retransmission is a new connection here: say it once.
        let repeated = self
            .last_failure
            .as_ref()
            .is_some_and(|(last, at)| *last == failure && at.elapsed() < REPEATS_QUIET_FOR);
        if repeated {
            debug!(conn = id, "connection {id}: {failure} (again)");
        } else {
            info!(conn = id, "connection {id}: {failure}");
        }
        self.last_failure = Some((failure, Instant::now()));
    }
}

/// Why connections closed, by id, for the application to pick up. The application's own view is
/// poorer: s2n-quic ends an idle-timed-out connection's stream acceptor as if it had closed
/// normally. Entries are taken once, so the map holds at most the connections still open.
#[derive(Debug, Clone, Default)]
pub struct CloseReasons(Arc<Mutex<HashMap<u64, String>>>);

impl CloseReasons {
    /// The reason connection `id` closed, if the event has been seen; removes it.
    pub fn take(&self, id: u64) -> Option<String> {
        self.0.lock().ok()?.remove(&id)
    }

    pub(super) fn put(&self, id: u64, reason: String) {
        if let Ok(mut reasons) = self.0.lock() {
            reasons.insert(id, reason);
        }
    }
}
