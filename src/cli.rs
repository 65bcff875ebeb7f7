//! The command line, and nothing else: every subcommand, flag and default is defined and documented
//! here once. The same definition produces `--help`, the man pages and the shell completions.

use crate::units::{ByteSize, Percent, Rate, parse_duration};
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueHint};
use clap_complete::Shell;
use std::path::PathBuf;
use std::time::Duration;

/// `qecho --version`: ours, and the s2n-quic it was built with (read from Cargo.lock by build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (s2n-quic ",
    env!("QECHO_S2N_QUIC_VERSION"),
    ")"
);

/// Where `serve` listens and `send` connects when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9999";

#[derive(Debug, Parser)]
#[command(
    name = "qecho",
    version = VERSION,
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
    #[arg(short, long, action = ArgAction::Count, global = true, display_order = 100)]
    pub verbose: u8,

    /// Log less: -q shows only warnings, -qq only errors. RUST_LOG overrides.
    #[arg(
        short,
        long,
        action = ArgAction::Count,
        global = true,
        conflicts_with = "verbose",
        display_order = 101
    )]
    pub quiet: u8,

    /// Format of the log lines on standard error: text, or json (one object per line, with the
    /// fields as fields).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text, global = true, display_order = 102, hide_possible_values = true)]
    pub log_format: LogFormat,
}

/// How log lines on standard error look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event, coloured on a terminal.
    Text,
    /// For log shippers: one JSON object per line, with timestamp, level, message and fields.
    Json,
}

// Parsed once at start-up: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an echo server: every stream a client opens is echoed back byte for byte.
    ///
    /// Every bidirectional stream a client opens, any number at once, is echoed back byte for byte
    /// until the client finishes its side; then the server finishes its side, or resets it with
    /// the client's code if the client reset its own. A unidirectional stream is echoed the same
    /// way on a unidirectional stream the server opens, in the order the client opened its own,
    /// and each QUIC DATAGRAM frame with one of the server's. A client that stops reading is
    /// slowed down by QUIC flow control rather than buffered without bound. Each connection is
    /// logged on standard error when it opens (local and remote address, server name, ALPN), when
    /// its address changes, and when it closes (duration, bytes echoed, streams, and the reason in
    /// plain words). The first line says "listening on" with the real address,
    /// the ALPN list and the certificate's SHA-256 fingerprint. Runs until Ctrl-C or SIGTERM, then
    /// closes its connections cleanly and exits 0.
    Serve(ServeArgs),
    /// Connect to an echo server, send a message every interval and check each echo.
    ///
    /// Like ping, for QUIC: after the handshake (one line with the addresses, ALPN, server name and
    /// handshake time), a message goes out on one stream every --interval, exactly as many bytes
    /// are read back and compared, and a line per echo is printed on standard output. At the end,
    /// also on Ctrl-C, a summary gives sent, received, corrupted, loss and rtt
    /// min/avg/max/mdev. A message that is not echoed within --timeout counts as lost, and the next
    /// one goes out on a fresh stream, so a late echo is never taken for a new one. The server's
    /// certificate is verified against the system's roots, or --ca, for --server-name.
    ///
    /// Other modes share the same connection setup: --streams N runs N ping loops at once on one
    /// connection; `-` (or --stdin) pipes standard input through the echo to standard output;
    /// --bytes or --duration sends bulk data as fast as the connection allows and reports Gbit/s
    /// each way; --datagram pings with unreliable QUIC DATAGRAM frames (RFC 9221), so lost packets
    /// show up as loss. Every mode checks every byte that comes back. With --json, each echo and the
    /// summary are JSON objects, one per line: {"type":"echo","stream":1,"seq":1,"bytes":11,
    /// "ok":true,"rtt_ms":0.41,"error":null} and {"type":"summary","sent":..,"received":..,
    /// "corrupted":..,"lost":..,"loss_percent":..,"rtt_ms":{"min":..,"avg":..,"max":..,"mdev":..}}.
    Send(SendArgs),
    /// Write a certificate and private key (PEM, ECDSA P-256): self-signed, a CA, or signed by it.
    ///
    /// Writes cert.pem and key.pem into --out; the key with mode 0600. Refuses to overwrite either
    /// file unless --force. Prints the paths and the certificate's SHA-256 fingerprint, the same
    /// one `qecho serve` prints when it uses the files. `qecho serve --cert cert.pem --key key.pem`
    /// and `qecho send --ca cert.pem` then work together with full verification. This is the same
    /// code that makes serve's ephemeral certificate.
    ///
    /// With --ca it writes a certificate authority instead, ca.pem and ca-key.pem. --sign-with
    /// CA_DIR then issues certificates signed by that CA: for servers, which `qecho send --ca
    /// CA_DIR/ca.pem` trusts, or with --client for clients (mutual TLS), which `qecho serve
    /// --client-ca CA_DIR/ca.pem` requires and `qecho send --cert cert.pem --key key.pem` presents.
    Gencert(GencertArgs),
    /// Check whether QUIC works to any QUIC server, and report what that server offers.
    ///
    /// For each target, one handshake (and a second, resumed one when the server sends a session
    /// ticket), no echo needed: whether it is reachable and, if not, why (in the words of `qecho
    /// send`); the address used, QUIC version, ALPN, handshake time, QUIC's RTT, whether the
    /// server demanded a Retry, the handshake's bytes each way (the server's amplification factor,
    /// flagged past 3x); the cipher suite, key exchange group and signature scheme; the
    /// certificate chain (subject, issuer, names, expiry, key type, SHA-256 fingerprint) and
    /// whether it verified; the server's transport parameters; session resumption; the largest
    /// datagram that got through (path MTU discovery up to --max-mtu) and ECN. One target prints a
    /// block; several print a line each, in the order given (--long for blocks), or with --json
    /// an object per line, or --csv.
    Probe(ProbeArgs),
    /// Relay UDP between clients and a server, making the path as bad as asked: loss, delay,
    /// jitter, reordering, duplication, corruption, a rate limit, a small MTU, outages, NAT
    /// rebinding.
    ///
    /// A bad path on demand, for qecho and for any QUIC (or other UDP) program, with no root and
    /// no kernel module (what Linux's netem does, in user space). Clients send to --listen; each
    /// client address gets an upstream socket of its own towards --to, as behind a NAT, so several
    /// clients work at once and idle mappings expire. The first line says "listening on" with the
    /// real address; then one line per client mapping, each rebinding and each expiry.
    ///
    /// Every impairment applies to both directions; its --up- form (client to server) or --down-
    /// form (server to client) sets one direction alone and wins over the plain one. A datagram
    /// meets them in this order: outage, MTU, --pass-first, handshake loss, loss, duplication,
    /// corruption, the rate limit's queue, then the delay. On Ctrl-C or SIGTERM (and at -v once a
    /// second) it prints, per direction, datagrams and bytes in and out, dropped by cause,
    /// duplicated, corrupted and delayed, and how much later than due the delayed ones left on
    /// average and at most (its own timing error, which grows on a busy host); --log-format json
    /// gives them as fields.
    Relay(RelayArgs),
    /// Print the shell completion script for SHELL to standard output.
    ///
    /// The scripts are also in the completions/ directory of the source tree. See EXAMPLES for
    /// where each shell looks for them.
    Completions(CompletionsArgs),
    /// Write the man pages and completion scripts into man/ and completions/ (for maintainers).
    #[command(hide = true)]
    GenerateDocs(GenerateDocsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL", hide_possible_values = true)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// The repository to write man/ and completions/ into.
    #[arg(long, value_name = "DIR", default_value = ".", value_hint = ValueHint::DirPath)]
    pub root: std::path::PathBuf,
}

/// Application protocols (ALPN), shared by `serve` and `send`.
#[derive(Debug, Args)]
pub struct AlpnArgs {
    /// Application protocol (ALPN) to speak; repeat the flag for several, in order of preference.
    /// The default covers qecho and quic-go's echo example, both as quic-go ships it
    /// (quic-echo-example) and in its classic form (quic-example).
    #[arg(
        long = "alpn",
        value_name = "PROTO",
        default_values_t = [
            "qecho".to_string(),
            "quic-echo-example".to_string(),
            "quic-example".to_string(),
        ]
    )]
    pub protocols: Vec<String>,
}

/// Whom a client trusts, and who it is: shared by `send` and `probe`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Trust this certificate (PEM): a CA, or the server's own self-signed certificate such as
    /// `qecho gencert` writes. Without it, the system's trusted roots are used.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub ca: Option<PathBuf>,

    /// Do not verify the server's certificate at all (like curl -k). Anyone on the path can then
    /// impersonate the server; a warning says so.
    #[arg(short = 'k', long, conflicts_with = "ca")]
    pub insecure: bool,

    /// Trust exactly the server certificate with this SHA-256 fingerprint, as `qecho serve` and
    /// `qecho gencert` print it, whatever its issuer, names or dates; any other is refused, and the
    /// error shows the fingerprint it had. With --ca, the certificate must also verify against it.
    #[arg(long, value_name = "sha256:HEX", conflicts_with = "insecure")]
    pub pin: Option<crate::cert::Fingerprint>,

    /// Client certificate (PEM) to present when the server asks for one (mutual TLS, `qecho serve
    /// --client-ca`), such as `qecho gencert --sign-with CA_DIR --client` writes.
    #[arg(long, value_name = "FILE", requires = "key", value_hint = ValueHint::FilePath)]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert", value_hint = ValueHint::FilePath)]
    pub key: Option<PathBuf>,
}

/// qlog traces, shared by `serve` and `send`.
#[derive(Debug, Args)]
pub struct QlogArgs {
    /// Write a qlog trace of every connection into DIR (created if missing): one JSON-SEQ file
    /// per connection in qlog 0.3, named <odcid>_server.sqlog or <odcid>_client.sqlog by its
    /// original destination connection ID, for qvis (https://qvis.quictools.info) to open. At
    /// most 1000 traces are open at once; past that, new connections are not traced, with a
    /// warning.
    #[arg(long = "qlog", value_name = "DIR", env = "QLOGDIR", value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

impl QlogArgs {
    /// The directory, checked: one that cannot be created or written is an error at start.
    pub fn open(&self) -> color_eyre::Result<Option<crate::events::QlogDir>> {
        self.dir
            .as_deref()
            .map(crate::events::QlogDir::new)
            .transpose()
    }
}

/// QUIC's congestion controller, shared by `serve` and `send`.
#[derive(Debug, Args)]
pub struct CongestionArgs {
    /// Congestion controller for what this end sends: cubic (RFC 9438, as Linux's TCP uses it)
    /// or bbr (paces at the bottleneck rate and RTT it measures, rather than halving its window
    /// at each loss). Each end controls its own sending, so set both for a fair comparison.
    #[arg(long = "cc", value_name = "ALGORITHM", value_enum, default_value_t = CongestionControl::Cubic, hide_possible_values = true)]
    pub controller: CongestionControl,
}

/// The congestion controllers s2n-quic offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CongestionControl {
    /// CUBIC, s2n-quic's default.
    #[default]
    Cubic,
    /// BBR.
    Bbr,
}

impl CongestionControl {
    pub fn name(self) -> &'static str {
        match self {
            CongestionControl::Cubic => "cubic",
            CongestionControl::Bbr => "bbr",
        }
    }
}

#[derive(Debug, Args)]
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

    /// Require every client to present a certificate signed by this CA (PEM; mutual TLS), such as
    /// `qecho gencert --ca` writes. A client without one, or with one from another CA, is refused
    /// and the refusal logged; an accepted client's certificate subject and fingerprint are logged
    /// on its connection line.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub client_ca: Option<PathBuf>,

    /// Append the TLS secrets of every connection to FILE in the NSS key log format, for Wireshark
    /// to decrypt a capture; SSLKEYLOGFILE does the same when --keylog is not given. For debugging
    /// only: anyone with the file can read the traffic; a warning says so. The file is created with
    /// mode 0600.
    #[arg(long, value_name = "FILE", env = "SSLKEYLOGFILE", hide_env_values = true, value_hint = ValueHint::FilePath)]
    pub keylog: Option<PathBuf>,

    #[command(flatten)]
    pub alpn: AlpnArgs,

    /// Connections served at once; past it, new ones are refused with CONNECTION_REFUSED while
    /// existing ones carry on.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Handshakes in flight past which clients must first prove their address with a Retry round
    /// trip (address validation, RFC 9000 8.1): cheap protection against spoofed floods.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub retry_threshold: u64,

    /// Streams a client may have open at once on one connection, of each kind (bidirectional and
    /// unidirectional); more wait for a free slot. Each echo buffers at most 4 MiB (2 MiB receive
    /// window, 2 MiB send buffer).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_streams: u64,

    /// Close a connection after this long without a packet from the client (humantime). Clients
    /// that send nothing, or trickle slower than this, are closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Give up on a handshake that has not completed after this long (humantime).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Do the handshakes' TLS work (key exchange, signature) on threads of its own rather than in
    /// the QUIC endpoint's one loop, so that echoes on open connections wait less behind a crowd
    /// of new ones: during a storm of 64 handshakes in flight, the p99 of 1 ms pings fell from
    /// 14 to 10 ms on a 2-core machine. Off by default for its costs, in s2n-quic's still
    /// unstable offload: the server acknowledges each client's first packet in a datagram of its
    /// own, padded to 1200 bytes, before its reply, which spends a third of what it may send
    /// before the client's address is validated; and ECN validation failed in 5 of 12
    /// connections.
    #[arg(long)]
    pub tls_thread: bool,

    #[command(flatten)]
    pub congestion: CongestionArgs,

    #[command(flatten)]
    pub qlog: QlogArgs,

    /// Encrypt session tickets with the key in FILE (64 hex digits), so that several servers
    /// behind one address, or this one after a restart, resume each other's sessions. A missing
    /// FILE is created with a new random key, mode 0600; one that others can read is refused.
    /// Without it, each start makes random keys of its own, rotated every 6 hours and never
    /// written anywhere.
    #[arg(long, value_name = "FILE", conflicts_with = "no_session_tickets", value_hint = ValueHint::FilePath)]
    pub ticket_key: Option<PathBuf>,

    /// Issue no TLS session tickets: every client makes a full handshake.
    #[arg(long)]
    pub no_session_tickets: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Server to connect to (HOST:PORT). A host name is resolved and each of its addresses tried in
    /// turn.
    #[arg(value_name = "ADDR", default_value = DEFAULT_ADDR, value_hint = ValueHint::Hostname)]
    pub addr: String,

    /// Time between messages (humantime: 2s, 250ms, 1m; 0s sends back to back) [default: 2s].
    /// Back to back, qecho's I/O spins briefly before it sleeps, so that the RTT holds less of
    /// the client's own wake-up (about 30 us on loopback), at the cost of a busy core. In bulk
    /// mode, the time between interval reports, as iperf3's -i: a line (or a JSON object with
    /// "type":"interval") per interval with the bytes and rates each way, and QUIC's RTT and
    /// losses with --stats [default: 1s; 0s for none].
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

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

    /// How long to wait for each echo before counting it as lost (humantime). In bulk and pipe mode,
    /// how long the echo may make no progress before the run fails.
    #[arg(short = 'W', long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How long to wait for the QUIC handshake with each address (humantime).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Name to check the server's certificate against, also sent as SNI [default: the host part of
    /// ADDR].
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    #[command(flatten)]
    pub trust: TrustArgs,

    /// Append the TLS secrets of the connection to FILE in the NSS key log format, for Wireshark to
    /// decrypt a capture; SSLKEYLOGFILE does the same when --keylog is not given. For debugging
    /// only: anyone with the file can read the traffic; a warning says so. The file is created with
    /// mode 0600.
    #[arg(long, value_name = "FILE", env = "SSLKEYLOGFILE", hide_env_values = true, value_hint = ValueHint::FilePath)]
    pub keylog: Option<PathBuf>,

    #[command(flatten)]
    pub alpn: AlpnArgs,

    /// Pipe mode: send standard input on one stream, finish it at end of input, and write the
    /// echo to standard output (also written `qecho send ADDR -`). Done once every byte is back:
    /// a server that does not finish its side (quic-go's echo example) is given 250 ms more.
    #[arg(long, conflicts_with_all = ["message", "size", "count", "bytes", "duration", "datagram", "connections"])]
    pub stdin: bool,

    /// `-` for pipe mode, like --stdin.
    #[arg(value_name = "-", hide = true)]
    pub dash: Option<String>,

    /// Streams to run at once on the connection (on each, with --connections in bulk mode), each
    /// with its own messages and checks.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams: u32,

    /// Send each message on a stream of its own and finish that stream right after it, for servers
    /// that echo a stream only once the client has finished it (read everything, then write it
    /// back). The echo counts as soon as it is whole. Without --fin, all messages share one open
    /// stream, which is what quic-go's echo example needs: it echoes only the first stream.
    #[arg(long, conflicts_with_all = ["stdin", "bytes", "duration", "datagram", "connections"])]
    pub fin: bool,

    /// Datagram mode: echo unreliable QUIC DATAGRAM frames (RFC 9221) instead of a stream, like
    /// ICMP ping: nothing is retransmitted, so lost packets show up as loss.
    #[arg(long, conflicts_with_all = ["bytes", "duration"])]
    pub datagram: bool,

    /// Connections mode, the handshake benchmark: open N connections, each doing one echo and
    /// closing, and report connections per second and handshake latency p50/p99/max. With --bytes
    /// or --duration instead: bulk mode over N connections at once, as iperf3's -P, each with
    /// --streams streams of its own and its own UDP port; --bytes and --rate are shared over all
    /// of them, and the summary gives each connection and their sum.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with_all = ["datagram", "count"])]
    pub connections: Option<u64>,

    /// With --connections: how many handshakes are in flight at once.
    #[arg(long, value_name = "K", default_value_t = 1, requires = "connections", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub parallel: u64,

    /// Bulk mode: send this much data (1GiB, 500MB) as fast as the connection allows, split over
    /// --streams, while reading the echo back and checking it; reports throughput in Gbit/s. Done
    /// once every byte is back, as in pipe mode.
    #[arg(long, value_name = "SIZE", conflicts_with_all = ["message", "size", "count", "duration"])]
    pub bytes: Option<ByteSize>,

    /// Bulk mode: send no faster than this over all streams together (500kbit, 100Mbit, 1Gbit),
    /// as iperf3's -b; the summary gives the rate asked for and the rate achieved. Datagram mode:
    /// send datagrams of --size at this rate instead of one per --interval, as iperf3's UDP
    /// mode; the summary adds reordering, duplicates and RFC 3550 jitter.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<crate::units::Rate>,

    /// Bulk mode for this long instead of a fixed size (humantime: 10s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with_all = ["message", "size", "count"])]
    pub duration: Option<Duration>,

    /// Stop whatever mode is running after this long from the end of the handshake, and print the
    /// summary, as on Ctrl-C (humantime) [default: no deadline].
    #[arg(short = 'w', long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,

    /// Show QUIC's own view next to each round-trip time (its smoothed RTT and the packets lost so
    /// far), and QUIC's totals (RTTs, packets sent/received/lost, congestion window, bytes, the
    /// path MTU it found) in the summary of every mode.
    #[arg(long)]
    pub stats: bool,

    /// Print results as JSON on standard output: one object per echo and one for the summary
    /// (bulk mode: one object at the end).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub congestion: CongestionArgs,

    #[command(flatten)]
    pub qlog: QlogArgs,

    /// Resume: keep the session ticket the server sends on a first connection, and offer it on
    /// the next, which then skips the certificate and its signature (TLS 1.3 resumption). In ping,
    /// bulk and datagram mode a first, short connection fetches the ticket and the run happens on
    /// a resumed one: the "connected" line shows both handshake times. With --connections, every
    /// connection after the first resumes, and the summary counts resumed and full handshakes.
    /// 0-RTT (sending data in the first flight) is not possible: s2n-quic 1.91 does not
    /// implement it (its issue #339).
    #[arg(long, conflicts_with_all = ["stdin"])]
    pub resume: bool,

    /// Read a session ticket from FILE, if there is one for this server name, and offer it; then
    /// write the newest ticket back (mode 0600, replaced atomically), so that the next run
    /// resumes, like ngtcp2's and quiche's --session-file. A corrupt, expired or foreign FILE is a
    /// warning and a full handshake.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub session: Option<PathBuf>,

    /// Use IPv4 addresses of ADDR only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Use IPv6 addresses of ADDR only.
    #[arg(short = '6')]
    pub ipv6: bool,

    /// Local address (and port) to send from, e.g. 127.0.0.1:0 or [::1]:5000 [default: any
    /// address of the right family, any port].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Servers to probe: HOST, HOST:PORT, [IPv6]:PORT or https://HOST[:PORT]/... (port 443 unless
    /// given).
    #[arg(value_name = "TARGET", value_hint = ValueHint::Hostname)]
    pub targets: Vec<String>,

    /// Read more targets from FILE, one per line (`-` for standard input); blank lines and lines
    /// starting with # are skipped.
    #[arg(short = 'f', long = "file", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: Option<PathBuf>,

    /// Application protocol (ALPN) to offer; repeat for several, in order of preference: h3 for
    /// HTTP/3 servers, doq for DNS over QUIC, qecho for `qecho serve`.
    #[arg(long = "alpn", value_name = "PROTO", default_values_t = ["h3".to_string()])]
    pub alpn: Vec<String>,

    #[command(flatten)]
    pub trust: TrustArgs,

    /// How many targets to probe at once.
    #[arg(long, value_name = "K", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub parallel: u64,

    /// How long each target may take, handshakes, resumption and MTU search together (humantime).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The largest UDP payload path MTU discovery tries, in bytes (1200 to 9000): the probe
    /// reports the largest that got through.
    #[arg(long, value_name = "BYTES", default_value_t = 1500, value_parser = clap::value_parser!(u16).range(1200..=9000))]
    pub max_mtu: u16,

    /// One block per target even for several targets (instead of one line each).
    #[arg(long, conflicts_with_all = ["json", "csv"])]
    pub long: bool,

    /// One JSON object per target, one per line, in the order given.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,

    /// Comma-separated values: a header line, then one line per target.
    #[arg(long)]
    pub csv: bool,

    /// Use IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Use IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6: bool,
}

/// The impairments of `qecho relay`, for one direction or both.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Address to listen on for clients (IP:PORT; port 0 picks a free port, which the "listening
    /// on" line reports).
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9998")]
    pub listen: String,

    /// The server to relay to (HOST:PORT), such as `qecho serve` on its default address.
    #[arg(short, long, value_name = "ADDR", default_value = DEFAULT_ADDR, value_hint = ValueHint::Hostname)]
    pub to: String,

    /// Seed for the random choices (loss, jitter, duplication, corruption), so that a run can be
    /// repeated: the same seed makes the same choices for the same sequence of datagrams
    /// [default: a fresh seed, printed on the listening line].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Drop each datagram with this probability (30%, 0.5%, or the fraction 0.3), independently.
    #[arg(
        long,
        value_name = "PCT",
        help_heading = "Impairments, both directions"
    )]
    pub loss: Option<Percent>,

    /// Drop each datagram that carries a QUIC long header (Initial, 0-RTT, Handshake, Retry)
    /// with this probability, and nothing else: the QUIC interop runner's handshakeloss case.
    #[arg(
        long,
        value_name = "PCT",
        help_heading = "Impairments, both directions"
    )]
    pub handshake_loss: Option<Percent>,

    /// Hold each datagram this long (humantime: 20ms, 750ms), as a long path does: the round
    /// trip grows by twice this.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Impairments, both directions")]
    pub delay: Option<Duration>,

    /// Vary each datagram's delay at random by up to this much either way (uniformly, never
    /// below zero, as netem does): datagrams overtake each other, as on a real path whose
    /// jitter exceeds the gap between packets.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Impairments, both directions")]
    pub jitter: Option<Duration>,

    /// Send each datagram twice with this probability.
    #[arg(
        long,
        value_name = "PCT",
        help_heading = "Impairments, both directions"
    )]
    pub duplicate: Option<Percent>,

    /// Flip one random bit of each datagram with this probability.
    #[arg(
        long,
        value_name = "PCT",
        help_heading = "Impairments, both directions"
    )]
    pub corrupt: Option<Percent>,

    /// A bottleneck of this rate (500kbit, 50Mbit, 1Gbit): datagrams leave no faster, and wait
    /// in a queue of --queue bytes; past it they are dropped (tail drop), and counted.
    #[arg(
        long,
        value_name = "RATE",
        help_heading = "Impairments, both directions"
    )]
    pub rate: Option<Rate>,

    /// The bottleneck's queue, in bytes [default: what --rate carries in 50 ms, at least 64 KiB].
    #[arg(
        long,
        value_name = "BYTES",
        help_heading = "Impairments, both directions"
    )]
    pub queue: Option<ByteSize>,

    /// Drop every datagram whose IP packet (the UDP payload plus 28 bytes of IPv4 and UDP
    /// header, or 48 with IPv6) is larger than this: a path MTU black hole.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(68..=65535), help_heading = "Impairments, both directions")]
    pub mtu: Option<u32>,

    /// Let nothing through for this long, once every --outage-every (humantime): a blackhole,
    /// as when a link goes down or a phone changes cells. The first outage starts one period
    /// after the relay starts.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "outage_every", help_heading = "Impairments, both directions")]
    pub outage: Option<Duration>,

    /// The period of --outage (humantime).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Impairments, both directions")]
    pub outage_every: Option<Duration>,

    /// Pass only the first N datagrams, then drop all the rest: with --up-pass-first 1, a server
    /// hears a client's first flight only, and can be seen to respect its anti-amplification
    /// limit.
    #[arg(long, value_name = "N", help_heading = "Impairments, both directions")]
    pub pass_first: Option<u64>,

    /// Move each client's upstream socket to a new port this often (humantime), as a NAT
    /// rebinding does: the server sees the same connection arrive from a new address.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Impairments, both directions")]
    pub rebind_every: Option<Duration>,

    /// Forget a client's mapping after this long without a datagram from it (humantime); RFC
    /// 4787 asks NATs for at least 2 minutes.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// --loss from client to server only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub up_loss: Option<Percent>,
    /// --loss from server to client only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub down_loss: Option<Percent>,
    /// --handshake-loss from client to server only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub up_handshake_loss: Option<Percent>,
    /// --handshake-loss from server to client only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub down_handshake_loss: Option<Percent>,
    /// --delay from client to server only.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "One direction only")]
    pub up_delay: Option<Duration>,
    /// --delay from server to client only.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "One direction only")]
    pub down_delay: Option<Duration>,
    /// --jitter from client to server only.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "One direction only")]
    pub up_jitter: Option<Duration>,
    /// --jitter from server to client only.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "One direction only")]
    pub down_jitter: Option<Duration>,
    /// --duplicate from client to server only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub up_duplicate: Option<Percent>,
    /// --duplicate from server to client only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub down_duplicate: Option<Percent>,
    /// --corrupt from client to server only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub up_corrupt: Option<Percent>,
    /// --corrupt from server to client only.
    #[arg(long, value_name = "PCT", help_heading = "One direction only")]
    pub down_corrupt: Option<Percent>,
    /// --rate from client to server only.
    #[arg(long, value_name = "RATE", help_heading = "One direction only")]
    pub up_rate: Option<Rate>,
    /// --rate from server to client only.
    #[arg(long, value_name = "RATE", help_heading = "One direction only")]
    pub down_rate: Option<Rate>,
    /// --queue from client to server only.
    #[arg(long, value_name = "BYTES", help_heading = "One direction only")]
    pub up_queue: Option<ByteSize>,
    /// --queue from server to client only.
    #[arg(long, value_name = "BYTES", help_heading = "One direction only")]
    pub down_queue: Option<ByteSize>,
    /// --mtu from client to server only.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(68..=65535), help_heading = "One direction only")]
    pub up_mtu: Option<u32>,
    /// --mtu from server to client only.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(68..=65535), help_heading = "One direction only")]
    pub down_mtu: Option<u32>,
    /// --outage from client to server only (with --outage-every).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "outage_every", help_heading = "One direction only")]
    pub up_outage: Option<Duration>,
    /// --outage from server to client only (with --outage-every).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "outage_every", help_heading = "One direction only")]
    pub down_outage: Option<Duration>,
    /// --pass-first from client to server only.
    #[arg(long, value_name = "N", help_heading = "One direction only")]
    pub up_pass_first: Option<u64>,
    /// --pass-first from server to client only.
    #[arg(long, value_name = "N", help_heading = "One direction only")]
    pub down_pass_first: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GencertArgs {
    /// Directory to write cert.pem and key.pem into, or ca.pem and ca-key.pem with --ca (created if
    /// missing).
    #[arg(short, long, value_name = "DIR", default_value = ".", value_hint = ValueHint::DirPath)]
    pub out: PathBuf,

    /// Name the certificate is valid for; repeat for several. An IP address becomes an IP SAN,
    /// anything else a DNS SAN; the first is also the subject's common name. With --ca, the CA's
    /// one name [default: localhost, 127.0.0.1 and ::1; with --ca, "qecho CA"; --client needs
    /// one].
    #[arg(short, long = "name", value_name = "NAME")]
    pub names: Vec<String>,

    /// How long the certificate stays valid, from now (humantime: 365days, 90days, 12h); with
    /// --sign-with, no longer than the CA itself, since verifiers refuse a chain whose CA expired.
    #[arg(long, value_name = "DURATION", default_value = "365days", value_parser = parse_duration)]
    pub valid_for: Duration,

    /// Overwrite the certificate and key files if they exist.
    #[arg(short, long)]
    pub force: bool,

    /// Make a certificate authority instead: ca.pem and ca-key.pem, to issue server and client
    /// certificates with --sign-with, and for `qecho send --ca` and `qecho serve --client-ca` to
    /// trust.
    #[arg(long, conflicts_with_all = ["sign_with", "client"])]
    pub ca: bool,

    /// Sign the certificate with the CA in CA_DIR (its ca.pem and ca-key.pem, as --ca writes them)
    /// instead of by itself.
    #[arg(long, value_name = "CA_DIR", value_hint = ValueHint::DirPath)]
    pub sign_with: Option<PathBuf>,

    /// Make a client certificate (for client authentication, `qecho send --cert`) instead of a
    /// server certificate.
    #[arg(long)]
    pub client: bool,
}

/// What `--help` and the man pages say beyond the flags: examples, exit status, environment.
pub struct Page {
    /// The subcommand, or "" for `qecho` itself.
    pub name: &'static str,
    /// Command lines and what each does.
    pub examples: &'static [(&'static str, &'static str)],
    pub exit_status: &'static [(&'static str, &'static str)],
    pub environment: &'static [(&'static str, &'static str)],
}

const RUST_LOG: (&str, &str) = (
    "RUST_LOG",
    "Log filter, overriding -v and -q: e.g. RUST_LOG=debug, or RUST_LOG=qecho=trace,s2n_quic=debug.",
);
const NO_COLOR: (&str, &str) = (
    "NO_COLOR",
    "Log lines are coloured only when standard error is a terminal; set NO_COLOR to turn colour off.",
);
const SUCCESS_OR_ERROR: &[(&str, &str)] = &[
    ("0", "Success."),
    (
        "2",
        "Error: bad usage or bad input; the message on standard error says what to fix.",
    ),
];

pub const PAGES: &[Page] = &[
    Page {
        name: "",
        examples: &[
            (
                "qecho serve",
                "Run an echo server on 127.0.0.1:9999 with an ephemeral certificate.",
            ),
            (
                "qecho send --insecure",
                "Ping it from another terminal, once every 2 seconds.",
            ),
            (
                "qecho gencert --out certs",
                "Write certs/cert.pem and certs/key.pem.",
            ),
        ],
        exit_status: &[
            ("0", "Success; for send, every echo came back intact."),
            (
                "1",
                "send: some echoes were lost, late or corrupted, or the connection broke.",
            ),
            ("2", "Error: bad usage, bad input, or no connection."),
        ],
        environment: &[RUST_LOG, NO_COLOR],
    },
    Page {
        name: "serve",
        examples: &[
            (
                "qecho serve",
                "Listen on 127.0.0.1:9999 with an ephemeral self-signed certificate.",
            ),
            (
                "qecho serve --listen '[::]:4433' --cert cert.pem --key key.pem",
                "Listen on every IPv6 and IPv4 address with a certificate of your own.",
            ),
            (
                "qecho serve --listen 127.0.0.1:0 --alpn my-proto",
                "Pick a free port (printed on the listening line) and speak only ALPN my-proto.",
            ),
        ],
        exit_status: SUCCESS_OR_ERROR,
        environment: &[RUST_LOG, NO_COLOR],
    },
    Page {
        name: "send",
        examples: &[
            (
                "qecho send --insecure",
                "Ping qecho serve on this machine, skipping verification.",
            ),
            (
                "qecho send 127.0.0.1:4433 --ca cert.pem - < file | cmp - file",
                "Pipe mode: send a file through the echo and compare what comes back.",
            ),
            (
                "qecho send example.net:4433 --bytes 1GiB --streams 4",
                "Bulk mode: 1 GiB over four streams as fast as the path allows; Gbit/s each way.",
            ),
            (
                "qecho send -k --count 5 --json | jq -r 'select(.type == \"echo\") | .rtt_ms'",
                "One JSON object per echo and one summary; here, just the round-trip times.",
            ),
        ],
        exit_status: &[
            ("0", "Every echo came back intact."),
            (
                "1",
                "Some echoes were lost, late or corrupted, or the connection broke.",
            ),
            (
                "2",
                "No connection (unreachable, refused, not verified) or bad usage.",
            ),
        ],
        environment: &[RUST_LOG, NO_COLOR],
    },
    Page {
        name: "gencert",
        examples: &[
            (
                "qecho gencert",
                "Write cert.pem and key.pem here, for localhost, 127.0.0.1 and ::1.",
            ),
            (
                "qecho gencert --out /etc/qecho --name echo.example.net --name 192.0.2.7 --valid-for 90days",
                "A certificate for a DNS name and an IP address, valid for 90 days.",
            ),
            (
                "qecho gencert --force",
                "Replace existing cert.pem and key.pem.",
            ),
            (
                "qecho gencert --ca --out ca",
                "Make a CA: ca/ca.pem and ca/ca-key.pem.",
            ),
            (
                "qecho gencert --sign-with ca --out server --name echo.example.net",
                "A server certificate signed by that CA, trusted by `qecho send --ca ca/ca.pem`.",
            ),
            (
                "qecho gencert --sign-with ca --client --out alice --name alice",
                "A client certificate for `qecho send --cert alice/cert.pem --key alice/key.pem`, \
                 accepted by `qecho serve --client-ca ca/ca.pem`.",
            ),
        ],
        exit_status: SUCCESS_OR_ERROR,
        environment: &[],
    },
    Page {
        name: "probe",
        examples: &[
            (
                "qecho probe cloudflare-quic.com",
                "Does HTTP/3's QUIC work to that site from here, and what does its server offer?",
            ),
            (
                "qecho probe -f sites.txt --parallel 16 --csv > sites.csv",
                "Many servers at once, one line each, in the order of the file.",
            ),
            (
                "qecho probe 127.0.0.1:9999 --alpn qecho -k",
                "A `qecho serve` with its ephemeral certificate.",
            ),
            (
                "qecho probe dns.adguard-dns.com:853 --alpn doq --json",
                "A DNS-over-QUIC resolver, as JSON.",
            ),
        ],
        exit_status: &[
            ("0", "Every target reachable."),
            (
                "1",
                "At least one target was not reachable; its line says why.",
            ),
            (
                "2",
                "Bad usage or bad input; the message on standard error says what to fix.",
            ),
        ],
        environment: &[RUST_LOG, NO_COLOR],
    },
    Page {
        name: "relay",
        examples: &[
            (
                "qecho relay --to 127.0.0.1:9999 --delay 20ms --loss 1%",
                "Clients of 127.0.0.1:9998 reach the server 40 ms further away, with 1% loss each way.",
            ),
            (
                "qecho relay --listen 127.0.0.1:0 --to 127.0.0.1:4433 --rate 50Mbit --up-loss 10% --seed 7",
                "A 50 Mbit/s bottleneck each way, 10% loss client to server, the same choices every run.",
            ),
            (
                "qecho relay --handshake-loss 30% --corrupt 2%",
                "The QUIC interop runner's handshake loss, and one flipped bit in 2% of datagrams.",
            ),
            (
                "qecho relay --outage 2s --outage-every 10s --rebind-every 5s",
                "A link that goes dark for 2 s every 10 s, behind a NAT that rebinds every 5 s.",
            ),
            (
                "qecho relay --mtu 1280",
                "A path MTU black hole: datagrams over 1280 bytes of IP packet vanish.",
            ),
        ],
        exit_status: SUCCESS_OR_ERROR,
        environment: &[RUST_LOG, NO_COLOR],
    },
    Page {
        name: "completions",
        examples: &[
            (
                "qecho completions bash > ~/.local/share/bash-completion/completions/qecho",
                "Install bash completion for your user.",
            ),
            (
                "qecho completions zsh > ~/.zfunc/_qecho",
                "Install zsh completion (with ~/.zfunc in fpath).",
            ),
            (
                "qecho completions fish > ~/.config/fish/completions/qecho.fish",
                "Install fish completion.",
            ),
        ],
        exit_status: SUCCESS_OR_ERROR,
        environment: &[],
    },
];

/// The whole command line, with each subcommand's examples appended to its long help.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    for page in PAGES {
        let text = examples_text(page);
        command = if page.name.is_empty() {
            command.after_long_help(text)
        } else {
            command.mut_subcommand(page.name, |sub| sub.after_long_help(text))
        };
    }
    command
}

fn examples_text(page: &Page) -> String {
    let mut text = String::from("Examples:");
    for (line, what) in page.examples {
        text.push_str(&format!("\n  {line}\n      {what}"));
    }
    text
}
