//! `qecho send`: the client. This module resolves the command line into a target, a TLS config and
//! a mode, connects once, and hands the connection to the mode. Each mode lives in its own file.

mod connect;
mod ping;

use crate::cli::SendArgs;
use crate::tls::{ClientTls, Trust};
use crate::units::millis;
use color_eyre::eyre::{Result, eyre};
use std::process::ExitCode;

pub use connect::Session;

/// The largest message ping mode holds in memory (it keeps the message and its echo).
const MAX_MESSAGE: u64 = 64 << 20;

pub async fn run(args: SendArgs) -> Result<ExitCode> {
    let payload = ping::Payload::from_args(args.message.as_deref(), args.size.map(|s| s.0))?;
    let tls = ClientTls::new(args.ca.as_deref(), args.insecure, args.alpn.protocols)?;
    let target = connect::Target::resolve(&args.addr, args.server_name.as_deref()).await?;
    if matches!(tls.trust, Trust::Insecure) {
        tracing::warn!(
            "--insecure: the server's certificate is not verified; anyone on the path could pose as {}",
            target.server_name
        );
    }
    let session = connect::connect(&target, &tls, args.connect_timeout).await?;
    println!(
        "connected to {} from {}, alpn {}, server name {}, handshake {} ms",
        session.remote,
        session.local,
        session.alpn,
        session.server_name,
        millis(session.handshake)
    );
    let options = ping::Options {
        payload,
        interval: args.interval,
        count: args.count,
        timeout: args.timeout,
    };
    ping::run(session, options).await
}

/// Checks `--size` against what a message may be.
fn check_size(size: u64) -> Result<u64> {
    match size {
        0 => Err(eyre!("--size 0: a message must be at least 1 byte")),
        size if size > MAX_MESSAGE => Err(eyre!(
            "--size {size}: a message may be at most {} MiB",
            MAX_MESSAGE >> 20
        )),
        size => Ok(size),
    }
}
