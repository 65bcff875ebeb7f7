//! `serve` under limits, floods and hostile input: it keeps serving an unrelated client
//! throughout, logs in plain words without a storm, and its memory stays bounded.

mod common;

use common::peer;
use common::{DEADLINE, Server, assert_error, assert_status, last_json, send};
use std::net::UdpSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn server_with_cert(extra: &[&str]) -> (Server, String, tempfile::TempDir) {
    let (cert, key) = peer::self_signed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key).unwrap();
    let cert_path = dir.path().join("cert.pem").to_str().unwrap().to_string();
    let key_path = dir.path().join("key.pem").to_str().unwrap().to_string();
    let mut args = vec!["--cert", &cert_path, "--key", &key_path];
    args.extend_from_slice(extra);
    (Server::start(&args), cert, dir)
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn past_max_connections_new_ones_are_refused_and_old_ones_keep_echoing() {
    let (server, cert, _dir) = server_with_cert(&["--max-connections", "2"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (client, first, second) = runtime.block_on(async {
        let client = peer::client(&cert);
        let first = peer::connect(&client, server.addr).await;
        let second = peer::connect(&client, server.addr).await;
        (client, first, second)
    });
    let out = send(&server.target(), &["-k", "--count", "1"]);
    assert_error(&out, 2, &["refused", "connection limit"]);
    let refused = server
        .log
        .wait_for("refused", DEADLINE)
        .expect("refusal logged");
    assert!(refused.contains("--max-connections"), "{refused}");
    runtime.block_on(async {
        for connection in [&first, &second] {
            let mut handle = connection.handle();
            peer::echo_stream(&mut handle, peer::payload(1, 10_000)).await;
        }
    });
    drop((first, second, client));
}

#[test]
fn idle_and_trickling_clients_are_closed_after_the_idle_timeout() {
    let (server, cert, _dir) = server_with_cert(&["--idle-timeout", "400ms"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = peer::client(&cert);
        let silent = peer::connect(&client, server.addr).await;
        let mut trickler = peer::connect(&client, server.addr).await;
        let started = Instant::now();
        // One byte every 700 ms: slower than the idle timeout.
        let stream = trickler.open_bidirectional_stream().await.unwrap();
        let (_reader, mut writer) = stream.split();
        let mut closed = false;
        for _ in 0..10 {
            if writer.send(bytes::Bytes::from_static(b"x")).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        assert!(closed, "the trickler was never closed");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(silent);
    });
    // serve's own close line, for the silent client and for the trickler.
    let closed = server.log.wait_for_count("; idle timeout", 2, DEADLINE);
    assert_eq!(closed, 2, "{}", server.log.text());
}

#[test]
fn streams_past_max_streams_wait_for_a_free_slot() {
    let (server, cert, _dir) = server_with_cert(&["--max-streams", "5"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = peer::client(&cert);
        let connection = peer::connect(&client, server.addr).await;
        let mut handle = connection.handle();
        let mut open = Vec::new();
        for _ in 0..5 {
            let mut stream = handle.open_bidirectional_stream().await.unwrap();
            stream
                .send(bytes::Bytes::from_static(b"hold"))
                .await
                .unwrap();
            open.push(stream);
        }
        // A sixth cannot open while five are open...
        let mut sixth_handle = handle.clone();
        let sixth = tokio::spawn(async move {
            let mut stream = sixth_handle.open_bidirectional_stream().await.unwrap();
            stream.send(bytes::Bytes::from_static(b"6")).await.unwrap();
            stream.receive().await.unwrap()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !sixth.is_finished(),
            "a sixth stream opened past --max-streams 5"
        );
        // ...and can once one of them is done.
        let mut first = open.remove(0);
        first.finish().unwrap();
        while first.receive().await.unwrap().is_some() {}
        let echoed = tokio::time::timeout(Duration::from_secs(10), sixth).await;
        assert_eq!(
            echoed.expect("sixth stream served").unwrap().as_deref(),
            Some(&b"6"[..])
        );
    });
}

#[test]
fn a_handshake_flood_is_met_with_retry_and_everyone_gets_in() {
    let server = Server::start(&["--retry-threshold", "2", "-v"]);
    let out = send(
        &server.target(),
        &["-k", "--connections", "60", "--parallel", "30", "--json"],
    );
    let stdout = assert_status(&out, 0);
    let summary: serde_json::Value = last_json(&stdout);
    assert_eq!(summary["ok"], 60);
    let retry = server
        .log
        .wait_for("sent Retry", DEADLINE)
        .expect("Retry used");
    assert!(retry.contains("--retry-threshold 2"), "{retry}");
}

/// Random bytes, truncated packets and Initial look-alikes with garbage inside, 100,000 of them,
/// while an unrelated client pings: no echo lost, no error lines, the server still up, and its
/// memory back near where it was.
#[test]
fn hostile_datagrams_do_not_disturb_a_real_client() {
    let mut server = Server::start(&[]);
    let pid = server.pid();
    let warm = send(
        &server.target(),
        &["-k", "--count", "3", "--interval", "0s"],
    );
    assert_status(&warm, 0);
    let rss_before = rss_kib(pid);

    let mut command = common::qecho();
    command
        .args([
            "send",
            &server.target(),
            "-k",
            "--count",
            "150",
            "--interval",
            "20ms",
            "--timeout",
            "2s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let client = command.spawn().unwrap();

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let started = Instant::now();
    for n in 0..100_000u32 {
        let len = 1 + (next() % 1400) as usize;
        let mut packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match n % 3 {
            // An Initial look-alike: long header, QUIC v1, 8-byte connection ids, garbage inside.
            0 if len > 1200 => {
                packet[0] = 0xc3;
                packet[1..5].copy_from_slice(&1u32.to_be_bytes());
                packet[5] = 8;
                packet[14] = 8;
                packet[23] = 0; // no token
            }
            // A truncated long header.
            1 => {
                packet.truncate(1 + (len % 20));
                packet[0] = 0xc0 | (packet[0] & 0x0f);
            }
            _ => {}
        }
        let _ = attacker.send_to(&packet, server.addr);
        assert!(started.elapsed() < DEADLINE, "flooding took too long");
    }
    let flood_time = started.elapsed();

    let out = client.wait_with_output().unwrap();
    let stdout = assert_status(&out, 0);
    assert!(
        stdout.contains("150 sent, 150 received, 0 corrupted, 0% loss"),
        "{stdout}"
    );
    assert!(server.is_running());
    let after = send(
        &server.target(),
        &["-k", "--count", "3", "--interval", "0s"],
    );
    assert_status(&after, 0);

    let log = server.log.text();
    assert!(!log.contains("ERROR"), "error lines:\n{log}");
    assert!(
        log.lines().count() < 100,
        "a log storm: {} lines",
        log.lines().count()
    );
    let rss_after = rss_kib(pid);
    eprintln!(
        "flood of 100000 datagrams took {flood_time:?}; server RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

#[test]
fn two_hundred_clients_with_several_streams_every_byte_checked() {
    const CLIENTS: u64 = 200;
    const STREAMS: u64 = 3;
    const ECHOES: u64 = 20;
    let (server, cert, _dir) = server_with_cert(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Four client endpoints (UDP sockets), 50 connections each.
        let endpoints: Vec<_> = (0..4).map(|_| peer::client(&cert)).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..CLIENTS {
            let client = endpoints[(n % 4) as usize].clone();
            let addr = server.addr;
            tasks.spawn(async move {
                let connection = peer::connect(&client, addr).await;
                let mut streams = tokio::task::JoinSet::new();
                for s in 0..STREAMS {
                    let mut handle = connection.handle();
                    streams.spawn(async move {
                        let (mut reader, mut writer) =
                            handle.open_bidirectional_stream().await.unwrap().split();
                        for e in 0..ECHOES {
                            let message = peer::payload(n * 10_000 + s * 100 + e, 512);
                            writer.send(message.clone()).await.unwrap();
                            let mut echo = Vec::new();
                            while echo.len() < message.len() {
                                echo.extend_from_slice(
                                    &reader.receive().await.unwrap().expect("echo"),
                                );
                            }
                            assert!(echo == message, "client {n} stream {s} echo {e} differs");
                        }
                        writer.finish().unwrap();
                    });
                }
                while let Some(done) = streams.join_next().await {
                    done.unwrap();
                }
                connection
            });
        }
        let all = async {
            let mut done = 0;
            while let Some(result) = tasks.join_next().await {
                result.unwrap();
                done += 1;
            }
            done
        };
        let done = tokio::time::timeout(Duration::from_secs(120), all)
            .await
            .expect("within 120 s");
        assert_eq!(done, CLIENTS);
    });
}

/// Clients that reset a stream or close the connection with an error: the server says so once,
/// in plain words, and keeps serving.
#[test]
fn resets_and_error_closes_are_logged_once_in_plain_words() {
    let (server, cert, _dir) = server_with_cert(&["-v"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = peer::client(&cert);
        let connection = peer::connect(&client, server.addr).await;
        let mut handle = connection.handle();
        let mut stream = handle.open_bidirectional_stream().await.unwrap();
        stream
            .send(bytes::Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let _ = stream.receive().await.unwrap();
        stream.reset(5u8.into()).unwrap();
        // Let the reset reach the server before the connection goes.
        let mut other = handle.open_bidirectional_stream().await.unwrap();
        other.send(bytes::Bytes::from_static(b"x")).await.unwrap();
        let _ = other.receive().await.unwrap();
        connection.close(42u8.into());
        let _ = tokio::time::timeout(Duration::from_secs(2), async move {
            let mut client = client;
            client.wait_idle().await
        })
        .await;
    });
    let reset = server
        .log
        .wait_for("reset the stream", DEADLINE)
        .expect("reset logged");
    assert!(
        reset.contains("the client reset the stream (application error code 5)")
            && !reset.contains("the the"),
        "{reset}"
    );
    let closed = server
        .log
        .wait_for("bytes echoed on", DEADLINE)
        .expect("close logged");
    assert!(
        closed.contains("closed by the client with application error code 42"),
        "{closed}"
    );
    assert_eq!(
        server
            .log
            .wait_for_count("bytes echoed on", 2, Duration::from_millis(300)),
        1,
        "logged once"
    );
    let out = send(&server.target(), &["-k", "--count", "1"]);
    assert_status(&out, 0);
}
