//! `qecho relay` on its own: plain UDP datagrams from the test through the relay to a socket of
//! the test, so that what each impairment did can be checked exactly against the relay's counts.

mod common;

use common::{DEADLINE, Relay, assert_error, qecho, run};
use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A socket of the test on 127.0.0.1, with a read timeout so that no receive waits forever.
fn socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    socket
}

/// Sends `count` datagrams of `size` bytes (each starting with `first` and then its sequence
/// number) through `relay`, pausing 1 ms after every 20 so that no socket buffer overflows.
fn send_numbered(from: &UdpSocket, relay: SocketAddr, count: u32, size: usize, first: u8) {
    for seq in 0..count {
        let mut datagram = vec![0u8; size.max(5)];
        datagram[0] = first;
        datagram[1..5].copy_from_slice(&seq.to_be_bytes());
        from.send_to(&datagram, relay).expect("send");
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

type Received = Vec<(Vec<u8>, Instant, SocketAddr)>;

/// Receives on `sink` in a thread of its own, from now on, so that its socket buffer never fills:
/// every datagram until 300 ms pass without one (or the deadline), with the time it arrived and
/// the address it came from.
fn receiving(sink: &UdpSocket) -> std::thread::JoinHandle<Received> {
    let sink = sink.try_clone().expect("clone socket");
    std::thread::spawn(move || receive_all(&sink))
}

fn receive_all(sink: &UdpSocket) -> Received {
    let deadline = Instant::now() + DEADLINE;
    let mut received = Vec::new();
    let mut buf = [0u8; 65_535];
    while Instant::now() < deadline {
        match sink.recv_from(&mut buf) {
            Ok((len, from)) => received.push((buf[..len].to_vec(), Instant::now(), from)),
            Err(_) => break,
        }
    }
    received
}

fn seq(datagram: &[u8]) -> u32 {
    u32::from_be_bytes([datagram[1], datagram[2], datagram[3], datagram[4]])
}

#[test]
fn loss_drops_as_many_as_asked_and_counts_every_datagram() {
    let sink = socket();
    let relay = Relay::start(
        sink.local_addr().unwrap(),
        &["--up-loss", "20%", "--seed", "1"],
    );
    let client = socket();
    let n = 2000;
    let arrivals = receiving(&sink);
    send_numbered(&client, relay.addr, n, 100, 0x40);
    let received = arrivals.join().unwrap();
    let counts = relay.finish();
    assert_eq!(
        counts.get("up", "datagrams_in"),
        u64::from(n),
        "{}",
        counts.log
    );
    assert_eq!(counts.get("up", "bytes_in"), u64::from(n) * 100);
    let dropped = counts.get("up", "dropped_loss");
    assert_eq!(counts.get("up", "datagrams_out") + dropped, u64::from(n));
    assert_eq!(received.len() as u64, counts.get("up", "datagrams_out"));
    // 99.9% binomial bound: 400 +- 3.29 x sqrt(2000 x 0.2 x 0.8) = 400 +- 59.
    assert!(
        (341..=459).contains(&dropped),
        "{dropped} of {n} dropped at 20%"
    );
    // Nothing else happened to them: in order, unchanged.
    let seqs: Vec<u32> = received.iter().map(|(d, _, _)| seq(d)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "reordered without jitter"
    );
}

#[test]
fn the_same_seed_drops_the_same_datagrams() {
    let kept = || {
        let sink = socket();
        let relay = Relay::start(
            sink.local_addr().unwrap(),
            &["--loss", "50%", "--seed", "9"],
        );
        let client = socket();
        let arrivals = receiving(&sink);
        send_numbered(&client, relay.addr, 200, 20, 0x40);
        let received: Vec<u32> = arrivals
            .join()
            .unwrap()
            .iter()
            .map(|(d, _, _)| seq(d))
            .collect();
        relay.finish();
        received
    };
    let (first, second) = (kept(), kept());
    assert!(first.len() > 50 && first.len() < 150, "{}", first.len());
    assert_eq!(first, second);
}

#[test]
fn duplication_sends_twice_and_corruption_flips_one_bit() {
    let sink = socket();
    let relay = Relay::start(
        sink.local_addr().unwrap(),
        &["--up-duplicate", "100%", "--up-corrupt", "100%"],
    );
    let client = socket();
    let n = 100;
    let arrivals = receiving(&sink);
    send_numbered(&client, relay.addr, n, 200, 0x40);
    let received = arrivals.join().unwrap();
    let counts = relay.finish();
    assert_eq!(received.len(), 2 * n as usize, "{}", counts.log);
    assert_eq!(counts.get("up", "duplicated"), u64::from(n));
    assert_eq!(counts.get("up", "corrupted"), u64::from(n));
    // In order, each twice, with exactly one bit flipped against the datagram it was.
    let distance =
        |a: &[u8], b: &[u8]| -> u32 { a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum() };
    for (seq, copies) in (0..n).zip(received.chunks(2)) {
        let mut original = vec![0u8; 200];
        original[0] = 0x40;
        original[1..5].copy_from_slice(&seq.to_be_bytes());
        assert_eq!(copies[0].0, copies[1].0, "the copies of {seq} differ");
        assert_eq!(
            distance(&copies[0].0, &original),
            1,
            "{seq}: {:?}",
            &copies[0].0[..8]
        );
    }
}

#[test]
fn mtu_handshake_loss_and_pass_first_drop_exactly_what_they_name() {
    let sink = socket();
    let relay = Relay::start(
        sink.local_addr().unwrap(),
        &["--up-mtu", "1280", "--up-handshake-loss", "100%"],
    );
    let client = socket();
    // 1252 bytes of UDP payload + 28 of headers = 1280 passes; 1253 does not.
    send_numbered(&client, relay.addr, 1, 1252, 0x40);
    send_numbered(&client, relay.addr, 1, 1253, 0x40);
    // Long headers (0xc0: Initial) are all dropped, short ones (0x40: 1-RTT) all pass.
    let arrivals = receiving(&sink);
    send_numbered(&client, relay.addr, 10, 100, 0xc0);
    send_numbered(&client, relay.addr, 10, 100, 0x40);
    let received = arrivals.join().unwrap();
    let counts = relay.finish();
    assert_eq!(counts.get("up", "dropped_mtu"), 1, "{}", counts.log);
    assert_eq!(counts.get("up", "dropped_handshake_loss"), 10);
    assert_eq!(received.len(), 11);
    assert!(received.iter().all(|(d, _, _)| d[0] == 0x40));
    assert_eq!(received[0].0.len(), 1252);

    let sink = socket();
    let relay = Relay::start(sink.local_addr().unwrap(), &["--up-pass-first", "3"]);
    let arrivals = receiving(&sink);
    send_numbered(&client, relay.addr, 10, 50, 0x40);
    let received = arrivals.join().unwrap();
    let counts = relay.finish();
    assert_eq!(received.len(), 3);
    assert_eq!(counts.get("up", "dropped_pass_first"), 7);
}

#[test]
fn delay_holds_each_datagram_as_long_as_asked() {
    let _clock = common::timing_test();
    let sink = socket();
    let relay = Relay::start(sink.local_addr().unwrap(), &["--up-delay", "50ms"]);
    let client = socket();
    let mut held = Vec::new();
    for _ in 0..5 {
        let sent = Instant::now();
        client.send_to(b"\x40ping", relay.addr).unwrap();
        let mut buf = [0u8; 16];
        sink.set_read_timeout(Some(DEADLINE)).unwrap();
        sink.recv_from(&mut buf).expect("the delayed datagram");
        held.push(sent.elapsed());
    }
    let counts = relay.finish();
    assert_eq!(counts.get("up", "delayed"), 5);
    for delay in &held {
        assert!(
            *delay >= Duration::from_millis(50) && *delay < Duration::from_millis(55),
            "held {delay:?} for --delay 50ms: {held:?}"
        );
    }
}

#[test]
fn rate_paces_datagrams_and_drops_past_the_queue() {
    let _clock = common::timing_test();
    let sink = socket();
    // 8 Mbit/s is 1 ms per 1000-byte datagram; a 20000-byte queue holds 20 of them.
    let relay = Relay::start(
        sink.local_addr().unwrap(),
        &["--up-rate", "8Mbit", "--up-queue", "20000"],
    );
    let client = socket();
    let arrivals = receiving(&sink);
    for seq in 0..100u32 {
        let mut datagram = vec![0x40u8; 1000];
        datagram[1..5].copy_from_slice(&seq.to_be_bytes());
        client.send_to(&datagram, relay.addr).unwrap();
    }
    let received = arrivals.join().unwrap();
    let counts = relay.finish();
    let passed = received.len() as u64;
    assert_eq!(
        passed + counts.get("up", "dropped_queue_full"),
        100,
        "{}",
        counts.log
    );
    // The burst arrives faster than 1 ms a datagram: the queue fills, the rest is tail-dropped.
    assert!(
        (20..=40).contains(&passed),
        "{passed} passed the 20-datagram queue"
    );
    let span = received[received.len() - 1].1 - received[0].1;
    let expected = Duration::from_millis(passed - 1);
    assert!(
        span >= expected.mul_f64(0.95) && span <= expected.mul_f64(1.2),
        "{passed} datagrams of 1000 bytes at 8 Mbit/s took {span:?}, expected {expected:?}"
    );
}

#[test]
fn jitter_reorders_datagrams() {
    let _clock = common::timing_test();
    let sink = socket();
    let relay = Relay::start(
        sink.local_addr().unwrap(),
        &["--up-delay", "10ms", "--up-jitter", "10ms", "--seed", "3"],
    );
    let client = socket();
    let arrivals = receiving(&sink);
    send_numbered(&client, relay.addr, 200, 50, 0x40);
    let seqs: Vec<u32> = arrivals
        .join()
        .unwrap()
        .iter()
        .map(|(d, _, _)| seq(d))
        .collect();
    let counts = relay.finish();
    assert_eq!(seqs.len(), 200, "{}", counts.log);
    let overtaken = seqs.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(
        overtaken > 10,
        "only {overtaken} of 200 datagrams overtaken"
    );
}

#[test]
fn an_outage_lets_nothing_through_for_its_length() {
    let _clock = common::timing_test();
    let sink = socket();
    let relay = Relay::start(
        sink.local_addr().unwrap(),
        &["--outage", "300ms", "--outage-every", "1s"],
    );
    let client = socket();
    // One datagram every 10 ms for 1.5 s: those in [1.0 s, 1.3 s) meet the outage.
    // The outage is a 300 ms silence: the sink waits longer than that for the end.
    sink.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let arrivals = receiving(&sink);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        client.send_to(b"\x40....", relay.addr).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let received = arrivals.join().unwrap();
    let counts = relay.finish();
    let dark = counts.get("up", "dropped_outage");
    assert_eq!(received.len() as u64 + dark, sent, "{}", counts.log);
    // 300 ms at one datagram per 10 ms (plus scheduling): about 27 to 30.
    assert!(
        (20..=31).contains(&dark),
        "{dark} dropped in a 300 ms outage"
    );
    let gap = received
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .max()
        .unwrap_or_default();
    assert!(gap >= Duration::from_millis(290), "longest gap {gap:?}");
}

#[test]
fn clients_get_mappings_of_their_own_that_rebind_and_expire() {
    let server = socket();
    let relay = Relay::start(
        server.local_addr().unwrap(),
        &["--rebind-every", "200ms", "--idle-timeout", "1s"],
    );
    let (alice, bob) = (socket(), socket());
    let mut ports = HashSet::new();
    let mut buf = [0u8; 64];
    // Each client sends every 50 ms for about a second; the server echoes to whoever sent.
    for round in 0..20u8 {
        for (client, name) in [(&alice, b'a'), (&bob, b'b')] {
            client.send_to(&[0x40, name, round], relay.addr).unwrap();
            let (len, from) = server.recv_from(&mut buf).expect("relayed up");
            ports.insert(from.port());
            server.send_to(&buf[..len], from).unwrap();
            let (len, echo_from) = client.recv_from(&mut buf).expect("relayed down");
            assert_eq!(
                &buf[..len],
                &[0x40, name, round],
                "each client gets its own"
            );
            assert_eq!(
                echo_from, relay.addr,
                "echoes come from the relay's address"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mapped = relay.events("mapped to upstream");
    assert_eq!(mapped.len(), 2, "{}", relay.log.text());
    let rebound = relay.events("upstream rebound");
    assert!(
        rebound.len() >= 6,
        "{} rebindings in 1 s at 200 ms",
        rebound.len()
    );
    // Every port the server saw is one the relay logged.
    assert_eq!(ports.len(), mapped.len() + rebound.len(), "{ports:?}");
    assert!(
        relay.log.wait_for_count("mapping expired", 2, DEADLINE) == 2,
        "idle mappings never expired:\n{}",
        relay.log.text()
    );
    relay.finish();
}

#[test]
fn verbose_prints_the_counts_every_second() {
    let sink = socket();
    let relay = Relay::start(sink.local_addr().unwrap(), &["-v", "--loss", "1%"]);
    let client = socket();
    send_numbered(&client, relay.addr, 10, 10, 0x40);
    let line = relay
        .log
        .wait_for("so far, client to server: in 10 datagrams", DEADLINE)
        .unwrap_or_else(|| panic!("no counts at -v:\n{}", relay.log.text()));
    assert!(line.contains("\"level\":\"DEBUG\""), "{line}");
    relay.finish();
}

#[test]
fn bad_flags_are_one_paragraph_errors() {
    let relay = |args: &[&str]| {
        let mut command = qecho();
        command.arg("relay").args(args);
        run(command, DEADLINE)
    };
    assert_error(
        &relay(&["--loss", "120%"]),
        2,
        &["120%", "between 0% and 100%"],
    );
    assert_error(&relay(&["--rate", "fast"]), 2, &["fast", "50Mbit"]);
    assert_error(&relay(&["--rate", "0"]), 2, &["too small"]);
    assert_error(
        &relay(&[
            "--listen",
            "127.0.0.1:0",
            "--to",
            "no-such-host.invalid:9999",
        ]),
        2,
        &["--to 'no-such-host.invalid:9999'", "HOST:PORT"],
    );
    assert_error(
        &relay(&["--listen", "127.0.0.1:0", "--queue", "1MB"]),
        2,
        &["--queue", "add --rate"],
    );
    assert_error(&relay(&["--outage", "1s"]), 2, &["--outage-every"]);
    assert_error(
        &relay(&[
            "--listen",
            "127.0.0.1:0",
            "--outage",
            "2s",
            "--outage-every",
            "1s",
        ]),
        2,
        &["never end"],
    );
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    assert_error(
        &relay(&["--listen", &busy, "--to", "127.0.0.1:9"]),
        2,
        &["already in use", "port 0"],
    );
    drop(taken);
}
