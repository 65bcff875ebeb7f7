//! qecho: a QUIC echo tool. `main` only parses the command line, sets up logging and error
//! reporting, and hands over to the subcommand; everything else lives in its own module.

mod cert;
mod cli;
mod client_hello;
mod datagram_echo;
mod docs;
mod endpoint;
mod events;
mod exit;
mod explain;
mod gencert;
mod limits;
mod logging;
mod probe;
mod relay;
mod send;
mod serve;
mod shutdown;
mod stats;
mod tls;
mod transport_parameters;
mod udp;
mod units;
mod usage;

use clap::FromArgMatches;
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = match cli::Cli::from_arg_matches(&cli::command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    // Panics are bugs: color-eyre turns them into a readable report. Errors a user can cause are
    // printed below as one paragraph, without backtraces or source locations, so they keep eyre's
    // own handler: color-eyre's captured and symbolized a backtrace for every error whenever
    // RUST_BACKTRACE was set, which a refused `send --count 1` waited for (0.22 against 0.07 s in
    // a release build, 0.55-1.88 against 0.04-0.07 s in the debug build the tests run).
    let (panic_hook, _) = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .into_hooks();
    panic_hook.install();
    logging::init(&cli.log);
    if let cli::Command::Send(args) = &cli.command {
        // SAFETY: no thread but this one exists before the runtime below.
        unsafe { send::prepare_process(args) }
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(color_eyre::eyre::eyre!(
                "cannot start the async runtime: {err}"
            ));
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve::run(args).await,
            cli::Command::Send(args) => send::run(args, cli.log.quiet > 0).await,
            cli::Command::Probe(args) => probe::run(args).await,
            cli::Command::Relay(args) => relay::run(args, cli.log.verbose > 0).await,
            cli::Command::Gencert(args) => gencert::run(args),
            cli::Command::Completions(args) => docs::print_completions(args.shell),
            cli::Command::GenerateDocs(args) => docs::generate(&args.root),
        }
    });
    // The work is done. Dropping the runtime would wait for its blocking threads, and one may sit
    // in a read of a terminal or an open pipe (pipe mode's stdin) until the user presses Enter.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(report) => fail(report),
    }
}

/// At 10 Gbit/s s2n-quic allocates and frees stream and packet buffers of up to a few hundred KiB
/// many thousand times a second. By default glibc hands the free top of its heap back to the
/// kernel (past 128 KiB) and serves the largest buffers with fresh mmaps, so the same memory was
/// faulted in and zeroed again and again (about 6% of the CPU in a profile). Keeping up to 32 MiB:
/// bulk echo 10.7 -> 14.3 Gbit/s, 100 streams +15% (medians of 4-6 alternating runs), and the same
/// peak RSS, which is what the memory budget is about.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; called before any other thread
    // exists. A rejected value (return 0) leaves glibc's default, which is merely slower.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

fn fail(report: color_eyre::Report) -> ExitCode {
    exit::print_error(&report);
    ExitCode::from(exit::EXIT_ERROR)
}
