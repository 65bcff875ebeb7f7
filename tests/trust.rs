//! Trust (issue 6): a CA and the certificates it signs, mutual TLS, `send --pin`, key logging,
//! and `--insecure` against a server with an old, odd certificate. The real binary on loopback.

mod common;

use common::{DEADLINE, Server, assert_error, assert_status, qecho, run, send, text, word_after};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn gencert(args: &[&str]) -> Output {
    let mut command = qecho();
    command.arg("gencert").args(args);
    run(command, DEADLINE)
}

/// Runs `qecho gencert ARGS`, which must succeed; returns the fingerprint it printed.
fn gencert_ok(args: &[&str]) -> String {
    let out = gencert(args);
    assert_status(&out, 0);
    word_after(&text(&out.stdout), "fingerprint ").to_string()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8 path").to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A CA in `dir/ca`, a server certificate for 127.0.0.1 it signed in `dir/server`, and a client
/// certificate for alice in `dir/alice`.
struct Pki {
    dir: tempfile::TempDir,
    /// The fingerprint of alice's certificate.
    alice: String,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = path(dir.path(), "ca");
        gencert_ok(&["--ca", "--out", &ca]);
        let server = path(dir.path(), "server");
        gencert_ok(&["--sign-with", &ca, "--out", &server, "--name", "127.0.0.1"]);
        let alice = path(dir.path(), "alice");
        let alice = gencert_ok(&[
            "--sign-with",
            &ca,
            "--client",
            "--out",
            &alice,
            "--name",
            "alice",
        ]);
        Self { dir, alice }
    }

    fn file(&self, name: &str) -> String {
        path(self.dir.path(), name)
    }

    /// `qecho serve` with the CA-signed server certificate, and ARGS.
    fn serve(&self, args: &[&str]) -> Server {
        let cert = self.file("server/cert.pem");
        let key = self.file("server/key.pem");
        let mut all = vec!["--cert", &cert, "--key", &key];
        all.extend_from_slice(args);
        Server::start(&all)
    }
}

#[test]
fn a_server_certificate_signed_by_the_ca_verifies_with_send_ca() {
    let pki = Pki::new();
    assert_eq!(mode(&pki.dir.path().join("ca/ca-key.pem")), 0o600);
    let server = pki.serve(&[]);
    let out = send(
        &server.target(),
        &["--ca", &pki.file("ca/ca.pem"), "--count", "1"],
    );
    assert_status(&out, 0);

    // Another CA does not vouch for it.
    let other = tempfile::tempdir().unwrap();
    gencert_ok(&["--ca", "--out", other.path().to_str().unwrap()]);
    let out = send(
        &server.target(),
        &["--ca", &path(other.path(), "ca.pem"), "--count", "1"],
    );
    assert_error(
        &out,
        2,
        &["could not be verified", "--ca", &server.fingerprint],
    );
}

#[test]
fn mutual_tls_accepts_a_client_signed_by_the_ca_and_logs_who_it_is() {
    let pki = Pki::new();
    let ca = pki.file("ca/ca.pem");
    // The client's identity comes from the TLS session, which --tls-thread moves to another
    // thread: the server must still know who it is.
    for flags in [
        &["--client-ca", &ca][..],
        &["--client-ca", &ca, "--tls-thread"],
    ] {
        accepts_alice(&pki, pki.serve(flags));
    }
}

fn accepts_alice(pki: &Pki, server: Server) {
    let out = send(
        &server.target(),
        &[
            "--ca",
            &pki.file("ca/ca.pem"),
            "--cert",
            &pki.file("alice/cert.pem"),
            "--key",
            &pki.file("alice/key.pem"),
            "--count",
            "2",
            "--interval",
            "0s",
        ],
    );
    assert_status(&out, 0);
    let line = server
        .log
        .wait_for("client certificate", DEADLINE)
        .unwrap_or_else(|| panic!("no client identity logged:\n{}", server.log.text()));
    assert!(line.contains("connection 0 from"), "{line}");
    assert!(line.contains("CN=alice"), "{line}");
    assert!(line.contains(&pki.alice), "{line}");
    // Waiting for the server's verdict on our certificate costs no stream of its own.
    let closed = server
        .log
        .wait_for("bytes echoed on", DEADLINE)
        .expect("close logged");
    assert!(closed.contains("on 1 stream(s)"), "{closed}");
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let server = pki.serve(&["--client-ca", &pki.file("ca/ca.pem")]);
    let out = send(
        &server.target(),
        &["--ca", &pki.file("ca/ca.pem"), "--count", "1"],
    );
    assert_error(
        &out,
        2,
        &["requires a client certificate", "--cert FILE --key FILE"],
    );
    let line = server
        .log
        .wait_for("handshake with", DEADLINE)
        .unwrap_or_else(|| panic!("refusal not logged:\n{}", server.log.text()));
    assert!(
        line.contains("presented no certificate") && line.contains("--client-ca"),
        "{line}"
    );
}

#[test]
fn mutual_tls_refuses_a_client_certificate_from_another_ca() {
    let pki = Pki::new();
    let other = tempfile::tempdir().unwrap();
    let other_ca = path(other.path(), "ca");
    gencert_ok(&["--ca", "--out", &other_ca]);
    let mallory = path(other.path(), "mallory");
    gencert_ok(&[
        "--sign-with",
        &other_ca,
        "--client",
        "--out",
        &mallory,
        "--name",
        "mallory",
    ]);
    let server = pki.serve(&["--client-ca", &pki.file("ca/ca.pem")]);
    let cert = path(other.path(), "mallory/cert.pem");
    let out = send(
        &server.target(),
        &[
            "--ca",
            &pki.file("ca/ca.pem"),
            "--cert",
            &cert,
            "--key",
            &path(other.path(), "mallory/key.pem"),
            "--count",
            "1",
        ],
    );
    assert_error(
        &out,
        2,
        &[
            "rejected the client certificate",
            &cert,
            "--cert FILE --key FILE",
        ],
    );
    let line = server
        .log
        .wait_for("handshake with", DEADLINE)
        .unwrap_or_else(|| panic!("refusal not logged:\n{}", server.log.text()));
    assert!(
        line.contains("client certificate was refused") && line.contains("--client-ca"),
        "{line}"
    );
    assert!(
        !server.log.text().contains("CN=mallory"),
        "{}",
        server.log.text()
    );

    // The right CA, but a server certificate (server authentication only): not for clients.
    let cert = pki.file("server/cert.pem");
    let out = send(
        &server.target(),
        &[
            "--ca",
            &pki.file("ca/ca.pem"),
            "--cert",
            &cert,
            "--key",
            &pki.file("server/key.pem"),
            "--count",
            "1",
        ],
    );
    assert_error(&out, 2, &["rejected the client certificate", &cert]);
}

#[test]
fn a_client_certificate_is_harmless_when_the_server_does_not_ask() {
    let pki = Pki::new();
    let server = pki.serve(&[]);
    let out = send(
        &server.target(),
        &[
            "--ca",
            &pki.file("ca/ca.pem"),
            "--cert",
            &pki.file("alice/cert.pem"),
            "--key",
            &pki.file("alice/key.pem"),
            "--count",
            "1",
        ],
    );
    assert_status(&out, 0);
}

#[test]
fn pin_trusts_exactly_the_pinned_certificate() {
    // The ephemeral certificate, with no --ca and no --insecure: the pin alone.
    let server = Server::start(&[]);
    let out = send(
        &server.target(),
        &["--pin", &server.fingerprint, "--count", "1"],
    );
    assert_status(&out, 0);
    assert!(!text(&out.stderr).contains("WARN"), "{}", text(&out.stderr));

    // Pinned by another name the certificate does not hold: the pin ignores names.
    let target = format!("localhost:{}", server.addr.port());
    let out = send(
        &target,
        &[
            "--pin",
            &server
                .fingerprint
                .to_uppercase()
                .replace("SHA256", "sha256"),
            "--server-name",
            "elsewhere.example",
            "--count",
            "1",
        ],
    );
    assert_status(&out, 0);
}

#[test]
fn a_wrong_pin_is_refused_and_shows_the_fingerprint_presented() {
    let server = Server::start(&[]);
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let out = send(&server.target(), &["--pin", &wrong, "--count", "1"]);
    assert_error(
        &out,
        2,
        &[
            "presented the certificate",
            &server.fingerprint,
            "--pin",
            &wrong,
        ],
    );
    // Refused during the handshake, before the client's Finished: the server never accepts it.
    assert!(
        !server.log.text().contains("connection 0 from"),
        "{}",
        server.log.text()
    );
}

#[test]
fn pin_with_ca_needs_both_to_hold() {
    let pki = Pki::new();
    let server = pki.serve(&[]);
    let ca = pki.file("ca/ca.pem");
    let out = send(
        &server.target(),
        &["--pin", &server.fingerprint, "--ca", &ca, "--count", "1"],
    );
    assert_status(&out, 0);

    // The pinned certificate, but not valid for the name asked for.
    let target = format!("localhost:{}", server.addr.port());
    let out = send(
        &target,
        &["--pin", &server.fingerprint, "--ca", &ca, "--count", "1"],
    );
    assert_error(
        &out,
        2,
        &[
            "presented the pinned certificate",
            "could not be verified",
            "'localhost'",
        ],
    );
}

#[test]
fn pin_usage_errors() {
    let out = send("127.0.0.1:9", &["--pin", "sha256:1234"]);
    assert_error(&out, 2, &["--pin", "64 hex digits"]);
    let pin = format!("sha256:{}", "00".repeat(32));
    let out = send("127.0.0.1:9", &["--pin", &pin, "--insecure"]);
    assert_error(&out, 2, &["--insecure"]);
    let out = send("127.0.0.1:9", &["--cert", "cert.pem"]);
    assert_error(&out, 2, &["--key"]);
}

/// Asserts NSS key log lines for a TLS 1.3 connection: `LABEL <64 hex client random> <hex>`.
fn assert_key_log(file: &Path) {
    let log = std::fs::read_to_string(file).unwrap_or_else(|err| panic!("{file:?}: {err}"));
    for label in ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"] {
        let line = log
            .lines()
            .find(|line| line.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no {label} in {file:?}:\n{log}"));
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[1].len(), 64, "{line}");
        assert!(
            fields[1..]
                .iter()
                .all(|field| field.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert!(fields[2].len() >= 64, "{line}");
    }
    assert_eq!(mode(file), 0o600, "{file:?}");
}

#[test]
fn keylog_writes_the_secrets_of_both_ends_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let server_keys = dir.path().join("server.keys");
    let client_keys = dir.path().join("client.keys");
    let server = Server::start(&["--keylog", server_keys.to_str().unwrap()]);
    let warning = server
        .log
        .wait_for("TLS secrets", DEADLINE)
        .expect("the server warns");
    assert!(
        warning.contains("WARN") && warning.contains("server.keys"),
        "{warning}"
    );

    let out = send(
        &server.target(),
        &[
            "--pin",
            &server.fingerprint,
            "--keylog",
            client_keys.to_str().unwrap(),
            "--count",
            "1",
        ],
    );
    assert_status(&out, 0);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--keylog: writing TLS secrets to") && stderr.contains("client.keys"),
        "{stderr}"
    );
    assert_key_log(&client_keys);
    server.log.wait_for("closed after", DEADLINE);
    assert_key_log(&server_keys);
    // Both ends logged the same handshake.
    let client = std::fs::read_to_string(&client_keys).unwrap();
    let server_log = std::fs::read_to_string(&server_keys).unwrap();
    let first = client.lines().next().unwrap();
    assert!(server_log.contains(first), "{first}\n{server_log}");
}

#[test]
fn sslkeylogfile_is_honoured_and_named_in_the_warning() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("env.keys");
    let server = Server::start(&[]);
    let mut command = qecho();
    command
        .env("SSLKEYLOGFILE", &keys)
        .arg("send")
        .arg(server.target())
        .args(["--pin", &server.fingerprint, "--count", "1"]);
    let out = run(command, DEADLINE);
    assert_status(&out, 0);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("SSLKEYLOGFILE: writing TLS secrets to") && stderr.contains("env.keys"),
        "{stderr}"
    );
    assert_key_log(&keys);

    // Without it (common::qecho removes it), nothing is written and nothing said.
    let out = send(
        &server.target(),
        &["--pin", &server.fingerprint, "--count", "1"],
    );
    assert!(
        !text(&out.stderr).contains("TLS secrets"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn keylog_that_cannot_be_opened_is_an_error() {
    let out = send("127.0.0.1:9", &["-k", "--keylog", "/nonexistent/dir/keys"]);
    assert_error(
        &out,
        2,
        &["cannot open the key log file", "/nonexistent/dir/keys"],
    );
}

#[test]
fn gencert_ca_and_sign_with_never_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let ca = path(dir.path(), "ca");
    let out = gencert(&["--ca", "--out", &ca, "--name", "Test CA"]);
    assert_status(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ca.pem (CA certificate Test CA"),
        "{stdout}"
    );
    let ca_key = dir.path().join("ca/ca-key.pem");
    assert_eq!(mode(&ca_key), 0o600);
    let before = std::fs::read(&ca_key).unwrap();

    let out = gencert(&["--ca", "--out", &ca]);
    assert_error(&out, 2, &["refusing to overwrite", "ca.pem", "--force"]);
    assert_eq!(std::fs::read(&ca_key).unwrap(), before);
    std::fs::remove_file(dir.path().join("ca/ca.pem")).unwrap();
    let out = gencert(&["--ca", "--out", &ca]);
    assert_error(&out, 2, &["refusing to overwrite", "ca-key.pem"]);
    assert!(
        !dir.path().join("ca/ca.pem").exists(),
        "nothing written when refusing"
    );
    std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    gencert_ok(&["--ca", "--out", &ca, "--force"]);
    assert_ne!(std::fs::read(&ca_key).unwrap(), before);
    assert_eq!(mode(&ca_key), 0o600);

    let leaf = path(dir.path(), "leaf");
    let args = ["--sign-with", ca.as_str(), "--out", leaf.as_str()];
    let out = gencert(&args);
    assert_status(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("server certificate for localhost, 127.0.0.1, ::1, signed by CN=qecho CA"),
        "{stdout}"
    );
    assert_eq!(mode(&dir.path().join("leaf/key.pem")), 0o600);
    let out = gencert(&args);
    assert_error(&out, 2, &["refusing to overwrite", "cert.pem", "--force"]);
    let mut forced = args.to_vec();
    forced.push("--force");
    gencert_ok(&forced);
}

/// The expiry of the certificate in a PEM file.
fn not_after(path: &Path) -> x509_parser::time::ASN1Time {
    let pem = std::fs::read(path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
    pem.parse_x509().expect("certificate").validity().not_after
}

/// A chain is refused once its CA has expired, so a certificate signed for longer than its CA
/// lives gets the CA's expiry (and says so), and an expired CA signs nothing.
#[test]
fn a_certificate_never_outlives_its_ca_and_an_expired_ca_signs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = path(dir.path(), "ca");
    gencert_ok(&["--ca", "--out", &ca, "--valid-for", "2days"]);
    let leaf = path(dir.path(), "leaf");
    let out = gencert(&["--sign-with", &ca, "--out", &leaf]);
    let stdout = assert_status(&out, 0);
    assert!(
        stdout.contains("its CA's own expiry, which comes before --valid-for"),
        "{stdout}"
    );
    assert_eq!(
        not_after(&dir.path().join("leaf/cert.pem")),
        not_after(&dir.path().join("ca/ca.pem"))
    );

    // An expired CA in the layout `gencert --ca` writes, made with rcgen.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "old CA");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(old.join("ca.pem"), cert.pem()).unwrap();
    std::fs::write(old.join("ca-key.pem"), key.serialize_pem()).unwrap();
    std::fs::set_permissions(
        old.join("ca-key.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let signed = path(dir.path(), "signed");
    let out = gencert(&["--sign-with", old.to_str().unwrap(), "--out", &signed]);
    assert_error(&out, 2, &["expired on 2021-01-01", "gencert --ca"]);
    assert!(!Path::new(&signed).exists(), "nothing written");
}

#[test]
fn gencert_usage_errors_for_trust() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = path(dir.path(), "out");
    // No CA there.
    let out = gencert(&["--sign-with", "/nonexistent/ca", "--out", &out_dir]);
    assert_error(&out, 2, &["--sign-with", "/nonexistent/ca/ca.pem"]);
    // A self-signed server certificate is no CA.
    let leaf_dir = path(dir.path(), "leaf");
    gencert_ok(&["--out", &leaf_dir]);
    std::fs::rename(
        dir.path().join("leaf/cert.pem"),
        dir.path().join("leaf/ca.pem"),
    )
    .unwrap();
    std::fs::rename(
        dir.path().join("leaf/key.pem"),
        dir.path().join("leaf/ca-key.pem"),
    )
    .unwrap();
    let out = gencert(&["--sign-with", &leaf_dir, "--out", &out_dir]);
    assert_error(&out, 2, &["is not a CA certificate", "gencert --ca"]);
    // A CA with another CA's key.
    let one = path(dir.path(), "one");
    let two = path(dir.path(), "two");
    gencert_ok(&["--ca", "--out", &one]);
    gencert_ok(&["--ca", "--out", &two]);
    std::fs::copy(
        dir.path().join("two/ca-key.pem"),
        dir.path().join("one/ca-key.pem"),
    )
    .unwrap();
    let out = gencert(&["--sign-with", &one, "--out", &out_dir]);
    assert_error(&out, 2, &["is not the private key of"]);
    // A client needs a name; a CA has one; --ca signs nothing with --sign-with.
    let out = gencert(&["--sign-with", &two, "--client", "--out", &out_dir]);
    assert_error(&out, 2, &["--name"]);
    let out = gencert(&["--ca", "--name", "a", "--name", "b", "--out", &out_dir]);
    assert_error(&out, 2, &["one name"]);
    let out = gencert(&["--ca", "--sign-with", &two, "--out", &out_dir]);
    assert_error(&out, 2, &["--sign-with"]);
    assert!(
        !dir.path().join("out").exists(),
        "nothing written on errors"
    );
}

/// An RSA-1024 key and a certificate like the one the classic quic-go echo example makes for
/// itself: serial 1, empty subject and issuer, no extensions (so no SAN), and both validity dates
/// at Go's zero time, 0001-01-01. aws-lc-rs (so rcgen) refuses to generate or sign with RSA keys
/// under 2048 bits, so these were made once with openssl and kept here.
const ODD_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBAKf0ILxG9aNJyR0n
Nm+snxY2KWu/kWEATF0AzKXY2XRK2I5KhA+XgUW0DyFZayuxZL9YEMdaB0lEaWkX
qnLCDSpU3JOfBOiG+ScT2wWvpU1F7aQ0/uL4zyrxU2h32yEMWu6Mnyo2dqgTNNxO
GsfqRisi9klq4rzIiaBvUPlcanhrAgMBAAECgYAH1EJ+ZFRpAzSDzmMkO4jC8U1m
/2wYeHoWz8W6aWxhlmeX4nNbgrV8+VLHPDLZu5A1tzY5BMJYMP807ex9IvyYDDF6
0etl8fGddB5MoWlCtoO7TubAEnVUloRODBLZGAQCd4DNTTrFO75pSiJXQsMjv0qV
bVGX2Es89f1lsWJaiQJBAN5uZT91joekg4eVgafYb8y1l+7wz1rj0qiVIXOUWtn1
wxfEjb1i+O7jzr+H1dJZnq2rxOgM99PgmDQX+ynVjs8CQQDBTP8UCmCBQL7jW33a
jxinL67e5Vp94AdD5FuZXDZUKCAEYDM4oYOGOKpLprBN2xOAvllHrDE7IGvuRFUH
lwOlAkEAq0pulAkOouyREceTmlM1/XpWr34o4MCTSJnXse8sa68z90i5MoBWXXl3
jM2pXxz+8pVVxLG/5B2QeIWDOPspxwJBAJi5gQAQgtcclLWF4BYC4XOWlQ+/HpQ9
oP/fORAebz5mxYUvjMi9s/EkbEiBVuLsqKgbvOaIAg25PA1xJ81rX5ECQQCBJhiB
Ocxu918rESnOy6GZKm4UIo475wSZvnYX6HllOJb1h45QZkKzJiKYvxKtmiSQZKp3
IWaOweKtYQz8lTYl
-----END PRIVATE KEY-----
";
const ODD_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBdzCB4aADAgECAgEBMA0GCSqGSIb3DQEBCwUAMAAwIhgPMDAwMTAxMDEwMDAw
MDBaGA8wMDAxMDEwMTAwMDAwMFowADCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkC
gYEAp/QgvEb1o0nJHSc2b6yfFjYpa7+RYQBMXQDMpdjZdErYjkqED5eBRbQPIVlr
K7Fkv1gQx1oHSURpaReqcsINKlTck58E6Ib5JxPbBa+lTUXtpDT+4vjPKvFTaHfb
IQxa7oyfKjZ2qBM03E4ax+pGKyL2SWrivMiJoG9Q+VxqeGsCAwEAATANBgkqhkiG
9w0BAQsFAAOBgQAavE55npzQN1Hdh44HpmeK9bB4bNOa0zXxJ8PG2IiNKcvbCeL6
iUKIwplZFS/Jg/ZhGqlaI0ixSlT+ojGAzL+DV2dR3oIY6HFsTH5wfq2bOpMTgbUN
9XzuLYCsyA1ViXW1mggFtrMyZZny1pOvi6mxn8SG8kB8wVyUcnp1elwRtA==
-----END CERTIFICATE-----
";

/// A plain s2n-quic echo server inside the test, presenting `cert_pem`, speaking ALPN qecho.
fn echo_server(runtime: &tokio::runtime::Runtime, cert_pem: &str, key_pem: &str) -> SocketAddr {
    let _entered = runtime.enter();
    let (mut server, addr) = common::peer::server(cert_pem, key_pem);
    runtime.spawn(async move {
        while let Some(mut connection) = server.accept().await {
            tokio::spawn(async move {
                while let Ok(Some(mut stream)) = connection.accept_bidirectional_stream().await {
                    tokio::spawn(async move {
                        while let Ok(Some(data)) = stream.receive().await {
                            if stream.send(data).await.is_err() {
                                return;
                            }
                        }
                        let _ = stream.finish();
                    });
                }
            });
        }
    });
    addr
}

#[test]
fn insecure_and_pin_work_with_an_old_odd_certificate() {
    let odd = pem::parse(ODD_CERT).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, odd.contents());
    let fingerprint: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let fingerprint = format!("sha256:{fingerprint}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = echo_server(&runtime, ODD_CERT, ODD_KEY).to_string();

    let out = send(&addr, &["--insecure", "--count", "2", "--interval", "0s"]);
    assert_status(&out, 0);
    assert!(
        text(&out.stdout).contains("2 sent, 2 received"),
        "{}",
        text(&out.stdout)
    );

    let out = send(&addr, &["--pin", &fingerprint, "--count", "1"]);
    assert_status(&out, 0);

    // Verified, it fails as it should, and the error names the certificate.
    let dir = tempfile::tempdir().unwrap();
    let cert: PathBuf = dir.path().join("odd.pem");
    std::fs::write(&cert, ODD_CERT).unwrap();
    let out = send(&addr, &["--ca", cert.to_str().unwrap(), "--count", "1"]);
    assert_error(&out, 2, &["could not be verified", &fingerprint]);
}
