//! What qecho shows of QUIC underneath: handshake facts, path changes (a NAT rebinding through a
//! relay), close statistics, failed handshakes, `send --stats` and JSON logs.

mod common;

use common::{DEADLINE, Relay, Server, assert_error, assert_status, last_json, send, text};

/// A NAT rebinding every second (`qecho relay --rebind-every`): the connection carries on from
/// each new address, and `serve` logs every change.
#[test]
fn rebinding_every_second_loses_no_echo_and_serve_logs_each_change() {
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--rebind-every", "1s"]);
    let out = send(
        &relay.target(),
        &["-k", "--count", "35", "--interval", "100ms", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    assert_eq!(summary["lost"], 0, "{summary}");
    let rebound = relay.events("upstream rebound");
    assert!(rebound.len() >= 2, "{}", relay.log.text());
    for event in &rebound {
        let change = format!(
            "remote {} -> {}",
            event["from"].as_str().unwrap(),
            event["to"].as_str().unwrap()
        );
        assert!(
            server.log.wait_for(&change, DEADLINE).is_some(),
            "serve did not log {change}:\n{}",
            server.log.text()
        );
    }
    let changes = server
        .log
        .wait_for_count("path changed", rebound.len(), DEADLINE);
    assert_eq!(changes, rebound.len(), "{}", server.log.text());
    // The same connection, by id, before and after.
    let first = relay.events("mapped to upstream")[0]["upstream"]
        .as_str()
        .unwrap()
        .to_string();
    let opened = server.log.wait_for("connection 0 from", DEADLINE).unwrap();
    assert!(opened.contains(&format!("from {first}")), "{opened}");
    let changed = server.log.wait_for("path changed", DEADLINE).unwrap();
    assert!(changed.contains("connection 0:"), "{changed}");
    relay.finish();
    // The close line says whose RTT figures it gives, and never shows the new path's starting
    // estimate (333 ms) as a measurement: the whole run's RTTs were under a few ms here.
    let closed = server
        .log
        .wait_for("; QUIC: srtt", DEADLINE)
        .unwrap_or_default();
    assert!(closed.contains("path change(s)"), "{closed}");
    assert!(!closed.contains("srtt 333."), "{closed}");
}

#[test]
fn handshake_and_close_carry_quic_facts() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--count", "2", "--interval", "0s"],
    );
    assert_status(&out, 0);
    let handshake = server.log.wait_for("handshake complete", DEADLINE).unwrap();
    assert!(handshake.contains("alpn qecho"), "{handshake}");
    assert!(handshake.contains("server name 127.0.0.1"), "{handshake}");
    assert!(
        handshake.contains("TLS_AES_") || handshake.contains("TLS_CHACHA20"),
        "{handshake}"
    );
    // Both ends of qecho prefer X25519: the cheaper key exchange, and what most stacks offer first.
    assert!(handshake.contains(", x25519, QUIC v1"), "{handshake}");
    assert!(handshake.contains(" ms"), "{handshake}");
    let closed = server.log.wait_for("; QUIC: srtt", DEADLINE).unwrap();
    for needle in [
        "closed by the client",
        "min rtt",
        "rttvar",
        "packets sent",
        "lost 0",
        "cwnd",
        "bytes sent",
    ] {
        assert!(closed.contains(needle), "{needle:?} in {closed}");
    }
    // Logs are plain when not on a terminal.
    assert!(
        !server.log.text().contains('\x1b'),
        "ANSI colour in piped logs"
    );
}

#[test]
fn the_server_logs_handshakes_that_fail() {
    let server = Server::start(&[]);
    // The client rejects the ephemeral certificate. Through a relay with 10 ms each way: s2n-quic
    // times the closing period (3 PTO) from when the server's flight was read, before the
    // certificate is checked, and on loopback's PTO of about 1.5 ms a check slowed past 4.5 ms
    // by a busy machine ends that period before the CONNECTION_CLOSE is sent (19 of 1,000
    // refused clients, each under strace, beside two busy loops; none of 1,000 through this
    // relay under the same).
    let relay = Relay::start(server.addr, &["--delay", "10ms"]);
    let out = send(&relay.target(), &["--count", "1"]);
    assert_status(&out, 2);
    let failed = server
        .log
        .wait_for("failed:", DEADLINE)
        .expect("failed handshake logged");
    assert!(
        failed.contains("handshake with 127.0.0.1:") && failed.contains("closed by the client"),
        "{failed}"
    );

    // No common ALPN: the client hears nothing, but the server says why, from the client's
    // hello: what it offered, against what we speak.
    let out = send(
        &server.target(),
        &[
            "-k",
            "--alpn",
            "nope",
            "--alpn",
            "h3",
            "--connect-timeout",
            "1500ms",
        ],
    );
    assert_status(&out, 2);
    let hint = server
        .log
        .wait_for("the client offers ALPN", DEADLINE)
        .expect("ALPN hint logged");
    assert!(
        hint.contains("handshake with")
            && hint.contains("the client offers ALPN nope, h3; this server speaks qecho, quic-echo-example, quic-example: add the client's with --alpn"),
        "{hint}"
    );
}

#[test]
fn with_the_tls_thread_a_client_without_a_common_alpn_is_told_at_once() {
    // In the endpoint's loop s2n-quic drops such a handshake without a word (above); with the
    // TLS on a thread of its own the refusal comes back as a close, with the generic code
    // s2n-quic sends for every TLS failure, and the client names what it offered.
    let server = Server::start(&["--tls-thread"]);
    let out = send(
        &server.target(),
        &["-k", "--alpn", "nope", "--connect-timeout", "3s"],
    );
    let error = assert_error(&out, 2, &["handshake failure", "(nope)", "--alpn"]);
    assert!(!error.contains("no QUIC answer"), "{error}");
    let hint = server
        .log
        .wait_for("the client offers ALPN nope", DEADLINE)
        .expect("ALPN hint logged");
    assert!(hint.contains("handshake with"), "{hint}");
}

#[test]
fn a_refused_clients_retransmissions_are_logged_once() {
    // s2n-quic takes each retransmission of a refused client's first packet for a new
    // connection. At info the refusal is said once; -v shows the repeats.
    let server = Server::start(&["-v"]);
    let out = send(
        &server.target(),
        &["-k", "--alpn", "nope", "--connect-timeout", "3s"],
    );
    assert_status(&out, 2);
    let again = server
        .log
        .wait_for("(again)", DEADLINE)
        .expect("the client retransmitted within 3 s");
    assert!(again.contains("DEBUG"), "{again}");
    let log = server.log.text();
    let said = log
        .lines()
        .filter(|line| line.contains("INFO") && line.contains("the client offers ALPN nope"))
        .count();
    assert_eq!(said, 1, "{log}");
}

#[test]
fn send_stats_shows_quics_own_figures() {
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--stats", "--count", "3", "--interval", "10ms"],
    );
    let stdout = assert_status(&out, 0);
    let echoes: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .collect();
    assert_eq!(echoes.len(), 3);
    for line in echoes {
        assert!(
            line.contains(" quic_srtt=") && line.contains(" lost=0"),
            "{line}"
        );
    }
    let quic = stdout
        .lines()
        .find(|l| l.starts_with("QUIC: "))
        .expect("QUIC totals in the summary");
    assert!(
        quic.contains("packets sent") && quic.contains("cwnd"),
        "{quic}"
    );

    let out = send(
        &server.target(),
        &["-k", "--stats", "--json", "--count", "1"],
    );
    let last: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(last["quic"]["packets_sent"].as_u64().unwrap() > 0, "{last}");
    assert!(
        last["quic"]["smoothed_rtt_ms"].as_f64().unwrap() > 0.0,
        "{last}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_fields() {
    let server = Server::start(&["--log-format", "json"]);
    let out = send(
        &server.target(),
        &["-k", "--count", "1", "--log-format", "json"],
    );
    assert_status(&out, 0);
    // send's --insecure warning, as JSON too.
    for line in text(&out.stderr).lines() {
        let object: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        assert_eq!(object["level"], "WARN", "{object}");
    }
    let opened = server
        .log
        .wait_for("\"remote\"", DEADLINE)
        .expect("connection line");
    let opened: serde_json::Value = serde_json::from_str(&opened).unwrap();
    assert_eq!(opened["level"], "INFO");
    assert!(opened["timestamp"].is_string());
    assert_eq!(opened["conn"], 0);
    assert_eq!(opened["alpn"], "qecho");
    assert!(
        opened["message"]
            .as_str()
            .unwrap()
            .contains("connection 0 from")
    );
    server
        .log
        .wait_for("bytes_echoed", DEADLINE)
        .expect("close line");
    for line in server.log.text().lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(object["message"].is_string(), "{line}");
    }
}
