//! `send`'s modes: pipe, many streams, bulk, and the options every mode shares.

mod common;

use common::peer::{self, BrokenServers, Misbehaviour};
use common::{DEADLINE, Server, assert_error, assert_status, last_json, qecho, send, text};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs `qecho send TARGET -k - ARGS` with `input` on stdin; returns (exit code, stdout, stderr).
fn pipe(target: &str, input: &std::path::Path, args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let mut command = qecho();
    command
        .args(["send", target, "-k", "-"])
        .args(args)
        .stdin(std::fs::File::open(input).unwrap());
    let out = common::run(command, DEADLINE);
    (out.status.code(), out.stdout, text(&out.stderr))
}

fn random_file(dir: &std::path::Path, len: usize) -> std::path::PathBuf {
    let path = dir.join(format!("input-{len}"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut written = 0;
    let mut seed = 0x1234_5678_9abc_def0u64 ^ len as u64;
    while written < len {
        let chunk: Vec<u8> = peer::payload(seed, (len - written).min(1 << 20)).to_vec();
        seed += 1;
        file.write_all(&chunk).unwrap();
        written += chunk.len();
    }
    file.flush().unwrap();
    path
}

#[test]
fn pipe_mode_echoes_any_file_byte_for_byte() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    for len in [0, 1, 70_000, 3 << 20] {
        let input = random_file(dir.path(), len);
        let (code, stdout, stderr) = pipe(&server.target(), &input, &[]);
        assert_eq!(code, Some(0), "{len} bytes: {stderr}");
        assert!(
            stdout == std::fs::read(&input).unwrap(),
            "{len} bytes: the echo differs"
        );
        assert!(
            stderr.contains(&format!("{len} bytes sent, {len} bytes echoed intact")),
            "{stderr}"
        );
    }
    // Text, through --stdin instead of '-'.
    let mut command = qecho();
    command
        .args(["send", &server.target(), "-k", "--stdin"])
        .stdin(Stdio::piped());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nworld\n")
        .unwrap();
    let mut echoed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut echoed)
        .unwrap();
    let status = common::wait_with_deadline(&mut child, DEADLINE).unwrap();
    assert!(status.success());
    assert_eq!(echoed, "hello\nworld\n");
}

/// 100 MiB through the echo with the client's memory measured by GNU time: it must not grow with
/// the input (a bound, not a speed figure).
#[test]
fn pipe_mode_100_mib_with_flat_memory() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = random_file(dir.path(), 100 << 20);
    let report = dir.path().join("rss");
    let mut command = std::process::Command::new("/usr/bin/time");
    command
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_qecho"))
        .args(["send", &server.target(), "-k", "-"])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .expect("/usr/bin/time (apt-get install time)");
    // Compare the echo as it streams, without holding it.
    let mut expected = std::io::BufReader::new(std::fs::File::open(&input).unwrap());
    let mut stdout = child.stdout.take().unwrap();
    let mut got = vec![0u8; 1 << 16];
    let mut want = vec![0u8; 1 << 16];
    let mut total = 0usize;
    loop {
        let n = stdout.read(&mut got).unwrap();
        if n == 0 {
            break;
        }
        expected
            .read_exact(&mut want[..n])
            .expect("no more echo than input");
        assert!(got[..n] == want[..n], "echo differs near byte {total}");
        total += n;
    }
    assert_eq!(total, 100 << 20);
    let status = common::wait_with_deadline(&mut child, DEADLINE).expect("send finishes");
    assert!(status.success());
    let max_rss_kib: u64 = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        max_rss_kib < 80 * 1024,
        "client peak RSS {max_rss_kib} KiB for a 100 MiB input"
    );
}

#[test]
fn ping_on_several_streams_reports_each_and_the_total() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--streams", "4", "--count", "3", "--interval", "10ms"],
    );
    let stdout = assert_status(&out, 0);
    for stream in 1..=4 {
        for seq in 1..=3 {
            assert!(
                stdout.contains(&format!("stream={stream} seq={seq} time=")),
                "{stdout}"
            );
        }
        assert!(
            stdout.contains(&format!("stream {stream}: 3 sent, 3 received")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("12 sent, 12 received, 0 corrupted, 0% loss"),
        "{stdout}"
    );
    assert!(
        server.log.wait_for("on 4 stream(s)", DEADLINE).is_some(),
        "{}",
        server.log.text()
    );
}

/// Head-of-line blocking is what QUIC's streams exist to avoid: one stream whose reader is paused
/// (its echo stuck behind flow control) must not hold back echoes on another stream.
#[test]
fn a_stalled_stream_does_not_hold_back_the_others() {
    let (cert, key) = peer::self_signed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("k.pem"), &key).unwrap();
    let server = Server::start(&[
        "--cert",
        dir.path().join("c.pem").to_str().unwrap(),
        "--key",
        dir.path().join("k.pem").to_str().unwrap(),
    ]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = peer::client(&cert);
        let connection = peer::connect(&client, server.addr).await;
        let mut handle = connection.handle();
        // Stream A: write until flow control stops us, never read.
        let stalled = handle.open_bidirectional_stream().await.unwrap();
        let (_paused_reader, mut writer) = stalled.split();
        let chunk = bytes::Bytes::from(vec![1u8; 64 * 1024]);
        let mut stalled_bytes = 0u64;
        loop {
            match tokio::time::timeout(Duration::from_millis(300), writer.send(chunk.clone())).await
            {
                Ok(sent) => sent.unwrap(),
                Err(_) => break, // blocked: A is stalled end to end
            }
            stalled_bytes += chunk.len() as u64;
            assert!(stalled_bytes < 1 << 30, "stream A never stalled");
        }
        // Stream B: 20 echoes while A stays stalled. Each must come back; with head-of-line
        // blocking none would.
        let mut rtts = Vec::new();
        let (mut reader, mut sender) = handle.open_bidirectional_stream().await.unwrap().split();
        for seq in 0..20u8 {
            let started = Instant::now();
            sender
                .send(bytes::Bytes::from(vec![seq; 100]))
                .await
                .unwrap();
            let mut echo = Vec::new();
            while echo.len() < 100 {
                let chunk = tokio::time::timeout(Duration::from_secs(5), reader.receive())
                    .await
                    .expect("stream B's echo is not held back by stream A")
                    .unwrap()
                    .expect("no FIN yet");
                echo.extend_from_slice(&chunk);
            }
            assert_eq!(echo, vec![seq; 100]);
            rtts.push(started.elapsed());
        }
        rtts.sort();
        // Still stalled: A's writer is blocked all along.
        let still_blocked =
            tokio::time::timeout(Duration::from_millis(100), writer.send(chunk.clone())).await;
        assert!(
            still_blocked.is_err(),
            "stream A got unblocked; the test proves nothing"
        );
        eprintln!(
            "stream A stalled at {stalled_bytes} bytes; stream B median RTT {:?}",
            rtts[10]
        );
    });
}

#[test]
fn bulk_mode_checks_every_byte_and_reports_throughput() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--bytes", "64MiB", "--streams", "4", "--json"],
    );
    let stdout = assert_status(&out, 0);
    let summary: serde_json::Value = last_json(&stdout);
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["sent_bytes"], 64 << 20);
    assert_eq!(summary["echoed_bytes"], 64 << 20);
    assert_eq!(summary["per_stream"].as_array().unwrap().len(), 4);
    assert!(summary["echo_gbit_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        server
            .log
            .wait_for("67108864 bytes echoed on 4 stream(s)", DEADLINE)
            .is_some()
    );

    let out = send(&server.target(), &["-k", "--duration", "500ms"]);
    let stdout = assert_status(&out, 0);
    assert!(
        stdout.contains("every byte intact") && stdout.contains("Gbit/s"),
        "{stdout}"
    );
}

#[test]
fn every_mode_reports_corruption_with_status_1() {
    let servers = BrokenServers::new();
    let target = servers.start(Misbehaviour::Corrupt);

    let out = send(
        &target,
        &["-k", "--size", "100", "--count", "2", "--interval", "0s"],
    );
    let stdout = assert_status(&out, 1);
    assert!(
        stdout.contains("seq=1 CORRUPTED: byte 9 differs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 sent, 0 received, 2 corrupted"),
        "{stdout}"
    );

    let out = send(&target, &["-k", "--bytes", "1MiB"]);
    assert_error(&out, 1, &["differs from what was sent at byte 9"]);

    let dir = tempfile::tempdir().unwrap();
    let input = random_file(dir.path(), 5000);
    let (code, _, stderr) = pipe(&target, &input, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("differs from what was sent at byte 9"),
        "{stderr}"
    );
}

/// Bulk mode holds at most 8 MiB unechoed, one connection window (src/send/bulk.rs): against a
/// server that stops echoing it must still end, by the server's FIN, by --deadline or by
/// --timeout, and say what came back. Pipe mode too, by --timeout.
#[test]
fn streaming_modes_against_a_truncating_or_silent_server_end_and_say_so() {
    let servers = BrokenServers::new();
    let start = |behaviour| servers.start(behaviour);

    // The echo ends early: the writer is abandoned, whatever it still had to send.
    let truncating = start(Misbehaviour::Truncate);
    let started = Instant::now();
    let out = send(&truncating, &["-k", "--bytes", "64MiB", "--streams", "2"]);
    assert_error(&out, 1, &["the server finished after echoing"]);
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");

    // No echo at all: 8 MiB go out, then the writers wait for credit; --deadline ends the run
    // and the summary shows the shortfall, with status 1: not every byte came back.
    let silent = start(Misbehaviour::Silent);
    let started = Instant::now();
    let out = send(
        &silent,
        &["-k", "--bytes", "64MiB", "--deadline", "1s", "--json"],
    );
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");
    let summary = last_json(&text(&out.stdout));
    assert_eq!(summary["echoed_bytes"], 0, "{summary}");
    let sent = summary["sent_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        sent > 0 && sent <= 8 << 20,
        "at most 8 MiB unechoed: {summary}"
    );
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert_eq!(out.status.code(), Some(1), "{summary}");
    assert!(
        text(&out.stderr).contains("none of them echoed"),
        "{}",
        text(&out.stderr)
    );

    // Without --deadline, --timeout bounds the wait for an echo that makes no progress.
    let started = Instant::now();
    let out = send(&silent, &["-k", "--bytes", "64MiB", "--timeout", "500ms"]);
    assert_error(
        &out,
        1,
        &[
            "no echo for 500ms",
            "bytes sent and not yet echoed",
            "stopped echoing",
        ],
    );
    assert!(
        !text(&out.stderr).contains("the server finished"),
        "a stall is not a FIN: {}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");

    // Pipe mode, input still open (more may come), what was sent not echoed: --timeout ends it.
    // (At end of input the silent server finishes too, which pipe mode reports as missing bytes.)
    let mut command = qecho();
    command
        .args(["send", &silent, "-k", "-", "--timeout", "500ms"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"hello, is anyone echoing?\n").unwrap();
    let status = common::wait_with_deadline(&mut child, Duration::from_secs(20));
    drop(input);
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(
        stderr.contains("no echo for 500ms with 26 bytes sent and not yet echoed"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");
}

#[test]
fn deadline_ends_any_mode_with_its_summary() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let out = send(
        &server.target(),
        &["-k", "--interval", "50ms", "--deadline", "400ms"],
    );
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains("0 corrupted, 0% loss"), "{stdout}");
    assert!(started.elapsed() < DEADLINE);

    let out = send(
        &server.target(),
        &["-k", "--duration", "1h", "--deadline", "300ms"],
    );
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains("interrupted"), "{stdout}");
}

#[test]
fn quiet_prints_only_the_summary_and_json_one_object_per_echo() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "-q", "--count", "3", "--interval", "0s"],
    );
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("bytes from") && !stdout.contains("connected to"),
        "{stdout}"
    );
    assert!(stdout.contains("3 sent, 3 received"), "{stdout}");
    // Warnings stay: -q hides information, not the --insecure warning.
    let stderr = text(&out.stderr);
    assert!(stderr.lines().all(|line| line.contains("WARN")), "{stderr}");

    let out = send(
        &server.target(),
        &["-k", "--json", "--count", "3", "--interval", "0s"],
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 5, "connected, 3 echoes, summary");
    assert_eq!(lines[0]["type"], "connected");
    for (seq, echo) in (1..).zip(&lines[1..4]) {
        assert_eq!(echo["type"], "echo");
        assert_eq!(echo["seq"], seq);
        assert_eq!(echo["ok"], true);
        assert!(echo["rtt_ms"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(lines[4]["sent"], 3);
    assert_eq!(lines[4]["received"], 3);
}

#[test]
fn address_family_and_bind() {
    let server = Server::start(&[]);
    let port = server.addr.port();
    let out = send(&format!("127.0.0.1:{port}"), &["-k", "-6", "--count", "1"]);
    assert_error(&out, 2, &["none of IPv6 (-6)"]);
    let out = send(&format!("localhost:{port}"), &["-k", "-4", "--count", "1"]);
    assert_status(&out, 0);

    // A free port to send from: bind, read it, release it.
    let port_from = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port_from}");
    let out = send(&server.target(), &["-k", "--count", "1", "--bind", &bind]);
    assert_status(&out, 0);
    assert!(
        text(&out.stdout).contains(&format!("from {bind}")),
        "{}",
        text(&out.stdout)
    );
    assert!(
        server
            .log
            .wait_for(&format!("from {bind}"), DEADLINE)
            .is_some(),
        "{}",
        server.log.text()
    );

    let out = send(&server.target(), &["-k", "--bind", "[::1]:0"]);
    assert_error(&out, 2, &["--bind"]);
}

#[test]
fn datagram_mode_echoes_unreliable_frames() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &[
            "-k",
            "--datagram",
            "--count",
            "5",
            "--interval",
            "20ms",
            "--timeout",
            "2s",
        ],
    );
    let stdout = assert_status(&out, 0);
    for seq in 1..=5 {
        assert!(
            stdout.contains(&format!("datagram seq={seq} time=")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("5 sent, 5 received, 0 corrupted, 0 late, 0% loss"),
        "{stdout}"
    );
    let closed = server
        .log
        .wait_for("closed after", DEADLINE)
        .expect("close logged");
    assert!(
        closed.contains("on 0 stream(s) and 5 datagram(s)"),
        "{closed}"
    );

    let out = send(
        &server.target(),
        &[
            "-k",
            "--datagram",
            "--count",
            "3",
            "--size",
            "600",
            "--interval",
            "0s",
            "--json",
        ],
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_status(&out, 0);
    let echoes = lines
        .iter()
        .filter(|line| line["type"] == "echo" && line["ok"] == true)
        .count();
    assert_eq!(echoes, 3, "{lines:?}");
}

#[test]
fn datagram_mode_against_a_server_without_datagrams() {
    // The test peer does not negotiate RFC 9221 datagrams.
    let servers = BrokenServers::new();
    let target = servers.start(Misbehaviour::Corrupt);
    let out = send(&target, &["-k", "--datagram", "--count", "1"]);
    assert_error(&out, 2, &["does not accept", "DATAGRAM", "RFC 9221"]);
}

#[test]
fn connections_mode_opens_many_connections_and_reports_handshakes() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--connections", "40", "--parallel", "8", "--json"],
    );
    let stdout = assert_status(&out, 0);
    let summary: serde_json::Value = last_json(&stdout);
    assert_eq!(summary["mode"], "connections");
    assert_eq!(summary["ok"], 40);
    assert_eq!(summary["failed"], 0);
    assert!(summary["connections_per_s"].as_f64().unwrap() > 0.0);
    let p50 = summary["handshake_ms"]["p50"].as_f64().unwrap();
    let p99 = summary["handshake_ms"]["p99"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99, "{summary}");
    // Every one of them reached the server and echoed once.
    for n in 0..40 {
        assert!(
            server
                .log
                .wait_for(&format!("connection {n} from"), DEADLINE)
                .is_some()
        );
    }

    let out = send(
        &server.target(),
        &["-k", "--connections", "5", "--parallel", "2"],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("5 connections, 2 at a time: 5 ok, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("handshake p50/p99/max = "), "{stdout}");

    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let out = send(
        &target,
        &["-k", "--connections", "2", "--connect-timeout", "300ms"],
    );
    assert_error(&out, 2, &["no connection", "succeeded"]);
}

/// What `send` says of a server that misbehaves, each way: exactly what happened, the right exit
/// status, and never a hang past --timeout.
#[test]
fn streaming_modes_end_once_everything_is_back_even_if_the_server_never_finishes() {
    // quic-go's echo example never finishes its side of the stream. Once every byte sent has come
    // back, bulk and pipe mode are done; they used to wait for the idle timeout and fail.
    let servers = BrokenServers::new();
    let never_finishes = servers.start(Misbehaviour::NeverFinish);
    let out = send(
        &never_finishes,
        &["-k", "--bytes", "8MiB", "--streams", "2", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    assert_eq!(summary["echoed_bytes"], 8 << 20, "{summary}");
    assert_eq!(summary["ok"], true, "{summary}");

    let dir = tempfile::tempdir().unwrap();
    let input = random_file(dir.path(), 1 << 20);
    let (code, stdout, stderr) = pipe(&never_finishes, &input, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout == std::fs::read(&input).unwrap(), "echo differs");

    // Not waiting for the FIN does not let an echo with bytes to spare pass.
    let duplicating = servers.start(Misbehaviour::Duplicate);
    let (code, _, stderr) = pipe(&duplicating, &input, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("differs from what was sent") || stderr.contains("more than was sent"),
        "{stderr}"
    );
}

#[test]
fn every_kind_of_broken_echo_is_named() {
    let servers = BrokenServers::new();
    let start = |behaviour| servers.start(behaviour);
    let args = [
        "-k",
        "--count",
        "2",
        "--interval",
        "0s",
        "--timeout",
        "500ms",
        "--size",
        "100",
    ];

    let truncating = start(Misbehaviour::Truncate);
    let out = send(&truncating, &args);
    let stdout = assert_status(&out, 1);
    assert!(
        stdout.contains(
            "seq=1 CORRUPTED: truncated: the server finished the stream after 50 of 100 bytes"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 sent, 0 received, 2 corrupted"),
        "{stdout}"
    );

    let duplicating = start(Misbehaviour::Duplicate);
    let out = send(&duplicating, &args);
    let stdout = assert_status(&out, 1);
    assert!(stdout.contains("CORRUPTED"), "{stdout}");
    assert!(stdout.contains("0 received"), "{stdout}");

    let silent = start(Misbehaviour::Silent);
    let started = Instant::now();
    let out = send(&silent, &args);
    let stdout = assert_status(&out, 1);
    assert!(
        stdout.contains("seq=1 lost: no echo within 500ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 sent, 0 received, 0 corrupted, 100% loss"),
        "{stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no hang past --timeout"
    );

    // Late: a 300 ms echo against a 100 ms timeout is lost; against 2 s it is fine.
    let slow = start(Misbehaviour::Delay(300));
    let out = send(&slow, &["-k", "--count", "1", "--timeout", "100ms"]);
    assert_status(&out, 1);
    assert!(text(&out.stdout).contains("seq=1 lost: no echo within 100ms"));
    let out = send(&slow, &["-k", "--count", "1", "--timeout", "2s"]);
    assert_status(&out, 0);
    let rtt_line = text(&out.stdout);
    assert!(
        rtt_line.contains("seq=1 time=3"),
        "about 300 ms: {rtt_line}"
    );
}

/// iperf3's interval reports: a 3 s bulk run with `--interval 1s` streams at least three interval
/// objects as it goes, whose bytes add up exactly to the summary's.
#[test]
fn bulk_interval_reports_add_up_to_the_summary() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &[
            "-k",
            "--duration",
            "3s",
            "--interval",
            "1s",
            "--json",
            "--stats",
        ],
    );
    let stdout = assert_status(&out, 0);
    let lines = common::json_lines(&stdout);
    let intervals: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["type"] == "interval")
        .collect();
    assert!(intervals.len() >= 3, "{stdout}");
    let sum = |field: &str| {
        intervals
            .iter()
            .map(|i| i[field].as_u64().unwrap())
            .sum::<u64>()
    };
    let summary = last_json(&stdout);
    assert_eq!(
        sum("sent_bytes"),
        summary["sent_bytes"].as_u64().unwrap(),
        "{stdout}"
    );
    assert_eq!(
        sum("echoed_bytes"),
        summary["echoed_bytes"].as_u64().unwrap(),
        "{stdout}"
    );
    // Back to back, each starting where the last ended, with QUIC's view in each.
    for pair in intervals.windows(2) {
        assert_eq!(pair[0]["end_s"], pair[1]["start_s"]);
    }
    assert!(
        intervals
            .iter()
            .all(|i| i["quic_srtt_ms"].as_f64().is_some())
    );
    let first_end = intervals[0]["end_s"].as_f64().unwrap();
    assert!(
        (0.99..1.2).contains(&first_end),
        "first interval ended at {first_end} s"
    );
}

/// iperf3 -P: bulk over three connections of two streams each, every connection from a port of
/// its own, each one's bytes and the sum reported, and the server seeing three connections.
#[test]
fn bulk_over_several_connections_reports_each_and_their_sum() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &[
            "-k",
            "--bytes",
            "12MiB",
            "--connections",
            "3",
            "--streams",
            "2",
            "--json",
            "--stats",
        ],
    );
    let stdout = assert_status(&out, 0);
    let summary = last_json(&stdout);
    assert_eq!(summary["connections"], 3, "{summary}");
    assert_eq!(summary["streams"], 2, "{summary}");
    assert_eq!(summary["echoed_bytes"], 12 << 20, "{summary}");
    assert_eq!(summary["per_stream"].as_array().unwrap().len(), 6);
    let per_connection = summary["per_connection"].as_array().unwrap();
    assert_eq!(per_connection.len(), 3, "{summary}");
    let sum: u64 = per_connection
        .iter()
        .map(|c| c["echoed_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 12 << 20, "{summary}");
    let locals: std::collections::HashSet<&str> = per_connection
        .iter()
        .map(|c| c["local"].as_str().unwrap())
        .collect();
    assert_eq!(locals.len(), 3, "one port per connection: {summary}");
    assert!(
        per_connection
            .iter()
            .all(|c| c["quic"]["packets_sent"].as_u64() > Some(0))
    );
    let connected = common::json_lines(&stdout)
        .iter()
        .filter(|line| line["type"] == "connected")
        .count();
    assert_eq!(connected, 3, "{stdout}");
    // Each connection's share: 12 MiB over 6 streams, 2 streams per connection.
    assert_eq!(
        server
            .log
            .wait_for_count("4194304 bytes echoed on 2 stream(s)", 3, DEADLINE),
        3,
        "{}",
        server.log.text()
    );

    let out = send(
        &server.target(),
        &["-k", "--duration", "300ms", "--connections", "2"],
    );
    let stdout = assert_status(&out, 0);
    assert!(
        stdout.contains("2 connections x 1 stream(s)")
            && stdout.contains("connection 2 from 127.0.0.1:")
            && stdout.contains("all: echoed"),
        "{stdout}"
    );
}

#[test]
fn bulk_connections_beyond_the_limit_or_with_parallel_are_refused() {
    let out = send(
        "127.0.0.1:9",
        &["-k", "--bytes", "1MiB", "--connections", "129"],
    );
    assert_error(&out, 2, &["--connections 129", "at most 128", "--streams"]);
    let out = send(
        "127.0.0.1:9",
        &[
            "-k",
            "--duration",
            "1s",
            "--connections",
            "2",
            "--parallel",
            "2",
        ],
    );
    assert_error(&out, 2, &["--parallel", "leave out --parallel"]);
}

#[test]
fn a_rate_outside_bulk_mode_or_unreadable_is_refused() {
    let out = send("127.0.0.1:9", &["-k", "--rate", "10Mbit"]);
    assert_error(&out, 2, &["--rate 10Mbit paces bulk mode", "--datagram"]);
    let out = send("127.0.0.1:9", &["-k", "--rate", "fast", "--bytes", "1MiB"]);
    assert_error(&out, 2, &["fast", "50Mbit"]);
    let out = send("127.0.0.1:9", &["-k", "--rate", "0", "--bytes", "1MiB"]);
    assert_error(&out, 2, &["too small"]);
}
