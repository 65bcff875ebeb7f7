//! Man pages and shell completions, generated from the clap definition in `cli.rs` so that
//! `--help`, `man qecho-send` and Tab completion can never disagree. The committed copies under
//! `man/` and `completions/` are rewritten by `qecho generate-docs` (a test fails when they are
//! stale).

use crate::cli::{self, Page};
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use color_eyre::eyre::{Result, eyre};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The date on the man pages. Fixed rather than today's, so that regenerating is reproducible;
/// bump it with the version.
const MAN_DATE: &str = "2026-11-23";

/// The completion scripts, by shell, under the file names each shell looks for.
pub const COMPLETIONS: [(Shell, &str); 5] = [
    (Shell::Bash, "qecho.bash"),
    (Shell::Zsh, "_qecho"),
    (Shell::Fish, "qecho.fish"),
    (Shell::Elvish, "qecho.elv"),
    (Shell::PowerShell, "_qecho.ps1"),
];

/// `qecho completions SHELL`: the script on standard output.
pub fn print_completions(shell: Shell) -> Result<ExitCode> {
    let mut command = cli::command();
    clap_complete::generate(shell, &mut command, "qecho", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `qecho generate-docs`: writes man/*.1 and completions/* under `root`.
pub fn generate(root: &Path) -> Result<ExitCode> {
    let man_dir = root.join("man");
    let completions_dir = root.join("completions");
    for dir in [&man_dir, &completions_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|err| eyre!("cannot create {}: {err}", dir.display()))?;
    }
    for (file, page) in man_pages()? {
        write(&man_dir.join(file), &page)?;
    }
    for (shell, file) in COMPLETIONS {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cli::command(), "qecho", &mut script);
        write(&completions_dir.join(file), &script)?;
    }
    println!(
        "wrote {} and {}",
        man_dir.display(),
        completions_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    std::fs::File::create(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|err| eyre!("cannot write {}: {err}", path.display()))
}

/// Every man page as (file name, roff text): qecho.1 and one per visible subcommand.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut top = cli::command();
    top.build();
    let mut pages = vec![("qecho.1".to_string(), render(&top, page_for(""), true)?)];
    let documented = |sub: &&clap::Command| !sub.is_hide_set() && sub.get_name() != "help";
    for sub in top.get_subcommands().filter(documented) {
        let name = sub.get_name();
        let page = render(sub, page_for(name), false)?;
        pages.push((format!("qecho-{name}.1"), page));
    }
    Ok(pages)
}

fn page_for(name: &str) -> Option<&'static Page> {
    cli::PAGES.iter().find(|page| page.name == name)
}

fn render(command: &clap::Command, page: Option<&Page>, top: bool) -> Result<Vec<u8>> {
    let man = Man::new(command.clone().after_long_help(""))
        .date(MAN_DATE)
        .manual("qecho manual")
        .source(format!("qecho {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    let io = |err: std::io::Error| eyre!("cannot render the man page: {err}");
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    man.render_options_section(&mut out).map_err(io)?;
    if top {
        man.render_subcommands_section(&mut out).map_err(io)?;
    }
    let mut roff = Roff::new();
    if let Some(page) = page {
        roff.control("SH", ["EXAMPLES"]);
        for (line, what) in page.examples {
            roff.control("TP", [])
                .text([bold(*line)])
                .text([roman(*what)]);
        }
        roff.control("SH", ["EXIT STATUS"]);
        for (code, what) in page.exit_status {
            roff.control("TP", [])
                .text([bold(*code)])
                .text([roman(*what)]);
        }
        if !page.environment.is_empty() {
            roff.control("SH", ["ENVIRONMENT"]);
            for (name, what) in page.environment {
                roff.control("TP", [])
                    .text([bold(*name)])
                    .text([roman(*what)]);
            }
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = [
        "qecho",
        "qecho-serve",
        "qecho-send",
        "qecho-gencert",
        "qecho-completions",
    ]
    .iter()
    .filter(|name| **name != command.get_display_name().unwrap_or(command.get_name()))
    .map(|name| format!("{name}(1)"))
    .collect();
    roff.text([italic(others.join(", "))]);
    roff.control("SH", ["VERSION"]);
    roff.text([roman(cli::VERSION)]);
    roff.to_writer(&mut out).map_err(io)?;
    Ok(out)
}
