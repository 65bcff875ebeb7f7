//! The report: medians, ranges, ratios, as a table and as JSON (`target/bench-results.json`).

use super::*;

/// What one metric means, for the table.
pub(crate) struct MetricInfo {
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) higher_is_better: bool,
}

pub(crate) const METRICS: &[MetricInfo] = &[
    MetricInfo {
        key: "bulk_gbps",
        label: "bulk: 1 conn x 1 stream, echo rate",
        unit: "Gbit/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "bulk_peak_rss",
        label: "bulk: server peak RSS (VmHWM)",
        unit: "MiB",
        higher_is_better: false,
    },
    MetricInfo {
        key: "bulk_server_cpu",
        label: "bulk: server CPU per GiB echoed",
        unit: "ms/GiB",
        higher_is_better: false,
    },
    MetricInfo {
        key: "bulk_client_cpu",
        label: "bulk: client CPU per GiB echoed",
        unit: "ms/GiB",
        higher_is_better: false,
    },
    MetricInfo {
        key: "streams_gbps",
        label: "streams: 100 x 1 MiB, echo rate",
        unit: "Gbit/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "ping_p50",
        label: "ping, qecho send: RTT p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_p99",
        label: "ping, qecho send: RTT p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_direct_p50",
        label: "ping, s2n-quic client: RTT p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_direct_p99",
        label: "ping, s2n-quic client: RTT p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_plain_p50",
        label: "ping, plain s2n-quic pair: p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_plain_p99",
        label: "ping, plain s2n-quic pair: p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_packets_per_echo",
        label: "ping: packets per echo, both ways",
        unit: "packets",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_server_wakeups_per_echo",
        label: "ping: server wake-ups per echo",
        unit: "wake-ups",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_client_wakeups_per_echo",
        label: "ping: client wake-ups per echo",
        unit: "wake-ups",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_server_cpu_per_echo",
        label: "ping: server CPU per echo",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_client_cpu_per_echo",
        label: "ping: client CPU per echo",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_direct_client_cpu_per_echo",
        label: "ping, s2n-quic client: CPU per echo",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_1ms_p50",
        label: "ping, 1 ms apart: RTT p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_1ms_p99",
        label: "ping, 1 ms apart: RTT p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_10ms_p50",
        label: "ping, 10 ms apart: RTT p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_10ms_p99",
        label: "ping, 10 ms apart: RTT p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_10ms_direct_p50",
        label: "ping, 10 ms apart, s2n-quic client: p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_10ms_direct_p99",
        label: "ping, 10 ms apart, s2n-quic client: p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_10ms_plain_p50",
        label: "ping, 10 ms apart, plain s2n-quic pair: p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "ping_10ms_plain_p99",
        label: "ping, 10 ms apart, plain s2n-quic pair: p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "load_p50",
        label: "ping during a handshake storm: p50",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "load_p99",
        label: "ping during a handshake storm: p99",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "load_p99_ratio",
        label: "storm p99 / p99 alone (1 ms apart)",
        unit: "x",
        higher_is_better: false,
    },
    MetricInfo {
        key: "load_storm_rate",
        label: "storm: handshakes/s during the pings",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "handshake_rate",
        label: "handshakes: connections/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "handshake_p50",
        label: "handshakes: latency p50",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_p99",
        label: "handshakes: latency p99",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_max",
        label: "handshakes: latency max",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_server_cpu",
        label: "handshakes: server CPU per conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_client_cpu",
        label: "handshakes: client CPU per conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_direct_rate",
        label: "handshakes, s2n-quic client: conn/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "handshake_direct_p99",
        label: "handshakes, s2n-quic client: p99",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_direct_max",
        label: "handshakes, s2n-quic client: max",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_direct_client_cpu",
        label: "handshakes, s2n-quic client: CPU/conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "handshake_plain_rate",
        label: "handshakes, plain s2n-quic pair: conn/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "resumed_rate",
        label: "handshakes, resumed: conn/s",
        unit: "conn/s",
        higher_is_better: true,
    },
    MetricInfo {
        key: "resumed_p99",
        label: "handshakes, resumed: latency p99",
        unit: "ms",
        higher_is_better: false,
    },
    MetricInfo {
        key: "resumed_server_cpu",
        label: "handshakes, resumed: server CPU/conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "resumed_client_cpu",
        label: "handshakes, resumed: client CPU/conn",
        unit: "us",
        higher_is_better: false,
    },
    MetricInfo {
        key: "idle_bytes_per_conn",
        label: "idle: server RSS per open conn",
        unit: "bytes",
        higher_is_better: false,
    },
];

pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

pub(crate) fn fmt_value(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

pub(crate) fn fmt_range(values: &[f64]) -> String {
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    match (min, max) {
        (Some(min), Some(max)) => format!("{}..{}", fmt_value(Some(min)), fmt_value(Some(max))),
        _ => "-".to_string(),
    }
}

pub(crate) fn report(
    options: &Options,
    samples: &Samples,
    failures: &[String],
    load_before: &str,
    load_after: &str,
    elapsed: Duration,
) -> (String, Value) {
    let header = [
        "benchmark",
        "unit",
        "qecho",
        "quinn",
        "TCP+TLS",
        "q/quinn",
        "q/TCP",
        "better",
        "runs",
        "qecho min..max",
        "quinn min..max",
        "TCP+TLS min..max",
    ];
    let mut rows: Vec<[String; 12]> = Vec::new();
    let mut results = Vec::new();
    for info in METRICS {
        let Some([q, n, b]) = samples.get(info.key) else {
            continue;
        };
        let (qm, nm, bm) = (median(q), median(n), median(b));
        let ratio = |other: Option<f64>| match (qm, other) {
            (Some(q), Some(o)) if o != 0.0 => Some(q / o),
            _ => None,
        };
        let (to_quinn, to_baseline) = (ratio(nm), ratio(bm));
        let shown = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
        let better = if info.higher_is_better {
            "higher"
        } else {
            "lower"
        };
        rows.push([
            info.label.to_string(),
            info.unit.to_string(),
            fmt_value(qm),
            fmt_value(nm),
            fmt_value(bm),
            shown(to_quinn),
            shown(to_baseline),
            better.to_string(),
            format!("{}/{}/{}", q.len(), n.len(), b.len()),
            fmt_range(q),
            fmt_range(n),
            fmt_range(b),
        ]);
        results.push(json!({
            "metric": info.key, "label": info.label, "unit": info.unit,
            "higher_is_better": info.higher_is_better,
            "qecho": {"median": qm, "runs": q.len(), "samples": q},
            "quinn": {"median": nm, "runs": n.len(), "samples": n},
            "baseline": {"median": bm, "runs": b.len(), "samples": b},
            "ratio_qecho_over_quinn": to_quinn,
            "ratio_qecho_over_baseline": to_baseline,
        }));
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i == 0 {
                text.push_str(&format!("{cell:<width$}"));
            } else {
                text.push_str(&format!("  {cell:>width$}"));
            }
        }
        text.trim_end().to_string()
    };
    let mut text = format!(
        "\nqecho vs quinn vs a TCP+TLS baseline on 127.0.0.1: medians of {} rotating run(s); \
         ratios = qecho / quinn and qecho / TCP+TLS\n\n",
        options.runs
    );
    text.push_str(&line(&header.map(String::from)));
    text.push('\n');
    text.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    text.push('\n');
    for row in &rows {
        text.push_str(&line(row));
        text.push('\n');
    }
    text.push_str(&format!(
        "\nload average {load_before} before, {load_after} after; {:.0} s in all; baseline server \
         runtime {:?}; {}\n",
        elapsed.as_secs_f64(),
        options.server_runtime,
        match options.pin[..] {
            [client, server] => format!("clients on CPU {client}, servers on CPU {server}"),
            _ => "not pinned to CPUs".to_string(),
        }
    ));
    for failure in failures {
        text.push_str(&format!("FAILED: {failure}\n"));
    }
    let value = json!({
        "config": {
            "runs": options.runs, "bulk_mib": options.bulk_mib, "streams": options.streams,
            "stream_mib": 1, "pings": options.pings, "message_bytes": MESSAGE,
            "spaced_pings": options.spaced_pings, "load_pings": options.load_pings,
            "qecho_serve_args": options.serve_arg,
            "ping_pause_ms": options.ping_pause_ms,
            "handshakes": options.handshakes, "parallel": options.parallel, "idle": options.idle,
            "baseline_server_runtime": format!("{:?}", options.server_runtime).to_lowercase(),
            "baseline_client_runtime": "current",
            "pin_client_server_cpus": options.pin,
            "baseline_server_buffer_kib": options.server_buffer_kib,
            "baseline_tls": "TLS 1.3, TLS_AES_128_GCM_SHA256, x25519, ECDSA P-256 cert, no resumption",
            "quinn": "quinn 0.11, current-thread runtimes, 4 MiB socket buffers, MTU discovery to 8972 B, windows 8 MiB/2 MiB, send window 8 MiB",
            "order": "rotating: run 1 qecho, quinn, baseline; run 2 quinn, baseline, qecho; run 3 baseline, qecho, quinn; ...",
        },
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_before": load_before, "loadavg_after": load_after,
        },
        "seconds": elapsed.as_secs_f64(),
        "results": results,
        "failures": failures,
    });
    (text, value)
}
