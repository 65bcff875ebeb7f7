//! What each end reads from the TLS handshake as it goes by (`watch` passes the bytes): the
//! client, the server's messages up to its certificate, to check `--pin` and to see what the
//! server asked for; the server, why a handshake it refused failed, in words that say what to do.

use super::super::messages::{
    CERTIFICATE, CERTIFICATE_REQUEST, ENCRYPTED_EXTENSIONS, QUIC_TRANSPORT_PARAMETERS,
    certificate_chain, extension, u24,
};
use super::super::parameters::ParameterBook;
use super::Observed;
use crate::cert::Fingerprint;
use s2n_quic_core::transport;
use std::net::SocketAddr;
use std::task::Poll;

/// TLS alert 42, bad_certificate: the client's answer to a server certificate that is not the
/// pinned one.
const BAD_CERTIFICATE: u8 = 42;

/// How much of the server's handshake we buffer while waiting for its whole certificate message;
/// real chains are a few kilobytes.
const MAX_BUFFERED: usize = 1 << 20;

/// The client's watch: reads the server's handshake messages up to its certificate.
#[derive(Debug)]
pub struct ClientWatch {
    pin: Option<Fingerprint>,
    seen: Observed,
    /// Handshake bytes from the server not yet forming a whole message.
    buffer: Vec<u8>,
    /// The certificate message has been read (or cannot be): nothing more to watch.
    done: bool,
    certificate: Option<Fingerprint>,
    /// Why the handshake must fail, once we know it must.
    refusal: Option<&'static str>,
    /// A ticket is offered: a resumed handshake carries no certificate, and needs none, since
    /// the ticket came from a connection whose certificate was checked.
    resuming: bool,
    /// With qlog traces: the book, and our own transport parameters for it.
    book: Option<(ParameterBook, Vec<u8>)>,
}

impl ClientWatch {
    /// A watch for a new client session; `resuming` when a ticket is offered.
    pub fn new(
        pin: Option<Fingerprint>,
        seen: Observed,
        resuming: bool,
        book: Option<(ParameterBook, Vec<u8>)>,
    ) -> Self {
        Self {
            pin,
            seen,
            buffer: Vec::new(),
            done: false,
            certificate: None,
            refusal: None,
            resuming,
            book,
        }
    }

    /// Reads handshake bytes from the server. Returns whether s2n-tls may have them: not once the
    /// handshake is being refused, so that it never completes with the wrong server.
    pub fn on_handshake_bytes(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return self.refusal.is_none();
        }
        self.buffer.extend_from_slice(bytes);
        // Each message: a 1-byte type, a 3-byte length, the body.
        while self.buffer.len() >= 4 {
            let len = u24(&self.buffer[1..4]);
            let Some(body) = self.buffer.get(4..4 + len) else {
                break;
            };
            match self.buffer[0] {
                ENCRYPTED_EXTENSIONS => {
                    let parameters = extension(body, QUIC_TRANSPORT_PARAMETERS).map(<[u8]>::to_vec);
                    if let (Some((book, local)), Some(remote)) = (&self.book, &parameters) {
                        book.client_session(local.clone(), remote.clone());
                    }
                    self.seen
                        .update(|seen| seen.transport_parameters = parameters);
                }
                CERTIFICATE_REQUEST => self
                    .seen
                    .update(|seen| seen.asked_for_client_certificate = true),
                CERTIFICATE => {
                    let chain = certificate_chain(body);
                    let leaf = chain.first().map(|der| Fingerprint::of_der(der));
                    let chain = chain.into_iter().map(<[u8]>::to_vec).collect();
                    self.seen.update(|seen| seen.chain = chain);
                    self.on_certificate(leaf);
                    return self.refusal.is_none();
                }
                _ => {}
            }
            self.buffer.drain(..4 + len);
        }
        if self.buffer.len() > MAX_BUFFERED {
            self.on_certificate(None);
        }
        self.refusal.is_none()
    }

    fn on_certificate(&mut self, leaf: Option<Fingerprint>) {
        self.done = true;
        self.buffer = Vec::new();
        self.certificate = leaf;
        self.seen.update(|seen| seen.certificate = leaf);
        self.refusal = match (self.pin, leaf) {
            (Some(pin), Some(leaf)) if pin != leaf => {
                Some("the server's certificate is not the one pinned with --pin")
            }
            (Some(_), None) => Some("the server's certificate could not be read to check --pin"),
            _ => None,
        };
    }

    /// The session's result, unless we refuse the handshake. With a pin, a handshake that
    /// completes without a certificate we could check is refused too, unless it resumed a
    /// session of ours: a pin never fails open.
    pub fn verdict(
        &mut self,
        result: Poll<Result<(), transport::Error>>,
    ) -> Poll<Result<(), transport::Error>> {
        if self.pin.is_some()
            && self.certificate.is_none()
            && !self.resuming
            && matches!(result, Poll::Ready(Ok(())))
        {
            self.refusal
                .get_or_insert("the server presented no certificate to check against --pin");
        }
        match self.refusal {
            Some(reason) => Poll::Ready(Err(
                transport::Error::crypto_error(BAD_CERTIFICATE).with_reason(reason)
            )),
            None => result,
        }
    }
}

/// The server's watch: who the client is, and why a handshake failed.
#[derive(Debug)]
pub struct ServerWatch {
    remote: SocketAddr,
    client_ca: Option<String>,
}

impl ServerWatch {
    pub fn new(remote: SocketAddr, client_ca: Option<String>) -> Self {
        Self { remote, client_ca }
    }

    /// `serve --client-ca`: the client's certificate was verified, so its chain is there to read.
    pub fn requires_client_certificate(&self) -> bool {
        self.client_ca.is_some()
    }

    pub fn on_failed(&self, error: &dyn std::error::Error) {
        let remote = self.remote;
        let error = error.to_string();
        let why = match &self.client_ca {
            // s2n-tls's words when the client sent an empty certificate message.
            Some(ca) if error == "Server requires client certificate" => {
                format!("the client presented no certificate, and --client-ca {ca} requires one")
            }
            Some(ca) if error.to_ascii_lowercase().contains("certificate") => format!(
                "its client certificate was refused ({error}); clients must present a \
                 certificate for client authentication signed by --client-ca {ca}"
            ),
            _ => error,
        };
        tracing::warn!(%remote, "handshake with {remote} failed: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::messages::build::{certificate_body, message};
    use super::*;

    fn watch(pin: Option<Fingerprint>) -> ClientWatch {
        ClientWatch::new(pin, Observed::default(), false, None)
    }

    #[test]
    fn reads_the_leaf_across_split_chunks() {
        let leaf = b"leaf certificate".as_slice();
        let mut bytes = message(8, &[0, 0]); // EncryptedExtensions
        bytes.extend(message(CERTIFICATE_REQUEST, &[0, 0, 0]));
        bytes.extend(message(CERTIFICATE, &certificate_body(&[leaf, b"issuer"])));
        let mut watch = watch(Some(Fingerprint::of_der(leaf)));
        for chunk in bytes.chunks(5) {
            assert!(watch.on_handshake_bytes(chunk));
        }
        let seen = watch.seen.get();
        assert_eq!(seen.certificate, Some(Fingerprint::of_der(leaf)));
        assert!(seen.asked_for_client_certificate);
        assert!(watch.verdict(Poll::Ready(Ok(()))).is_ready());
        assert!(watch.refusal.is_none());
    }

    #[test]
    fn refuses_another_certificate_and_withholds_it() {
        let bytes = message(CERTIFICATE, &certificate_body(&[b"someone else"]));
        let mut watch = watch(Some(Fingerprint::of_der(b"pinned")));
        assert!(!watch.on_handshake_bytes(&bytes));
        assert!(matches!(
            watch.verdict(Poll::Pending),
            Poll::Ready(Err(error)) if error.code.as_u64() == 0x100 + u64::from(BAD_CERTIFICATE)
        ));
    }

    #[test]
    fn a_pin_never_fails_open() {
        let mut empty = watch(Some(Fingerprint::of_der(b"pinned")));
        assert!(!empty.on_handshake_bytes(&message(CERTIFICATE, &certificate_body(&[]))));
        let mut silent = watch(Some(Fingerprint::of_der(b"pinned")));
        assert!(matches!(
            silent.verdict(Poll::Ready(Ok(()))),
            Poll::Ready(Err(_))
        ));
    }
}
