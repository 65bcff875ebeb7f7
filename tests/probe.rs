//! `qecho probe` against real servers on loopback: qecho's own with known settings (the probe
//! must report exactly those), and every way a probe can fail: a closed port, a port that answers
//! with junk, an ALPN the server does not speak, an expired certificate, a server that wants a
//! client certificate; IPv6; many targets at once, in order. Other stacks' servers are probed in
//! the interop tests.

mod common;

use common::{
    DEADLINE, Server, assert_error, assert_status, json_lines, probe, probe_json, qecho, run, text,
};

#[test]
fn reports_exactly_what_qecho_serve_is_set_to() {
    let server = Server::start(&["--max-streams", "7", "--idle-timeout", "12s"]);
    let (code, report) = probe_json(&[
        &server.target(),
        "--alpn",
        "qecho",
        "--pin",
        &server.fingerprint,
        "--max-mtu",
        "1400",
    ]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["reachable"], true, "{report}");
    assert_eq!(report["error"], serde_json::Value::Null);
    assert_eq!(report["address"], server.target());
    assert_eq!(report["quic_version"], "1");
    assert_eq!(report["alpn"], "qecho");
    assert_eq!(report["retry"], false);
    let tp = &report["transport_parameters"];
    assert_eq!(tp["initial_max_streams_bidi"], 7, "{tp}");
    assert_eq!(tp["initial_max_streams_uni"], 7, "{tp}");
    assert_eq!(tp["max_idle_timeout_ms"], 12000, "{tp}");
    // qecho's connection and stream windows (src/endpoint.rs).
    assert_eq!(tp["initial_max_data"], 8 << 20, "{tp}");
    assert_eq!(tp["initial_max_stream_data_bidi_remote"], 2 << 20, "{tp}");
    assert_eq!(tp["max_datagram_frame_size"], 30000, "{tp}");
    let tls = &report["tls"];
    assert_eq!(tls["certificate_verified"], true, "{tls}");
    assert_eq!(tls["cipher_suite"], "TLS_AES_128_GCM_SHA256", "{tls}");
    assert_eq!(tls["key_exchange_group"], "x25519", "{tls}");
    assert_eq!(tls["signature_scheme"], "ecdsa_secp256r1_sha256", "{tls}");
    let leaf = &tls["chain"][0];
    assert_eq!(leaf["sha256"], server.fingerprint.as_str(), "{leaf}");
    assert_eq!(leaf["key"], "EC P-256", "{leaf}");
    assert!(
        leaf["names"]
            .as_array()
            .is_some_and(|names| names.contains(&"127.0.0.1".into()))
    );
    assert!(
        leaf["days_left"].as_i64().is_some_and(|days| days >= 0),
        "{leaf}"
    );
    assert_eq!(report["session_ticket"], true, "{report}");
    assert_eq!(report["resumed"], true, "{report}");
    // The server sends no more than 3x what it got before our address is validated.
    let sent = report["handshake_bytes_sent"].as_u64().unwrap_or(0);
    let received = report["handshake_bytes_received"].as_u64().unwrap_or(0);
    assert!(sent >= 1200 && received > 0, "{report}");
    assert_eq!(report["amplification_over_limit"], false, "{report}");
    // Path MTU discovery up to --max-mtu 1400 (UDP payload, loopback carries more).
    let mtu = report["path_mtu"].as_u64().unwrap_or(0);
    assert!((1200..=1400).contains(&mtu), "{report}");
    assert!(report["min_rtt_ms"].as_f64().is_some_and(|rtt| rtt > 0.0));
    // Loopback carries ECN marks, and the probe's PINGs let QUIC validate them.
    assert_eq!(report["ecn"], "capable", "{report}");
}

#[test]
fn the_text_block_marks_each_check() {
    let server = Server::start(&[]);
    let out = probe(&[&server.target(), "--alpn", "qecho", "-k"]);
    let stdout = assert_status(&out, 0);
    for line in [
        "✔ reachable",
        "ALPN                        qecho",
        "initial_max_streams_bidi    100",
        "✔ session ticket",
        "✔ resumption",
        "certificate                 not checked (--insecure)",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("\x1b["),
        "no colour when not on a terminal"
    );
}

#[test]
fn retry_is_reported_when_the_server_demands_it() {
    let server = Server::start(&["--retry-threshold", "0"]);
    let (code, report) = probe_json(&[&server.target(), "--alpn", "qecho", "-k"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["retry"], true, "{report}");
}

#[test]
fn a_closed_port_and_a_port_that_answers_junk_are_unreachable() {
    let (code, report) = probe_json(&["127.0.0.1:9", "--timeout", "2s"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["reachable"], false);
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("nothing listens on UDP port 9"), "{error}");

    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = junk.local_addr().unwrap().port();
    let answering = std::thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        junk.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // Bounded: at most 20 answers, at most 5 s of silence between them.
        for _ in 0..20 {
            let Ok((_, from)) = junk.recv_from(&mut buffer) else {
                break;
            };
            let _ = junk.send_to(b"this is not QUIC", from);
        }
    });
    let target = format!("127.0.0.1:{port}");
    let (code, report) = probe_json(&[&target, "--timeout", "1s"]);
    assert_eq!(code, Some(1));
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("no QUIC answer"), "{error}");
    drop(answering);
}

#[test]
fn an_alpn_the_server_does_not_speak_is_named() {
    let server = Server::start(&[]);
    // probe offers h3 by default; qecho serve speaks qecho and quic-go's echo ALPNs.
    let (code, report) = probe_json(&[&server.target(), "-k", "--timeout", "2s"]);
    assert_eq!(code, Some(1));
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("(h3)") && error.contains("--alpn"),
        "{error}"
    );
    assert!(
        server
            .log
            .wait_for("the client offers ALPN h3", DEADLINE)
            .is_some(),
        "{}",
        server.log.text()
    );
}

#[test]
fn an_expired_certificate_is_refused_and_still_described() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let (cert_path, key_path) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let server = Server::start(&["--cert", cert_path, "--key", key_path]);
    let (code, report) = probe_json(&[&server.target(), "--alpn", "qecho", "--ca", cert_path]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["reachable"], false);
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("could not be verified"), "{error}");
    assert_eq!(report["tls"]["certificate_verified"], false, "{report}");
    let leaf = &report["tls"]["chain"][0];
    assert!(
        leaf["days_left"].as_i64().is_some_and(|days| days < -365),
        "{leaf}"
    );
    assert_eq!(leaf["not_after"], "2021-01-01T00:00:00Z", "{leaf}");
    // Described from a handshake that did not verify: the rest is there too.
    assert_eq!(report["alpn"], "qecho", "{report}");
    assert!(report["transport_parameters"].is_object(), "{report}");
}

#[test]
fn a_server_that_wants_a_client_certificate_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca_dir = ca_dir.to_str().unwrap();
    let mut command = qecho();
    command.args(["gencert", "--ca", "--out", ca_dir]);
    assert_status(&run(command, DEADLINE), 0);
    let ca = format!("{ca_dir}/ca.pem");
    let server = Server::start(&["--client-ca", &ca]);
    let (code, report) = probe_json(&[&server.target(), "--alpn", "qecho", "-k"]);
    assert_eq!(code, Some(1), "{report}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("requires a client certificate"), "{error}");
}

#[test]
fn ipv6_and_many_targets_in_order() {
    let v6 = Server::start(&["--listen", "[::1]:0"]);
    let v4 = Server::start(&[]);
    let targets = [
        v6.target(),
        "127.0.0.1:9".to_string(),
        v4.target(),
        format!("https://{}/index.html", v4.target()),
        v6.target(),
        "127.0.0.1:9".to_string(),
    ];
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend([
        "--alpn",
        "qecho",
        "-k",
        "--parallel",
        "3",
        "--json",
        "--timeout",
        "3s",
    ]);
    let started = std::time::Instant::now();
    let out = probe(&args);
    let lines = json_lines(&assert_status(&out, 1));
    assert_eq!(lines.len(), targets.len(), "{lines:?}");
    for (line, target) in lines.iter().zip(&targets) {
        assert_eq!(line["target"], target.as_str(), "in input order: {lines:?}");
        let closed = target.ends_with(":9");
        assert_eq!(line["reachable"], !closed, "{line}");
    }
    assert!(
        lines[0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("[::1]:"))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    // The same as a table and as CSV: a header, then a line per target.
    let out = probe(&[
        &targets[0],
        &targets[1],
        "--alpn",
        "qecho",
        "-k",
        "--timeout",
        "3s",
    ]);
    let table = text(&out.stdout);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("✔ [::1]:")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(2)
            .is_some_and(|l| l.starts_with("✘ 127.0.0.1:9")),
        "{table}"
    );
    let out = probe(&[&targets[2], "--alpn", "qecho", "-k", "--csv"]);
    let csv = assert_status(&out, 0);
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .is_some_and(|h| h.starts_with("target,host,port,reachable"))
    );
    assert!(rows.next().is_some_and(|r| r.contains(",true,,")), "{csv}");
}

#[test]
fn bad_targets_and_no_targets_are_usage_errors() {
    assert_error(&probe(&[]), 2, &["no target to probe", "-f FILE"]);
    assert_error(&probe(&["http://example.com/"]), 2, &["use https://"]);
    assert_error(&probe(&["example.com:99999"]), 2, &["not a port number"]);
    assert_error(
        &probe(&["-f", "/nonexistent/targets"]),
        2,
        &["-f /nonexistent/targets", "cannot open"],
    );
}
