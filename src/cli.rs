//! The command line, and nothing else: every subcommand, flag and default is defined and documented
//! here once. The same definition produces `--help`, the man pages and the shell completions.

use crate::units::{ByteSize, parse_duration};
use clap::{ArgAction, Args, Parser, Subcommand, ValueHint};
use std::path::PathBuf;
use std::time::Duration;

/// Where `serve` listens and `send` connects when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9999";

#[derive(Debug, Parser)]
#[command(
    name = "qecho",
    version,
    about = "QUIC echo server and client: does QUIC work between two places, how fast, and why not",
    long_about = "qecho checks QUIC end to end. `qecho serve` runs an echo server that echoes every \
                  stream back byte for byte; `qecho send` connects to it (or to any QUIC echo server \
                  speaking a common ALPN), sends a message at a fixed interval and checks each echo, \
                  ping-style. `qecho gencert` writes a certificate and key for the server.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log more: -v adds debug detail (per stream), -vv traces everything. RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an echo server: every stream a client opens is echoed back byte for byte.
    Serve(ServeArgs),
    /// Connect to an echo server, send a message every interval and check each echo.
    Send(SendArgs),
    /// Write a self-signed certificate and private key (PEM, ECDSA P-256).
    Gencert(GencertArgs),
}

/// Application protocols (ALPN), shared by `serve` and `send`.
#[derive(Debug, Args)]
pub struct AlpnArgs {
    /// Application protocol (ALPN) to speak; repeat the flag for several, in order of preference.
    /// The default covers qecho and the classic quic-go echo example.
    #[arg(
        long = "alpn",
        value_name = "PROTO",
        default_values_t = ["qecho".to_string(), "quic-example".to_string()]
    )]
    pub protocols: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:\n  \
    qecho serve\n  \
    qecho serve --listen '[::]:4433' --cert cert.pem --key key.pem\n  \
    qecho serve --listen 127.0.0.1:0 --alpn my-proto")]
pub struct ServeArgs {
    /// Address to listen on (IP:PORT). IPv6 goes in brackets, [::]:9999 listens on IPv6 and IPv4;
    /// port 0 picks a free port, which the "listening on" line reports.
    #[arg(short, long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub listen: String,

    /// Certificate chain to present (PEM). Without --cert and --key, an ephemeral self-signed
    /// certificate is made for localhost, 127.0.0.1, ::1 and the listen host.
    #[arg(long, value_name = "FILE", requires = "key", value_hint = ValueHint::FilePath)]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert", value_hint = ValueHint::FilePath)]
    pub key: Option<PathBuf>,

    #[command(flatten)]
    pub alpn: AlpnArgs,
}

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:\n  \
    qecho send --insecure                         # against `qecho serve` on this machine\n  \
    qecho send example.net:4433 --count 5 --interval 200ms\n  \
    qecho send 127.0.0.1:4433 --ca cert.pem --size 64KiB --count 10")]
pub struct SendArgs {
    /// Server to connect to (HOST:PORT). A host name is resolved and each of its addresses tried in
    /// turn.
    #[arg(value_name = "ADDR", default_value = DEFAULT_ADDR, value_hint = ValueHint::Hostname)]
    pub addr: String,

    /// Time between messages (humantime: 2s, 250ms, 1m; 0s sends back to back).
    #[arg(short, long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Stop after this many echoes [default: run until Ctrl-C].
    #[arg(short, long, value_name = "N")]
    pub count: Option<u64>,

    /// Text to send in every message [default: "qecho seq=N", with the sequence number].
    #[arg(short, long, value_name = "TEXT", conflicts_with = "size")]
    pub message: Option<String>,

    /// Send generated messages of this size instead (bytes, or with a unit: 1400, 64KiB, 1MB). Each
    /// message differs from the one before, so a stale echo cannot pass as a fresh one.
    #[arg(short, long, value_name = "BYTES")]
    pub size: Option<ByteSize>,

    /// How long to wait for each echo before counting it as lost (humantime).
    #[arg(short = 'W', long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How long to wait for the QUIC handshake with each address (humantime).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Name to check the server's certificate against, also sent as SNI [default: the host part of
    /// ADDR].
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// Trust this certificate (PEM): a CA, or the server's own self-signed certificate such as
    /// `qecho gencert` writes. Without it, the system's trusted roots are used.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub ca: Option<PathBuf>,

    /// Do not verify the server's certificate at all (like curl -k). Anyone on the path can then
    /// impersonate the server; a warning says so.
    #[arg(short = 'k', long, conflicts_with = "ca")]
    pub insecure: bool,

    #[command(flatten)]
    pub alpn: AlpnArgs,
}

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:\n  \
    qecho gencert\n  \
    qecho gencert --out /etc/qecho --name echo.example.net --name 192.0.2.7 --valid-for 90days\n  \
    qecho gencert --force   # replace cert.pem and key.pem")]
pub struct GencertArgs {
    /// Directory to write cert.pem and key.pem into (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = ".", value_hint = ValueHint::DirPath)]
    pub out: PathBuf,

    /// Name the certificate is valid for; repeat for several. An IP address becomes an IP SAN,
    /// anything else a DNS SAN.
    #[arg(
        short,
        long = "name",
        value_name = "NAME",
        default_values_t = ["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()]
    )]
    pub names: Vec<String>,

    /// How long the certificate stays valid, from now (humantime: 365days, 90days, 12h).
    #[arg(long, value_name = "DURATION", default_value = "365days", value_parser = parse_duration)]
    pub valid_for: Duration,

    /// Overwrite cert.pem and key.pem if they exist.
    #[arg(short, long)]
    pub force: bool,
}
