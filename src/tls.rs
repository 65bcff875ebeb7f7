//! TLS for both ends. What the user typed (`--cert/--key`, `--ca`, `--client-ca`, `--pin`,
//! `--insecure`, `--keylog`, `--alpn`) is resolved here, once, into the s2n-tls configuration that
//! the QUIC endpoint is built with.
//!
//! The submodules do what s2n-quic-tls's builders cannot: `watch` sees the server's certificate
//! (for `--pin`) and the client's (for the server's log), `keylog` writes secrets to a chosen file.

mod keylog;
mod messages;
pub mod offload;
mod parameters;
mod tickets;
mod watch;

pub use parameters::{Key as ParameterKey, ParameterBook};
pub use tickets::{ClientTickets, ServerTickets, SessionFile};
pub use watch::{ClientIdentity, ServerSeen};

use crate::cert::{self, Fingerprint, Identity};
use color_eyre::eyre::{Result, eyre};
use keylog::KeyLog;
use s2n_quic::provider::tls::default as s2n_tls;
use std::path::{Path, PathBuf};

/// s2n-tls's policy for TLS 1.3 ("20240603"): the same cipher suites and signature schemes as
/// s2n-quic's default ("default_tls13"), but X25519 first among the key exchange groups. The
/// default offers a P-256 key share, and P-256 ECDH was the largest single cost of a handshake on
/// both ends; X25519 is also what most QUIC stacks offer first, so a server meets it without a
/// HelloRetryRequest.
const SECURITY_POLICY: &str = "20240603";

fn prefer_x25519(config: &mut s2n_tls::config::Builder) -> Result<()> {
    let policy = s2n_tls::security::Policy::from_version(SECURITY_POLICY)
        .map_err(|err| eyre!("cannot load the TLS policy {SECURITY_POLICY}: {err}"))?;
    config
        .set_security_policy(&policy)
        .map_err(|err| eyre!("cannot set the TLS policy {SECURITY_POLICY}: {err}"))?;
    Ok(())
}

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
    // s2n-tls (0.3.47, s2n_server_alpn.c) ignores an ALPN extension shorter than 3 bytes, so a
    // one-byte protocol is negotiated and then silently dropped: the handshake fails with "missing
    // extension". Say so now rather than fail obscurely later.
    if let Some(bad) = protocols.iter().find(|p| p.len() == 1) {
        return Err(eyre!(
            "--alpn '{bad}': one-byte application protocol names do not work with s2n-tls, the TLS \
             library qecho uses (it drops them during the handshake); use a name of 2 bytes or more"
        ));
    }
    Ok(())
}

/// A trusted certificate file from the command line: `send --ca`, `serve --client-ca`.
#[derive(Clone)]
pub struct CaFile {
    pub path: PathBuf,
    pub pem: String,
    pub fingerprint: Fingerprint,
}

impl CaFile {
    fn read(path: &Path, flag: &str) -> Result<Self> {
        let (pem, fingerprint) = cert::read_cert_pem(path, flag)?;
        Ok(Self {
            path: path.to_path_buf(),
            pem,
            fingerprint,
        })
    }
}

/// The server's side: a certificate and key, the protocols it accepts, and whether it requires
/// client certificates.
pub struct ServerTls {
    identity: Identity,
    /// Where the certificate came from, for the log: a file name, or "ephemeral".
    pub origin: String,
    /// How to name the certificate and key in an error message.
    pair: String,
    pub protocols: Vec<String>,
    /// `--client-ca`: every client must present a certificate signed by this CA.
    pub client_ca: Option<CaFile>,
    keylog: Option<KeyLog>,
    pub tickets: ServerTickets,
    /// `--tls-thread`: run the handshakes' TLS work off the endpoint's thread.
    pub own_thread: bool,
}

impl ServerTls {
    /// From `--cert`/`--key` files, or else an ephemeral self-signed certificate for the local
    /// names plus `listen_host`; with `--client-ca` and `--keylog` (or SSLKEYLOGFILE) if given.
    pub fn new(
        cert_and_key: Option<(&Path, &Path)>,
        client_ca: Option<&Path>,
        keylog: Option<&Path>,
        listen_host: &str,
        protocols: Vec<String>,
        tickets: ServerTickets,
    ) -> Result<Self> {
        check_alpns(&protocols)?;
        let client_ca = client_ca
            .map(|path| CaFile::read(path, "--client-ca"))
            .transpose()?;
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
                let identity = cert::generate(&names, a_day, cert::Usage::Server, None)?.identity;
                (identity, "ephemeral".to_string())
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
            client_ca,
            keylog: keylog.map(KeyLog::open).transpose()?,
            tickets,
            own_thread: false,
        };
        // Build once now so that a bad certificate or key is reported before we start listening.
        tls.provider()?;
        Ok(tls)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint
    }

    /// s2n-tls's server with our settings, watched.
    pub fn provider(&self) -> Result<watch::Server> {
        let Identity {
            cert_pem, key_pem, ..
        } = &self.identity;
        let mut builder = s2n_tls::Server::builder()
            .with_certificate(cert_pem.as_str(), key_pem.as_str())
            .map_err(|err| {
                eyre!(
                    "{} cannot be used together ({err}): pass the key that was generated with \
                     this certificate, e.g. both files written by `qecho gencert`",
                    self.pair
                )
            })?
            .with_application_protocols(self.protocols.iter())
            .map_err(|err| eyre!("cannot set up TLS for the server: {err}"))?;
        prefer_x25519(builder.config_mut())?;
        if let Some(ca) = &self.client_ca {
            builder = builder
                .with_client_authentication()
                // Only --client-ca: the system's roots would let in anyone with a public certificate.
                .and_then(|builder| builder.with_empty_trust_store())
                .and_then(|builder| builder.with_trusted_certificate(ca.pem.as_str()))
                // A client is known by the CA that signed it, not by a host name; without this,
                // s2n-tls would compare the client certificate's names with the server's own.
                .and_then(|builder| builder.with_verify_host_name_callback(AnyName))
                .map_err(|err| {
                    eyre!(
                        "--client-ca {}: cannot use it to verify clients: {err}",
                        ca.path.display()
                    )
                })?;
        }
        if self.client_ca.is_none() {
            // A server that verifies no one needs no trusted roots (s2n-tls loads the system's
            // by default).
            builder
                .config_mut()
                .with_system_certs(false)
                .map_err(|err| eyre!("cannot set up TLS for the server: {err}"))?;
        }
        if let Some(keylog) = &self.keylog {
            keylog.install(builder.config_mut())?;
        }
        self.tickets.install(builder.config_mut())?;
        let server = builder
            .build()
            .map_err(|err| eyre!("cannot set up TLS for the server: {err}"))?;
        let client_ca = self
            .client_ca
            .as_ref()
            .map(|ca| ca.path.display().to_string());
        Ok(watch::Server::new(server, client_ca))
    }
}

/// Accepts a client certificate whatever names it holds; see `ServerTls::provider`.
struct AnyName;

impl s2n_tls::callbacks::VerifyHostNameCallback for AnyName {
    fn verify_host_name(&self, _host_name: &str) -> bool {
        true
    }
}

/// How the client decides whether to trust the server's certificate.
#[derive(Clone)]
pub enum Trust {
    /// The system's trusted roots.
    System,
    /// A certificate from `--ca`: a CA, or the server's own self-signed certificate.
    Ca(CaFile),
    /// `--pin`: exactly the certificate with this fingerprint, whatever its issuer, names or
    /// dates. With `--ca` as well, it must also verify against it for the server name.
    Pin {
        fingerprint: Fingerprint,
        ca: Option<CaFile>,
    },
    /// `--insecure`: no verification at all.
    Insecure,
}

impl Trust {
    /// What the server's certificate was checked against, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Trust::System => "the system's trusted roots".to_string(),
            Trust::Ca(ca) => format!("--ca {}", ca.path.display()),
            Trust::Pin { fingerprint, ca } => match ca {
                Some(ca) => format!("--ca {} and --pin {fingerprint}", ca.path.display()),
                None => format!("--pin {fingerprint}"),
            },
            Trust::Insecure => "nothing (--insecure)".to_string(),
        }
    }
}

/// `send --cert/--key`: the certificate the client presents when a server asks for one.
#[derive(Clone)]
pub struct ClientCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    cert_pem: String,
    key_pem: String,
}

/// The client's side: whom to trust, which protocols to offer, what certificate to present.
pub struct ClientTls {
    pub trust: Trust,
    pub protocols: Vec<String>,
    pub client_cert: Option<ClientCert>,
    keylog: Option<KeyLog>,
    /// What the latest handshake showed of the server.
    seen: watch::Observed,
    /// `--resume`, `--session`: the tickets kept and offered.
    pub tickets: Option<ClientTickets>,
}

impl ClientTls {
    pub fn new(
        ca: Option<&Path>,
        insecure: bool,
        pin: Option<Fingerprint>,
        cert_and_key: Option<(&Path, &Path)>,
        keylog: Option<&Path>,
        protocols: Vec<String>,
        tickets: Option<ClientTickets>,
    ) -> Result<Self> {
        check_alpns(&protocols)?;
        let ca = ca.map(|path| CaFile::read(path, "--ca")).transpose()?;
        // The command line does not let --pin or --ca come with --insecure; a pin would win.
        let trust = match (pin, ca, insecure) {
            (Some(fingerprint), ca, _) => Trust::Pin { fingerprint, ca },
            (None, _, true) => Trust::Insecure,
            (None, Some(ca), false) => Trust::Ca(ca),
            (None, None, false) => Trust::System,
        };
        let client_cert = match cert_and_key {
            Some((cert_path, key_path)) => Some(ClientCert {
                cert_pem: cert::read_cert_pem(cert_path, "--cert")?.0,
                key_pem: cert::read_key_pem(key_path, "--key")?,
                cert_path: cert_path.to_path_buf(),
                key_path: key_path.to_path_buf(),
            }),
            None => None,
        };
        let tls = Self {
            trust,
            protocols,
            client_cert,
            keylog: keylog.map(KeyLog::open).transpose()?,
            seen: watch::Observed::default(),
            tickets,
        };
        // Every setting checked now, before any packet: a bad --ca or --cert is reported at once.
        // Not built: that loaded the system's roots once more than the endpoint does, a quarter of
        // the time a refused `send --count 1` took (33.5 -> 25.8 ms, medians of 30 alternating).
        tls.builder()?;
        Ok(tls)
    }

    /// The same client for handshakes of their own (`probe`'s targets, each watched apart): the
    /// same protocols and client certificate, a view of the server of its own, no key log, and
    /// `tickets` to keep; with `insecure`, no verification at all (to describe a server whose
    /// certificate was refused).
    pub fn independent(&self, insecure: bool, tickets: Option<ClientTickets>) -> Self {
        Self {
            trust: match insecure {
                true => Trust::Insecure,
                false => self.trust.clone(),
            },
            protocols: self.protocols.clone(),
            client_cert: self.client_cert.clone(),
            keylog: None,
            seen: watch::Observed::default(),
            tickets,
        }
    }

    /// What the latest handshake showed of the server: its certificate, and whether it asked for
    /// ours.
    pub fn server_seen(&self) -> ServerSeen {
        self.seen.get()
    }

    /// A fresh provider; s2n-quic takes one by value for each client endpoint.
    pub fn provider(&self) -> Result<watch::Client> {
        let client = self
            .builder()?
            .build()
            .map_err(|err| eyre!("cannot set up TLS for the client: {err}"))?;
        let pin = match &self.trust {
            Trust::Pin { fingerprint, .. } => Some(*fingerprint),
            _ => None,
        };
        Ok(watch::Client::new(
            client,
            pin,
            self.seen.clone(),
            self.tickets.clone(),
        ))
    }

    /// s2n-tls's client with our settings, not yet built: every setting a user can get wrong
    /// fails here. (`build` only loads the system's roots, if they are used.)
    fn builder(&self) -> Result<s2n_tls::client::Builder> {
        let mut builder = s2n_tls::Client::builder()
            .with_application_protocols(self.protocols.iter())
            .map_err(|err| eyre!("cannot set the application protocols: {err}"))?;
        prefer_x25519(builder.config_mut())?;
        match &self.trust {
            Trust::System => {}
            Trust::Ca(ca) | Trust::Pin { ca: Some(ca), .. } => {
                builder = builder.with_certificate(ca.pem.as_str()).map_err(|err| {
                    eyre!(
                        "--ca {}: cannot use it as a trusted certificate: {err}",
                        ca.path.display()
                    )
                })?;
            }
            Trust::Pin { ca: None, .. } | Trust::Insecure => {
                // SAFETY: s2n-tls marks this unsafe because it turns off certificate checks; that
                // is exactly what --insecure asks for, and the user is warned. With --pin alone,
                // the watch checks the certificate instead (see watch.rs).
                unsafe { builder.config_mut().disable_x509_verification() }
                    .map_err(|err| eyre!("cannot turn off certificate verification: {err}"))?;
                // Nor are the system's roots needed, whose loading was 14% of a one-ping run.
                builder
                    .config_mut()
                    .with_system_certs(false)
                    .map_err(|err| eyre!("cannot leave out the system's roots: {err}"))?;
            }
        }
        if let Some(client_cert) = &self.client_cert {
            builder = builder
                .with_client_identity(client_cert.cert_pem.as_str(), client_cert.key_pem.as_str())
                .map_err(|err| {
                    eyre!(
                        "--cert {} and --key {} cannot be used together ({err}): pass the key \
                         that was generated with this certificate, e.g. both files written by \
                         `qecho gencert --sign-with CA_DIR --client`",
                        client_cert.cert_path.display(),
                        client_cert.key_path.display()
                    )
                })?;
            // with_client_identity also makes the client insist that the server ask for the
            // certificate; we only offer it, as curl does, so that --cert is harmless elsewhere.
            builder
                .config_mut()
                .set_client_auth_type(s2n_tls::enums::ClientAuthType::Optional)
                .map_err(|err| eyre!("cannot offer the client certificate: {err}"))?;
        }
        if let Some(keylog) = &self.keylog {
            keylog.install(builder.config_mut())?;
        }
        if let Some(tickets) = &self.tickets {
            tickets.install(builder.config_mut())?;
        }
        Ok(builder)
    }
}
