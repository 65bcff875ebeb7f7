//! Watching the TLS handshake from inside the TLS provider, for what s2n-tls does not tell us:
//!
//! - the client sees the server's certificate even with verification off, so that `send --pin`
//!   can accept exactly one certificate whatever its issuer, names or dates, and so that errors
//!   can show the fingerprint the server presented;
//! - the client notices that the server asked for a client certificate (mutual TLS);
//! - the server learns who an authenticated client is (subject and fingerprint of its verified
//!   certificate) and hands it to `serve` through the connection's TLS context; it also logs the
//!   handshakes its TLS stack refuses, which never reach `serve` as connections.
//!
//! How: s2n-quic drives its TLS provider through two traits, an endpoint that makes a session per
//! connection, and a context through which a session receives and sends handshake bytes. We wrap
//! s2n-quic-tls's endpoint and sessions, pass every call through unchanged, and read the server's
//! handshake messages as they go by. (QUIC protects the packets, not the TLS records: the session
//! sees plain TLS handshake messages.) A certificate that does not match `--pin` is never handed
//! to s2n-tls; the handshake fails with a bad_certificate alert before anything is sent.
//!
//! Why not s2n-tls itself: it hands out the peer's certificate only after verifying it
//! (`peer_cert_chain` fails when verification is off), and its certificate validation callback
//! (feature `unstable-crl`) runs only after a successful verification, or, with verification
//! off, cannot read the chain either.

use super::ClientTickets;
use super::messages::{
    CERTIFICATE, CERTIFICATE_REQUEST, ENCRYPTED_EXTENSIONS, QUIC_TRANSPORT_PARAMETERS,
    certificate_chain, extension, u24,
};
use super::offload::{Offloaded, offload};
use super::parameters::ParameterBook;
use crate::cert::{self, Fingerprint};
use crate::events::canonical;
use bytes::Bytes;
use s2n_quic::provider::tls::default as s2n_tls;
use s2n_quic_core::application::ServerName;
use s2n_quic_core::crypto::{CryptoSuite, tls};
use s2n_quic_core::transport;
use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

/// TLS alert 42, bad_certificate: the client's answer to a server certificate that is not the
/// pinned one.
const BAD_CERTIFICATE: u8 = 42;

/// How much of the server's handshake we buffer while waiting for its whole certificate message;
/// real chains are a few kilobytes.
const MAX_BUFFERED: usize = 1 << 20;

/// What the client learned about the server in its latest handshake.
#[derive(Debug, Clone, Default)]
pub struct ServerSeen {
    /// Fingerprint of the certificate the server presented (the first of its chain).
    pub certificate: Option<Fingerprint>,
    /// The server asked for a client certificate (mutual TLS).
    pub asked_for_client_certificate: bool,
    /// The whole chain as the server sent it, leaf first (DER), for `probe` to describe.
    pub chain: Vec<Vec<u8>>,
    /// The server's QUIC transport parameters as they came, in its EncryptedExtensions (the
    /// extension's body, RFC 9000 section 18), for `probe` to decode: s2n-quic's event leaves
    /// some out, initial_max_data among them.
    pub transport_parameters: Option<Vec<u8>>,
}

/// Shared between `ClientTls` (which builds error messages from it) and the sessions that fill it.
/// One client endpoint makes one connection at a time here; with several at once, this holds the
/// latest, which for one server is the same certificate anyway.
#[derive(Debug, Clone, Default)]
pub struct Observed(Arc<Mutex<ServerSeen>>);

impl Observed {
    pub fn get(&self) -> ServerSeen {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut ServerSeen)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Who an authenticated client is, from its verified certificate. `serve` takes it from the
/// connection with `take_tls_context()` and logs it.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub subject: String,
    pub fingerprint: Fingerprint,
}

/// The client's TLS provider: s2n-quic-tls's client, watched.
pub struct Client {
    inner: s2n_tls::Client,
    pin: Option<Fingerprint>,
    seen: Observed,
    /// Whether new sessions offer a ticket.
    tickets: Option<ClientTickets>,
    /// With qlog traces: where each connection's transport parameters go.
    book: Option<ParameterBook>,
}

impl Client {
    pub fn new(
        inner: s2n_tls::Client,
        pin: Option<Fingerprint>,
        seen: Observed,
        tickets: Option<ClientTickets>,
    ) -> Self {
        Self {
            inner,
            pin,
            seen,
            tickets,
            book: None,
        }
    }

    /// Records each connection's transport parameters in `book` (qlog traces).
    pub fn with_book(mut self, book: Option<ParameterBook>) -> Self {
        self.book = book;
        self
    }
}

/// The server's TLS provider: s2n-quic-tls's server, watched.
pub struct Server<E = s2n_tls::Server> {
    inner: E,
    /// `--client-ca` as the user wrote it, when clients must present a certificate.
    client_ca: Option<String>,
    /// With qlog traces: where each connection's transport parameters go.
    book: Option<ParameterBook>,
}

impl<E> Server<E> {
    pub fn new(inner: E, client_ca: Option<String>) -> Self {
        Self {
            inner,
            client_ca,
            book: None,
        }
    }

    /// Records each connection's transport parameters in `book` (qlog traces).
    pub fn with_book(mut self, book: Option<ParameterBook>) -> Self {
        self.book = book;
        self
    }

    /// The same, with the sessions inside the watch on the TLS threads (`--tls-thread`): the
    /// watch stays in the endpoint's loop, where s2n-quic's context takes all it passes on.
    pub fn offloaded(self) -> Result<Server<Offloaded<E>>, color_eyre::Report>
    where
        E: tls::Endpoint,
    {
        Ok(Server {
            inner: offload(self.inner)?,
            client_ca: self.client_ca,
            book: self.book,
        })
    }
}

impl tls::Endpoint for Client {
    type Session = Session<<s2n_tls::Client as tls::Endpoint>::Session>;

    fn new_server_session<Params: s2n_codec::EncoderValue>(
        &mut self,
        transport_parameters: &Params,
        connection_info: tls::ConnectionInfo,
    ) -> Self::Session {
        // s2n-quic never asks a client endpoint for a server session.
        Session {
            inner: self
                .inner
                .new_server_session(transport_parameters, connection_info),
            role: Role::Unwatched,
        }
    }

    fn new_client_session<Params: s2n_codec::EncoderValue>(
        &mut self,
        transport_parameters: &Params,
        server_name: ServerName,
    ) -> Self::Session {
        // Forget the previous handshake, so that an error never shows a stale certificate.
        self.seen.update(|seen| *seen = ServerSeen::default());
        let book = self
            .book
            .clone()
            .map(|book| (book, transport_parameters.encode_to_vec()));
        Session {
            inner: self
                .inner
                .new_client_session(transport_parameters, server_name),
            role: Role::Client(ClientWatch {
                pin: self.pin,
                seen: self.seen.clone(),
                buffer: Vec::new(),
                done: false,
                certificate: None,
                refusal: None,
                resuming: self.tickets.as_ref().is_some_and(ClientTickets::offering),
                book,
            }),
        }
    }

    fn max_tag_length(&self) -> usize {
        self.inner.max_tag_length()
    }
}

impl<E: tls::Endpoint> tls::Endpoint for Server<E> {
    type Session = Session<E::Session>;

    fn new_server_session<Params: s2n_codec::EncoderValue>(
        &mut self,
        transport_parameters: &Params,
        connection_info: tls::ConnectionInfo,
    ) -> Self::Session {
        let remote = canonical(connection_info.remote_address);
        if let Some(book) = &self.book {
            book.server_session(remote, transport_parameters.encode_to_vec());
        }
        Session {
            inner: self
                .inner
                .new_server_session(transport_parameters, connection_info),
            role: Role::Server(ServerWatch {
                remote,
                client_ca: self.client_ca.clone(),
            }),
        }
    }

    fn new_client_session<Params: s2n_codec::EncoderValue>(
        &mut self,
        transport_parameters: &Params,
        server_name: ServerName,
    ) -> Self::Session {
        // s2n-quic never asks a server endpoint for a client session.
        Session {
            inner: self
                .inner
                .new_client_session(transport_parameters, server_name),
            role: Role::Unwatched,
        }
    }

    fn max_tag_length(&self) -> usize {
        self.inner.max_tag_length()
    }
}

// What `with_tls` takes. Each provider serves one side only: asking it for the other is a bug.
impl s2n_quic::provider::tls::Provider for Client {
    type Server = s2n_tls::Server;
    type Client = Self;
    type Error = &'static str;

    fn start_server(self) -> Result<Self::Server, Self::Error> {
        Err("the client's TLS configuration cannot run a server")
    }

    fn start_client(self) -> Result<Self::Client, Self::Error> {
        Ok(self)
    }
}

impl<E: tls::Endpoint> s2n_quic::provider::tls::Provider for Server<E> {
    type Server = Self;
    type Client = s2n_tls::Client;
    type Error = &'static str;

    fn start_server(self) -> Result<Self::Server, Self::Error> {
        Ok(self)
    }

    fn start_client(self) -> Result<Self::Client, Self::Error> {
        Err("the server's TLS configuration cannot run a client")
    }
}

/// One connection's TLS session: s2n-quic-tls's, and what we watch for on its behalf.
#[derive(Debug)]
pub struct Session<S> {
    inner: S,
    role: Role,
}

#[derive(Debug)]
enum Role {
    Client(ClientWatch),
    Server(ServerWatch),
    Unwatched,
}

// The keys are the inner session's: we never touch them.
impl<S: CryptoSuite> CryptoSuite for Session<S> {
    type HandshakeKey = S::HandshakeKey;
    type HandshakeHeaderKey = S::HandshakeHeaderKey;
    type InitialKey = S::InitialKey;
    type InitialHeaderKey = S::InitialHeaderKey;
    type OneRttKey = S::OneRttKey;
    type OneRttHeaderKey = S::OneRttHeaderKey;
    type ZeroRttKey = S::ZeroRttKey;
    type ZeroRttHeaderKey = S::ZeroRttHeaderKey;
    type RetryKey = S::RetryKey;
}

impl<S: tls::Session> tls::Session for Session<S> {
    fn poll<C: tls::Context<Self>>(
        &mut self,
        context: &mut C,
    ) -> Poll<Result<(), transport::Error>> {
        let Session { inner, role } = self;
        let result = inner.poll(&mut Relay {
            outer: context,
            role,
        });
        match role {
            Role::Client(watch) => watch.verdict(result),
            _ => result,
        }
    }

    fn process_post_handshake_message<C: tls::Context<Self>>(
        &mut self,
        context: &mut C,
    ) -> Result<(), transport::Error> {
        let Session { inner, role } = self;
        inner.process_post_handshake_message(&mut Relay {
            outer: context,
            role,
        })
    }

    fn should_discard_session(&self) -> bool {
        self.inner.should_discard_session()
    }

    fn parse_hello(
        msg_type: tls::HandshakeType,
        header_chunk: &[u8],
        total_received_len: u64,
        max_hello_size: u64,
    ) -> Result<Option<tls::HelloOffsets>, transport::Error> {
        S::parse_hello(msg_type, header_chunk, total_received_len, max_hello_size)
    }
}

/// The client's watch: reads the server's handshake messages up to its certificate.
#[derive(Debug)]
struct ClientWatch {
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
    /// Reads handshake bytes from the server. Returns whether s2n-tls may have them: not once the
    /// handshake is being refused, so that it never completes with the wrong server.
    fn on_handshake_bytes(&mut self, bytes: &[u8]) -> bool {
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
    fn verdict(
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
struct ServerWatch {
    remote: SocketAddr,
    client_ca: Option<String>,
}

impl ServerWatch {
    fn on_failed(&self, error: &dyn std::error::Error) {
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

/// Stands between the inner session and s2n-quic: passes every call through, and shows the
/// watch what goes by.
struct Relay<'a, C> {
    outer: &'a mut C,
    role: &'a mut Role,
}

impl<S: tls::Session, C: tls::Context<Session<S>>> tls::Context<S> for Relay<'_, C> {
    fn receive_handshake(&mut self, max_len: Option<usize>) -> Option<Bytes> {
        let bytes = self.outer.receive_handshake(max_len)?;
        if let Role::Client(watch) = &mut self.role
            && !watch.on_handshake_bytes(&bytes)
        {
            return None;
        }
        Some(bytes)
    }

    fn on_tls_exporter_ready(
        &mut self,
        session: &impl tls::TlsSession,
    ) -> Result<(), transport::Error> {
        // On a server that requires client certificates, the chain is the verified client's.
        if let Role::Server(ServerWatch {
            client_ca: Some(_), ..
        }) = self.role
            && let Ok(chain) = session.peer_cert_chain_der()
            && let Some(leaf) = chain.first()
        {
            self.outer.on_tls_context(Box::new(ClientIdentity {
                subject: cert::subject_of(leaf),
                fingerprint: Fingerprint::of_der(leaf),
            }));
        }
        self.outer.on_tls_exporter_ready(session)
    }

    fn on_tls_handshake_failed(
        &mut self,
        session: &impl tls::TlsSession,
        error: Box<dyn std::error::Error + Send + Sync + 'static>,
    ) -> Result<(), transport::Error> {
        if let Role::Server(watch) = self.role {
            watch.on_failed(&*error);
        }
        self.outer.on_tls_handshake_failed(session, error)
    }

    // Everything else passes straight through.

    fn on_client_application_params(
        &mut self,
        client_params: tls::ApplicationParameters,
        server_params: &mut Vec<u8>,
    ) -> Result<(), transport::Error> {
        self.outer
            .on_client_application_params(client_params, server_params)
    }

    fn on_handshake_keys(
        &mut self,
        key: S::HandshakeKey,
        header_key: S::HandshakeHeaderKey,
    ) -> Result<(), transport::Error> {
        self.outer.on_handshake_keys(key, header_key)
    }

    fn on_zero_rtt_keys(
        &mut self,
        key: S::ZeroRttKey,
        header_key: S::ZeroRttHeaderKey,
        application_parameters: tls::ApplicationParameters,
    ) -> Result<(), transport::Error> {
        self.outer
            .on_zero_rtt_keys(key, header_key, application_parameters)
    }

    fn on_one_rtt_keys(
        &mut self,
        key: S::OneRttKey,
        header_key: S::OneRttHeaderKey,
        application_parameters: tls::ApplicationParameters,
    ) -> Result<(), transport::Error> {
        self.outer
            .on_one_rtt_keys(key, header_key, application_parameters)
    }

    fn on_server_name(&mut self, server_name: ServerName) -> Result<(), transport::Error> {
        self.outer.on_server_name(server_name)
    }

    fn on_application_protocol(
        &mut self,
        application_protocol: Bytes,
    ) -> Result<(), transport::Error> {
        self.outer.on_application_protocol(application_protocol)
    }

    fn on_key_exchange_group(
        &mut self,
        named_group: tls::NamedGroup,
    ) -> Result<(), transport::Error> {
        self.outer.on_key_exchange_group(named_group)
    }

    fn on_handshake_complete(&mut self) -> Result<(), transport::Error> {
        self.outer.on_handshake_complete()
    }

    fn on_tls_context(&mut self, context: Box<dyn Any + Send>) {
        self.outer.on_tls_context(context)
    }

    fn receive_initial(&mut self, max_len: Option<usize>) -> Option<Bytes> {
        self.outer.receive_initial(max_len)
    }

    fn receive_application(&mut self, max_len: Option<usize>) -> Option<Bytes> {
        self.outer.receive_application(max_len)
    }

    fn can_send_initial(&self) -> bool {
        self.outer.can_send_initial()
    }

    fn send_initial(&mut self, transmission: Bytes) {
        self.outer.send_initial(transmission)
    }

    fn can_send_handshake(&self) -> bool {
        self.outer.can_send_handshake()
    }

    fn send_handshake(&mut self, transmission: Bytes) {
        self.outer.send_handshake(transmission)
    }

    fn can_send_application(&self) -> bool {
        self.outer.can_send_application()
    }

    fn send_application(&mut self, transmission: Bytes) {
        self.outer.send_application(transmission)
    }

    fn waker(&self) -> &Waker {
        self.outer.waker()
    }
}

#[cfg(test)]
mod tests {
    use super::super::messages::build::{certificate_body, message};
    use super::*;

    fn watch(pin: Option<Fingerprint>) -> ClientWatch {
        ClientWatch {
            pin,
            seen: Observed::default(),
            buffer: Vec::new(),
            done: false,
            certificate: None,
            refusal: None,
            resuming: false,
            book: None,
        }
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
