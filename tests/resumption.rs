//! Session resumption and congestion control between `qecho send` and `qecho serve`: tickets
//! issued, kept, offered, saved to a session file and shared between servers; a resumed handshake
//! proven to carry no certificate; and each congestion controller at work.

mod common;

use common::{
    DEADLINE, Relay, Server, assert_error, assert_status, last_json, qecho, run, send, text,
};
use std::os::unix::fs::PermissionsExt;

/// The first JSON object of `stdout` whose type is `connected`.
fn connected(stdout: &str) -> serde_json::Value {
    common::json_lines(stdout)
        .into_iter()
        .find(|line| line["type"] == "connected")
        .unwrap_or_else(|| panic!("no connected line in {stdout}"))
}

#[test]
fn resume_fetches_a_ticket_then_runs_on_a_resumed_connection() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--resume", "--count", "2", "--interval", "0s"],
    );
    let stdout = assert_status(&out, 0);
    assert!(stdout.contains("(resumed; the full one took "), "{stdout}");
    let out = send(
        &server.target(),
        &[
            "-k",
            "--resume",
            "--count",
            "2",
            "--interval",
            "0s",
            "--json",
        ],
    );
    let stdout = assert_status(&out, 0);
    let connected = connected(&stdout);
    assert_eq!(connected["resumed"], true, "{connected}");
    let (full, resumed) = (
        connected["full_handshake_ms"].as_f64().unwrap(),
        connected["handshake_ms"].as_f64().unwrap(),
    );
    assert_eq!(last_json(&stdout)["resumed"], true, "{stdout}");
    // The server says which handshakes were full and which resumed: two runs, one of each.
    assert_eq!(
        server.log.wait_for_count("(full): alpn qecho", 2, DEADLINE),
        2
    );
    assert_eq!(
        server
            .log
            .wait_for_count("(resumed): alpn qecho", 2, DEADLINE),
        2
    );
    eprintln!("ping --resume: full handshake {full:.3} ms, resumed {resumed:.3} ms");
}

#[test]
fn every_connection_after_the_first_resumes() {
    // With the server's TLS in its endpoint's loop and on a thread of its own (--tls-thread),
    // whose tickets travel through s2n-quic's offload channels.
    for flags in [&[][..], &["--tls-thread"]] {
        every_connection_after_the_first_resumes_on(Server::start(flags));
    }
}

fn every_connection_after_the_first_resumes_on(server: Server) {
    let out = send(
        &server.target(),
        &[
            "-k",
            "--resume",
            "--connections",
            "10",
            "--parallel",
            "3",
            "--json",
        ],
    );
    let summary = last_json(&assert_status(&out, 0));
    assert_eq!(summary["resumed_connections"], 9, "{summary}");
    assert_eq!(summary["full_connections"], 1, "{summary}");
    assert_eq!(summary["resumed"], true, "{summary}");
    let plain = send(&server.target(), &["-k", "--connections", "3", "--json"]);
    let summary = last_json(&assert_status(&plain, 0));
    assert_eq!(summary["resumed"], false, "{summary}");
}

/// The proof that a resumed handshake skips the certificate: the client, which reads the server's
/// handshake messages, sees a Certificate in the full handshake and none in the resumed one;
/// the server signs nothing in it; and a relay in front of the server counts the certificate's
/// bytes (over 7 KB, with 250 names) missing from the server's handshake flight.
#[test]
fn a_resumed_handshake_carries_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut gencert = qecho();
    gencert.args(["gencert", "--out"]).arg(dir.path());
    for n in 0..250 {
        gencert.args(["--name", &format!("host-{n:03}.resumption.example")]);
    }
    assert_status(&run(gencert, DEADLINE), 0);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let server = Server::start(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let session = dir.path().join("session");
    let session = session.to_str().unwrap();
    // Connections mode: one connection, one echo, and path MTU probing capped at 1500 bytes, so
    // that the server's probes add little to what it sends.
    let server_bytes = |expect_resumed: bool| {
        let relay = Relay::start(server.addr, &[]);
        let args = ["-k", "--session", session, "--count", "1", "--json"];
        let out = send(&relay.target(), &args);
        let connected = connected(&assert_status(&out, 0));
        assert_eq!(connected["resumed"], expect_resumed, "{connected}");
        let certificate = connected["server_certificate"].clone();
        (
            relay.finish().get("down", "long_header_bytes_in"),
            certificate,
        )
    };
    let (full, full_certificate) = server_bytes(false);
    let (resumed, resumed_certificate) = server_bytes(true);
    assert_eq!(full_certificate, server.fingerprint.as_str());
    assert_eq!(
        resumed_certificate,
        serde_json::Value::Null,
        "a Certificate in a resumed handshake"
    );
    assert!(server.log.wait_for("(resumed)", DEADLINE).is_some());
    let pem = std::fs::read_to_string(&cert).unwrap();
    let cert_der = pem::parse(pem).unwrap().contents().len() as u64;
    // The server's handshake flight (its long-header datagrams: 1-RTT traffic and path MTU
    // probes, which vary from run to run, are left out): in full, at least the certificate; resumed,
    // one Initial padded to 1200 bytes (measured: 8,540 and 1,200), with no room for it.
    assert!(
        full >= cert_der && resumed < cert_der / 4,
        "the server's handshake took {full} bytes in full and {resumed} resumed; the \
         certificate alone is {cert_der}"
    );
    eprintln!("server bytes: full {full}, resumed {resumed} (certificate {cert_der})");
}

#[test]
fn a_session_file_resumes_the_next_run_and_bad_ones_only_warn() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("qecho.session");
    let path = file.to_str().unwrap();
    let once = |extra: &[&str]| {
        let mut args = vec!["-k", "--session", path, "--count", "1", "--json"];
        args.extend_from_slice(extra);
        let out = send(&server.target(), &args);
        let stdout = assert_status(&out, 0);
        (connected(&stdout)["resumed"].clone(), text(&out.stderr))
    };
    let (resumed, _) = once(&[]);
    assert_eq!(resumed, false);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a ticket is a secret");
    let (resumed, _) = once(&[]);
    assert_eq!(resumed, true, "the second run resumes from the file");

    // Another server name: not offered.
    let (resumed, stderr) = once(&["--server-name", "localhost"]);
    assert_eq!(resumed, false);
    assert!(
        stderr.contains("not \\\"localhost\\\"") || stderr.contains("not \"localhost\""),
        "{stderr}"
    );
    // Corrupt, truncated, expired: a warning and a full handshake, and the file replaced.
    for bad in [
        "garbage",
        "{\"qecho_session\":1,\"server_na",
        "{\"qecho_session\":1,\"server_name\":\"127.0.0.1\",\"expires_unix\":1,\"ticket\":\"00\"}",
    ] {
        std::fs::write(&file, bad).unwrap();
        let (resumed, stderr) = once(&[]);
        assert_eq!(resumed, false, "{bad}");
        assert!(
            stderr.contains("making a full handshake instead"),
            "{bad}: {stderr}"
        );
        let (resumed, _) = once(&[]);
        assert_eq!(resumed, true, "the file was replaced after {bad:?}");
    }
    let missing = dir.path().join("no/such/dir/session");
    let out = send(
        &server.target(),
        &["-k", "--session", missing.to_str().unwrap()],
    );
    assert_error(&out, 2, &["--session", "does not exist"]);
}

#[test]
fn a_server_without_tickets_is_named_and_the_run_goes_on() {
    let server = Server::start(&["--no-session-tickets"]);
    let out = send(
        &server.target(),
        &["-k", "--resume", "--count", "1", "--json"],
    );
    let stdout = assert_status(&out, 0);
    assert_eq!(connected(&stdout)["resumed"], false);
    assert!(
        text(&out.stderr).contains("sent no session ticket"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn servers_sharing_a_ticket_key_resume_each_others_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ticket.key");
    let key = key.to_str().unwrap();
    let first = Server::start(&["--ticket-key", key]);
    let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a new key file is the owner's only");
    let second = Server::start(&["--ticket-key", key]);
    let session = dir.path().join("session");
    let session = session.to_str().unwrap();
    let out = send(
        &first.target(),
        &["-k", "--session", session, "--count", "1", "--json"],
    );
    assert_eq!(connected(&assert_status(&out, 0))["resumed"], false);
    let out = send(
        &second.target(),
        &["-k", "--session", session, "--count", "1", "--json"],
    );
    assert_eq!(
        connected(&assert_status(&out, 0))["resumed"],
        true,
        "resumed on the other server"
    );

    // Without the shared key, another server cannot resume it.
    let stranger = Server::start(&[]);
    let out = send(
        &stranger.target(),
        &["-k", "--session", session, "--count", "1", "--json"],
    );
    assert_eq!(connected(&assert_status(&out, 0))["resumed"], false);
}

#[test]
fn bad_resumption_input_is_one_paragraph() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ticket.key");
    std::fs::write(&key, "00".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let serve = |args: &[&str]| {
        let mut command = qecho();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        run(command, DEADLINE)
    };
    assert_error(
        &serve(&["--ticket-key", key.to_str().unwrap()]),
        2,
        &["can be read by others", "chmod 600"],
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&key, "not a key").unwrap();
    assert_error(
        &serve(&["--ticket-key", key.to_str().unwrap()]),
        2,
        &["does not hold a ticket key"],
    );
    let missing = dir.path().join("nope/ticket.key");
    assert_error(
        &serve(&["--ticket-key", missing.to_str().unwrap()]),
        2,
        &["cannot create --ticket-key"],
    );
    let out = send("127.0.0.1:9", &["-k", "--resume", "-"]);
    assert_error(&out, 2, &["--resume means nothing in pipe mode"]);
    let out = send("127.0.0.1:9", &["-k", "--cc", "reno"]);
    assert_error(&out, 2, &["reno"]);
}

#[test]
fn pinned_connections_resume_too() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &[
            "--pin",
            &server.fingerprint,
            "--resume",
            "--count",
            "1",
            "--json",
        ],
    );
    let stdout = assert_status(&out, 0);
    assert_eq!(connected(&stdout)["resumed"], true, "{stdout}");
}

/// Through a 200 Mbit/s bottleneck: on loopback alone, flow control rather than the path limits
/// the rate, and BBR can stay in its startup (which has no event) for a whole 32 MiB run.
#[test]
fn bulk_completes_with_each_congestion_controller_and_bbr_is_seen_at_work() {
    for cc in ["cubic", "bbr"] {
        let server = Server::start(&["--cc", cc, "-v"]);
        let relay = Relay::start(server.addr, &["--rate", "200Mbit"]);
        let out = send(
            &relay.target(),
            &["-k", "--cc", cc, "--bytes", "8MiB", "--stats", "--json"],
        );
        let summary = last_json(&assert_status(&out, 0));
        assert_eq!(summary["ok"], true, "{summary}");
        assert_eq!(summary["quic"]["congestion_controller"], cc, "{summary}");
        let changes = summary["quic"]["bbr_state_changes"].as_u64().unwrap();
        let handshake = server.log.wait_for("handshake complete", DEADLINE).unwrap();
        assert!(handshake.contains(&format!(", cc {cc}")), "{handshake}");
        if cc == "bbr" {
            // The client's BBR, which sends the data into the bottleneck. The server's only
            // echoes what comes, and may stay in its startup (which has no event) throughout.
            assert!(changes > 0, "BBR never changed state: {summary}");
        } else {
            assert_eq!(changes, 0);
        }
        relay.finish();
        eprintln!(
            "--cc {cc}: 8 MiB through 200 Mbit/s at {} Gbit/s, {changes} BBR state changes",
            summary["echo_gbit_per_s"]
        );
    }
}
