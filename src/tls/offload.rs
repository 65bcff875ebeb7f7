//! `serve --tls-thread`: the server's TLS work on threads of its own, off the endpoint's loop.
//!
//! `serve` runs its QUIC endpoint on one thread, and a full handshake costs the server about
//! 300 us of CPU, about 140 us of it in TLS (x25519, the ECDSA signature, the key schedule: 83 of
//! 186 ticks over 6,000 handshakes, read per thread from /proc). In that one loop every echo on
//! an open connection waits behind the TLS work of the handshakes queued before it. s2n-quic's
//! `unstable-offload-tls` provider moves each TLS session into a task of its own, which this
//! executor runs on a runtime of its own threads; the endpoint only passes it the CRYPTO bytes.
//! Measured with scripts/load-bench.sh (2000 pings 1 ms apart during a 64-in-flight handshake
//! storm, three alternating runs each, release build): ping p99 12.9-14.5 ms in the endpoint's
//! loop, 9.5-9.9 ms with the TLS thread; handshakes/s, and the ping without a storm, unchanged
//! within the noise. Tried and left out: these threads at SCHED_IDLE, so that the endpoint's
//! thread always takes the core first: the ping's p50 during the storm fell 0.41-0.49 -> 0.17-0.18
//! ms but its p99 stayed at 1.9-3.8 ms (the endpoint's own share of each handshake) and the
//! storm's handshakes/s fell 25-35%; on a busy host such threads would hardly run at all.
//!
//! Off by default, for what it changes on the wire (s2n-quic 1.91): the endpoint acknowledges a
//! client's Initial before TLS has answered, in a datagram of its own padded to 1200 bytes (the
//! server's handshake bytes double, 1200 -> 2400, with qecho's certificate), which spends a third
//! of the 3x it may send before the client's address is validated; a client's first 1-RTT packets
//! can arrive before TLS has made their keys, so the server buffers them (endpoint.rs:
//! `PACKET_BUFFER`), and the buffered packets lose their ECN marks: ECN validation failed in 5 of
//! 12 connections (without the buffer, 0 of 6, but one packet dropped in 2 of 3 connections).
//!
//! The session our TLS watch wraps is the offloaded one, so that the watch still runs in the
//! endpoint's loop and hands s2n-quic what it learns there (s2n-quic's offload context does not
//! take `on_tls_context`, which the watch uses for a client's identity).

use color_eyre::eyre::{Result, WrapErr};
use s2n_quic::provider::tls::offload::Executor;
use s2n_quic_core::crypto::tls::offload::OffloadEndpoint;
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Handle, Runtime};

/// A TLS endpoint whose sessions run on the TLS threads.
pub type Offloaded<E> = OffloadEndpoint<E, TlsThreads, ()>;

/// How many requests each session's channels to and from the endpoint hold: s2n-quic's default.
const CHANNEL_CAPACITY: usize = 10;

/// Moves the TLS sessions of `inner` onto the TLS threads.
pub fn offload<E: s2n_quic_core::crypto::tls::Endpoint>(inner: E) -> Result<Offloaded<E>> {
    Ok(OffloadEndpoint::new(
        inner,
        TlsThreads(runtime()?.handle().clone()),
        (),
        CHANNEL_CAPACITY,
    ))
}

/// Spawns each session's task on the TLS runtime.
pub struct TlsThreads(Handle);

impl Executor for TlsThreads {
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(task);
    }
}

/// One TLS runtime per process, started on first use and never dropped (a runtime may not be
/// dropped inside another one, where the endpoint that holds the executor ends): one worker per
/// core but the endpoint's, and at least one.
fn runtime() -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.saturating_sub(1).max(1))
        .thread_name("qecho-tls")
        .build()
        .wrap_err("cannot start the TLS threads")?;
    Ok(RUNTIME.get_or_init(|| runtime))
}
