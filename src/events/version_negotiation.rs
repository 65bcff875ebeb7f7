//! Version Negotiation packets, which s2n-quic's client reads and then ignores.
//!
//! RFC 9000 (section 6.2) asks a client that speaks one version to give up when a server answers
//! with a Version Negotiation packet, unless that packet lists the version the client tried or
//! comes after any other packet. s2n-quic does neither (it waits for its timeout), and its event
//! carries no list of versions. So a client endpoint has two parts:
//! - [`VersionFilter`], s2n-quic's packet interceptor, reads each such packet's list off the wire:
//!   one that lists version 1 is discarded, as the RFC says. A server sends one when a path
//!   corrupts the version field of an Initial: through `qecho relay --corrupt 30%`, 79 of 200
//!   connections failed before (every one after the first such packet).
//! - [`VersionNegotiations`] hears from the event subscriber which servers answered a connection
//!   first with one, so that `send` and `probe` give up at once and name the versions listed.

use s2n_quic::provider::packet_interceptor::PacketInterceptor;
use s2n_quic_core::event::api::Subject;
use s2n_quic_core::packet::interceptor::{Datagram, DecoderBufferMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

use super::{canonical, wait_for};

/// QUIC version 1 (RFC 9000), the only one s2n-quic speaks.
const VERSION_1: u32 = 1;

/// What a client endpoint has heard of servers that answered with Version Negotiation packets.
#[derive(Debug, Clone, Default)]
pub struct VersionNegotiations(Arc<(Mutex<Heard>, Notify)>);

#[derive(Debug, Default)]
struct Heard {
    /// The versions each server listed in its last Version Negotiation packet without version 1.
    listed: HashMap<SocketAddr, Vec<u32>>,
    /// Servers that answered a connection first with one: they speak no version we do.
    refused: HashMap<SocketAddr, Vec<u32>>,
}

impl VersionNegotiations {
    fn listed(&self, server: SocketAddr, versions: Vec<u32>) {
        if let Ok(mut heard) = self.0.0.lock() {
            heard.listed.insert(canonical(server), versions);
        }
    }

    /// The event subscriber saw a connection's first packet be a Version Negotiation packet from
    /// `server` (one that the filter let through: it does not list version 1).
    pub(super) fn refused_by(&self, server: SocketAddr) {
        let server = canonical(server);
        if let Ok(mut heard) = self.0.0.lock() {
            let versions = heard.listed.get(&server).cloned().unwrap_or_default();
            heard.refused.insert(server, versions);
        }
        self.0.1.notify_waiters();
    }

    /// Completes once `server` has refused a connection with a Version Negotiation packet, with
    /// the versions it listed; never otherwise.
    pub async fn from(&self, server: SocketAddr) -> Vec<u32> {
        let server = canonical(server);
        let (heard, recorded) = &*self.0;
        wait_for(recorded, || {
            heard
                .lock()
                .ok()
                .and_then(|heard| heard.refused.get(&server).cloned())
        })
        .await
    }

    /// The packet interceptor for a client endpoint that reports to these.
    pub fn filter(&self) -> VersionFilter {
        VersionFilter(self.clone())
    }
}

/// s2n-quic's packet interceptor for a client: discards Version Negotiation packets that list
/// version 1 and notes the versions of the others.
pub struct VersionFilter(VersionNegotiations);

impl PacketInterceptor for VersionFilter {
    fn intercept_rx_datagram<'a>(
        &mut self,
        _subject: &Subject,
        datagram: &Datagram,
        payload: DecoderBufferMut<'a>,
    ) -> DecoderBufferMut<'a> {
        let Some(versions) = listed_versions(payload.as_less_safe_slice()) else {
            return payload;
        };
        if versions.contains(&VERSION_1) {
            // What s2n-quic then reads is nothing at all: the datagram is dropped undecoded.
            let len = payload.len();
            return match payload.decode_slice(len) {
                Ok((_, nothing)) => nothing,
                Err(_) => DecoderBufferMut::new(&mut []),
            };
        }
        self.0
            .listed(SocketAddr::from(&datagram.remote_address), versions);
        payload
    }
}

/// The versions a Version Negotiation packet lists, if `datagram` starts with one (RFC 9000,
/// section 17.2.1: a long header with version 0, two connection IDs, then 32-bit versions).
fn listed_versions(datagram: &[u8]) -> Option<Vec<u32>> {
    let (&first, rest) = datagram.split_first()?;
    let (version, rest) = rest.split_first_chunk::<4>()?;
    if first & 0x80 == 0 || u32::from_be_bytes(*version) != 0 {
        return None;
    }
    let rest = skip_connection_id(rest)?;
    let rest = skip_connection_id(rest)?;
    let versions = rest.chunks_exact(4);
    if !versions.remainder().is_empty() {
        return None;
    }
    Some(
        versions
            .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            .collect(),
    )
}

/// Skips a one-byte length and that many bytes of connection ID.
fn skip_connection_id(bytes: &[u8]) -> Option<&[u8]> {
    let (&len, rest) = bytes.split_first()?;
    rest.get(usize::from(len)..)
}

/// How an error names a version a server listed.
pub fn version_name(version: u32) -> String {
    match version {
        VERSION_1 => "QUIC v1".to_string(),
        0x6b33_43cf => "QUIC v2 (0x6b3343cf)".to_string(),
        0xff00_0000..=0xff00_00ff => format!("draft-{} (0x{version:08x})", version & 0xff),
        // RFC 9000, section 15: versions of the form 0x?a?a?a?a only exercise negotiation.
        _ if version & 0x0f0f_0f0f == 0x0a0a_0a0a => format!("0x{version:08x} (reserved)"),
        _ => format!("0x{version:08x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Version Negotiation packet with an 8-byte and a 0-byte connection ID.
    fn negotiation(versions: &[u32]) -> Vec<u8> {
        let mut packet = vec![0xc0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        for version in versions {
            packet.extend_from_slice(&version.to_be_bytes());
        }
        packet
    }

    #[test]
    fn reads_the_versions_of_a_version_negotiation_packet() {
        let versions = [0x6b33_43cf, 0x1a2a_3a4a, VERSION_1];
        assert_eq!(
            listed_versions(&negotiation(&versions)),
            Some(versions.to_vec())
        );
    }

    #[test]
    fn other_packets_list_nothing() {
        let mut initial = negotiation(&[VERSION_1]);
        initial[4] = 1; // version 1: a long-header packet of QUIC v1
        assert_eq!(listed_versions(&initial), None);
        let mut short = negotiation(&[VERSION_1]);
        short[0] = 0x40; // a short header
        assert_eq!(listed_versions(&short), None);
        assert_eq!(listed_versions(&negotiation(&[VERSION_1])[..16]), None);
        assert_eq!(listed_versions(&[0xc0, 0, 0]), None);
    }

    #[test]
    fn names_versions() {
        assert_eq!(version_name(0x6b33_43cf), "QUIC v2 (0x6b3343cf)");
        assert_eq!(version_name(0xff00_001d), "draft-29 (0xff00001d)");
        assert_eq!(version_name(0x1a2a_3a4a), "0x1a2a3a4a (reserved)");
        assert_eq!(version_name(0x5155_4943), "0x51554943");
    }
}
