//! What a connection's path does, from s2n-quic's events: changes of address (logged at info on
//! either end: that is news), packets lost and dropped, the path MTU, ECN and the recovery
//! figures (at debug). Each is kept in the connection's `ConnectionStats` and traced to qlog;
//! the subscriber in `mod.rs` hands the events here.

use super::{ConnectionStats, canonical};
use s2n_quic::provider::event::events;
use s2n_quic_core::recovery::DEFAULT_INITIAL_RTT;
use std::net::SocketAddr;
use std::time::Duration;
use tracing::{debug, info};

impl ConnectionStats {
    pub(super) fn active_path_updated(&mut self, id: u64, event: &events::ActivePathUpdated) {
        let old_local = canonical(SocketAddr::from(&event.previous.local_addr));
        let new_local = canonical(SocketAddr::from(&event.active.local_addr));
        let old_remote = canonical(SocketAddr::from(&event.previous.remote_addr));
        let new_remote = canonical(SocketAddr::from(&event.active.remote_addr));
        self.remote = Some(new_remote);
        self.path_changes += 1;
        qlog_event!(self, |trace| trace.message(format!(
            "path changed: remote {old_remote} -> {new_remote}, local {old_local} -> {new_local}"
        )));
        // A change of address is news on either end.
        info!(
            conn = id, %old_remote, %new_remote, %old_local, %new_local,
            "connection {}: path changed: remote {old_remote} -> {new_remote}, local {old_local} -> {new_local}",
            id
        );
    }

    pub(super) fn packet_lost(&mut self, id: u64, event: &events::PacketLost) {
        if event.is_mtu_probe {
            self.mtu_probes_lost += 1;
        } else {
            self.packets_lost += 1;
        }
        qlog_event!(self, |trace| trace.packet_lost(&event.packet_header));
        debug!(
            conn = id,
            "connection {}: packet lost ({} bytes{})",
            id,
            event.bytes_lost,
            if event.is_mtu_probe {
                ", an MTU probe"
            } else {
                ""
            }
        );
    }

    pub(super) fn packet_dropped(&mut self, id: u64, event: &events::PacketDropped) {
        qlog_event!(self, |trace| trace.packet_dropped(&event.reason));
        debug!(
            conn = id,
            "connection {}: packet dropped: {:?}", id, event.reason
        );
    }

    pub(super) fn mtu_updated(&mut self, id: u64, event: &events::MtuUpdated) {
        self.path_mtu = event.mtu;
        self.mtu_search_complete |= event.search_complete;
        qlog_event!(self, |trace| trace
            .mtu_updated(event.mtu, event.search_complete));
        debug!(
            conn = id,
            "connection {}: path MTU {} bytes{}",
            id,
            event.mtu,
            if event.search_complete {
                " (search complete)"
            } else {
                ""
            }
        );
    }

    pub(super) fn ecn_state_changed(&mut self, id: u64, event: &events::EcnStateChanged) {
        let state = match event.state {
            events::EcnState::Testing { .. } => "testing",
            events::EcnState::Unknown { .. } => "unknown",
            events::EcnState::Failed { .. } => "failed",
            events::EcnState::Capable { .. } => "capable",
            _ => "unknown",
        };
        self.ecn = Some(state);
        debug!(conn = id, "connection {}: ECN {state}", id);
    }

    pub(super) fn recovery_metrics(&mut self, id: u64, event: &events::RecoveryMetrics) {
        if event.pto_count > self.pto_count {
            debug!(
                conn = id,
                "connection {}: probe timeout (PTO #{})", id, event.pto_count
            );
        }
        self.pto_count = event.pto_count;
        // A path with no RTT sample yet reports s2n-quic's starting estimate (333 ms, RFC 9002's
        // kInitialRtt): after a migration the new path does, and it is no measurement. The
        // figures then stay those of the last path measured, and the summary says so.
        let sampled = event.min_rtt != DEFAULT_INITIAL_RTT;
        self.current_path_sampled = sampled;
        if sampled {
            self.smoothed_rtt = event.smoothed_rtt;
            self.rtt_variance = event.rtt_variance;
            // The whole connection's minimum, over every path.
            self.min_rtt = match self.min_rtt {
                Duration::ZERO => event.min_rtt,
                min => min.min(event.min_rtt),
            };
        }
        self.congestion_window = event.congestion_window;
        qlog_event!(self, |trace| trace.metrics(event));
    }
}
