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
//! to s2n-tls; the handshake fails with a bad_certificate alert before anything is sent. What
//! each end reads from those messages is in `watch/handshake.rs`; this file is the wrapping.
//!
//! Why not s2n-tls itself: it hands out the peer's certificate only after verifying it
//! (`peer_cert_chain` fails when verification is off), and its certificate validation callback
//! (feature `unstable-crl`) runs only after a successful verification, or, with verification
//! off, cannot read the chain either.

use super::ClientTickets;
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
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

mod handshake;
use handshake::{ClientWatch, ServerWatch};

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
            role: Role::Client(ClientWatch::new(
                self.pin,
                self.seen.clone(),
                self.tickets.as_ref().is_some_and(ClientTickets::offering),
                book,
            )),
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
            role: Role::Server(ServerWatch::new(remote, self.client_ca.clone())),
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
        if let Role::Server(watch) = &self.role
            && watch.requires_client_certificate()
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
