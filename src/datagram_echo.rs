//! The server's DATAGRAM echo (RFC 9221), done inside s2n-quic's connection: each datagram the
//! client sends is queued, as it is read off its packet, for the next packet back. No task per
//! connection, no copy through an application queue.
//!
//! Why not s2n-quic's default datagram provider with an echo task (what `serve` did first): its
//! queues are fixed-size rings allocated in full for every connection, datagrams or not. At 16
//! entries (an idle connection's memory was the reason for so few) a paced client at 100 Mbit/s
//! lost 22 of 5000 echoes on plain loopback and 346 through a 5 ms relay: the echoes of a burst
//! that QUIC's congestion window held back pushed each other out. Here the queue is empty, and
//! costs nothing, until datagrams come, and then grows to `QUEUE_BYTES`.

use s2n_quic::provider::datagram::{
    ConnectionInfo, Endpoint, Packet, PreConnectionInfo, ReceiveContext, Receiver, Sender,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

/// Echoes held per connection, waiting for room in the congestion window, at most: what 100 Mbit/s
/// carries in 80 ms (a long path's round trip while the window grows). Past it the oldest echo is
/// dropped and counted, which is what datagrams may do.
const QUEUE_BYTES: usize = 1 << 20;

/// The largest DATAGRAM frame we accept: s2n-quic's recommended value, as its default provider.
const MAX_DATAGRAM_FRAME_SIZE: u64 = 30_000;

/// Packets in a row a datagram may fail to fit before it is dropped as too large for the path.
const HEAD_MISSES: u32 = 4;

/// Plugs into `s2n_quic::Server::builder().with_datagram(..)`.
#[derive(Default)]
pub struct EchoEndpoint;

/// What a connection's echo has done; `serve` reads it for the close line.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct EchoCounts {
    pub echoed: u64,
    pub echoed_bytes: u64,
    /// Dropped because `QUEUE_BYTES` were already waiting.
    pub dropped_queue_full: u64,
    /// Dropped because it could not fit a packet back: larger than the client accepts, or than
    /// the path back carries.
    pub dropped_too_large: u64,
    /// Still waiting in the queue when the connection closed.
    pub left_at_close: u64,
}

impl EchoCounts {
    /// Every datagram received and not echoed.
    pub fn not_echoed(&self) -> u64 {
        self.dropped_queue_full + self.dropped_too_large + self.left_at_close
    }
}

#[derive(Default)]
struct Queue {
    datagrams: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Packets in a row the first datagram has not fit into.
    head_misses: u32,
    counts: EchoCounts,
}

type Shared = Arc<Mutex<Queue>>;

fn lock(queue: &Shared) -> std::sync::MutexGuard<'_, Queue> {
    // Nothing panics while holding it; if something did, the queue is still a queue.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The receiving half: queues each datagram for its echo and wakes the connection to send it.
pub struct EchoReceiver {
    queue: Shared,
    waker: Waker,
    /// The largest datagram the client accepts back (its max_datagram_frame_size, less framing).
    max_payload: u64,
}

/// The sending half: writes queued echoes into packets as QUIC's congestion window allows.
pub struct EchoSender {
    queue: Shared,
}

impl EchoSender {
    /// A view of the echo's counts that outlives the connection (`handle.datagram_mut(|s: &mut
    /// EchoSender| s.counter())` while it is open).
    pub fn counter(&self) -> EchoCounter {
        EchoCounter(self.queue.clone())
    }
}

/// What a connection's echo has done, read at any time, even after the connection has gone.
#[derive(Clone, Default)]
pub struct EchoCounter(Shared);

impl EchoCounter {
    pub fn counts(&self) -> EchoCounts {
        lock(&self.0).counts
    }
}

impl Endpoint for EchoEndpoint {
    type Sender = EchoSender;
    type Receiver = EchoReceiver;

    fn create_connection(&mut self, info: &ConnectionInfo) -> (EchoSender, EchoReceiver) {
        let queue = Shared::default();
        let receiver = EchoReceiver {
            queue: queue.clone(),
            waker: info.waker.clone(),
            max_payload: info.max_datagram_payload,
        };
        (EchoSender { queue }, receiver)
    }

    fn max_datagram_frame_size(&self, _info: &PreConnectionInfo) -> u64 {
        MAX_DATAGRAM_FRAME_SIZE
    }
}

impl Receiver for EchoReceiver {
    fn on_datagram(&mut self, _context: &ReceiveContext<'_>, datagram: &[u8]) {
        {
            let mut queue = lock(&self.queue);
            if datagram.len() as u64 > self.max_payload {
                queue.counts.dropped_too_large += 1;
                return;
            }
            while queue.bytes + datagram.len() > QUEUE_BYTES {
                let Some(oldest) = queue.datagrams.pop_front() else {
                    break;
                };
                queue.bytes -= oldest.len();
                queue.counts.dropped_queue_full += 1;
            }
            queue.bytes += datagram.len();
            queue.datagrams.push_back(datagram.to_vec());
        }
        self.waker.wake_by_ref();
    }

    fn on_connection_error(&mut self, _error: s2n_quic::connection::Error) {}
}

impl Sender for EchoSender {
    fn on_transmit<P: Packet>(&mut self, packet: &mut P) {
        // As s2n-quic's own sender: every other packet goes to stream data first.
        if packet.has_pending_streams() && !packet.datagrams_prioritized() {
            return;
        }
        let mut queue = lock(&self.queue);
        while let Some(datagram) = queue.datagrams.pop_front() {
            queue.bytes -= datagram.len();
            let fits = packet.remaining_capacity() >= datagram.len();
            if fits && packet.write_datagram(&datagram).is_ok() {
                queue.head_misses = 0;
                queue.counts.echoed += 1;
                queue.counts.echoed_bytes += datagram.len() as u64;
                continue;
            }
            // A packet that already carries other frames may have too little room left; a
            // datagram that has missed several packets in a row will not fit this path at all.
            queue.head_misses += 1;
            if queue.head_misses > HEAD_MISSES {
                queue.head_misses = 0;
                queue.counts.dropped_too_large += 1;
                continue;
            }
            queue.bytes += datagram.len();
            queue.datagrams.push_front(datagram);
            return;
        }
    }

    fn has_transmission_interest(&self) -> bool {
        !lock(&self.queue).datagrams.is_empty()
    }

    fn on_connection_error(&mut self, _error: s2n_quic::connection::Error) {
        let mut queue = lock(&self.queue);
        queue.counts.left_at_close += queue.datagrams.len() as u64;
        queue.datagrams = VecDeque::new();
        queue.bytes = 0;
    }
}
