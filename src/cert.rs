//! Certificates: making them (for `gencert` and for `serve`'s ephemeral certificate, with the same
//! code), reading them from PEM files, and the SHA-256 fingerprint by which people recognise them.

use color_eyre::eyre::{Result, eyre};
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A certificate with its private key, both PEM-encoded.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: Fingerprint,
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

/// Makes a self-signed ECDSA P-256 certificate valid for `names` (IP literals become IP SANs,
/// anything else DNS SANs) from now until `valid_for` from now.
pub fn generate(names: &[String], valid_for: Duration) -> Result<Identity> {
    let first = names
        .first()
        .ok_or_else(|| eyre!("a certificate needs at least one name: pass --name"))?;
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|err| eyre!("cannot use {names:?} as certificate names: {err}"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    let now = time::OffsetDateTime::now_utc();
    // Backdated a little, so that a peer whose clock is slightly behind still accepts it.
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now
        + time::Duration::try_from(valid_for)
            .map_err(|_| eyre!("--valid-for {valid_for:?} is too long"))?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|err| eyre!("cannot generate an ECDSA P-256 key: {err}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|err| eyre!("cannot sign the certificate: {err}"))?;
    Ok(Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: Fingerprint::of_der(cert.der()),
    })
}

/// Reads a PEM certificate (chain) file, checking that it really holds a certificate.
/// Returns the PEM text and the fingerprint of the first (leaf) certificate.
pub fn read_cert_pem(path: &Path, flag: &str) -> Result<(String, Fingerprint)> {
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
    Ok((text.clone(), Fingerprint::of_der(leaf.contents())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_has_the_names_and_a_matching_fingerprint() {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let identity = generate(&names, Duration::from_secs(3600)).unwrap();
        let der = pem::parse(&identity.cert_pem).unwrap();
        assert_eq!(identity.fingerprint, Fingerprint::of_der(der.contents()));
        assert!(identity.key_pem.contains("PRIVATE KEY"));
        let shown = identity.fingerprint.to_string();
        assert!(
            shown.starts_with("sha256:") && shown.len() == 7 + 64,
            "{shown}"
        );
    }
}
