//! The TCP+TLS baseline's session resumption: a client ticket store that holds enough tickets for
//! every connection in flight to resume at once.
//!
//! rustls's own in-memory store keeps 8 TLS 1.3 tickets per server, and a ticket may be used only
//! once, so with 64 handshakes in flight most would be full ones. This store keeps up to
//! `CAPACITY`, still handing out each ticket once; the server sends one with every handshake
//! (as qecho's does after a full one), so that the pool refills as fast as it is used.

use rustls::NamedGroup;
use rustls::client::ClientSessionStore;
use rustls::client::{Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Far more than the handshakes in flight (64 by default).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct TicketPool {
    tickets: Mutex<VecDeque<Tls13ClientSessionValue>>,
    kx_hint: Mutex<Option<NamedGroup>>,
    /// Tickets handed to a handshake so far.
    offered: AtomicU64,
}

impl TicketPool {
    pub fn len(&self) -> usize {
        self.tickets.lock().map_or(0, |tickets| tickets.len())
    }

    pub fn offered(&self) -> u64 {
        self.offered.load(Ordering::Relaxed)
    }
}

impl ClientSessionStore for TicketPool {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        if let Ok(mut hint) = self.kx_hint.lock() {
            *hint = Some(group);
        }
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.kx_hint.lock().ok().and_then(|hint| *hint)
    }

    // The baseline is TLS 1.3 only.
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {}

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {}

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        if let Ok(mut tickets) = self.tickets.lock() {
            if tickets.len() == CAPACITY {
                tickets.pop_front();
            }
            tickets.push_back(value);
        }
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let ticket = self.tickets.lock().ok()?.pop_back();
        if ticket.is_some() {
            self.offered.fetch_add(1, Ordering::Relaxed);
        }
        ticket
    }
}
