//! What QUIC does underneath, from s2n-quic's event stream, as log lines and figures. One
//! subscriber serves both ends. Per connection (by id) it logs:
//! - the handshake: ALPN, server name, cipher suite, QUIC version and how long it took;
//! - every change of the active path (a NAT rebinding or a migration), old and new addresses;
//! - packet loss, PTOs and packets dropped undecoded, at debug;
//! - the close: why, in plain words, with QUIC's own statistics (RTTs, packets, cwnd, bytes);
//! - on a server, handshakes that fail, which the application never sees: with the ALPNs the
//!   client offered when none was ours, and once per client, not once per retransmission.
//!
//! `send --stats` reads the same per-connection figures through `query_event_context`.

use crate::cli::CongestionControl;
use crate::tls::ParameterKey;
use crate::{client_hello, explain};
use s2n_quic::provider::event::{ConnectionInfo, ConnectionMeta, Subscriber, events};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{debug, info};

/// Hands an event to the connection's qlog trace, if it has one. (Defined above the modules, so
/// that `path.rs` has it too.)
macro_rules! qlog_event {
    ($stats:expr, |$trace:ident| $call:expr) => {
        if let Some($trace) = &$stats.trace {
            $call;
        }
    };
}

/// Logs at info on a server and at debug on a client.
macro_rules! log {
    ($role:expr, $($arg:tt)+) => {
        match $role {
            Role::Server => info!($($arg)+),
            Role::Client => debug!($($arg)+),
        }
    };
}

mod handshake;
mod path;
mod qlog;
mod qlog_dir;
mod qlog_model;
mod server;
mod stats;
mod version_negotiation;

pub use qlog_dir::QlogDir;
pub use server::CloseReasons;
use server::ServerEnd;

use stats::ms;
pub use stats::{ConnectionStats, wait_for};
pub use version_negotiation::{VersionNegotiations, version_name};

/// Which end of the connections this endpoint is: the server logs at info, the client at debug
/// (`send` prints its own account on standard output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// The subscriber attached to every qecho endpoint: what only its end keeps, and the congestion
/// controller the endpoint was built with, to name it.
#[derive(Debug)]
pub struct ConnectionEvents {
    end: End,
    cc: CongestionControl,
    /// `--qlog DIR`: a trace per connection.
    qlog: Option<QlogDir>,
}

#[derive(Debug)]
enum End {
    Server(ServerEnd),
    /// Hears of servers that answer with a Version Negotiation packet.
    Client(VersionNegotiations),
}

impl ConnectionEvents {
    /// For `serve`: `reasons` receives why each connection that completed its handshake closed;
    /// `protocols` are the server's ALPNs.
    pub fn server(reasons: CloseReasons, protocols: Vec<String>, cc: CongestionControl) -> Self {
        let end = End::Server(ServerEnd {
            reasons,
            protocols,
            last_failure: None,
        });
        Self {
            end,
            cc,
            qlog: None,
        }
    }

    /// For `send`, which prints its own account; `negotiations` hears of servers that answer
    /// with a Version Negotiation packet.
    pub fn client(negotiations: VersionNegotiations, cc: CongestionControl) -> Self {
        let end = End::Client(negotiations);
        Self {
            end,
            cc,
            qlog: None,
        }
    }

    /// Traces every connection into `qlog` (`--qlog DIR`).
    pub fn with_qlog(mut self, qlog: Option<QlogDir>) -> Self {
        self.qlog = qlog;
        self
    }

    fn role(&self) -> Role {
        match self.end {
            End::Server(_) => Role::Server,
            End::Client(_) => Role::Client,
        }
    }
}

impl Subscriber for ConnectionEvents {
    type ConnectionContext = ConnectionStats;

    fn create_connection_context(
        &mut self,
        meta: &ConnectionMeta,
        _: &ConnectionInfo,
    ) -> ConnectionStats {
        let _ = meta;
        ConnectionStats {
            started: Some(Instant::now()),
            congestion_controller: self.cc.name(),
            ..Default::default()
        }
    }

    fn on_connection_started(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::ConnectionStarted,
    ) {
        let remote = canonical(SocketAddr::from(&event.path.remote_addr));
        stats.remote = Some(remote);
        let Some(qlog) = &self.qlog else { return };
        // The trace is named by the original destination connection ID: a client chose it as
        // the server's first connection ID; a server learns it from its TLS watch.
        let (odcid, local_parameters) = match self.end {
            End::Client(_) => (Some(event.path.remote_cid.bytes.to_vec()), None),
            End::Server(_) => match qlog.book().take(&ParameterKey::Client(remote)) {
                Some(entry) => (entry.odcid, entry.local),
                None => (None, None),
            },
        };
        let Some(odcid) = odcid else { return };
        stats.trace = qlog.open(&odcid, self.role() == Role::Server);
        let local = canonical(SocketAddr::from(&event.path.local_addr));
        qlog_event!(stats, |trace| trace.connection_started(
            local,
            remote,
            &event.path
        ));
        if let Some(local_parameters) = local_parameters {
            qlog_event!(stats, |trace| trace.parameters(true, &local_parameters));
        }
        stats.odcid = Some(odcid);
    }

    fn on_transport_parameters_received(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::TransportParametersReceived,
    ) {
        // A client's come complete from its TLS watch, with the handshake.
        if let End::Server(_) = self.end {
            qlog_event!(stats, |trace| trace
                .remote_parameters(&event.transport_parameters));
        }
    }

    fn on_frame_sent(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::FrameSent,
    ) {
        qlog_event!(stats, |trace| trace.frame_sent(&event.frame));
    }

    fn on_ack_range_sent(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::AckRangeSent,
    ) {
        qlog_event!(stats, |trace| trace.ack_range_sent(&event.ack_range));
    }

    fn on_frame_received(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::FrameReceived,
    ) {
        qlog_event!(stats, |trace| trace.frame_received(&event.frame));
    }

    fn on_ack_range_received(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::AckRangeReceived,
    ) {
        qlog_event!(stats, |trace| trace.ack_range_received(&event.ack_range));
    }

    fn on_pacing_rate_updated(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::PacingRateUpdated,
    ) {
        qlog_event!(stats, |trace| trace.pacing_rate(event.bytes_per_second));
    }

    fn on_slow_start_exited(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        _: &events::SlowStartExited,
    ) {
        qlog_event!(stats, |trace| trace
            .congestion_state("congestion_avoidance".to_string()));
    }

    fn on_application_protocol_information(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::ApplicationProtocolInformation,
    ) {
        stats.alpn = Some(String::from_utf8_lossy(event.chosen_application_protocol).into_owned());
    }

    fn on_server_name_information(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::ServerNameInformation,
    ) {
        stats.server_name = Some(event.chosen_server_name.to_string());
    }

    fn on_tls_client_hello(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::TlsClientHello,
    ) {
        // Only a server has a use for it: to explain a refused handshake.
        if let End::Server(_) = self.end {
            stats.offered_alpns = client_hello::offered_alpns(event.payload);
        }
    }

    fn on_key_exchange_group(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::KeyExchangeGroup,
    ) {
        stats.key_exchange_group = Some(event.chosen_group_name.to_string());
    }

    fn on_key_update(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::KeyUpdate,
    ) {
        stats.cipher_suite = Some(format!("{:?}", event.cipher_suite));
        // Generation 0 is the handshake's own 1-RTT keys; each later one is a key update, by
        // either end (RFC 9001, section 6).
        if let events::KeyType::OneRtt { generation, .. } = event.key_type
            && generation > 0
        {
            stats.key_updates += 1;
            debug!(
                conn = meta.id,
                generation, "connection {}: 1-RTT key update, generation {generation}", meta.id
            );
            qlog_event!(stats, |trace| trace.key_updated(generation));
        }
    }

    fn on_signature_scheme(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::SignatureScheme,
    ) {
        stats.signature_scheme = Some(event.chosen_signature_scheme.to_string());
    }

    fn on_bbr_state_changed(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::BbrStateChanged,
    ) {
        stats.bbr_state_changes += 1;
        debug!(
            conn = meta.id,
            "connection {}: BBR state {:?}", meta.id, event.state
        );
        qlog_event!(stats, |trace| trace
            .congestion_state(format!("{:?}", event.state)));
    }

    fn on_handshake_status_updated(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::HandshakeStatusUpdated,
    ) {
        self.handshake_status_updated(stats, &event.status);
    }

    /// The handshake's log line, here rather than at its completion: s2n-quic-tls completes the
    /// handshake first and then readies the TLS exporter, which is when the signature scheme (or,
    /// in a resumed handshake, its absence) becomes known.
    fn on_tls_exporter_ready(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        _: &events::TlsExporterReady,
    ) {
        self.log_handshake(stats, meta.id);
    }

    fn on_active_path_updated(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::ActivePathUpdated,
    ) {
        stats.active_path_updated(meta.id, event);
    }

    fn on_packet_sent(
        &mut self,
        stats: &mut ConnectionStats,
        _: &ConnectionMeta,
        event: &events::PacketSent,
    ) {
        stats.packets_sent += 1;
        stats.bytes_sent += event.packet_len as u64;
        qlog_event!(stats, |trace| trace
            .packet_sent(&event.packet_header, event.packet_len as u16));
    }

    fn on_packet_received(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::PacketReceived,
    ) {
        stats.packets_received += 1;
        stats.bytes_received += event.packet_len as u64;
        qlog_event!(stats, |trace| trace
            .packet_received(&event.packet_header, event.packet_len as u16));
        // Only as the first packet from the server: once it has answered otherwise, a Version
        // Negotiation packet is to be ignored (RFC 9000, section 6.2).
        if let (
            End::Client(negotiations),
            events::PacketHeader::VersionNegotiation { .. },
            Some(server),
            1,
        ) = (
            &self.end,
            &event.packet_header,
            stats.remote,
            stats.packets_received,
        ) {
            debug!(
                conn = meta.id,
                "connection {}: Version Negotiation from {server}", meta.id
            );
            negotiations.refused_by(server);
        }
    }

    fn on_packet_lost(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::PacketLost,
    ) {
        stats.packet_lost(meta.id, event);
    }

    fn on_packet_dropped(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::PacketDropped,
    ) {
        stats.packet_dropped(meta.id, event);
    }

    fn on_mtu_updated(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::MtuUpdated,
    ) {
        stats.mtu_updated(meta.id, event);
    }

    fn on_ecn_state_changed(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::EcnStateChanged,
    ) {
        stats.ecn_state_changed(meta.id, event);
    }

    fn on_recovery_metrics(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::RecoveryMetrics,
    ) {
        stats.recovery_metrics(meta.id, event);
    }

    fn on_connection_closed(
        &mut self,
        stats: &mut ConnectionStats,
        meta: &ConnectionMeta,
        event: &events::ConnectionClosed,
    ) {
        stats.verdict.settle(Err(event.error));
        let role = self.role();
        let peer = match role {
            Role::Server => "the client",
            Role::Client => "the server",
        };
        let reason = explain::connection_closed(&event.error, peer);
        qlog_event!(stats, |trace| trace
            .closed(reason.clone(), explain::sent_by_peer(&event.error)));
        stats.trace = None;
        let remote = stats
            .remote
            .map_or("?".to_string(), |addr| addr.to_string());
        let mut server = match &mut self.end {
            End::Server(server) => Some(server),
            End::Client(_) => None,
        };
        if let (None, Some(server)) = (stats.handshake, server.as_deref_mut()) {
            server.handshake_failed(stats, meta.id, &event.error, &reason, &remote);
            return;
        }
        if let Some(server) = server {
            server.reasons.put(meta.id, reason.clone());
        }
        log!(
            role,
            conn = meta.id,
            %remote,
            %reason,
            smoothed_rtt_ms = ms(stats.smoothed_rtt),
            min_rtt_ms = ms(stats.min_rtt),
            rtt_variance_ms = ms(stats.rtt_variance),
            packets_sent = stats.packets_sent,
            packets_received = stats.packets_received,
            packets_lost = stats.packets_lost,
            mtu_probes_lost = stats.mtu_probes_lost,
            congestion_window = stats.congestion_window,
            bytes_sent = stats.bytes_sent,
            bytes_received = stats.bytes_received,
            "connection {} with {remote}: {reason}; QUIC: {}",
            meta.id,
            stats.summary()
        );
    }
}

/// An IPv4 peer of a dual-stack socket shows up as `::ffff:a.b.c.d`; people expect `a.b.c.d`.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
