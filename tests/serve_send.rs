//! `qecho serve` and `qecho send` together: the real binary, real certificates, loopback only.

mod common;

use common::{DEADLINE, Server, assert_error, assert_status, qecho, send, text};
use std::time::{Duration, Instant};

fn echo_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| line.contains(" bytes from "))
        .collect()
}

#[test]
fn send_insecure_against_the_ephemeral_certificate() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["--insecure", "--count", "3", "--interval", "50ms"],
    );
    let stdout = assert_status(&out, 0);
    assert!(
        stdout.contains(&format!("connected to {}", server.addr)),
        "{stdout}"
    );
    assert!(stdout.contains("alpn qecho"), "{stdout}");
    let lines = echo_lines(&stdout);
    assert_eq!(lines.len(), 3, "{stdout}");
    for (seq, line) in (1..).zip(&lines) {
        assert!(
            line.starts_with(&format!("11 bytes from {}: seq={seq} time=", server.addr)),
            "{line}"
        );
    }
    assert!(
        stdout.contains("3 sent, 3 received, 0 corrupted, 0% loss"),
        "{stdout}"
    );
    assert!(stdout.contains("rtt min/avg/max/mdev = "), "{stdout}");
    assert!(stdout.contains("\nrtt p50/p90/p99 = "), "{stdout}");
    assert!(
        text(&out.stderr).contains("--insecure"),
        "the warning is missing"
    );

    let opened = server
        .log
        .wait_for("from 127.0.0.1:", DEADLINE)
        .expect("connection logged");
    assert!(opened.contains(&format!("to {}", server.addr)), "{opened}");
    assert!(
        opened.contains("server name 127.0.0.1") && opened.contains("alpn qecho"),
        "{opened}"
    );
    // "qecho seq=1" is 11 bytes; three of them.
    let closed = server
        .log
        .wait_for("closed after", DEADLINE)
        .expect("close logged");
    assert!(
        closed.contains("33 bytes echoed on 1 stream(s)"),
        "{closed}"
    );
    assert!(closed.contains("closed by the client"), "{closed}");
}

#[test]
fn ipv6_loopback_works() {
    let server = Server::start(&["--listen", "[::1]:0"]);
    assert!(server.addr.is_ipv6());
    let out = send(&server.target(), &["-k", "--count", "1"]);
    assert_status(&out, 0);
    assert_eq!(echo_lines(&text(&out.stdout)).len(), 1);
}

#[test]
fn dual_stack_listener_logs_ipv4_clients_as_ipv4() {
    let server = Server::start(&["--listen", "[::]:0"]);
    let target = format!("127.0.0.1:{}", server.addr.port());
    let out = send(&target, &["-k", "--count", "1"]);
    assert_status(&out, 0);
    let opened = server
        .log
        .wait_for("connection 0 from", DEADLINE)
        .expect("connection logged");
    assert!(opened.contains("from 127.0.0.1:"), "{opened}");
    assert!(!opened.contains("::ffff:"), "{opened}");
}

#[test]
fn gencert_serve_and_send_with_full_verification() {
    let dir = tempfile::tempdir().unwrap();
    let gen_out = common::run(
        {
            let mut c = qecho();
            c.args(["gencert", "--out"]).arg(dir.path());
            c
        },
        DEADLINE,
    );
    assert_status(&gen_out, 0);
    let fingerprint = common::word_after(&text(&gen_out.stdout), "fingerprint ").to_string();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");

    let server = Server::start(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(
        server.fingerprint, fingerprint,
        "serve shows the certificate gencert made"
    );
    for target in [server.target(), format!("localhost:{}", server.addr.port())] {
        let out = send(
            &target,
            &[
                "--ca",
                cert.to_str().unwrap(),
                "--count",
                "2",
                "--interval",
                "0s",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{target}: {}",
            text(&out.stderr)
        );
        assert_eq!(echo_lines(&text(&out.stdout)).len(), 2);
        assert!(!text(&out.stderr).contains("insecure"));
    }
}

#[test]
fn verification_fails_without_ca_or_insecure() {
    let server = Server::start(&[]);
    let out = send(&server.target(), &["--count", "1"]);
    assert_error(
        &out,
        2,
        &["could not be verified", "--ca", "--insecure", "127.0.0.1"],
    );

    // A certificate for another name does not pass either.
    let dir = tempfile::tempdir().unwrap();
    let mut gencert = qecho();
    gencert
        .args(["gencert", "--name", "elsewhere.example", "--out"])
        .arg(dir.path());
    assert!(common::run(gencert, DEADLINE).status.success());
    let cert = dir.path().join("cert.pem");
    let out = send(
        &server.target(),
        &["--ca", cert.to_str().unwrap(), "--count", "1"],
    );
    assert_error(&out, 2, &["could not be verified", "--ca"]);
}

#[test]
fn alpn_mismatch_is_explained() {
    let server = Server::start(&["--alpn", "something-else"]);
    let out = send(
        &server.target(),
        &["-k", "--count", "1", "--connect-timeout", "1s"],
    );
    assert_error(
        &out,
        2,
        &[
            "no QUIC answer",
            "within 1s",
            "qecho, quic-echo-example, quic-example",
            "--alpn",
        ],
    );

    // With the protocol the server speaks, it works.
    let out = send(
        &server.target(),
        &["-k", "--count", "1", "--alpn", "something-else"],
    );
    assert_status(&out, 0);
}

#[test]
fn quic_example_alpn_is_accepted_by_default() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--count", "1", "--alpn", "quic-example"],
    );
    assert_status(&out, 0);
    assert!(text(&out.stdout).contains("alpn quic-example"));
    assert!(server.log.wait_for("alpn quic-example", DEADLINE).is_some());
}

#[test]
fn size_interval_and_count() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--size", "10KiB", "--count", "4", "--interval", "0s"],
    );
    let stdout = assert_status(&out, 0);
    let lines = echo_lines(&stdout);
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines
            .iter()
            .all(|line| line.starts_with("10240 bytes from ")),
        "{stdout}"
    );
    assert!(
        server
            .log
            .wait_for("40960 bytes echoed", DEADLINE)
            .is_some(),
        "{}",
        server.log.text()
    );

    // Three messages 300 ms apart take at least 600 ms (a lower bound only: never flaky).
    let started = Instant::now();
    let out = send(
        &server.target(),
        &["-k", "--count", "3", "--interval", "300ms"],
    );
    assert_status(&out, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );

    let out = send(
        &server.target(),
        &["-k", "--count", "2", "--message", "hello, echo"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(echo_lines(&stdout).len(), 2, "{stdout}");
    assert!(stdout.contains("11 bytes from"), "{stdout}");
}

#[test]
fn lost_echoes_exit_1_with_the_loss_in_the_summary() {
    let server = Server::start(&[]);
    // 8 MiB cannot come back within 1 ms, so every echo is late and counted as lost.
    let out = send(
        &server.target(),
        &[
            "-k",
            "--size",
            "8MiB",
            "--count",
            "2",
            "--interval",
            "0s",
            "--timeout",
            "1ms",
        ],
    );
    let stdout = assert_status(&out, 1);
    assert!(
        stdout.contains("seq=1 lost: no echo within 1ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 sent, 0 received, 0 corrupted, 100% loss"),
        "{stdout}"
    );
    // The server carries on.
    let out = send(&server.target(), &["-k", "--count", "1"]);
    assert_status(&out, 0);
}

#[test]
fn ctrl_c_prints_the_summary() {
    let server = Server::start(&[]);
    let mut command = qecho();
    command.args(["send", &server.target(), "-k", "--interval", "20ms"]);
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = common::Log::follow_pub(child.stdout.take().unwrap());
    assert!(
        stdout.wait_for("seq=2 ", DEADLINE).is_some(),
        "no echoes: {}",
        stdout.text()
    );
    common::signal(&child, "INT");
    let exit = common::wait_with_deadline(&mut child, DEADLINE).expect("send exits on SIGINT");
    let summary = stdout
        .wait_for(" sent, ", DEADLINE)
        .expect("summary printed");
    assert_eq!(exit.code(), Some(0), "{}", stdout.text());
    assert!(summary.contains("0 corrupted, 0% loss"), "{summary}");
}

/// Pipe mode reads standard input on one of tokio's blocking threads; Ctrl-C must end it at once
/// even while the input is still open (a terminal, or a pipe whose writer is idle).
#[test]
fn ctrl_c_ends_pipe_mode_with_its_input_still_open() {
    let server = Server::start(&[]);
    let mut command = qecho();
    command.args(["send", &server.target(), "-k", "-"]);
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, b"ping\n").unwrap();
    let stdout = common::Log::follow_pub(child.stdout.take().unwrap());
    assert!(
        stdout.wait_for("ping", DEADLINE).is_some(),
        "no echo: {}",
        stdout.text()
    );
    common::signal(&child, "INT");
    let exit = common::wait_with_deadline(&mut child, DEADLINE);
    drop(input);
    assert!(
        exit.is_some(),
        "send did not exit on SIGINT while its input was open"
    );
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
}

#[test]
fn serve_exits_0_on_sigterm_and_closes_connections() {
    let server = Server::start(&[]);
    let mut command = qecho();
    command.args(["send", &server.target(), "-k", "--interval", "20ms"]);
    let mut client = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = common::Log::follow_pub(client.stdout.take().unwrap());
    let stderr = common::Log::follow_pub(client.stderr.take().unwrap());
    assert!(stdout.wait_for("seq=2 ", DEADLINE).is_some());

    let (status, log) = server.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("shutting down: closing 1 connection(s)"),
        "{log}"
    );
    assert!(log.contains("the server is shutting down"), "{log}");

    // The client hears the close at once rather than timing out, and says so.
    let exit = common::wait_with_deadline(&mut client, DEADLINE).expect("client exits");
    assert_eq!(exit.code(), Some(1));
    let error = stderr
        .wait_for("qecho: error:", DEADLINE)
        .expect("error line");
    assert!(error.contains("closed by the server"), "{error}");
    assert!(stdout.wait_for(" sent, ", DEADLINE).is_some(), "summary");
}

#[test]
fn a_killed_client_leaves_the_server_serving_others() {
    let server = Server::start(&[]);
    let mut command = qecho();
    command.args([
        "send",
        &server.target(),
        "-k",
        "--size",
        "4MiB",
        "--interval",
        "0s",
    ]);
    let mut victim = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = common::Log::follow_pub(victim.stdout.take().unwrap());
    assert!(
        stdout.wait_for("seq=2 ", DEADLINE).is_some(),
        "{}",
        stdout.text()
    );
    victim.kill().unwrap(); // SIGKILL, mid-stream
    victim.wait().unwrap();

    let mut server = server;
    for _ in 0..3 {
        let out = send(
            &server.target(),
            &["-k", "--count", "2", "--interval", "0s", "--size", "64KiB"],
        );
        assert_status(&out, 0);
    }
    assert!(server.is_running());
}

/// Linux caps socket buffers silently at net.core.rmem_max/wmem_max; serve says so, with the fix,
/// exactly when a cap is below the 4 MiB it asks for (stock kernels: 208 KiB).
#[test]
fn serve_warns_when_the_kernel_caps_socket_buffers() {
    let caps: Vec<u64> = ["rmem_max", "wmem_max"]
        .iter()
        .filter_map(|name| {
            let path = format!("/proc/sys/net/core/{name}");
            std::fs::read_to_string(path).ok()?.trim().parse().ok()
        })
        .collect();
    let capped = caps.iter().any(|&cap| cap < 4 << 20);
    let server = Server::start(&[]);
    // One echo first: by then serve has long finished starting up and would have warned.
    let out = send(&server.target(), &["-k", "--count", "1"]);
    assert_status(&out, 0);
    let log = server.log.text();
    let warned = log.contains("the kernel caps UDP socket buffers");
    assert_eq!(
        warned, capped,
        "caps {caps:?}: a warning is due exactly when one is below 4 MiB; log:\n{log}"
    );
    if warned {
        assert!(log.contains("sysctl -w net.core.rmem_max=4194304"), "{log}");
    }
}
