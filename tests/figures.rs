//! qecho's figures held against the truth: through `qecho relay`, with a delay, a loss or a rate
//! that is known, what `send` reports must match it.

mod common;

use common::{Relay, Server, assert_status, last_json, send};

/// The relay counts UDP datagrams, qecho counts DATAGRAM frames, and one packet can carry
/// several frames: on a busy host the server echoed 1000 datagrams of 500 bytes in 868 packets,
/// and a dropped packet took two echoes with it (lost 51-59 where the relay dropped 47-48, in 5
/// runs beside two busy loops). A 1280-byte MTU and 700-byte datagrams keep to one frame a
/// packet, so each lost datagram is one the relay dropped (8 runs beside the same busy loops,
/// both directions: lost <= dropped in each).
/// The MTU probes above it that the relay drops are counted apart, as `dropped_mtu`.
const ONE_FRAME_PER_PACKET: [&str; 2] = ["--mtu", "1280"];
const DATAGRAM_SIZE: &str = "700";

#[test]
fn rtt_through_20ms_each_way_reads_40ms() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--delay", "20ms"]);
    let out = send(
        &relay.target(),
        &["-k", "--count", "20", "--interval", "50ms", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    let counts = relay.finish();
    let rtt = &summary["rtt_ms"];
    // The truth is what the relay added: 20 ms each way and however late its thread woke to
    // send (on average 0.2-0.3 ms each way here, 0.7-1.1 beside two busy loops, where qecho's
    // average RTT read 2.0-2.8 ms above 40 in 4 runs). qecho's own share, loopback and both
    // ends' wake-ups, read 0.3-0.4 ms at the median through a relay without delay: allow 1.5 ms.
    // (Of 20 echoes the percentiles are exact.)
    let late = counts.ms("up", "late_avg_ms") + counts.ms("down", "late_avg_ms");
    let truth = 40.0 + late;
    let (min, p50) = (rtt["min"].as_f64().unwrap(), rtt["p50"].as_f64().unwrap());
    assert!(
        min >= 40.0 && min <= truth + 1.5,
        "min RTT {min} ms through 2 x 20 ms, {late:.2} ms late: {summary}"
    );
    assert!(
        p50 >= 40.0 && p50 <= truth + 1.5,
        "median RTT {p50} ms through 2 x 20 ms, {late:.2} ms late: {summary}"
    );
    eprintln!("delay 20ms each way, the relay {late:.2} ms late: rtt {rtt}");
}

#[test]
fn datagram_loss_reads_what_the_relay_dropped() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(
        server.addr,
        &[
            &ONE_FRAME_PER_PACKET[..],
            &["--up-loss", "10%", "--seed", "10"],
        ]
        .concat(),
    );
    let n = 400;
    let out = send(
        &relay.target(),
        &[
            "-k",
            "--datagram",
            "--size",
            DATAGRAM_SIZE,
            "--count",
            &n.to_string(),
            "--interval",
            "5ms",
            "--timeout",
            "500ms",
            "--json",
        ],
    );
    // Some were lost: exit 1, as ping's.
    let summary = last_json(&assert_status(&out, 1));
    let counts = relay.finish();
    let lost = summary["lost"].as_u64().unwrap();
    let dropped = counts.get("up", "dropped_loss");
    assert_eq!(summary["sent"], n, "{summary}");
    // 99.9% binomial bound: 40 +- 3.29 x sqrt(400 x 0.1 x 0.9) = 40 +- 19.7.
    assert!(
        (21..=59).contains(&lost),
        "{lost} of {n} lost through 10% loss: {summary}"
    );
    // Only datagrams the relay dropped can be lost (it also drops packets with ACKs alone).
    assert!(
        lost <= dropped,
        "{lost} lost but the relay dropped {dropped}"
    );
    eprintln!(
        "up-loss 10%: {lost}/{n} datagrams lost ({}%), relay dropped {dropped}",
        summary["loss_percent"]
    );
}

#[test]
fn stream_ping_through_loss_loses_nothing_and_shows_the_retransmissions() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--loss", "5%", "--seed", "55"]);
    let out = send(
        &relay.target(),
        &["-k", "--count", "100", "--interval", "20ms", "--json"],
    );
    let stdout = assert_status(&out, 0);
    let summary = last_json(&stdout);
    let counts = relay.finish();
    assert_eq!(summary["lost"], 0, "streams are reliable: {summary}");
    let rtts: Vec<f64> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|echo| echo["type"] == "echo")
        .filter_map(|echo| echo["rtt_ms"].as_f64())
        .collect();
    let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
    // A lost ping or echo waits for QUIC's probe timeout (at least its 25 ms max ACK delay).
    let retransmitted = rtts
        .iter()
        .filter(|rtt| **rtt > 10.0 * min && **rtt > 5.0)
        .count();
    let dropped = counts.get("up", "dropped_loss") + counts.get("down", "dropped_loss");
    assert!(retransmitted > 0, "no RTT shows a retransmission: {rtts:?}");
    eprintln!(
        "loss 5% each way: 0 lost, {retransmitted} of 100 echoes retransmitted, relay dropped {dropped}, rtt {}",
        summary["rtt_ms"]
    );
}

#[test]
fn bulk_through_a_50mbit_bottleneck_reads_50mbit() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--rate", "50Mbit"]);
    // 16 MiB: about 3 s at 50 Mbit/s, so that slow start is a small part of the run.
    let out = send(&relay.target(), &["-k", "--bytes", "16MiB", "--json"]);
    let summary = last_json(&assert_status(&out, 0));
    relay.finish();
    let rate = summary["echo_gbit_per_s"].as_f64().unwrap() * 1000.0;
    assert!(
        (40.0..=52.5).contains(&rate),
        "{rate} Mbit/s through 50 Mbit/s: {summary}"
    );
    eprintln!("rate 50Mbit: bulk echo {rate:.1} Mbit/s");
}

/// `--rate` paces bulk mode: at 100 Mbit/s it sends at 85-105% of that; through a 50 Mbit/s
/// bottleneck the same run achieves the bottleneck's rate, not the one asked for.
#[test]
fn bulk_at_a_chosen_rate_sends_at_that_rate() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["-k", "--rate", "100Mbit", "--duration", "2s", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    let sent = summary["send_gbit_per_s"].as_f64().unwrap() * 1000.0;
    assert_eq!(summary["rate_asked_gbit_per_s"], 0.1, "{summary}");
    assert!(
        (85.0..=105.0).contains(&sent),
        "{sent} Mbit/s at --rate 100Mbit: {summary}"
    );

    let relay = Relay::start(server.addr, &["--rate", "50Mbit"]);
    let out = send(
        &relay.target(),
        &["-k", "--rate", "100Mbit", "--duration", "3s", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    relay.finish();
    let echoed = summary["echo_gbit_per_s"].as_f64().unwrap() * 1000.0;
    assert!(
        (40.0..=52.5).contains(&echoed),
        "{echoed} Mbit/s through 50 Mbit/s: {summary}"
    );
    eprintln!("--rate 100Mbit: sent {sent:.1} Mbit/s; through a 50 Mbit/s relay: {echoed:.1}");
}

/// Four connections through one 40 Mbit/s bottleneck share it: their sum reads the bottleneck's
/// rate, every connection gets some of it, and the run ends when --duration says.
#[test]
fn bulk_over_four_connections_through_a_bottleneck_sums_to_it() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--rate", "40Mbit"]);
    let out = send(
        &relay.target(),
        &["-k", "--duration", "3s", "--connections", "4", "--json"],
    );
    let summary = last_json(&assert_status(&out, 0));
    relay.finish();
    let total = summary["echo_gbit_per_s"].as_f64().unwrap() * 1000.0;
    assert!(
        (32.0..=42.0).contains(&total),
        "{total} Mbit/s over 4 connections through 40 Mbit/s: {summary}"
    );
    let shares: Vec<f64> = summary["per_connection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["echo_gbit_per_s"].as_f64().unwrap() * 1000.0)
        .collect();
    assert_eq!(shares.len(), 4, "{summary}");
    assert!(shares.iter().all(|share| *share > 1.0), "{shares:?}");
    // --duration 3s ends in about 3 s: the client queues what the path carries in a round trip
    // or two, not a connection window each (which once took 5.2 s to drain here).
    let echo_seconds = summary["echo_seconds"].as_f64().unwrap();
    assert!(echo_seconds < 4.0, "a 3 s run took {echo_seconds} s");
    eprintln!("4 connections through 40 Mbit/s: {total:.1} Mbit/s in all, {shares:.1?}");
}

/// The server keeps up with a paced datagram client: 5000 datagrams at 100 Mbit/s through a
/// clean 5 ms path each way all come back. (With s2n-quic's fixed 16-entry queues the server had
/// dropped 346 of them here, and 22 even on plain loopback.)
#[test]
fn serve_echoes_every_datagram_of_a_paced_client() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--delay", "5ms"]);
    let out = send(
        &relay.target(),
        &[
            "-k",
            "--datagram",
            "--rate",
            "100Mbit",
            "--size",
            "1000",
            "--count",
            "5000",
            "--timeout",
            "2s",
            "--json",
        ],
    );
    let summary = last_json(&common::text(&out.stdout));
    let counts = relay.finish();
    let dropped = counts.get("up", "dropped") + counts.get("down", "dropped");
    assert_eq!(dropped, 0, "the relay dropped nothing: {summary}");
    assert_eq!(summary["received"], 5000, "{summary}");
    assert_eq!(out.status.code(), Some(0), "{summary}");
    let closed = server
        .log
        .wait_for("closed after", common::DEADLINE)
        .unwrap_or_default();
    assert!(
        closed.contains("and 5000 datagram(s);"),
        "nothing dropped by the server: {closed}"
    );
}

/// What the server drops it counts: a client sending at 20 Mbit/s into a 1 Mbit/s path back
/// fills the server's queue of echoes, and the close line says how many were not echoed.
#[test]
fn serve_counts_the_echoes_it_drops() {
    let _clock = common::timing_test();
    let server = Server::start(&["--log-format", "json"]);
    let relay = Relay::start(server.addr, &["--down-rate", "1Mbit"]);
    let out = send(
        &relay.target(),
        &[
            "-k",
            "--datagram",
            "--rate",
            "20Mbit",
            "--size",
            "1000",
            "--count",
            "3000",
            "--timeout",
            "1s",
            "--json",
        ],
    );
    let summary = last_json(&common::text(&out.stdout));
    relay.finish();
    assert_eq!(out.status.code(), Some(1), "not all came back: {summary}");
    let closed = server
        .log
        .wait_for("closed after", common::DEADLINE)
        .unwrap_or_default();
    let closed: serde_json::Value = serde_json::from_str(&closed).unwrap_or_default();
    let dropped = closed["datagrams_not_echoed"].as_u64().unwrap_or(0);
    let echoed = closed["datagrams_echoed"].as_u64().unwrap_or(0);
    assert!(dropped > 500, "{closed}");
    assert_eq!(
        echoed + dropped,
        3000,
        "each one echoed or counted as not echoed: {closed}"
    );
    let message = closed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not echoed:") && message.contains("with the queue full"),
        "{message}"
    );
}

/// iperf3's UDP mode over QUIC: datagrams at a chosen rate through 5% loss toward the server
/// read 5% loss (binomial bound), never more than the relay dropped; through a jittery path the
/// RFC 3550 jitter grows with it, and reordering shows.
#[test]
fn datagrams_at_a_rate_read_the_paths_loss_and_jitter() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let run = |relay: &Relay, count: &str, rate: &str| {
        let out = send(
            &relay.target(),
            &[
                "-k",
                "--datagram",
                "--rate",
                rate,
                "--size",
                DATAGRAM_SIZE,
                "--count",
                count,
                "--timeout",
                "500ms",
                "--json",
            ],
        );
        let stdout = common::text(&out.stdout);
        // At a rate, one line per interval, none per datagram, then the summary.
        let lines = common::json_lines(&stdout);
        assert!(lines.iter().all(|line| line["type"] != "echo"), "{stdout}");
        let intervals: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|line| line["type"] == "interval")
            .collect();
        let summary = last_json(&stdout);
        let sum = |field: &str| {
            intervals
                .iter()
                .map(|i| i[field].as_u64().unwrap())
                .sum::<u64>()
        };
        assert!(sum("sent") <= summary["sent"].as_u64().unwrap(), "{stdout}");
        assert!(sum("lost") <= summary["lost"].as_u64().unwrap(), "{stdout}");
        (summary, intervals.len())
    };
    let lossy = Relay::start(
        server.addr,
        &[
            &ONE_FRAME_PER_PACKET[..],
            &["--up-loss", "5%", "--seed", "17"],
        ]
        .concat(),
    );
    let (summary, intervals) = run(&lossy, "1000", "2Mbit");
    // 1000 datagrams of 700 bytes at 2 Mbit/s take 2.8 s: two 1 s intervals at least.
    assert!(intervals >= 2, "{intervals} intervals: {summary}");
    let dropped = lossy.finish().get("up", "dropped_loss");
    let lost = summary["lost"].as_u64().unwrap();
    // 99.9% binomial bound: 50 +- 3.29 x sqrt(1000 x 0.05 x 0.95) = 50 +- 22.7.
    assert!(
        (28..=72).contains(&lost),
        "{lost} of 1000 lost through 5%: {summary}"
    );
    assert!(
        lost <= dropped,
        "{lost} lost but the relay dropped {dropped}"
    );
    let rate = summary["send_gbit_per_s"].as_f64().unwrap() * 1000.0;
    assert!(
        (1.9..=2.1).contains(&rate),
        "sent at {rate} Mbit/s for --rate 2Mbit: {summary}"
    );
    // Told apart by direction, from the server's acknowledgements: all of it on the way there.
    let toward_server = summary["lost_toward_server"].as_u64().unwrap();
    assert!(toward_server + 2 >= lost, "{summary}");
    // And all of it on the way back when the loss is there.
    let lossy_back = Relay::start(
        server.addr,
        &[
            &ONE_FRAME_PER_PACKET[..],
            &["--down-loss", "5%", "--seed", "18"],
        ]
        .concat(),
    );
    let (back, _) = run(&lossy_back, "1000", "2Mbit");
    let dropped_back = lossy_back.finish().get("down", "dropped_loss");
    let toward_client = back["lost_toward_client"].as_u64().unwrap();
    assert!((28..=72).contains(&toward_client), "{back}");
    assert!(back["lost_toward_server"].as_u64().unwrap() <= 2, "{back}");
    assert!(
        back["lost"].as_u64().unwrap() <= dropped_back,
        "the relay dropped {dropped_back}: {back}"
    );

    let clean = Relay::start(server.addr, &["--delay", "5ms"]);
    let (steady, _) = run(&clean, "300", "1Mbit");
    clean.finish();
    let jittery = Relay::start(
        server.addr,
        &["--delay", "5ms", "--jitter", "5ms", "--seed", "5"],
    );
    let (shaken, _) = run(&jittery, "300", "1Mbit");
    jittery.finish();
    let (calm, rough) = (
        steady["jitter_ms"].as_f64().unwrap(),
        shaken["jitter_ms"].as_f64().unwrap(),
    );
    // The relay drops nothing here, yet 0 to 2 of 300 were seen lost in a fresh connection's
    // first run (QUIC stacks drop what they cannot place yet; not explained further here).
    assert!(shaken["lost"].as_u64().unwrap() <= 3, "{shaken}");
    // --jitter 5ms moves each way's delay by up to 5 ms either way, uniformly: RFC 3550's estimate
    // over such round trips reads 4.68 ms on average, 2.71-6.99 in 99.8% of 300-echo runs (2000
    // simulated). The host's own jitter, the calm path's, comes on top: 0.43-1.14 ms in three runs
    // of this test alone, 1.78 in a full test run (which failed the "5x calm" this replaces); the
    // jittery path then read 4.66-5.26 and 4.98 ms.
    assert!(
        (2.7..=7.0 + calm).contains(&rough) && rough > calm + 1.0,
        "jitter {calm} ms, then {rough} ms with --jitter 5ms"
    );
    assert!(shaken["out_of_order"].as_u64().unwrap() > 0, "{shaken}");
    eprintln!(
        "datagrams: {lost}/1000 lost through 5% up ({toward_server} toward the server; relay \
         dropped {dropped}), {toward_client} toward the client through 5% down; sent at \
         {rate:.3} Mbit/s; \
         jitter {calm:.3} ms, {rough:.3} ms with --jitter 5ms, {} out of order",
        shaken["out_of_order"]
    );
}
