//! QUIC events that the application cannot see through its connection handle, turned into log
//! lines. For now: every change of a connection's addresses (a client's NAT rebinding, or a
//! migration), which s2n-quic handles by itself and only reports here.

use s2n_quic::provider::event::{ConnectionInfo, ConnectionMeta, Subscriber, events};
use std::net::SocketAddr;

/// Logs address changes of every connection of the endpoint it is attached to.
#[derive(Debug, Default)]
pub struct PathLogger;

impl Subscriber for PathLogger {
    type ConnectionContext = ();

    fn create_connection_context(&mut self, _: &ConnectionMeta, _: &ConnectionInfo) {}

    fn on_active_path_updated(
        &mut self,
        _: &mut (),
        meta: &ConnectionMeta,
        event: &events::ActivePathUpdated,
    ) {
        let old_local = canonical(SocketAddr::from(&event.previous.local_addr));
        let new_local = canonical(SocketAddr::from(&event.active.local_addr));
        let old_remote = canonical(SocketAddr::from(&event.previous.remote_addr));
        let new_remote = canonical(SocketAddr::from(&event.active.remote_addr));
        tracing::info!(
            conn = meta.id,
            "connection {}: path changed: remote {old_remote} -> {new_remote}, local {old_local} -> {new_local}",
            meta.id
        );
    }
}

/// An IPv4 peer of a dual-stack socket shows up as `::ffff:a.b.c.d`; people expect `a.b.c.d`.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
