//! Logging: `tracing` to standard error, with the level from `-v`/`-q` unless `RUST_LOG` says
//! otherwise. Standard output is kept for results (`send`'s echo lines), so that it can be piped.

use crate::cli::{LogArgs, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::debug_fn;

pub fn init(args: &LogArgs) {
    let level = match i16::from(args.verbose) - i16::from(args.quiet) {
        ..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our own crate at the chosen level; the libraries below us only when something is wrong.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,qecho={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match args.log_format {
        // The message already says everything in words; the fields are there for JSON.
        LogFormat::Text => builder
            .fmt_fields(debug_fn(|writer, field, value| match field.name() {
                "message" => write!(writer, "{value:?}"),
                _ => Ok(()),
            }))
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
        // Fields at the top level, next to "message", so that `jq .conn` just works.
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
}
