//! Why a handshake failed, as a sentence that says what to do about it: no answer, nothing
//! listening, another QUIC version, a refusal, a certificate that does not verify or is not the
//! pinned one, a client certificate the server wants or refuses. `send` and `probe` alike.

use super::Target;
use crate::events;
use crate::explain;
use crate::tls::{ClientTls, Trust};
use color_eyre::eyre::eyre;
use s2n_quic::connection::Error as ConnectionError;
use std::net::SocketAddr;
use std::time::Duration;

/// The server closed the connection right after a handshake in which it asked for a client
/// certificate.
pub fn client_cert_refused(
    err: &ConnectionError,
    addr: SocketAddr,
    tls: &ClientTls,
) -> color_eyre::Report {
    let how = explain::connection_closed(err, "the server");
    let refused_by_tls =
        explain::sent_by_peer(err) && explain::transport_code(err).is_some_and(refuses_client_cert);
    match &tls.client_cert {
        _ if !refused_by_tls => {
            eyre!("the connection with {addr} failed right after the handshake: {how}")
        }
        None => eyre!(
            "the server at {addr} requires a client certificate and closed the connection \
             ({how}): pass one it trusts with --cert FILE --key FILE, such as `qecho gencert \
             --sign-with CA_DIR --client --name NAME` makes with the CA the server trusts for \
             clients (qecho serve --client-ca)"
        ),
        Some(client_cert) => eyre!(
            "the server at {addr} rejected the client certificate --cert {} ({how}): it accepts \
             only certificates for client authentication signed by a CA it trusts for clients \
             (qecho serve --client-ca); pass such a certificate with --cert FILE --key FILE, \
             e.g. made with `qecho gencert --sign-with CA_DIR --client --name NAME`",
            client_cert.cert_path.display()
        ),
    }
}

pub fn port_unreachable(addr: SocketAddr) -> color_eyre::Report {
    eyre!(
        "nothing listens on UDP port {} at {}: the host answered with ICMP port unreachable. Is \
         the server running, and on this port? (qecho serve listens on {} unless told otherwise)",
        addr.port(),
        addr.ip(),
        crate::cli::DEFAULT_ADDR
    )
}

pub fn not_version_1(addr: SocketAddr, versions: &[u32]) -> color_eyre::Report {
    let listed: Vec<String> = versions.iter().map(|&v| events::version_name(v)).collect();
    eyre!(
        "the server at {addr} does not speak QUIC version 1: it answered with a Version \
         Negotiation packet, which lists the versions it does speak (RFC 9000, section 6): {}. \
         qecho speaks QUIC v1 (RFC 9000) only; the server needs version 1 enabled",
        if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        }
    )
}

fn offered(tls: &ClientTls) -> String {
    tls.protocols.join(", ")
}

pub fn no_answer(addr: SocketAddr, timeout: Duration, tls: &ClientTls) -> color_eyre::Report {
    eyre!(
        "no QUIC answer from {addr} within {}: is the server running, is UDP blocked on the way? \
         Or the server speaks none of the offered application protocols ({}): some servers, \
         qecho's own among them, drop such a handshake without a reply; pass the protocol the \
         server expects with --alpn. Or the round trip is longer than {0} (a satellite path's \
         is about 0.6 s): raise --connect-timeout",
        humantime::format_duration(timeout),
        offered(tls)
    )
}

pub fn handshake_failed(
    err: &ConnectionError,
    addr: SocketAddr,
    target: &Target,
    tls: &ClientTls,
) -> color_eyre::Report {
    let name = &target.server_name;
    match explain::transport_code(err) {
        Some(explain::CONNECTION_REFUSED) => eyre!(
            "the server at {addr} refused the connection (CONNECTION_REFUSED): it is at its \
             connection limit or not accepting connections now; try again later, or ask its \
             operator to raise the limit (qecho serve --max-connections)"
        ),
        Some(explain::NO_APPLICATION_PROTOCOL) => eyre!(
            "the server at {addr} refused the connection: it speaks none of the offered application \
             protocols ({}); pass the one it expects with --alpn",
            offered(tls)
        ),
        Some(code) if explain::CERTIFICATE_ALERTS.contains(&code) && explain::sent_by_us(err) => {
            let how = explain::connection_closed(err, "the server");
            let presented = tls.server_seen().certificate;
            if let Trust::Pin { fingerprint, ca } = &tls.trust {
                return match (presented, ca) {
                    (Some(presented), _) if presented != *fingerprint => eyre!(
                        "the server at {addr} presented the certificate {presented}, not the one \
                         pinned with --pin {fingerprint}: if its certificate was replaced on \
                         purpose, pin the new one; otherwise something else is answering in its \
                         place"
                    ),
                    (Some(_), Some(ca)) => eyre!(
                        "the server at {addr} presented the pinned certificate, but it could not \
                         be verified for the name '{name}' against --ca {} ({how}); leave out \
                         --ca to trust the pinned certificate alone, or check --server-name",
                        ca.path.display()
                    ),
                    (Some(_), None) => eyre!(
                        "the server at {addr} presented the pinned certificate, but the \
                         handshake failed: {how}"
                    ),
                    (None, _) => eyre!(
                        "the server at {addr} presented no certificate that could be checked \
                         against --pin {fingerprint} ({how})"
                    ),
                };
            }
            // Say which certificate it was, so that the user can compare it, or pin it.
            let presented = presented
                .map(|fingerprint| {
                    format!(
                        " The server presented {fingerprint}; --pin {fingerprint} would trust \
                         exactly that certificate."
                    )
                })
                .unwrap_or_default();
            eyre!(
                "the certificate of the server at {addr} could not be verified for the name \
                 '{name}' against {} ({}).{presented} If you trust this server, pass its \
                 certificate or the CA that signed it with --ca FILE, check --server-name, or \
                 skip verification with --insecure",
                tls.trust.describe(),
                how
            )
        }
        Some(code)
            if refuses_client_cert(code)
                && explain::sent_by_peer(err)
                && tls.server_seen().asked_for_client_certificate =>
        {
            client_cert_refused(err, addr, tls)
        }
        // Servers may send this generic code for any TLS alert (RFC 9001 section 4.8), and
        // s2n-quic's send it for all of them: `qecho serve --tls-thread` for no common ALPN too.
        Some(explain::HANDSHAKE_FAILURE) if explain::sent_by_peer(err) => eyre!(
            "the server at {addr} ended the handshake ({}) without saying why: servers may send \
             this one code for any TLS failure. Most often it speaks none of the offered \
             application protocols ({}): pass the one it expects with --alpn (qecho serve logs \
             what a client offered). Else it accepts none of the TLS 1.3 cipher suites, key \
             exchange groups or signature algorithms qecho offers. One known case: qecho's TLS \
             library (s2n-tls) cannot verify Ed25519 signatures, so a server with an Ed25519 \
             certificate ends the handshake this way; give such a server an ECDSA or RSA \
             certificate (qecho gencert makes ECDSA P-256)",
            explain::connection_closed(err, "the server"),
            offered(tls)
        ),
        _ => eyre!(
            "the handshake with {addr} failed: {}",
            explain::connection_closed(err, "the server")
        ),
    }
}

/// TLS alerts as QUIC errors with which a server refuses a client certificate: s2n-tls sends
/// handshake_failure (40) for a missing or untrusted one; others send certificate_required (116)
/// or one of the certificate alerts.
fn refuses_client_cert(code: u64) -> bool {
    code == explain::HANDSHAKE_FAILURE
        || code == explain::CERTIFICATE_REQUIRED
        || explain::CERTIFICATE_ALERTS.contains(&code)
}
