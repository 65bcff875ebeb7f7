//! Man pages, completions and help: generated from the CLI definition, committed, never stale.

mod common;

use common::{DEADLINE, qecho, run, text};
use std::path::{Path, PathBuf};
use std::process::Command;

const REGENERATE: &str = "cargo run -- generate-docs";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}; run `{REGENERATE}`", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    names
}

#[test]
fn committed_man_pages_and_completions_are_current() {
    let fresh = tempfile::tempdir().unwrap();
    let mut command = qecho();
    command.args(["generate-docs", "--root"]).arg(fresh.path());
    let out = run(command, DEADLINE);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for dir in ["man", "completions"] {
        let generated = files(&fresh.path().join(dir));
        let committed = files(&repo().join(dir));
        let names = |paths: &[PathBuf]| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(&committed),
            names(&generated),
            "{dir}/ is stale: run `{REGENERATE}`"
        );
        for (new, old) in generated.iter().zip(&committed) {
            assert!(
                std::fs::read(new).unwrap() == std::fs::read(old).unwrap(),
                "{} differs from what the CLI produces now: run `{REGENERATE}`",
                old.display()
            );
        }
    }
    let expected_pages = [
        "qecho.1",
        "qecho-serve.1",
        "qecho-send.1",
        "qecho-gencert.1",
        "qecho-completions.1",
    ];
    for page in expected_pages {
        assert!(repo().join("man").join(page).exists(), "{page}");
    }
}

#[test]
fn completions_subcommand_prints_the_committed_scripts() {
    for (shell, file) in [
        ("bash", "qecho.bash"),
        ("zsh", "_qecho"),
        ("fish", "qecho.fish"),
        ("elvish", "qecho.elv"),
        ("powershell", "_qecho.ps1"),
    ] {
        let mut command = qecho();
        command.args(["completions", shell]);
        let out = run(command, DEADLINE);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let committed = std::fs::read(repo().join("completions").join(file)).unwrap();
        assert!(
            out.stdout == committed,
            "completions/{file} is stale: run `{REGENERATE}`"
        );
    }
    let mut command = qecho();
    command.args(["completions", "tcsh"]);
    common::assert_error(&run(command, DEADLINE), 2, &["tcsh"]);
}

/// Lints with mandoc where installed (CI installs it), else with groff, which man-db brings.
#[test]
fn man_pages_lint_clean_and_have_every_section() {
    let pages = files(&repo().join("man"));
    let mandoc = Command::new("mandoc").arg("-V").output().is_ok();
    for page in &pages {
        let out = if mandoc {
            Command::new("mandoc")
                .args(["-T", "lint", "-W", "warning"])
                .arg(page)
                .output()
        } else {
            Command::new("groff")
                .args(["-man", "-w", "all", "-z"])
                .arg(page)
                .output()
        }
        .expect("neither mandoc nor groff is installed: apt-get install mandoc");
        let complaints = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success() && complaints.trim().is_empty(),
            "{}:\n{complaints}",
            page.display()
        );

        let roff = std::fs::read_to_string(page).unwrap();
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXAMPLES",
            "EXIT STATUS",
        ] {
            // roff quotes a heading with a space in it.
            let plain = format!(".SH {section}");
            let quoted = format!(".SH \"{section}\"");
            assert!(
                roff.contains(&plain) || roff.contains(&quoted),
                "{} lacks {section}",
                page.display()
            );
        }
        assert!(!roff.contains(".TH qecho 1 \"\""), "the date is set");
    }
    for page in ["qecho.1", "qecho-serve.1", "qecho-send.1"] {
        let roff = std::fs::read_to_string(repo().join("man").join(page)).unwrap();
        assert!(
            roff.contains(".SH ENVIRONMENT") && roff.contains("RUST_LOG"),
            "{page}"
        );
    }
    let send = std::fs::read_to_string(repo().join("man/qecho-send.1")).unwrap();
    assert!(send.contains("[default: 2s]"), "defaults are in the page");
}

/// Loads the bash completion in a real bash and asks it what it would complete.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = repo().join("completions/qecho.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' && complete -p qecho >/dev/null && COMP_WORDS=({}) && COMP_CWORD={} && \
         COMP_LINE='{}' && COMP_POINT=${{#COMP_LINE}} && _qecho qecho '{}' '{}' && \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let mut command = Command::new("bash");
    command.args(["--norc", "--noprofile", "-c", &program]);
    let out = run(command, DEADLINE);
    assert!(out.status.success(), "bash: {}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let offered = bash_complete(&["qecho", "se"]);
    assert_eq!(offered, ["serve", "send"], "qecho se<TAB>");
    let offered = bash_complete(&["qecho", "send", "--int"]);
    assert_eq!(offered, ["--interval"], "qecho send --int<TAB>");
    let offered = bash_complete(&["qecho", "gencert", "--f"]);
    assert_eq!(offered, ["--force"], "qecho gencert --f<TAB>");
}

#[test]
fn version_names_the_s2n_quic_it_was_built_with() {
    let mut command = qecho();
    command.arg("--version");
    let out = run(command, DEADLINE);
    let version = text(&out.stdout);
    assert!(
        version.starts_with(&format!("qecho {} (s2n-quic 1.", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
}

#[test]
fn long_help_has_defaults_units_and_examples() {
    for (sub, needles) in [
        (
            "serve",
            &[
                "[default: 127.0.0.1:9999]",
                "[default: qecho quic-echo-example quic-example]",
                "Examples:",
            ][..],
        ),
        (
            "send",
            &[
                "[default: 2s]",
                "humantime",
                "64KiB",
                "[default: 5s]",
                "Examples:",
                "--insecure",
            ][..],
        ),
        (
            "gencert",
            &["[default: 365days]", "[default: .]", "Examples:"][..],
        ),
    ] {
        let mut command = qecho();
        command.args([sub, "--help"]);
        let help = text(&run(command, DEADLINE).stdout);
        for needle in needles {
            assert!(
                help.contains(needle),
                "qecho {sub} --help lacks {needle:?}:\n{help}"
            );
        }
        let examples = help.split("Examples:").nth(1).unwrap_or_default();
        assert!(
            examples.matches("qecho ").count() >= 2,
            "qecho {sub}: at least two examples"
        );
    }
}
