//! Graceful shutdown: a future that completes on Ctrl-C (SIGINT) or SIGTERM, whichever comes
//! first. `serve` stops accepting and closes its connections; `send` stops and prints its summary.
//!
//! The handlers are registered when `signal()` is called, not when the future is first polled:
//! `serve` announces "listening on" right after, and a SIGTERM arriving in between must not kill
//! the process outright.

use std::future::Future;

/// Registers the handlers now; the returned future completes when the user or the system asks
/// the process to stop.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                // Without signal handling we can still stop on Ctrl-C the portable way.
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
