//! TLS for both ends. What the user typed (`--cert/--key`, `--ca`, `--insecure`, `--alpn`) is
//! resolved here, once, into the s2n-tls configuration that the QUIC endpoint is built with.

use crate::cert::{self, Fingerprint, Identity};
use color_eyre::eyre::{Result, eyre};
use s2n_quic::provider::tls::default as s2n_tls;
use std::path::{Path, PathBuf};

/// Checks the `--alpn` values: QUIC requires at least one, each 1 to 255 bytes.
pub fn check_alpns(protocols: &[String]) -> Result<()> {
    if protocols.is_empty() {
        return Err(eyre!(
            "no application protocol given: pass at least one --alpn PROTO"
        ));
    }
    if let Some(bad) = protocols.iter().find(|p| p.is_empty() || p.len() > 255) {
        return Err(eyre!(
            "--alpn '{bad}' is not a valid application protocol name: it must be 1 to 255 bytes long"
        ));
    }
    Ok(())
}

/// The server's side: a certificate and key, and the protocols it accepts.
pub struct ServerTls {
    identity: Identity,
    /// Where the certificate came from, for the log: a file name, or "ephemeral".
    pub origin: String,
    /// How to name the certificate and key in an error message.
    pair: String,
    pub protocols: Vec<String>,
}

impl ServerTls {
    /// From `--cert`/`--key` files, or else an ephemeral self-signed certificate for the local
    /// names plus `listen_host`.
    pub fn new(
        cert_and_key: Option<(&Path, &Path)>,
        listen_host: &str,
        protocols: Vec<String>,
    ) -> Result<Self> {
        check_alpns(&protocols)?;
        let (identity, origin) = match cert_and_key {
            Some((cert_path, key_path)) => {
                let (cert_pem, fingerprint) = cert::read_cert_pem(cert_path, "--cert")?;
                let key_pem = cert::read_key_pem(key_path, "--key")?;
                let identity = Identity {
                    cert_pem,
                    key_pem,
                    fingerprint,
                };
                (identity, cert_path.display().to_string())
            }
            None => {
                let mut names: Vec<String> =
                    ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
                if !listen_host.is_empty() && !names.iter().any(|n| n == listen_host) {
                    names.push(listen_host.to_string());
                }
                let a_day = std::time::Duration::from_secs(24 * 60 * 60);
                (cert::generate(&names, a_day)?, "ephemeral".to_string())
            }
        };
        let pair = match cert_and_key {
            Some((cert, key)) => format!("--cert {} and --key {}", cert.display(), key.display()),
            None => "the ephemeral certificate and key".to_string(),
        };
        let tls = Self {
            identity,
            origin,
            pair,
            protocols,
        };
        // Build once now so that a bad certificate or key is reported before we start listening.
        tls.provider()?;
        Ok(tls)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint
    }

    pub fn provider(&self) -> Result<s2n_tls::Server> {
        let Identity {
            cert_pem, key_pem, ..
        } = &self.identity;
        s2n_tls::Server::builder()
            .with_certificate(cert_pem.as_str(), key_pem.as_str())
            .map_err(|err| {
                eyre!(
                    "{} cannot be used together ({err}): pass the key that was generated with \
                     this certificate, e.g. both files written by `qecho gencert`",
                    self.pair
                )
            })?
            .with_application_protocols(self.protocols.iter())
            .and_then(|builder| builder.build())
            .map_err(|err| eyre!("cannot set up TLS for the server: {err}"))
    }
}

/// How the client decides whether to trust the server's certificate.
pub enum Trust {
    /// The system's trusted roots.
    System,
    /// A certificate from `--ca`: a CA, or the server's own self-signed certificate.
    Ca { path: PathBuf, pem: String },
    /// `--insecure`: no verification at all.
    Insecure,
}

/// The client's side: whom to trust and which protocols to offer.
pub struct ClientTls {
    pub trust: Trust,
    pub protocols: Vec<String>,
}

impl ClientTls {
    pub fn new(ca: Option<&Path>, insecure: bool, protocols: Vec<String>) -> Result<Self> {
        check_alpns(&protocols)?;
        let trust = match (ca, insecure) {
            (_, true) => Trust::Insecure,
            (Some(path), false) => {
                let (pem, _) = cert::read_cert_pem(path, "--ca")?;
                Trust::Ca {
                    path: path.to_path_buf(),
                    pem,
                }
            }
            (None, false) => Trust::System,
        };
        let tls = Self { trust, protocols };
        tls.provider()?;
        Ok(tls)
    }

    /// A fresh provider; s2n-quic takes one by value for each client endpoint.
    pub fn provider(&self) -> Result<s2n_tls::Client> {
        let mut builder = s2n_tls::Client::builder()
            .with_application_protocols(self.protocols.iter())
            .map_err(|err| eyre!("cannot set the application protocols: {err}"))?;
        match &self.trust {
            Trust::System => {}
            Trust::Ca { path, pem } => {
                builder = builder.with_certificate(pem.as_str()).map_err(|err| {
                    eyre!(
                        "--ca {}: cannot use it as a trusted certificate: {err}",
                        path.display()
                    )
                })?;
            }
            Trust::Insecure => {
                // SAFETY: s2n-tls marks this unsafe because it turns off certificate checks; that
                // is exactly what --insecure asks for, and the user is warned.
                unsafe { builder.config_mut().disable_x509_verification() }
                    .map_err(|err| eyre!("cannot turn off certificate verification: {err}"))?;
            }
        }
        builder
            .build()
            .map_err(|err| eyre!("cannot set up TLS for the client: {err}"))
    }
}
