//! `qecho probe`: does QUIC work to this server, and what does it offer? For any QUIC v1 server,
//! from the handshake alone, no echo needed. The targets (`target.rs`) are probed K at a time
//! (`check.rs`, on `send`'s connection setup) and reported in the order given (`report.rs`),
//! with the server's transport parameters (`params.rs`) and certificates (`certs.rs`).

mod certs;
mod check;
mod params;
mod report;
mod target;

use crate::cli::ProbeArgs;
use crate::send::connect::Family;
use crate::tls::{ClientTls, Trust};
use color_eyre::eyre::Result;
use futures::StreamExt;
use std::io::IsTerminal;
use std::process::ExitCode;

/// How the results are printed.
enum Format {
    Blocks,
    Table,
    Json,
    Csv,
}

pub async fn run(args: ProbeArgs) -> Result<ExitCode> {
    let targets = target::all(&args.targets, args.file.as_deref())?;
    let tls = ClientTls::new(
        args.trust.ca.as_deref(),
        args.trust.insecure,
        args.trust.pin,
        args.trust.cert.as_deref().zip(args.trust.key.as_deref()),
        None,
        args.alpn.clone(),
        None,
    )?;
    if matches!(tls.trust, Trust::Insecure) {
        tracing::warn!("--insecure: server certificates are not verified, only described");
    }
    let settings = check::Settings {
        tls,
        family: match (args.ipv4, args.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        },
        timeout: args.timeout,
        max_mtu: args.max_mtu,
    };
    let format = match (args.json, args.csv, args.long || targets.len() == 1) {
        (true, _, _) => Format::Json,
        (_, true, _) => Format::Csv,
        (_, _, true) => Format::Blocks,
        _ => Format::Table,
    };
    let marks = report::Marks {
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match format {
        Format::Table => println!("{}", report::table_header()),
        Format::Csv => println!("{}", report::CSV_HEADER),
        _ => {}
    }
    // `buffered` runs K probes at once and yields their results in input order.
    let mut results = futures::stream::iter(&targets)
        .map(|target| check::probe(target, &settings))
        .buffered(args.parallel as usize);
    let mut all_reachable = true;
    let mut first = true;
    while let Some(report) = results.next().await {
        all_reachable &= report.reachable();
        match format {
            Format::Blocks => {
                if !first {
                    println!();
                }
                println!("{}", report::block(&report, &marks));
            }
            Format::Table => println!("{}", report::table_row(&report, &marks)),
            Format::Json => println!("{}", report.to_json()),
            Format::Csv => println!("{}", report::csv_row(&report)),
        }
        first = false;
    }
    Ok(if all_reachable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
