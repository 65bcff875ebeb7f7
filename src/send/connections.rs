//! Connections mode (`--connections N --parallel K`): the handshake benchmark. N connections from
//! one client endpoint, K in flight at a time, each doing one echo and closing; reports
//! connections per second and the handshake latency distribution.

use super::Output;
use super::Payload;
use super::connect::{self, Target};
use super::ping;
use crate::endpoint;
use crate::stats::percentile;
use crate::tls::{ClientTickets, ClientTls};
use color_eyre::eyre::{Result, eyre};
use futures::StreamExt;
use serde_json::json;
use std::cell::RefCell;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct Options {
    pub connections: u64,
    pub parallel: u64,
    pub payload: Payload,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// How one connection went.
enum Outcome {
    Ok {
        handshake: Duration,
        echo: Duration,
        resumed: bool,
    },
    Failed(String),
}

/// With `--resume`, `tickets` holds the ticket: connection 1 runs alone and fetches it, and every
/// later one offers it.
pub async fn run(
    target: &Target,
    tls: &ClientTls,
    options: Options,
    tickets: Option<&ClientTickets>,
    output: &Output,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode> {
    let addr = target.addrs[0];
    // Short connections: probing for jumbo frames would only cost each of them packets.
    let client = endpoint::client(
        addr,
        target.bind,
        tls,
        endpoint::Mtu::Ethernet,
        target.cc,
        target.qlog.as_ref(),
    )?;
    let outcomes = RefCell::new(Vec::with_capacity(options.connections as usize));
    let started = Instant::now();
    let connect_one = |n: u64| {
        let (client, options, outcomes) = (&client, &options, &outcomes);
        async move {
            let outcome = one(client, addr, target, tls, options, n).await;
            if let Outcome::Failed(why) = &outcome {
                output.event(
                    || format!("connection {n} failed: {why}"),
                    || json!({"type": "connection", "n": n, "ok": false, "error": why}),
                );
            }
            outcomes.borrow_mut().push(outcome);
        }
    };
    let all = async {
        let mut first = 1;
        if let Some(tickets) = tickets {
            connect_one(1).await;
            first = 2;
            connect::fetch_ticket(tickets, addr, Duration::ZERO).await;
        }
        futures::stream::iter(first..=options.connections)
            .map(connect_one)
            .buffer_unordered(options.parallel as usize)
            .collect::<Vec<()>>()
            .await
    };
    let interrupted = tokio::select! {
        _ = all => false,
        _ = stop => true,
    };
    let elapsed = started.elapsed();
    let outcomes = outcomes.into_inner();

    let mut handshakes = Vec::new();
    let mut echoes = Vec::new();
    let mut failed = 0u64;
    let mut resumed_count = 0u64;
    for outcome in &outcomes {
        match outcome {
            Outcome::Ok {
                handshake,
                echo,
                resumed,
            } => {
                handshakes.push(*handshake);
                echoes.push(*echo);
                resumed_count += u64::from(*resumed);
            }
            Outcome::Failed(_) => failed += 1,
        }
    }
    handshakes.sort();
    echoes.sort();
    let ok = handshakes.len() as u64;
    let rate = ok as f64 / elapsed.as_secs_f64().max(1e-9);
    let ms =
        |samples: &[Duration], p: f64| percentile(samples, p).map(|d| d.as_secs_f64() * 1000.0);
    let fmt = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.3}"));
    let full_count = ok - resumed_count;
    // Every connection after the first resumed (the first cannot: it fetches the ticket).
    let all_resumed = tickets.is_some() && ok > 0 && resumed_count + 1 >= ok;
    let how = match tickets {
        Some(_) => format!(" ({resumed_count} resumed, {full_count} full)"),
        None => String::new(),
    };
    output.summary(
        || {
            format!(
                "--- {addr} qecho connections ---\n{}{} connections, {} at a time: {ok} ok{how}, {failed} failed in {:.3} s: {rate:.1} connections/s\n\
                 handshake p50/p99/max = {}/{}/{} ms\necho p50/p99/max = {}/{}/{} ms",
                if interrupted { "interrupted: figures up to the interruption\n" } else { "" },
                options.connections,
                options.parallel,
                elapsed.as_secs_f64(),
                fmt(ms(&handshakes, 0.5)),
                fmt(ms(&handshakes, 0.99)),
                fmt(ms(&handshakes, 1.0)),
                fmt(ms(&echoes, 0.5)),
                fmt(ms(&echoes, 0.99)),
                fmt(ms(&echoes, 1.0)),
            )
        },
        || {
            json!({
                "type": "summary", "mode": "connections", "connections": options.connections,
                "parallel": options.parallel, "ok": ok, "failed": failed, "interrupted": interrupted,
                "seconds": elapsed.as_secs_f64(), "connections_per_s": rate,
                "handshake_ms": {"p50": ms(&handshakes, 0.5), "p99": ms(&handshakes, 0.99), "max": ms(&handshakes, 1.0)},
                "echo_ms": {"p50": ms(&echoes, 0.5), "p99": ms(&echoes, 0.99), "max": ms(&echoes, 1.0)},
                "resumed": all_resumed, "resumed_connections": resumed_count, "full_connections": full_count,
            })
        },
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async move {
        let mut client = client.quic;
        client.wait_idle().await
    })
    .await;
    Ok(match (ok, failed) {
        (0, _) if !interrupted => {
            crate::exit::print_error(&eyre!("no connection to {addr} succeeded"));
            ExitCode::from(crate::exit::EXIT_ERROR)
        }
        (_, 0) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

async fn one(
    client: &endpoint::Client,
    addr: std::net::SocketAddr,
    target: &Target,
    tls: &ClientTls,
    options: &Options,
    n: u64,
) -> Outcome {
    let (connection, handshake) =
        match connect::handshake(client, addr, target, tls, options.connect_timeout).await {
            Ok(done) => done,
            Err(report) => return Outcome::Failed(format!("{report:#}")),
        };
    let resumed = connect::resumed(&connection);
    let message = options.payload.message(0, n);
    let echo = ping::echo_on_new_stream(&connection, &message, options.timeout).await;
    connection.close(0u8.into());
    match echo {
        Ok(echo) => Outcome::Ok {
            handshake,
            echo,
            resumed,
        },
        Err(why) => Outcome::Failed(why),
    }
}
