//! qecho's figures held against the truth: through `qecho relay`, with a delay, a loss or a rate
//! that is known, what `send` reports must match it.

mod common;

use common::{Relay, Server, assert_status, last_json, send};

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
    relay.finish();
    let rtt = &summary["rtt_ms"];
    let (min, avg) = (rtt["min"].as_f64().unwrap(), rtt["avg"].as_f64().unwrap());
    assert!(
        (40.0..=41.5).contains(&min),
        "min RTT {min} ms through 2 x 20 ms: {summary}"
    );
    assert!(
        (40.0..=42.0).contains(&avg),
        "avg RTT {avg} ms through 2 x 20 ms: {summary}"
    );
    eprintln!("delay 20ms each way: rtt {rtt}");
}

#[test]
fn datagram_loss_reads_what_the_relay_dropped() {
    let _clock = common::timing_test();
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr, &["--up-loss", "10%", "--seed", "10"]);
    let n = 400;
    let out = send(
        &relay.target(),
        &[
            "-k",
            "--datagram",
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
