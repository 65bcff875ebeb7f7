//! Certificates: making them (for `gencert` and for `serve`'s ephemeral certificate, with the same
//! code: self-signed, a CA, or signed by that CA), reading them from PEM files, and the SHA-256
//! fingerprint by which people recognise them.

use color_eyre::eyre::{Result, eyre};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A certificate with its private key, both PEM-encoded.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: Fingerprint,
}

/// A certificate just made, and how long it is valid.
pub struct Generated {
    pub identity: Identity,
    /// `valid_for` from now, or its CA's own expiry if that comes first.
    pub valid_until: SystemTime,
    /// Whether its CA's expiry cut `valid_for` short.
    pub cut_short_by_ca: bool,
}

/// SHA-256 over the DER encoding of a certificate, shown as `sha256:<hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;

    /// Reads `sha256:<64 hex digits>`, the form qecho prints. Upper case and the colons between
    /// bytes that `openssl x509 -fingerprint -sha256` prints are accepted too.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "'{text}' is not a SHA-256 certificate fingerprint: expected sha256: followed by 64 \
                 hex digits, as `qecho serve` and `qecho gencert` print it"
            )
        };
        let (algorithm, hex) = text.split_once(':').ok_or_else(bad)?;
        if !algorithm.eq_ignore_ascii_case("sha256") {
            return Err(bad());
        }
        let digits: Vec<u8> = hex.bytes().filter(|&byte| byte != b':').collect();
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A server's certificate (TLS server authentication).
    Server,
    /// A client's certificate for mutual TLS (TLS client authentication).
    Client,
    /// A certificate authority, to sign server and client certificates with.
    Ca,
}

/// A CA's certificate and private key, loaded to sign certificates with (`gencert --sign-with`).
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's subject, to say who signed a certificate.
    pub subject: String,
    /// A certificate it signs is worth nothing past this: verifiers refuse the chain.
    not_after: time::OffsetDateTime,
}

impl Ca {
    /// Loads the `ca.pem` and `ca-key.pem` that `gencert --ca` wrote into `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let flag = "--sign-with";
        let (cert_path, key_path) = ca_file_paths(dir);
        let cert = read_cert(&cert_path, flag)?;
        let key_pem = read_key_pem(&key_path, flag)?;
        let not_a_ca = |why: &str| {
            eyre!(
                "{flag} {}: {} {why}; make a CA with `qecho gencert --ca --out {}`",
                dir.display(),
                cert_path.display(),
                dir.display()
            )
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert.leaf_der)
            .map_err(|_| not_a_ca("is not a certificate qecho can read"))?;
        if !parsed.is_ca() {
            return Err(not_a_ca("is not a CA certificate (it may not sign others)"));
        }
        let key = KeyPair::from_pem(&key_pem).map_err(|err| {
            eyre!(
                "{flag} {}: cannot use {} as a signing key: {err}",
                dir.display(),
                key_path.display()
            )
        })?;
        // A key from another CA would sign certificates that nothing verifies: refuse it now.
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(eyre!(
                "{flag} {}: {} is not the private key of {}; pass the directory where \
                 `qecho gencert --ca` wrote both",
                dir.display(),
                key_path.display(),
                cert_path.display()
            ));
        }
        let not_after = parsed.validity().not_after.to_datetime();
        if not_after <= time::OffsetDateTime::now_utc() {
            return Err(eyre!(
                "{flag} {}: the CA certificate {} expired on {}, so every certificate it signs \
                 would be refused; make a new CA with `qecho gencert --ca --out {} --force` and \
                 give its ca.pem to those who verify",
                dir.display(),
                cert_path.display(),
                humantime::format_rfc3339_seconds(SystemTime::from(not_after)),
                dir.display()
            ));
        }
        let subject = parsed.subject().to_string();
        let issuer = Issuer::from_ca_cert_pem(&cert.pem, key)
            .map_err(|err| not_a_ca(&format!("cannot be used to sign ({err})")))?;
        Ok(Self {
            issuer,
            subject,
            not_after,
        })
    }
}

/// Makes an ECDSA P-256 certificate for `usage`, valid from now until `valid_for` from now (but
/// not past `ca`'s own expiry), signed by `ca` or else by itself. A server or client certificate
/// is valid for `names` (IP literals become IP SANs, anything else DNS SANs), the first also being
/// its common name; a CA is named by its one name and has no SANs.
pub fn generate(
    names: &[String],
    valid_for: Duration,
    usage: Usage,
    ca: Option<&Ca>,
) -> Result<Generated> {
    let first = names
        .first()
        .ok_or_else(|| eyre!("a certificate needs at least one name: pass --name"))?;
    let sans = if usage == Usage::Ca {
        Vec::new()
    } else {
        names.to_vec()
    };
    let mut params = CertificateParams::new(sans)
        .map_err(|err| eyre!("cannot use {names:?} as certificate names: {err}"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    match usage {
        Usage::Ca => {
            // Signs end-entity certificates only, not further CAs.
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        Usage::Server | Usage::Client => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![if usage == Usage::Client {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            // Names the signing key, which helps verifiers find the CA.
            params.use_authority_key_identifier_extension = ca.is_some();
        }
    }
    let now = time::OffsetDateTime::now_utc();
    // Backdated a little, so that a peer whose clock is slightly behind still accepts it.
    params.not_before = now - time::Duration::minutes(5);
    let asked = now
        + time::Duration::try_from(valid_for)
            .map_err(|_| eyre!("--valid-for {valid_for:?} is too long"))?;
    let cut_short_by_ca = ca.is_some_and(|ca| ca.not_after < asked);
    params.not_after = match ca {
        Some(ca) if cut_short_by_ca => ca.not_after,
        _ => asked,
    };

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|err| eyre!("cannot generate an ECDSA P-256 key: {err}"))?;
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer),
        None => params.self_signed(&key),
    }
    .map_err(|err| eyre!("cannot sign the certificate: {err}"))?;
    Ok(Generated {
        identity: Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            fingerprint: Fingerprint::of_der(cert.der()),
        },
        valid_until: SystemTime::from(params.not_after),
        cut_short_by_ca,
    })
}

/// A PEM certificate (chain) file as read.
pub struct CertFile {
    pub pem: String,
    /// The first certificate: the leaf of a chain, or the CA itself.
    pub leaf_der: Vec<u8>,
    pub fingerprint: Fingerprint,
}

/// Reads a PEM certificate (chain) file, checking that it really holds a certificate.
/// Returns the PEM text and the fingerprint of the first (leaf) certificate.
pub fn read_cert_pem(path: &Path, flag: &str) -> Result<(String, Fingerprint)> {
    let file = read_cert(path, flag)?;
    Ok((file.pem, file.fingerprint))
}

/// Reads a PEM certificate (chain) file, checking that it really holds a certificate.
pub fn read_cert(path: &Path, flag: &str) -> Result<CertFile> {
    let text = read_text(path, "certificate", flag)?;
    let blocks = parse_pem(&text, path, "certificate", flag)?;
    let leaf = blocks
        .iter()
        .find(|block| block.tag() == "CERTIFICATE")
        .ok_or_else(|| {
            eyre!(
                "{flag} {}: the file is PEM but holds no certificate (no '-----BEGIN CERTIFICATE-----' \
                 block); pass the certificate file, not the key",
                path.display()
            )
        })?;
    if let Some(algorithm) = unsupported_key(leaf.contents()) {
        return Err(eyre!(
            "{flag} {}: the certificate has an {algorithm} key, which qecho's TLS library \
             (s2n-tls) does not support; use an ECDSA or RSA certificate (qecho gencert makes \
             ECDSA P-256)",
            path.display()
        ));
    }
    Ok(CertFile {
        fingerprint: Fingerprint::of_der(leaf.contents()),
        leaf_der: leaf.contents().to_vec(),
        pem: text.clone(),
    })
}

/// The name of a certificate's key algorithm if s2n-tls cannot use it (the EdDSA curves), which
/// it would otherwise report as a certificate it cannot decode. Unparsable: left to s2n-tls.
fn unsupported_key(der: &[u8]) -> Option<&'static str> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    match cert
        .public_key()
        .algorithm
        .algorithm
        .to_id_string()
        .as_str()
    {
        "1.3.101.112" => Some("Ed25519"),
        "1.3.101.113" => Some("Ed448"),
        _ => None,
    }
}

/// A certificate's subject as people read it (`CN=alice, O=Example`), for logs.
pub fn subject_of(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) if cert.subject().iter().next().is_some() => cert.subject().to_string(),
        Ok(_) => "(no subject)".to_string(),
        Err(_) => "(unreadable certificate)".to_string(),
    }
}

/// Reads a PEM private key file, checking that it really holds a private key.
pub fn read_key_pem(path: &Path, flag: &str) -> Result<String> {
    let text = read_text(path, "private key", flag)?;
    let blocks = parse_pem(&text, path, "private key", flag)?;
    if !blocks
        .iter()
        .any(|block| block.tag().ends_with("PRIVATE KEY"))
    {
        return Err(eyre!(
            "{flag} {}: the file is PEM but holds no private key (no '-----BEGIN PRIVATE KEY-----' \
             block); pass the key file, not the certificate",
            path.display()
        ));
    }
    Ok(text)
}

fn read_text(path: &Path, what: &str, flag: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|err| {
        eyre!(
            "cannot read the {what} file {flag} {}: {err}",
            path.display()
        )
    })?;
    String::from_utf8(bytes).map_err(|_| not_pem(path, what, flag))
}

fn parse_pem(text: &str, path: &Path, what: &str, flag: &str) -> Result<Vec<pem::Pem>> {
    match pem::parse_many(text) {
        Ok(blocks) if !blocks.is_empty() => Ok(blocks),
        _ => Err(not_pem(path, what, flag)),
    }
}

fn not_pem(path: &Path, what: &str, flag: &str) -> color_eyre::Report {
    eyre!(
        "{flag} {}: the file is not a PEM {what} (text with '-----BEGIN ...-----' lines); \
         if it is DER, convert it with `openssl x509 -inform der` (certificate) or \
         `openssl pkey -inform der` (key)",
        path.display()
    )
}

/// The two files `gencert` writes into a directory.
pub fn file_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The two files `gencert --ca` writes into a directory, and `--sign-with` reads.
pub fn ca_file_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("ca.pem"), dir.join("ca-key.pem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_has_the_names_and_a_matching_fingerprint() {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let identity = generate(&names, Duration::from_secs(3600), Usage::Server, None)
            .unwrap()
            .identity;
        let der = pem::parse(&identity.cert_pem).unwrap();
        assert_eq!(identity.fingerprint, Fingerprint::of_der(der.contents()));
        assert!(identity.key_pem.contains("PRIVATE KEY"));
        let shown = identity.fingerprint.to_string();
        assert!(
            shown.starts_with("sha256:") && shown.len() == 7 + 64,
            "{shown}"
        );
    }

    #[test]
    fn fingerprints_read_back_in_both_spellings() {
        let fingerprint = Fingerprint::of_der(b"certificate");
        let shown = fingerprint.to_string();
        assert_eq!(shown.parse::<Fingerprint>(), Ok(fingerprint));
        let openssl_style = shown[7..]
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(
            format!("SHA256:{openssl_style}").parse::<Fingerprint>(),
            Ok(fingerprint)
        );
        for bad in [
            "",
            "sha256:",
            "md5:00",
            &shown[7..],
            &shown[..70],
            "sha256:zz",
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_ca_signs_client_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let ca = generate(
            &["Test CA".into()],
            Duration::from_secs(3600),
            Usage::Ca,
            None,
        )
        .unwrap()
        .identity;
        let (ca_cert, ca_key) = ca_file_paths(dir.path());
        std::fs::write(&ca_cert, &ca.cert_pem).unwrap();
        std::fs::write(&ca_key, &ca.key_pem).unwrap();
        let ca = Ca::load(dir.path()).unwrap();
        assert_eq!(ca.subject, "CN=Test CA");
        let client = generate(
            &["alice".into()],
            Duration::from_secs(3600),
            Usage::Client,
            Some(&ca),
        )
        .unwrap()
        .identity;
        let der = pem::parse(&client.cert_pem).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(der.contents()).unwrap();
        assert_eq!(parsed.issuer().to_string(), "CN=Test CA");
        assert_eq!(subject_of(der.contents()), "CN=alice");
        let usage = parsed.extended_key_usage().unwrap().unwrap().value;
        assert!(usage.client_auth && !usage.server_auth);
        // A leaf is no CA to sign with.
        std::fs::write(&ca_cert, &client.cert_pem).unwrap();
        std::fs::write(&ca_key, &client.key_pem).unwrap();
        let err = Ca::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is not a CA certificate"), "{err}");
    }
}
