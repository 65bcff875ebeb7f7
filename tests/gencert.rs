//! `qecho gencert`: files, modes, names, and never losing a file without --force.

mod common;

use common::{DEADLINE, assert_error, assert_status, qecho, run, text};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

fn gencert(dir: &Path, args: &[&str]) -> Output {
    let mut command = qecho();
    command.arg("gencert").arg("--out").arg(dir).args(args);
    run(command, DEADLINE)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn writes_pem_files_with_a_private_key_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("new/sub");
    let out = gencert(&out_dir, &[]);
    assert_status(&out, 0);
    let cert = std::fs::read_to_string(out_dir.join("cert.pem")).unwrap();
    let key = std::fs::read_to_string(out_dir.join("key.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(key.contains("-----BEGIN PRIVATE KEY-----"), "{key}");
    assert_eq!(mode(&out_dir.join("key.pem")), 0o600);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&out_dir.join("cert.pem").display().to_string()),
        "{stdout}"
    );
    assert!(
        stdout.contains(&out_dir.join("key.pem").display().to_string()),
        "{stdout}"
    );
    let fingerprint = common::word_after(&stdout, "fingerprint ");
    assert!(
        fingerprint.starts_with("sha256:") && fingerprint.len() == 71,
        "{stdout}"
    );
    assert!(stdout.contains("localhost, 127.0.0.1, ::1"), "{stdout}");
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    assert!(gencert(dir.path(), &[]).status.success());
    let cert_before = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let key_before = std::fs::read(dir.path().join("key.pem")).unwrap();

    let out = gencert(dir.path(), &[]);
    assert_error(&out, 2, &["refusing to overwrite", "cert.pem", "--force"]);
    assert_eq!(
        std::fs::read(dir.path().join("cert.pem")).unwrap(),
        cert_before
    );
    assert_eq!(
        std::fs::read(dir.path().join("key.pem")).unwrap(),
        key_before
    );

    // Only the key exists: still refused, naming the key.
    std::fs::remove_file(dir.path().join("cert.pem")).unwrap();
    let out = gencert(dir.path(), &[]);
    assert_error(&out, 2, &["refusing to overwrite", "key.pem"]);
    assert!(
        !dir.path().join("cert.pem").exists(),
        "nothing written when refusing"
    );
}

#[test]
fn force_replaces_and_tightens_the_key_mode() {
    let dir = tempfile::tempdir().unwrap();
    assert!(gencert(dir.path(), &[]).status.success());
    let key_path = dir.path().join("key.pem");
    let key_before = std::fs::read(&key_path).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = gencert(dir.path(), &["--force"]);
    assert_status(&out, 0);
    assert_ne!(std::fs::read(&key_path).unwrap(), key_before, "a new key");
    assert_eq!(mode(&key_path), 0o600);
}

#[test]
fn names_and_validity_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let out = gencert(
        dir.path(),
        &[
            "--name",
            "echo.example",
            "--name",
            "192.0.2.7",
            "--valid-for",
            "2days",
        ],
    );
    assert_status(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("echo.example, 192.0.2.7"), "{stdout}");
    // The SANs are checked for real by the verification test; here, the names on the line and a
    // validity end two days from now (the year at least is right).
    let pem = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE"));

    let out = gencert(dir.path(), &["--force", "--valid-for", "forever"]);
    assert_error(&out, 2, &["--valid-for", "2s"]);
    let out = gencert(dir.path(), &["--force", "--name", ""]);
    assert_error(&out, 2, &["--name"]);
}

#[test]
fn a_certificate_for_other_names_is_rejected_by_send_even_with_ca() {
    // The names really end up in the certificate: one made for elsewhere.example does not verify
    // as 127.0.0.1, one made for 127.0.0.1 does.
    let dir = tempfile::tempdir().unwrap();
    assert!(
        gencert(dir.path(), &["--name", "127.0.0.1"])
            .status
            .success()
    );
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let server = common::Server::start(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let ok = common::send(
        &server.target(),
        &["--ca", cert.to_str().unwrap(), "--count", "1"],
    );
    assert_status(&ok, 0);
    let target = format!("localhost:{}", server.addr.port());
    let wrong = common::send(&target, &["--ca", cert.to_str().unwrap(), "--count", "1"]);
    assert_error(&wrong, 2, &["could not be verified", "'localhost'"]);
}
