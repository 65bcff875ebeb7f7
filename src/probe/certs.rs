//! The server's certificate chain, as a TLS scanner describes it: for each certificate its
//! subject, issuer, names, expiry and days left, key type and SHA-256 fingerprint.

use crate::cert::Fingerprint;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub names: Vec<String>,
    /// RFC 3339.
    pub not_after: String,
    /// Negative once expired.
    pub days_left: i64,
    pub hours_left: i64,
    pub key: String,
    pub fingerprint: Fingerprint,
}

/// Describes each certificate of `chain` (DER, leaf first) that parses.
pub fn describe(chain: &[Vec<u8>]) -> Vec<CertificateInfo> {
    chain.iter().filter_map(|der| describe_one(der)).collect()
}

fn describe_one(der: &[u8]) -> Option<CertificateInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_string()),
                    GeneralName::IPAddress(ip) => ip_text(ip),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let not_after = cert.validity().not_after;
    let now = time::OffsetDateTime::now_utc();
    let left = not_after.to_datetime() - now;
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_after: not_after
            .to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| not_after.to_string()),
        days_left: left.whole_days(),
        hours_left: left.whole_hours(),
        key: key_type(&cert),
        fingerprint: Fingerprint::of_der(der),
    })
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|octets| std::net::Ipv4Addr::from(octets).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|octets| std::net::Ipv6Addr::from(octets).to_string()),
        _ => None,
    }
}

/// "EC P-256", "RSA 2048", "Ed25519", or the algorithm's OID.
fn key_type(cert: &X509Certificate<'_>) -> String {
    use x509_parser::public_key::PublicKey;
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|params| params.as_oid().ok())
                .map(|oid| match oid.to_id_string().as_str() {
                    "1.2.840.10045.3.1.7" => "P-256".to_string(),
                    "1.3.132.0.34" => "P-384".to_string(),
                    "1.3.132.0.35" => "P-521".to_string(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| format!("{} bits", point.key_size()));
            format!("EC {curve}")
        }
        _ => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => "Ed25519".to_string(),
            "1.3.101.113" => "Ed448".to_string(),
            other => other.to_string(),
        },
    }
}

impl CertificateInfo {
    pub fn to_json(&self) -> Value {
        json!({
            "subject": self.subject, "issuer": self.issuer, "names": self.names,
            "not_after": self.not_after, "days_left": self.days_left, "key": self.key,
            "sha256": self.fingerprint.to_string(),
        })
    }
}
