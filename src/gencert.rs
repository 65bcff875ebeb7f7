//! `qecho gencert`: writes a certificate and its private key, made by the same code as `serve`'s
//! ephemeral certificate: self-signed (the default), a CA (`--ca`), or signed by that CA
//! (`--sign-with`), for a server or (`--client`) a client. Never overwrites a file without
//! `--force`; the key is written with mode 0600 from the moment it exists.

use crate::cert::{self, Ca, Usage};
use crate::cli::GencertArgs;
use color_eyre::eyre::{Result, eyre};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: GencertArgs) -> Result<ExitCode> {
    if let Some(bad) = args.names.iter().find(|name| name.trim().is_empty()) {
        return Err(eyre!(
            "--name '{bad}' is empty: pass a DNS name or an IP address"
        ));
    }
    let usage = match (args.ca, args.client) {
        (true, _) => Usage::Ca,
        (false, true) => Usage::Client,
        (false, false) => Usage::Server,
    };
    let names = names(&args.names, usage)?;
    let ca = args.sign_with.as_deref().map(Ca::load).transpose()?;
    let (cert_path, key_path) = match usage {
        Usage::Ca => cert::ca_file_paths(&args.out),
        Usage::Server | Usage::Client => cert::file_paths(&args.out),
    };
    if !args.force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(refuse_overwrite(path));
            }
        }
    }
    let generated = cert::generate(&names, args.valid_for, usage, ca.as_ref())?;
    let identity = &generated.identity;
    std::fs::create_dir_all(&args.out)
        .map_err(|err| eyre!("cannot create the directory {}: {err}", args.out.display()))?;
    // The key first: if it cannot be written, no orphan certificate is left behind.
    write_file(&key_path, &identity.key_pem, 0o600, args.force)?;
    write_file(&cert_path, &identity.cert_pem, 0o644, args.force)?;

    let until = humantime::format_rfc3339_seconds(generated.valid_until);
    let until = if generated.cut_short_by_ca {
        format!("{until}, its CA's own expiry, which comes before --valid-for")
    } else {
        until.to_string()
    };
    let names = names.join(", ");
    let what = match (usage, &ca) {
        (Usage::Ca, _) => format!("CA certificate {names}"),
        (Usage::Server, None) => format!("certificate for {names}"),
        (Usage::Server, Some(ca)) => {
            format!("server certificate for {names}, signed by {}", ca.subject)
        }
        (Usage::Client, None) => format!("client certificate for {names}"),
        (Usage::Client, Some(ca)) => {
            format!("client certificate for {names}, signed by {}", ca.subject)
        }
    };
    println!(
        "wrote {} ({what}, valid until {until})",
        cert_path.display()
    );
    if usage == Usage::Ca {
        println!(
            "wrote {} (CA private key, mode 0600: whoever has it can issue certificates that \
             everyone trusting this CA accepts)",
            key_path.display()
        );
    } else {
        println!("wrote {} (private key, mode 0600)", key_path.display());
    }
    println!("fingerprint {}", identity.fingerprint);
    Ok(ExitCode::SUCCESS)
}

/// The names to put in the certificate: `--name`s, or the defaults for its usage.
fn names(given: &[String], usage: Usage) -> Result<Vec<String>> {
    match (usage, given) {
        (Usage::Ca, []) => Ok(vec!["qecho CA".to_string()]),
        (Usage::Ca, [_]) => Ok(given.to_vec()),
        (Usage::Ca, _) => Err(eyre!(
            "a CA has one name: pass --name once, e.g. --name 'Example CA'"
        )),
        (Usage::Client, []) => Err(eyre!(
            "a client certificate needs a name, the identity the server logs: pass --name, e.g. \
             --name alice"
        )),
        (Usage::Server, []) => Ok(["localhost", "127.0.0.1", "::1"].map(String::from).to_vec()),
        _ => Ok(given.to_vec()),
    }
}

fn refuse_overwrite(path: &Path) -> color_eyre::Report {
    eyre!(
        "refusing to overwrite {}: the file already exists; pass --force to replace it, or --out to \
         write somewhere else",
        path.display()
    )
}

/// Writes `contents` with `mode`. Without `overwrite` the file must not exist yet (checked
/// atomically by the open, so a file appearing meanwhile is not clobbered either).
fn write_file(path: &Path, contents: &str, mode: u32, overwrite: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let write = |file: &mut File| -> io::Result<()> {
        // `mode` applies only to a new file: an overwritten key must not keep looser permissions.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    };
    match options.open(path) {
        Ok(mut file) => {
            write(&mut file).map_err(|err| eyre!("cannot write {}: {err}", path.display()))
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(refuse_overwrite(path)),
        Err(err) => Err(eyre!("cannot create {}: {err}", path.display())),
    }
}
