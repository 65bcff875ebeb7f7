//! qlog traces (`--qlog DIR`, `QLOGDIR`): the files parse record by record as JSON-SEQ in qlog
//! 0.3, both ends of a connection agree on what they sent each other, and what the relay does to
//! the path shows in them.

mod common;

use common::{DEADLINE, Relay, Server, assert_error, assert_status, qecho, run, send};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The one trace file in `dir`.
fn only_trace(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// A trace's records: the header, then the events. Each record is RS (0x1e), JSON, newline.
fn records(path: &Path) -> (Value, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
    assert!(text.starts_with('\u{1e}'), "JSON-SEQ starts with RS");
    let mut records = text
        .split('\u{1e}')
        .filter(|record| !record.trim().is_empty())
        .map(|record| {
            serde_json::from_str::<Value>(record.trim_end())
                .unwrap_or_else(|err| panic!("{path:?}: not JSON ({err}): {record}"))
        });
    let header = records.next().unwrap_or_default();
    (header, records.collect())
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["name"] == name)
        .collect()
}

/// The numbers of the packets of `packet_type` in the events named `name`, but for one that
/// carries a CONNECTION_CLOSE: s2n-quic sends that packet without a packet_sent event.
fn packets(events: &[Value], name: &str, packet_type: &str) -> Vec<u64> {
    let closes = |event: &&&Value| {
        event["data"]["frames"]
            .as_array()
            .is_some_and(|frames| frames.iter().any(|f| f["frame_type"] == "connection_close"))
    };
    named(events, name)
        .iter()
        .filter(|event| event["data"]["header"]["packet_type"] == packet_type)
        .filter(|event| !closes(event))
        .filter_map(|event| event["data"]["header"]["packet_number"].as_u64())
        .collect()
}

/// The name of a trace file: (odcid, vantage point).
fn name_parts(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".sqlog")
        .unwrap_or_else(|| panic!("{name}"));
    let (odcid, vantage) = stem.rsplit_once('_').unwrap_or_else(|| panic!("{name}"));
    (odcid.to_string(), vantage.to_string())
}

#[test]
fn both_ends_write_qlog_that_parses_and_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let (server_dir, client_dir) = (dir.path().join("server"), dir.path().join("client"));
    let server = Server::start(&["--qlog", server_dir.to_str().unwrap()]);
    let out = send(
        &server.target(),
        &[
            "-k",
            "--count",
            "5",
            "--interval",
            "10ms",
            "--qlog",
            client_dir.to_str().unwrap(),
        ],
    );
    assert_status(&out, 0);
    assert!(server.log.wait_for("closed after", DEADLINE).is_some());
    let (client_file, server_file) = (only_trace(&client_dir), only_trace(&server_dir));
    let (client_odcid, vantage) = name_parts(&client_file);
    assert_eq!(vantage, "client");
    let (server_odcid, vantage) = name_parts(&server_file);
    assert_eq!(vantage, "server");
    assert_eq!(client_odcid, server_odcid, "both named by the same ODCID");
    assert!(
        client_odcid.len() >= 16,
        "an ODCID is at least 8 bytes: {client_odcid}"
    );

    let (client_header, client) = records(&client_file);
    let (server_header, server_events) = records(&server_file);
    for (header, vantage) in [(&client_header, "client"), (&server_header, "server")] {
        assert_eq!(header["qlog_version"], "0.3", "{header}");
        assert_eq!(header["qlog_format"], "JSON-SEQ", "{header}");
        assert_eq!(
            header["trace"]["vantage_point"]["type"], vantage,
            "{header}"
        );
    }
    for event in client.iter().chain(&server_events) {
        assert!(
            event["time"].as_f64().is_some() && event["name"].is_string(),
            "{event}"
        );
    }
    // No loss on loopback: what one end sent in 1-RTT packets, the other received.
    let sent = packets(&client, "transport:packet_sent", "1RTT");
    assert!(sent.len() >= 5, "{sent:?}");
    assert_eq!(
        sent,
        packets(&server_events, "transport:packet_received", "1RTT")
    );
    assert_eq!(
        packets(&server_events, "transport:packet_sent", "1RTT"),
        packets(&client, "transport:packet_received", "1RTT")
    );
    // Each end's parameters, and the peer's; the server's name the ODCID.
    for events in [&client, &server_events] {
        let set = named(events, "transport:parameters_set");
        assert!(set.iter().any(|e| e["data"]["owner"] == "local"), "{set:?}");
        assert!(
            set.iter().any(|e| e["data"]["owner"] == "remote"),
            "{set:?}"
        );
    }
    let server_local = named(&server_events, "transport:parameters_set")
        .into_iter()
        .find(|e| e["data"]["owner"] == "local")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        server_local["data"]["original_destination_connection_id"], client_odcid,
        "{server_local}"
    );
    for name in [
        "connectivity:connection_started",
        "connectivity:connection_state_updated",
        "recovery:metrics_updated",
        "connectivity:connection_closed",
    ] {
        assert!(
            !named(&client, name).is_empty(),
            "no {name} in the client's trace"
        );
    }
    // s2n-quic reports its recovery metrics again unchanged (11 of a client's 37 in three pings):
    // a trace writes each change once.
    for events in [&client, &server_events] {
        let metrics: Vec<&Value> = named(events, "recovery:metrics_updated")
            .into_iter()
            .filter(|e| e["data"].get("smoothed_rtt").is_some())
            .collect();
        let repeated = metrics
            .windows(2)
            .filter(|pair| pair[0]["data"] == pair[1]["data"])
            .count();
        assert_eq!(repeated, 0, "{metrics:?}");
    }
    // Frames: the pings' STREAM frames, and ACKs with their ranges.
    let frames: Vec<&Value> = named(&client, "transport:packet_sent")
        .iter()
        .flat_map(|e| e["data"]["frames"].as_array().into_iter().flatten())
        .collect();
    assert!(
        frames.iter().any(|f| f["frame_type"] == "stream"),
        "{frames:?}"
    );
    let acks: Vec<&Value> = named(&client, "transport:packet_received")
        .iter()
        .flat_map(|e| e["data"]["frames"].as_array().into_iter().flatten())
        .filter(|f| f["frame_type"] == "ack")
        .collect();
    assert!(
        acks.iter().any(|a| a["acked_ranges"].is_array()),
        "{acks:?}"
    );
}

#[test]
fn qlogdir_in_the_environment_works_like_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    let mut command = qecho();
    command
        .args(["send", &server.target(), "-k", "--count", "1"])
        .env("QLOGDIR", dir.path());
    assert_status(&run(command, DEADLINE), 0);
    let (_, vantage) = name_parts(&only_trace(dir.path()));
    assert_eq!(vantage, "client");
}

#[test]
fn lost_packets_and_path_changes_show_in_the_traces() {
    let dir = tempfile::tempdir().unwrap();
    let (server_dir, client_dir) = (dir.path().join("server"), dir.path().join("client"));
    let server = Server::start(&["--qlog", server_dir.to_str().unwrap()]);
    let relay = Relay::start(server.addr, &["--up-loss", "5%", "--seed", "15"]);
    let out = send(
        &relay.target(),
        &[
            "-k",
            "--bytes",
            "8MiB",
            "--qlog",
            client_dir.to_str().unwrap(),
        ],
    );
    assert_status(&out, 0);
    let counts = relay.finish();
    let dropped = counts.get("up", "dropped_loss") as usize;
    let (_, client) = records(&only_trace(&client_dir));
    let lost = named(&client, "recovery:packet_lost").len();
    assert!(dropped > 20, "{dropped}");
    // Roughly as many: QUIC may also declare a late packet lost, and a dropped ACK-only packet
    // is never declared lost.
    assert!(
        lost * 2 >= dropped && lost <= dropped * 2,
        "the client's trace has {lost} packets lost, the relay dropped {dropped}"
    );
    assert!(server.log.wait_for("closed after", DEADLINE).is_some());
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--qlog", dir.path().to_str().unwrap()]);
    let relay = Relay::start(server.addr, &["--rebind-every", "500ms"]);
    let out = send(
        &relay.target(),
        &["-k", "--count", "8", "--interval", "200ms"],
    );
    assert_status(&out, 0);
    assert!(server.log.wait_for("closed after", DEADLINE).is_some());
    relay.finish();
    let (_, server_events) = records(&only_trace(dir.path()));
    let changes: Vec<&Value> = named(&server_events, "generic:message")
        .into_iter()
        .filter(|e| {
            e["data"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("path changed"))
        })
        .collect();
    assert!(!changes.is_empty(), "no path change in the server's trace");
}

#[test]
fn a_qlog_directory_that_cannot_be_used_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let mut command = qecho();
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--qlog",
        file.to_str().unwrap(),
    ]);
    assert_error(
        &run(command, DEADLINE),
        2,
        &["--qlog", "cannot create the directory"],
    );
    let out = send("127.0.0.1:9", &["-k", "--qlog", "/proc/qecho-qlog"]);
    assert_error(
        &out,
        2,
        &["--qlog /proc/qecho-qlog", "pick one you can write to"],
    );
}
