//! Probing one target: resolve it, shake hands with `send`'s connection setup (and its words for
//! every failure), read what the handshake showed, let path MTU discovery finish, and try a
//! second, resumed handshake with the ticket the server sent.

use super::certs;
use super::params::TransportParameters;
use super::report::Report;
use super::target::Target;
use crate::endpoint::Mtu;
use crate::events::ConnectionStats;
use crate::send::Session;
use crate::send::connect::{self, Family};
use crate::tls::{ClientTickets, ClientTls, Trust};
use color_eyre::eyre::Result;
use std::time::{Duration, Instant};

/// What every target is probed with.
pub struct Settings {
    pub tls: ClientTls,
    pub family: Family,
    pub timeout: Duration,
    pub max_mtu: u16,
}

/// How long path MTU discovery may take after the handshake: it needs a round trip per probe,
/// and a lost probe (a size the path does not carry) waits out a PTO. On loopback the search
/// to 1500 bytes completed within 10 ms.
const MTU_SEARCH: Duration = Duration::from_millis(1500);

/// How long to wait for a session ticket after the handshake: they came 1.0-1.7 ms after it on
/// loopback; a long path adds its round trip.
const TICKET_WAIT: Duration = Duration::from_secs(1);

pub async fn probe(target: &Target, settings: &Settings) -> Report {
    let mut report = Report::new(target);
    let deadline = Instant::now() + settings.timeout;
    // The handshake has --timeout of its own, and its error says more than ours: a margin lets
    // it come first.
    let limit = settings.timeout + Duration::from_millis(500);
    let outcome = tokio::time::timeout(limit, run(target, settings, deadline, &mut report)).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(err)) => report.fail(format!("{err:#}")),
        Err(_) if report.address.is_some() => {} // the handshake is in; the extras ran out of time
        Err(_) => report.fail(format!(
            "no answer within --timeout {}",
            humantime::format_duration(settings.timeout)
        )),
    }
    report
}

async fn run(
    target: &Target,
    settings: &Settings,
    deadline: Instant,
    report: &mut Report,
) -> Result<()> {
    let mut resolved =
        connect::Target::resolve(&target.host_port(), None, settings.family, None).await?;
    resolved.mtu = Mtu::AtMost(settings.max_mtu);
    let tickets = ClientTickets::default();
    let tls = settings.tls.independent(false, Some(tickets.clone()));
    let (mut session, tls) = match connect::connect(&resolved, &tls, settings.timeout).await {
        Ok(session) => {
            report.certificate_verified = (!matches!(tls.trust, Trust::Insecure)).then_some(true);
            (session, tls)
        }
        // A certificate we refused: describe the server anyway, from a handshake that does not
        // verify, and say why it was refused.
        Err(err) if certificate_refused(&tls) => {
            let unverified = settings.tls.independent(true, Some(tickets.clone()));
            match connect::connect(&resolved, &unverified, settings.timeout).await {
                Ok(session) => {
                    report.fail(format!("{err:#}"));
                    report.certificate_verified = Some(false);
                    (session, unverified)
                }
                Err(_) => {
                    describe_certificates(&tls, report);
                    return Err(err);
                }
            }
        }
        Err(err) => {
            describe_certificates(&tls, report);
            return Err(err);
        }
    };
    describe_handshake(&session, &tls, report);
    settle_path(&mut session, deadline).await;
    describe_path(&session, report);
    try_resumption(session, &resolved, &tls, &tickets, deadline, report).await;
    Ok(())
}

/// The server presented a certificate and the handshake failed while we verify: most likely
/// over the certificate (a handshake that does not verify tells for sure).
fn certificate_refused(tls: &ClientTls) -> bool {
    !matches!(tls.trust, Trust::Insecure) && !tls.server_seen().chain.is_empty()
}

fn describe_certificates(tls: &ClientTls, report: &mut Report) {
    report.chain = certs::describe(&tls.server_seen().chain);
}

fn stats(session: &Session) -> ConnectionStats {
    session
        .connection
        .query_event_context(|stats: &ConnectionStats| stats.clone())
        .unwrap_or_default()
}

fn describe_handshake(session: &Session, tls: &ClientTls, report: &mut Report) {
    let stats = stats(session);
    let seen = tls.server_seen();
    report.address = Some(session.remote);
    report.local = Some(session.local);
    report.alpn = Some(session.alpn.clone());
    report.handshake = Some(session.handshake);
    report.cipher_suite = stats.cipher_suite.clone();
    report.key_exchange_group = stats.key_exchange_group.clone();
    report.signature_scheme = stats.signature_scheme.clone();
    report.handshake_bytes = stats.handshake_bytes;
    describe_certificates(tls, report);
    report.client_certificate_requested = seen.asked_for_client_certificate;
    report.transport_parameters = seen
        .transport_parameters
        .as_deref()
        .and_then(TransportParameters::decode);
    report.retry = report.transport_parameters.as_ref().map(|tp| tp.retry);
}

/// Waits, within the deadline, for path MTU discovery to settle and ECN to be validated or
/// not. ECN validation needs acknowledged packets marked ECT (RFC 9000, section 13.4.2), more
/// than a handshake sends: so the probe sends a PING every 10 ms meanwhile, which any QUIC server
/// acknowledges and nothing else (on loopback ECN was found capable within the first 30).
async fn settle_path(session: &mut Session, deadline: Instant) {
    let until = (Instant::now() + MTU_SEARCH).min(deadline);
    while Instant::now() < until {
        let stats = stats(session);
        let ecn_known = matches!(stats.ecn, Some("capable" | "failed"));
        if stats.mtu_search_complete && ecn_known {
            return;
        }
        if !ecn_known {
            let _ = session.connection.ping();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn describe_path(session: &Session, report: &mut Report) {
    let stats = stats(session);
    report.min_rtt = Some(stats.min_rtt);
    report.smoothed_rtt = Some(stats.smoothed_rtt);
    report.path_mtu = Some(stats.path_mtu);
    report.mtu_search_complete = stats.mtu_search_complete;
    report.ecn = stats.ecn;
}

/// Waits for the server's session ticket; with one, a second handshake offers it.
async fn try_resumption(
    first: Session,
    target: &connect::Target,
    tls: &ClientTls,
    tickets: &ClientTickets,
    deadline: Instant,
    report: &mut Report,
) {
    let wait = TICKET_WAIT.min(deadline.saturating_duration_since(Instant::now()));
    let ticket = tickets.wait_for_new(wait).await;
    first.close().await;
    report.session_ticket = Some(ticket.is_some());
    let Some(ticket) = ticket else { return };
    tickets.offer(ticket);
    let left = deadline.saturating_duration_since(Instant::now());
    match connect::connect(target, tls, left).await {
        Ok(second) => {
            report.resumed = Some(second.resumed);
            second.close().await;
        }
        Err(err) => report.resumption_error = Some(format!("{err:#}")),
    }
}
