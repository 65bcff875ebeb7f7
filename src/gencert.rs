//! `qecho gencert`: writes a self-signed certificate and its private key, made by the same code as
//! `serve`'s ephemeral certificate. Never overwrites a file without `--force`; the key is written
//! with mode 0600 from the moment it exists.

use crate::cert;
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
    let (cert_path, key_path) = cert::file_paths(&args.out);
    if !args.force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(refuse_overwrite(path));
            }
        }
    }
    let identity = cert::generate(&args.names, args.valid_for)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|err| eyre!("cannot create the directory {}: {err}", args.out.display()))?;
    // The key first: if it cannot be written, no orphan certificate is left behind.
    write_file(&key_path, &identity.key_pem, 0o600, args.force)?;
    write_file(&cert_path, &identity.cert_pem, 0o644, args.force)?;

    let until = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + args.valid_for);
    println!(
        "wrote {} (certificate for {}, valid until {until})",
        cert_path.display(),
        args.names.join(", ")
    );
    println!("wrote {} (private key, mode 0600)", key_path.display());
    println!("fingerprint {}", identity.fingerprint);
    Ok(ExitCode::SUCCESS)
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
