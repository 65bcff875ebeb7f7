//! What qecho shows of QUIC underneath: handshake facts, path changes (a NAT rebinding through a
//! relay), close statistics, failed handshakes, `send --stats` and JSON logs.

mod common;

use common::{DEADLINE, Server, assert_status, qecho, send, text};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A UDP relay between a client and a server, like a NAT: it forwards the client's packets from
/// one upstream port until `rebind` is set, then from another. Returns the address clients should
/// use and the two upstream addresses.
fn start_relay(
    runtime: &tokio::runtime::Runtime,
    server: SocketAddr,
    rebind: Arc<AtomicBool>,
) -> (SocketAddr, SocketAddr, SocketAddr) {
    runtime.block_on(async move {
        let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let first = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let second = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addrs = (
            front.local_addr().unwrap(),
            first.local_addr().unwrap(),
            second.local_addr().unwrap(),
        );
        tokio::spawn(async move {
            let (mut a, mut b, mut c) = (vec![0u8; 65536], vec![0u8; 65536], vec![0u8; 65536]);
            let mut client: Option<SocketAddr> = None;
            // Ends with the test's runtime; bounded by DEADLINE regardless.
            let relay = async {
                loop {
                    tokio::select! {
                        Ok((len, from)) = front.recv_from(&mut a) => {
                            client = Some(from);
                            let upstream = if rebind.load(Ordering::SeqCst) { &second } else { &first };
                            let _ = upstream.send_to(&a[..len], server).await;
                        }
                        Ok((len, _)) = first.recv_from(&mut b) => {
                            if let Some(client) = client {
                                let _ = front.send_to(&b[..len], client).await;
                            }
                        }
                        Ok((len, _)) = second.recv_from(&mut c) => {
                            if let Some(client) = client {
                                let _ = front.send_to(&c[..len], client).await;
                            }
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(DEADLINE, relay).await;
        });
        addrs
    })
}

#[test]
fn a_nat_rebinding_mid_session_loses_nothing_and_is_logged() {
    let server = Server::start(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rebind = Arc::new(AtomicBool::new(false));
    let (relay, first, second) = start_relay(&runtime, server.addr, rebind.clone());

    let mut command = qecho();
    command
        .args([
            "send",
            &relay.to_string(),
            "-k",
            "--count",
            "20",
            "--interval",
            "30ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = common::Log::follow_pub(child.stdout.take().unwrap());
    let stderr = common::Log::follow_pub(child.stderr.take().unwrap());
    assert!(
        stdout.wait_for("seq=5 ", DEADLINE).is_some(),
        "{}",
        stdout.text()
    );
    rebind.store(true, Ordering::SeqCst);

    let status = common::wait_with_deadline(&mut child, DEADLINE).expect("send finishes");
    let summary = stdout.wait_for(" sent, ", DEADLINE).expect("summary");
    assert_eq!(
        status.code(),
        Some(0),
        "{}\n{}",
        stdout.text(),
        stderr.text()
    );
    assert!(
        summary.contains("20 sent, 20 received, 0 corrupted, 0% loss"),
        "{summary}"
    );

    let changed = server
        .log
        .wait_for("path changed", DEADLINE)
        .unwrap_or_else(|| panic!("no path change logged:\n{}", server.log.text()));
    assert!(
        changed.contains(&format!("remote {first} -> {second}")),
        "{changed}"
    );
    // The same connection, by id, before and after.
    let opened = server.log.wait_for("connection 0 from", DEADLINE).unwrap();
    assert!(opened.contains(&format!("from {first}")), "{opened}");
    assert!(changed.contains("connection 0:"), "{changed}");
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
    // The client rejects the ephemeral certificate.
    let out = send(&server.target(), &["--count", "1"]);
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
