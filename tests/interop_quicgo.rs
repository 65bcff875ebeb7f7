//! Interop with quic-go, the stack of the echo example qecho descends from: its two halves
//! (`tests/interop/quicgo_echo/main.go`, as close to quic-go's `example/echo` as a split allows)
//! against `qecho serve` and `qecho send`, with qecho's default ALPNs and no other flags.
//!
//! The Go program is built on first use from Debian's packages of Go and quic-go 0.29
//! (`apt-get install golang-go golang-github-lucas-clemente-quic-go-dev`; no network needed).
//! Without them these tests fail and say what to install: they never skip.

mod common;

use common::{DEADLINE, Log, Server, assert_status, send, text, word_after};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/quicgo_echo");

/// Where Debian installs Go library sources; quic-go is built from there in GOPATH mode.
const GOPATH: &str = "/usr/share/gocode";

/// The ALPN of quic-go's echo example as quic-go ships it (0.29 here), and of its classic form.
const EXAMPLE_ALPNS: [&str; 2] = ["quic-echo-example", "quic-example"];

/// The built Go program, made once per test binary.
fn quicgo_echo() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build) {
        Ok(binary) => binary,
        Err(why) => panic!("{why}"),
    }
}

fn build() -> Result<PathBuf, String> {
    let howto = "these interop tests build a quic-go echo program, and need Go and quic-go 0.29 \
                 (Debian 12: apt-get install golang-go golang-github-lucas-clemente-quic-go-dev)";
    if let Err(err) = Command::new("go").arg("version").output() {
        return Err(format!("cannot run go: {err}\n{howto}"));
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let binary = tmp.join("quicgo_echo");
    // Built under a name of its own and renamed, so that concurrent test runs never run half a file.
    let partial = tmp.join(format!("quicgo_echo.{}", std::process::id()));
    let mut go = Command::new("go");
    go.args(["build", "-o"])
        .arg(&partial)
        .arg(".")
        .current_dir(SOURCE)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOCACHE", tmp.join("go-cache"))
        .env_remove("GOFLAGS");
    let out = common::run(go, Duration::from_secs(300));
    if !out.status.success() {
        return Err(format!(
            "go build in {SOURCE} failed ({}):\n{}\n{howto}",
            out.status,
            text(&out.stderr)
        ));
    }
    std::fs::rename(&partial, &binary).map_err(|e| format!("rename to {binary:?}: {e}"))?;
    Ok(binary)
}

/// The quic-go echo server: the first stream of each connection echoed, with a self-signed
/// RSA-1024 certificate without names, as the example makes it. Killed when dropped.
struct GoServer {
    child: Child,
    addr: String,
    log: Log,
}

impl GoServer {
    fn start(alpn: &str) -> Self {
        Self::start_with(&[alpn])
    }

    /// `quicgo_echo server 127.0.0.1:0 ARGS` (ALPN, then optionally `ed25519`).
    fn start_with(args: &[&str]) -> Self {
        let mut child = Command::new(quicgo_echo())
            .args(["server", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn quicgo_echo server");
        let log = Log::follow_pub(child.stdout.take().expect("stdout"));
        let errors = Log::follow_pub(child.stderr.take().expect("stderr"));
        let Some(line) = log.wait_for("listening on ", DEADLINE) else {
            let _ = child.kill();
            panic!("quic-go server never listened:\n{}", errors.text());
        };
        let addr = word_after(&line, "listening on ").to_string();
        GoServer { child, addr, log }
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// quic-go's client, sending "foobar" three times on one stream, against `qecho serve` as it
/// starts with no flags.
fn quicgo_client_against_qecho(alpn: &str) {
    let server = Server::start(&[]);
    let mut client = Command::new(quicgo_echo());
    client
        .args(["client", &server.target(), alpn, "foobar", "3"])
        .stdin(Stdio::null());
    let out = common::run(client, DEADLINE);
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains("echo 2 ok"), "{stdout}");
    // "connected local [::]:PORT remote ...": the client's port, to find it in the server's log.
    let local = word_after(&stdout, "connected local ");
    let port = local.rsplit(':').next().unwrap_or_default();

    let opened = server
        .log
        .wait_for(&format!("from 127.0.0.1:{port} to"), DEADLINE)
        .unwrap_or_else(|| panic!("no connection from port {port}:\n{}", server.log.text()));
    assert!(opened.contains(&format!("alpn {alpn}")), "{opened}");
    let closed = server
        .log
        .wait_for("bytes echoed", DEADLINE)
        .unwrap_or_else(|| panic!("connection never closed:\n{}", server.log.text()));
    assert!(
        closed.contains("18 bytes echoed on 1 stream(s)"),
        "{closed}"
    );
    assert!(closed.contains("closed by the client"), "{closed}");
    // quic-go (0.29) reads datagrams into 1452-byte buffers, so the server's path MTU probes
    // beyond that are lost on loopback (3 of them). That is the probing working, not loss on the
    // path, and the log says so apart. (One packet of the exchange itself may be declared lost
    // spuriously on a loaded machine; the probes must not be.)
    let quic = server.log.wait_for("; QUIC: srtt", DEADLINE).unwrap();
    assert!(quic.contains(", MTU probes lost "), "{quic}");
    let lost: u64 = word_after(&quic, "/ lost ")
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("no loss count in {quic}"));
    assert!(lost <= 1, "MTU probes counted as loss: {quic}");
}

#[test]
fn quicgo_client_with_the_shipped_example_alpn_against_qecho_serve() {
    quicgo_client_against_qecho(EXAMPLE_ALPNS[0]);
}

#[test]
fn quicgo_client_with_the_classic_alpn_against_qecho_serve() {
    quicgo_client_against_qecho(EXAMPLE_ALPNS[1]);
}

/// `qecho send` with its defaults (only `-k`: the example's certificate has no names and no
/// validity dates) against quic-go's echo server.
fn qecho_send_against_quicgo(alpn: &str) {
    let server = GoServer::start(alpn);
    let out = send(&server.addr, &["-k", "--count", "3", "--interval", "100ms"]);
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains(&format!("alpn {alpn}")), "{stdout}");
    assert!(
        stdout.contains("3 sent, 3 received, 0 corrupted"),
        "{stdout}"
    );
    // "connected to ADDR from 127.0.0.1:PORT, ...": the server saw that same address.
    let from = word_after(&stdout, " from ").trim_end_matches(',');
    let seen = server
        .log
        .wait_for("connection local ", DEADLINE)
        .unwrap_or_else(|| panic!("quic-go logged no connection:\n{}", server.log.text()));
    assert!(seen.ends_with(&format!("remote {from}")), "{seen} / {from}");
    assert!(
        server.log.wait_for("echoed ", DEADLINE).is_some(),
        "{}",
        server.log.text()
    );
}

/// Bulk and pipe mode against the example's server, which echoes the first stream of each
/// connection and never finishes its side of it: once everything is back, they are done.
#[test]
fn bulk_and_pipe_mode_against_quicgo_server() {
    let server = GoServer::start(EXAMPLE_ALPNS[0]);
    let out = send(&server.addr, &["-k", "--bytes", "20MiB", "--json"]);
    let summary = common::last_json(&assert_status(&out, 0));
    assert_eq!(summary["echoed_bytes"], 20 << 20, "{summary}");
    assert_eq!(summary["ok"], true, "{summary}");

    let input: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("input");
    std::fs::write(&file, &input).expect("write input");
    let mut pipe = common::qecho();
    pipe.args(["send", &server.addr, "-k", "-"])
        .stdin(std::fs::File::open(&file).expect("open input"));
    let out = common::run(pipe, DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout == input, "the echo differs from the input");
}

/// s2n-tls cannot verify Ed25519 signatures: against a server with an Ed25519 certificate, which
/// ends the handshake with handshake_failure, the error names that case and what to do.
#[test]
fn a_server_with_an_ed25519_certificate_is_explained() {
    let server = GoServer::start_with(&[EXAMPLE_ALPNS[0], "ed25519"]);
    let out = send(&server.addr, &["-k", "--count", "1"]);
    common::assert_error(
        &out,
        2,
        &[
            "ended the handshake",
            "0x128 (handshake failure)",
            "cannot verify Ed25519 signatures",
            "ECDSA or RSA certificate",
        ],
    );
}

/// The example's server echoes only the first stream of a connection: with more streams, ping and
/// bulk mode fail (status 1) and say that this is the likely reason; so does ping mode with --fin,
/// which opens a stream per message.
#[test]
fn several_streams_against_quicgo_server_are_explained() {
    let server = GoServer::start(EXAMPLE_ALPNS[0]);
    let hint = "stream(s) 2 got no echo at all while others did: the server may echo only one \
                stream per connection";
    let out = send(
        &server.addr,
        &[
            "-k",
            "--streams",
            "2",
            "--count",
            "2",
            "--interval",
            "50ms",
            "--timeout",
            "500ms",
        ],
    );
    let stdout = assert_status(&out, 1);
    assert!(stdout.contains("stream 1: 2 sent, 2 received"), "{stdout}");
    assert!(stdout.contains(hint), "{stdout}");

    let out = send(
        &server.addr,
        &["-k", "--bytes", "4MiB", "--streams", "2", "--timeout", "1s"],
    );
    common::assert_error(&out, 1, &["stopped echoing", hint]);

    // --fin puts each message on a stream of its own: only the first comes back.
    let out = send(
        &server.addr,
        &[
            "-k",
            "--fin",
            "--count",
            "3",
            "--interval",
            "20ms",
            "--timeout",
            "300ms",
        ],
    );
    let stdout = assert_status(&out, 1);
    assert!(stdout.contains("3 sent, 1 received"), "{stdout}");
    assert!(
        stdout.contains("only the first stream of the connection was echoed"),
        "{stdout}"
    );
}

#[test]
fn qecho_send_against_quicgo_server_with_the_shipped_example_alpn() {
    qecho_send_against_quicgo(EXAMPLE_ALPNS[0]);
}

#[test]
fn qecho_send_against_quicgo_server_with_the_classic_alpn() {
    qecho_send_against_quicgo(EXAMPLE_ALPNS[1]);
}

/// Resumption, quic-go's client (with a `tls.ClientSessionCache`) against `qecho serve`: its
/// second connection resumes, as both ends see.
#[test]
fn a_quicgo_client_resumes_its_session_with_qecho_serve() {
    let server = Server::start(&[]);
    let mut client = Command::new(quicgo_echo());
    client
        .args([
            "client",
            &server.target(),
            EXAMPLE_ALPNS[0],
            "foobar",
            "1",
            "resume",
        ])
        .stdin(Stdio::null());
    let stdout = assert_status(&common::run(client, DEADLINE), 0);
    let resumed: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("connected "))
        .map(|line| word_after(line, " resumed "))
        .collect();
    assert_eq!(resumed, ["false", "true"], "{stdout}");
    let second = server
        .log
        .wait_for("connection 1: handshake complete", DEADLINE)
        .unwrap_or_else(|| panic!("{}", server.log.text()));
    assert!(second.contains("(resumed)"), "{second}");
}

/// Resumption, `qecho send --resume` against quic-go's server, which issues tickets.
#[test]
fn qecho_send_resumes_with_a_quicgo_server() {
    let server = GoServer::start(EXAMPLE_ALPNS[0]);
    let out = send(
        &server.addr,
        &["-k", "--resume", "--count", "2", "--interval", "50ms"],
    );
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains("(resumed; the full one took"), "{stdout}");
    assert!(stdout.contains("2 sent, 2 received"), "{stdout}");
}

/// `qecho probe` against the quic-go example's server, which runs quic-go 0.29's defaults: a
/// 30 s idle timeout, 100 streams, 512 KiB stream and 768 KiB connection windows, and an
/// RSA-1024 certificate.
#[test]
fn qecho_probe_reads_a_quicgo_server() {
    let server = GoServer::start("quic-echo-example");
    let (code, report) = common::probe_json(&[&server.addr, "-k", "--alpn", "quic-echo-example"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["alpn"], "quic-echo-example", "{report}");
    let tp = &report["transport_parameters"];
    assert_eq!(tp["max_idle_timeout_ms"], 30000, "{tp}");
    assert_eq!(tp["initial_max_streams_bidi"], 100, "{tp}");
    assert_eq!(tp["initial_max_stream_data_bidi_local"], 524288, "{tp}");
    assert_eq!(tp["initial_max_data"], 786432, "{tp}");
    assert_eq!(report["tls"]["chain"][0]["key"], "RSA 1024", "{report}");
}
