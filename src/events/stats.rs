//! Everything the event subscriber learns about one connection, kept in its connection context
//! for whoever asks (`send --stats`, `serve`'s close line, `probe`): QUIC's figures and the facts
//! of the handshake, and the verdict on it that `send` waits for.

use s2n_quic::connection::Error as ConnectionError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Everything learned about one connection; `Clone` so that `send --stats` can take a copy.
#[derive(Debug, Clone, Default)]
pub struct ConnectionStats {
    pub(super) started: Option<Instant>,
    pub remote: Option<SocketAddr>,
    pub alpn: Option<String>,
    pub server_name: Option<String>,
    pub cipher_suite: Option<String>,
    pub key_exchange_group: Option<String>,
    /// On a server, the ALPNs the client's hello offered (`None` if unread or malformed).
    pub offered_alpns: Option<Vec<String>>,
    pub handshake: Option<Duration>,
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Lost packets that carried data or acknowledgements: the path's loss.
    pub packets_lost: u64,
    /// Lost path MTU probes, kept apart: a probe larger than the path carries is expected to be
    /// lost (that is how the largest packet size is found), and is no sign of loss on the path.
    pub mtu_probes_lost: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub smoothed_rtt: Duration,
    pub min_rtt: Duration,
    pub rtt_variance: Duration,
    pub congestion_window: u32,
    pub pto_count: u32,
    /// The largest QUIC datagram path MTU discovery has found the path to carry (UDP payload,
    /// without the IP and UDP headers); 0 before the first update.
    pub path_mtu: u16,
    /// The congestion controller this end runs, and how often BBR changed state (an event only
    /// BBR has: the sign that it is at work).
    pub congestion_controller: &'static str,
    pub bbr_state_changes: u32,
    /// The signature the handshake's CertificateVerify carried; none in a resumed handshake,
    /// which proves who the server is with the ticket's key instead of its certificate.
    pub signature_scheme: Option<String>,
    /// Known once the handshake is complete.
    pub resumed: Option<bool>,
    /// Bytes (sent, received) in QUIC packets when the handshake completed: the handshake's
    /// cost, and a server's amplification factor.
    pub handshake_bytes: Option<(u64, u64)>,
    /// Path MTU discovery has found the largest size it will (up to the endpoint's maximum).
    pub mtu_search_complete: bool,
    /// The ECN state of the active path (RFC 9000, section 13.4): "testing", "unknown",
    /// "failed" or "capable".
    pub ecn: Option<&'static str>,
    /// 1-RTT key updates, by either end.
    pub key_updates: u32,
    /// Changes of the active path (NAT rebinding, migration), and whether the current one has an
    /// RTT sample yet: the RTT figures are the current path's once it has one.
    pub path_changes: u32,
    pub current_path_sampled: bool,
    /// The original destination connection ID, with `--qlog`.
    pub odcid: Option<Vec<u8>>,
    /// `--qlog`: the connection's trace.
    pub(super) trace: Option<super::qlog::Trace>,
    /// Settles when the handshake is confirmed or the connection closes first.
    pub verdict: Arc<HandshakeVerdict>,
}

/// Whether the peer accepted the handshake: confirmed (a client receives HANDSHAKE_DONE only once
/// the server has accepted it, client certificate included), or closed before that. Set once by
/// the subscriber; awaited by whoever needs to know.
#[derive(Debug, Default)]
pub struct HandshakeVerdict {
    outcome: Mutex<Option<Result<(), ConnectionError>>>,
    settled: tokio::sync::Notify,
}

impl HandshakeVerdict {
    pub(super) fn settle(&self, outcome: Result<(), ConnectionError>) {
        if let Ok(mut slot) = self.outcome.lock() {
            slot.get_or_insert(outcome);
        }
        self.settled.notify_waiters();
    }

    /// Whether the handshake has been confirmed: for a client, HANDSHAKE_DONE has arrived.
    pub fn confirmed(&self) -> bool {
        self.outcome
            .lock()
            .is_ok_and(|slot| matches!(*slot, Some(Ok(()))))
    }

    /// Waits for the verdict: `Ok` once confirmed, or the error that closed the connection.
    pub async fn wait(&self) -> Result<(), ConnectionError> {
        wait_for(&self.settled, || {
            self.outcome.lock().ok().and_then(|slot| *slot)
        })
        .await
    }
}

/// Waits until `check` finds something, checking again each time `changed` is notified (with
/// `notify_waiters`, which wakes only those already waiting: so the waiter is registered before
/// each check, and a change in between is not missed).
pub async fn wait_for<T>(changed: &Notify, check: impl Fn() -> Option<T>) -> T {
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(found) = check() {
            return found;
        }
        notified.await;
    }
}

/// The ACK delay a peer may add before it answers (RFC 9000's default max_ack_delay, which
/// s2n-quic, quinn and quic-go advertise).
const PEER_MAX_ACK_DELAY: Duration = Duration::from_millis(25);

impl ConnectionStats {
    /// The probe timeout of RFC 9002 (section 6.2.1) from this end's RTT figures: how long a
    /// peer may take to answer before one would send again.
    pub fn probe_timeout(&self) -> Duration {
        self.smoothed_rtt + 4 * self.rtt_variance + PEER_MAX_ACK_DELAY
    }

    /// "srtt 0.312 ms, min rtt 0.101 ms, rttvar 0.080 ms, packets sent 40 / received 38 / lost 0,
    /// cwnd 12000 bytes, bytes sent 4800 / received 4600, path MTU 1452 bytes", with "MTU probes
    /// lost N" after the loss when there were some.
    pub fn summary(&self) -> String {
        format!(
            "{}, packets sent {} / received {} / lost {}{}, \
             cwnd {} bytes, bytes sent {} / received {}, path MTU {} bytes, {}{}",
            self.rtt_summary(),
            self.packets_sent,
            self.packets_received,
            self.packets_lost,
            match self.mtu_probes_lost {
                0 => String::new(),
                n => format!(", MTU probes lost {n}"),
            },
            self.congestion_window,
            self.bytes_sent,
            self.bytes_received,
            self.path_mtu,
            match (self.congestion_controller, self.bbr_state_changes) {
                ("bbr", changes) => format!("cc bbr ({changes} state changes)"),
                (cc, _) => format!("cc {cc}"),
            },
            match self.key_updates {
                0 => String::new(),
                n => format!(", key updates {n}"),
            }
        )
    }

    /// "srtt 0.312 ms, min rtt 0.101 ms, rttvar 0.080 ms", saying which path they are of once
    /// the path has changed, and never a starting estimate as a measurement.
    fn rtt_summary(&self) -> String {
        let figures = format!(
            "srtt {:.3} ms, min rtt {:.3} ms, rttvar {:.3} ms",
            ms(self.smoothed_rtt),
            ms(self.min_rtt),
            ms(self.rtt_variance)
        );
        match (self.path_changes, self.current_path_sampled) {
            (0, _) => figures,
            (changes, true) => format!(
                "{figures} (srtt and rttvar of the current path, after {changes} path change(s); \
                 min rtt over all paths)"
            ),
            (changes, false) => format!(
                "{figures} (of the previous path: the current one, after {changes} path \
                 change(s), has no RTT sample yet)"
            ),
        }
    }
}

pub(super) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
