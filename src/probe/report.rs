//! What a probe found about one target, and the ways to print it: a block for people (aligned,
//! ✔/✘ marks, coloured only on a terminal), a line per target for many, JSON (one object per
//! line) and CSV.

use super::certs::CertificateInfo;
use super::params::TransportParameters;
use super::target::Target;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// RFC 9000 (section 8.1) limits a server to three times what it has received from an
/// unvalidated address; quicreach flags servers past it the same way.
const AMPLIFICATION_LIMIT: f64 = 3.0;

/// s2n-quic speaks QUIC version 1 only, so a completed handshake used it.
const QUIC_VERSION: &str = "1";

#[derive(Debug, Default)]
pub struct Report {
    pub target: String,
    pub host: String,
    pub port: u16,
    /// Why the target is not reachable, in `send`'s words; `None` when it is.
    pub error: Option<String>,
    pub address: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub alpn: Option<String>,
    pub handshake: Option<Duration>,
    pub min_rtt: Option<Duration>,
    pub smoothed_rtt: Option<Duration>,
    pub retry: Option<bool>,
    /// QUIC packet bytes (sent, received) up to the handshake's completion.
    pub handshake_bytes: Option<(u64, u64)>,
    pub cipher_suite: Option<String>,
    pub key_exchange_group: Option<String>,
    pub signature_scheme: Option<String>,
    /// `None` with --insecure (nothing was checked).
    pub certificate_verified: Option<bool>,
    pub client_certificate_requested: bool,
    pub chain: Vec<CertificateInfo>,
    pub transport_parameters: Option<TransportParameters>,
    pub session_ticket: Option<bool>,
    pub resumed: Option<bool>,
    pub resumption_error: Option<String>,
    pub path_mtu: Option<u16>,
    pub mtu_search_complete: bool,
    pub ecn: Option<&'static str>,
}

impl Report {
    pub fn new(target: &Target) -> Self {
        Self {
            target: target.text.clone(),
            host: target.host.clone(),
            port: target.port,
            ..Self::default()
        }
    }

    /// The first failure is the one that says why.
    pub fn fail(&mut self, error: String) {
        self.error.get_or_insert(error);
    }

    pub fn reachable(&self) -> bool {
        self.error.is_none()
    }

    /// Bytes the server sent in the handshake for each byte we sent.
    fn amplification(&self) -> Option<f64> {
        let (sent, received) = self.handshake_bytes?;
        (sent > 0).then(|| received as f64 / sent as f64)
    }

    pub fn to_json(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        json!({
            "target": self.target, "host": self.host, "port": self.port,
            "reachable": self.reachable(), "error": self.error,
            "address": self.address.map(|a| a.to_string()),
            "local": self.local.map(|a| a.to_string()),
            "quic_version": self.address.map(|_| QUIC_VERSION),
            "alpn": self.alpn,
            "handshake_ms": ms(self.handshake),
            "min_rtt_ms": ms(self.min_rtt), "smoothed_rtt_ms": ms(self.smoothed_rtt),
            "retry": self.retry,
            "handshake_bytes_sent": self.handshake_bytes.map(|b| b.0),
            "handshake_bytes_received": self.handshake_bytes.map(|b| b.1),
            "amplification": self.amplification(),
            "amplification_over_limit": self.amplification().map(|a| a > AMPLIFICATION_LIMIT),
            "tls": {
                "cipher_suite": self.cipher_suite,
                "key_exchange_group": self.key_exchange_group,
                "signature_scheme": self.signature_scheme,
                "certificate_verified": self.certificate_verified,
                "client_certificate_requested": self.client_certificate_requested,
                "chain": self.chain.iter().map(CertificateInfo::to_json).collect::<Vec<_>>(),
            },
            "transport_parameters": self.transport_parameters.as_ref().map(TransportParameters::to_json),
            "session_ticket": self.session_ticket, "resumed": self.resumed,
            "resumption_error": self.resumption_error,
            "path_mtu": self.path_mtu, "mtu_search_complete": self.mtu_search_complete,
            "ecn": self.ecn,
        })
    }
}

/// ✔ and ✘, green and red on a terminal.
pub struct Marks {
    pub colour: bool,
}

impl Marks {
    fn mark(&self, good: bool) -> String {
        match (good, self.colour) {
            (true, true) => "\x1b[32m✔\x1b[0m".to_string(),
            (false, true) => "\x1b[31m✘\x1b[0m".to_string(),
            (true, false) => "✔".to_string(),
            (false, false) => "✘".to_string(),
        }
    }

    fn heading(&self, text: &str) -> String {
        match self.colour {
            true => format!("\x1b[1m{text}\x1b[0m"),
            false => text.to_string(),
        }
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

/// The block for one target.
pub fn block(report: &Report, marks: &Marks) -> String {
    let mut lines = vec![marks.heading(&format!(
        "{} ({}:{})",
        report.target, report.host, report.port
    ))];
    let mut row = |mark: Option<bool>, name: &str, value: String| {
        let mark = mark.map_or(" ".to_string(), |good| marks.mark(good));
        lines.push(format!("  {mark} {name:<27} {value}"));
    };
    match &report.error {
        None => row(Some(true), "reachable", "yes".to_string()),
        Some(error) => row(Some(false), "reachable", format!("no: {error}")),
    }
    if let Some(address) = report.address {
        let local = report
            .local
            .map(|l| format!(" from {l}"))
            .unwrap_or_default();
        row(None, "address", format!("{address}{local}"));
        row(None, "QUIC version", QUIC_VERSION.to_string());
    }
    if let Some(alpn) = &report.alpn {
        row(None, "ALPN", alpn.clone());
    }
    if let Some(handshake) = report.handshake {
        row(None, "handshake", ms(handshake));
    }
    if let (Some(min), Some(srtt)) = (report.min_rtt, report.smoothed_rtt) {
        row(
            None,
            "RTT (QUIC)",
            format!("min {}, smoothed {}", ms(min), ms(srtt)),
        );
    }
    if let Some(retry) = report.retry {
        row(
            None,
            "Retry",
            if retry {
                "demanded (address validation)"
            } else {
                "no"
            }
            .to_string(),
        );
    }
    if let (Some((sent, received)), Some(factor)) = (report.handshake_bytes, report.amplification())
    {
        let within = factor <= AMPLIFICATION_LIMIT;
        row(
            Some(within),
            "handshake bytes",
            format!(
                "sent {sent}, received {received}: {factor:.2}x{}",
                if within {
                    ""
                } else {
                    ", past RFC 9000's 3x limit"
                }
            ),
        );
    }
    tls_rows(report, &mut row);
    if let Some(params) = &report.transport_parameters {
        for (name, value) in params.lines() {
            row(None, name, value);
        }
    }
    resumption_rows(report, &mut row);
    if let Some(mtu) = report.path_mtu {
        let how = if report.mtu_search_complete {
            ""
        } else {
            " (search not finished)"
        };
        row(None, "largest datagram", format!("{mtu} bytes{how}"));
    }
    if report.address.is_some() {
        match report.ecn {
            Some("capable") => row(Some(true), "ECN", "capable (validated)".to_string()),
            Some("failed") => row(Some(false), "ECN", "failed validation".to_string()),
            Some(state) => row(None, "ECN", format!("{state} (not validated yet)")),
            None => row(None, "ECN", "not validated within the probe".to_string()),
        }
    }
    lines.join("\n")
}

fn tls_rows(report: &Report, row: &mut impl FnMut(Option<bool>, &str, String)) {
    let named = [
        ("cipher suite", &report.cipher_suite),
        ("key exchange", &report.key_exchange_group),
        ("signature", &report.signature_scheme),
    ];
    for (name, value) in named {
        if let Some(value) = value {
            row(None, name, value.clone());
        }
    }
    if report.client_certificate_requested {
        row(
            None,
            "client certificate",
            "requested by the server".to_string(),
        );
    }
    match report.certificate_verified {
        Some(true) => row(Some(true), "certificate", "verified".to_string()),
        Some(false) => row(
            Some(false),
            "certificate",
            "not verified (see above)".to_string(),
        ),
        None if !report.chain.is_empty() => {
            row(None, "certificate", "not checked (--insecure)".to_string())
        }
        None => {}
    }
    for (index, cert) in report.chain.iter().enumerate() {
        let expiry_ok = cert.days_left >= 0;
        row(
            None,
            &format!("chain[{index}] subject"),
            cert.subject.clone(),
        );
        row(None, "  issuer", cert.issuer.clone());
        if !cert.names.is_empty() {
            row(None, "  names", cert.names.join(", "));
        }
        row(
            Some(expiry_ok),
            "  not after",
            format!("{} ({})", cert.not_after, time_left(cert)),
        );
        row(None, "  key", cert.key.clone());
        row(None, "  sha256", cert.fingerprint.to_string());
    }
}

/// "213 days left", "expired 3 days ago", or in hours within two days (`serve`'s ephemeral
/// certificate lives one).
fn time_left(cert: &CertificateInfo) -> String {
    match cert.hours_left {
        hours if hours < 0 => format!("expired {} days ago", (23 - hours) / 24),
        hours if hours < 48 => format!("{hours} hours left"),
        hours => format!("{} days left", hours / 24),
    }
}

fn resumption_rows(report: &Report, row: &mut impl FnMut(Option<bool>, &str, String)) {
    match report.session_ticket {
        Some(true) => row(Some(true), "session ticket", "received".to_string()),
        Some(false) => row(Some(false), "session ticket", "none sent".to_string()),
        None => {}
    }
    match (report.resumed, &report.resumption_error) {
        (Some(resumed), _) => row(
            Some(resumed),
            "resumption",
            if resumed {
                "the second handshake resumed"
            } else {
                "the ticket was not accepted"
            }
            .to_string(),
        ),
        (None, Some(error)) => row(Some(false), "resumption", format!("failed: {error}")),
        (None, None) => {}
    }
}

/// The table's header, for several targets.
pub fn table_header() -> String {
    format!(
        "  {:<32} {:<6} {:>12} {:>10} {:<5} {:<7} {:>6} {}",
        "TARGET", "ALPN", "HANDSHAKE", "SRTT", "RETRY", "RESUMED", "MTU", "CERTIFICATE / ERROR"
    )
}

/// One line per target.
pub fn table_row(report: &Report, marks: &Marks) -> String {
    let mark = marks.mark(report.reachable());
    let yes_no = |value: Option<bool>| match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    let last = match (&report.error, report.chain.first()) {
        (Some(error), _) => error.clone(),
        (None, Some(cert)) => format!("{}, {}", time_left(cert), cert.fingerprint),
        (None, None) => String::new(),
    };
    format!(
        "{mark} {:<32} {:<6} {:>12} {:>10} {:<5} {:<7} {:>6} {last}",
        report.target,
        report.alpn.as_deref().unwrap_or("-"),
        report.handshake.map(ms).unwrap_or_else(|| "-".to_string()),
        report
            .smoothed_rtt
            .filter(|_| report.address.is_some())
            .map(ms)
            .unwrap_or_else(|| "-".to_string()),
        yes_no(report.retry),
        yes_no(report.resumed),
        report
            .path_mtu
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".to_string()),
    )
}

pub const CSV_HEADER: &str = "target,host,port,reachable,error,address,alpn,handshake_ms,min_rtt_ms,smoothed_rtt_ms,retry,handshake_bytes_sent,handshake_bytes_received,cipher_suite,key_exchange_group,signature_scheme,certificate_verified,certificate_subject,certificate_not_after,certificate_days_left,certificate_sha256,initial_max_data,initial_max_streams_bidi,max_idle_timeout_ms,max_datagram_frame_size,session_ticket,resumed,path_mtu,ecn";

/// One CSV line, fields quoted where they need it (RFC 4180).
pub fn csv_row(report: &Report) -> String {
    let value = report.to_json();
    let leaf = report.chain.first();
    let tp = &value["transport_parameters"];
    let fields: Vec<String> = vec![
        report.target.clone(),
        report.host.clone(),
        report.port.to_string(),
        report.reachable().to_string(),
        report.error.clone().unwrap_or_default(),
        text(&value["address"]),
        text(&value["alpn"]),
        text(&value["handshake_ms"]),
        text(&value["min_rtt_ms"]),
        text(&value["smoothed_rtt_ms"]),
        text(&value["retry"]),
        text(&value["handshake_bytes_sent"]),
        text(&value["handshake_bytes_received"]),
        text(&value["tls"]["cipher_suite"]),
        text(&value["tls"]["key_exchange_group"]),
        text(&value["tls"]["signature_scheme"]),
        text(&value["tls"]["certificate_verified"]),
        leaf.map(|c| c.subject.clone()).unwrap_or_default(),
        leaf.map(|c| c.not_after.clone()).unwrap_or_default(),
        leaf.map(|c| c.days_left.to_string()).unwrap_or_default(),
        leaf.map(|c| c.fingerprint.to_string()).unwrap_or_default(),
        text(&tp["initial_max_data"]),
        text(&tp["initial_max_streams_bidi"]),
        text(&tp["max_idle_timeout_ms"]),
        text(&tp["max_datagram_frame_size"]),
        text(&value["session_ticket"]),
        text(&value["resumed"]),
        text(&value["path_mtu"]),
        text(&value["ecn"]),
    ];
    fields
        .iter()
        .map(|field| quote(field))
        .collect::<Vec<_>>()
        .join(",")
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}
