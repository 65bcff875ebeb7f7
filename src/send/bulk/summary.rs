//! A bulk run's summary: the totals in each direction, per connection when there are several
//! (as iperf3 -P prints each stream and their sum), the rate asked and achieved, the client's CPU,
//! and QUIC's own figures with `--stats`. Text for people, one object with `--json`.

use super::super::Output;
use crate::events::ConnectionStats;
use crate::units::{Rate, bit_rate};
use crate::usage;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// What one connection carried.
pub struct ConnectionFigures {
    pub local: SocketAddr,
    pub sent: u64,
    pub echoed: u64,
    pub send_time: Duration,
    pub echo_time: Duration,
    /// With `--stats`.
    pub quic: Option<ConnectionStats>,
}

/// A bulk run's figures, for its summary.
pub struct Figures {
    pub remote: SocketAddr,
    /// Streams on each connection.
    pub streams: usize,
    pub connections: Vec<ConnectionFigures>,
    pub interrupted: bool,
    pub ok: bool,
    pub sent: u64,
    pub echoed: u64,
    pub send_time: Duration,
    pub echo_time: Duration,
    pub rate: Option<Rate>,
    pub cpu: usage::Cpu,
    pub wall: Duration,
    /// (sent, echoed) of each stream, in the order of the connections.
    pub per_stream: Vec<(u64, u64)>,
}

pub fn gbits(bytes: u64, time: Duration) -> f64 {
    bytes as f64 * 8.0 / time.as_secs_f64().max(1e-9) / 1e9
}

/// The summary, in text or JSON.
pub fn print(output: &Output, figures: &Figures, errors: &[String]) {
    output.summary(|| text(figures), || value(figures, errors));
}

fn text(f: &Figures) -> String {
    let several = f.connections.len() > 1;
    let mut text = match several {
        false => format!("--- {} qecho bulk, {} stream(s) ---\n", f.remote, f.streams),
        true => format!(
            "--- {} qecho bulk, {} connections x {} stream(s) ---\n",
            f.remote,
            f.connections.len(),
            f.streams
        ),
    };
    if f.interrupted {
        text.push_str("interrupted: figures up to the interruption\n");
    }
    if several {
        for (number, c) in (1..).zip(&f.connections) {
            text.push_str(&format!(
                "connection {number} from {}: sent {} bytes {}, echoed {} bytes {}\n",
                c.local,
                c.sent,
                bit_rate(c.sent, c.send_time),
                c.echoed,
                bit_rate(c.echoed, c.echo_time)
            ));
        }
    }
    let all = if several { "all: " } else { "" };
    text.push_str(&format!(
        "{all}sent   {} bytes in {:.3} s: {}\n",
        f.sent,
        f.send_time.as_secs_f64(),
        bit_rate(f.sent, f.send_time)
    ));
    text.push_str(&format!(
        "{all}echoed {} bytes in {:.3} s: {}, {}",
        f.echoed,
        f.echo_time.as_secs_f64(),
        bit_rate(f.echoed, f.echo_time),
        if f.ok {
            "every byte intact"
        } else {
            "with errors"
        }
    ));
    if let Some(rate) = f.rate {
        text.push_str(&format!(
            "\nrate: asked {rate}, achieved {} sent, {} echoed",
            bit_rate(f.sent, f.send_time),
            bit_rate(f.echoed, f.echo_time)
        ));
    }
    text.push_str(&format!(
        "\nCPU (this client): {:.3} s user, {:.3} s system, {:.1}% of the {:.3} s run",
        f.cpu.user.as_secs_f64(),
        f.cpu.system.as_secs_f64(),
        f.cpu.percent_of(f.wall),
        f.wall.as_secs_f64()
    ));
    for (number, c) in (1..).zip(&f.connections) {
        if let Some(quic) = &c.quic {
            match several {
                false => text.push_str(&format!("\nQUIC: {}", quic.summary())),
                true => text.push_str(&format!("\nQUIC, connection {number}: {}", quic.summary())),
            }
        }
    }
    text
}

fn value(f: &Figures, errors: &[String]) -> Value {
    let per_connection: Vec<Value> = f
        .connections
        .iter()
        .map(|c| {
            let mut value = json!({
                "local": c.local.to_string(),
                "sent_bytes": c.sent, "echoed_bytes": c.echoed,
                "send_gbit_per_s": gbits(c.sent, c.send_time),
                "echo_gbit_per_s": gbits(c.echoed, c.echo_time),
            });
            if let Some(quic) = &c.quic {
                value["quic"] = super::super::quic_stats_json(quic);
            }
            value
        })
        .collect();
    let mut summary = json!({
        "type": "summary", "mode": "bulk", "connections": f.connections.len(),
        "streams": f.streams, "ok": f.ok, "interrupted": f.interrupted,
        "sent_bytes": f.sent, "echoed_bytes": f.echoed,
        "send_seconds": f.send_time.as_secs_f64(), "echo_seconds": f.echo_time.as_secs_f64(),
        "send_gbit_per_s": gbits(f.sent, f.send_time),
        "echo_gbit_per_s": gbits(f.echoed, f.echo_time),
        "errors": errors,
        "per_stream": f.per_stream.iter().map(|(sent, echoed)| json!({"sent": sent, "echoed": echoed})).collect::<Vec<_>>(),
        "per_connection": per_connection,
    });
    if let Some(rate) = f.rate {
        summary["rate_asked_gbit_per_s"] = json!(rate.bits_per_second / 1e9);
    }
    summary["cpu"] = json!({
        "user_s": f.cpu.user.as_secs_f64(), "system_s": f.cpu.system.as_secs_f64(),
        "percent": f.cpu.percent_of(f.wall), "wall_s": f.wall.as_secs_f64(),
    });
    // One connection: its QUIC figures at the top, where they have always been.
    if let [only] = f.connections.as_slice()
        && let Some(quic) = &only.quic
    {
        summary["quic"] = super::super::quic_stats_json(quic);
    }
    summary
}
