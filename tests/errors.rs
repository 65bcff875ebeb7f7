//! Bad input and failures: each gets one readable paragraph and a non-zero exit, never a panic
//! or a hang.

mod common;

use common::{DEADLINE, Server, assert_error, assert_status, qecho, run, send};
use std::process::Output;

fn serve(args: &[&str]) -> Output {
    let mut command = qecho();
    command.arg("serve").args(args);
    run(command, DEADLINE)
}

fn pair(dir: &std::path::Path) -> (String, String) {
    let mut command = qecho();
    command.args(["gencert", "--out"]).arg(dir);
    assert!(run(command, DEADLINE).status.success());
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    (path("cert.pem"), path("key.pem"))
}

#[test]
fn missing_certificate_or_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pair(dir.path());
    let out = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        "/nonexistent/cert.pem",
        "--key",
        &key,
    ]);
    assert_error(&out, 2, &["/nonexistent/cert.pem", "No such file"]);
    let out = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        "/nonexistent/key.pem",
    ]);
    assert_error(&out, 2, &["/nonexistent/key.pem", "No such file"]);
    let out = send("127.0.0.1:9", &["--ca", "/nonexistent/ca.pem"]);
    assert_error(&out, 2, &["--ca", "/nonexistent/ca.pem"]);
}

#[test]
fn cert_without_key_is_a_usage_error() {
    let out = serve(&["--cert", "cert.pem"]);
    assert_error(&out, 2, &["--key"]);
}

#[test]
fn files_that_are_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pair(dir.path());
    let der = dir.path().join("cert.der");
    std::fs::write(&der, [0x30, 0x82, 0x01, 0x0a, 0xff, 0x00, 0x13]).unwrap();
    let der = der.to_str().unwrap();
    let out = serve(&["--listen", "127.0.0.1:0", "--cert", der, "--key", &key]);
    assert_error(&out, 2, &["not a PEM certificate", "cert.der"]);
    let out = serve(&["--listen", "127.0.0.1:0", "--cert", &cert, "--key", der]);
    assert_error(&out, 2, &["not a PEM private key"]);
    // Swapped: each file is PEM, but of the wrong kind.
    let out = serve(&["--listen", "127.0.0.1:0", "--cert", &key, "--key", &cert]);
    assert_error(&out, 2, &["holds no certificate", "not the key"]);
    let out = send("127.0.0.1:9", &["--ca", der]);
    assert_error(&out, 2, &["--ca", "not a PEM certificate"]);
}

#[test]
fn certificate_and_key_that_do_not_belong_together() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let (cert, _) = pair(one.path());
    let (_, other_key) = pair(two.path());
    let out = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &other_key,
    ]);
    assert_error(&out, 2, &["cannot be used together", &cert, &other_key]);
}

/// An Ed25519 certificate and key (`openssl req -x509 -newkey ed25519 -nodes -subj /CN=localhost`).
const ED25519_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBPDCB76ADAgECAhQD9DJFdbHtBWjaP0BiInmoND9okTAFBgMrZXAwFDESMBAG
A1UEAwwJbG9jYWxob3N0MB4XDTI2MTEyNDAyMTk0N1oXDTI2MTEyNTAyMTk0N1ow
FDESMBAGA1UEAwwJbG9jYWxob3N0MCowBQYDK2VwAyEAUz382gaiNFhEW6wcs+K3
jLkorgVpKw4s5qVvrckCMbSjUzBRMB0GA1UdDgQWBBQ7h8bSj8groik7hmo9HV5S
5LcOhDAfBgNVHSMEGDAWgBQ7h8bSj8groik7hmo9HV5S5LcOhDAPBgNVHRMBAf8E
BTADAQH/MAUGAytlcANBAFTvzNn0jWIpXaVKipCy8cBrRxAqC7pvbdR8s84TLR8d
uEScICztXykda981IZaBp1sz51IcBi48MePKZfi4ogg=
-----END CERTIFICATE-----
";
const ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAzNx1b83OtMVJ1GsfuB4WdVFctIIYLKr9X+iAB6BcHo
-----END PRIVATE KEY-----
";

#[test]
fn ed25519_certificates_are_refused_by_name() {
    // s2n-tls would call it a certificate and key that "cannot be used together".
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("ed.pem");
    let key = dir.path().join("ed.key");
    std::fs::write(&cert, ED25519_CERT).unwrap();
    std::fs::write(&key, ED25519_KEY).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let out = serve(&["--listen", "127.0.0.1:0", "--cert", cert, "--key", key]);
    assert_error(&out, 2, &["--cert", cert, "an Ed25519 key", "ECDSA or RSA"]);
    let out = send("127.0.0.1:9", &["--ca", cert]);
    assert_error(&out, 2, &["--ca", cert, "an Ed25519 key"]);
}

#[test]
fn malformed_addresses() {
    for bad in ["nonsense", "127.0.0.1", "127.0.0.1:99999", "[::1]"] {
        let out = serve(&["--listen", bad]);
        assert_error(&out, 2, &["--listen", bad, "IP:PORT"]);
    }
    for bad in ["nonsense", "127.0.0.1:http", "::1:9999", ":9999"] {
        let out = send(bad, &[]);
        assert_error(&out, 2, &["is not a server address", "HOST:PORT"]);
    }
    let out = send("no-such-host.invalid:9999", &["--connect-timeout", "1s"]);
    assert_error(&out, 2, &["cannot resolve 'no-such-host.invalid'"]);
}

#[test]
fn port_in_use() {
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let out = serve(&["--listen", &addr]);
    assert_error(&out, 2, &["cannot listen on", &addr, "already in use"]);
}

#[test]
fn unreachable_server() {
    // A UDP socket that never answers: the client hears nothing at all.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = send(&addr, &["-k", "--connect-timeout", "1s"]);
    assert_error(
        &out,
        2,
        &[
            "no QUIC answer from",
            &addr,
            "within 1s",
            "is the server running",
            "UDP",
        ],
    );
    // A closed port: the host answers with ICMP port unreachable, which s2n-quic never hears;
    // send probes the port itself and says so, long before the 20 s connect timeout.
    let port = silent.local_addr().unwrap().port().to_string();
    drop(silent);
    let started = std::time::Instant::now();
    let out = send(&addr, &["-k", "--connect-timeout", "20s"]);
    assert_error(
        &out,
        2,
        &[
            &format!("nothing listens on UDP port {port} at 127.0.0.1"),
            "ICMP port unreachable",
            "Is the server running",
        ],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "at once, not at the timeout: {:?}",
        started.elapsed()
    );
    // The same over IPv6, and for each connection of connections mode.
    let v6 = std::net::UdpSocket::bind("[::1]:0").unwrap();
    let addr = v6.local_addr().unwrap().to_string();
    drop(v6);
    let out = send(&addr, &["-k", "--connections", "2"]);
    let stdout = common::text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert_eq!(
        stdout.matches("nothing listens on UDP port").count(),
        2,
        "{stdout}"
    );
}

#[test]
fn bad_option_values() {
    let out = send("127.0.0.1:9", &["--interval", "soon"]);
    assert_error(&out, 2, &["--interval", "2s, 250ms"]);
    let out = send("127.0.0.1:9", &["--size", "12XB"]);
    assert_error(&out, 2, &["--size", "KiB"]);
    let out = send("127.0.0.1:9", &["--size", "0"]);
    assert_error(&out, 2, &["--size 0", "at least 1 byte"]);
    let out = send("127.0.0.1:9", &["--alpn", ""]);
    assert_error(&out, 2, &["--alpn", "1 to 255 bytes"]);
    let out = send("127.0.0.1:9", &["--alpn", "x"]);
    assert_error(&out, 2, &["--alpn 'x'", "one-byte", "2 bytes or more"]);
    let out = serve(&["--listen", "127.0.0.1:0", "--alpn", "x"]);
    assert_error(&out, 2, &["--alpn 'x'", "one-byte"]);
    let out = send("127.0.0.1:9", &["--ca", "x.pem", "--insecure"]);
    assert_error(&out, 2, &["--insecure"]);
}

#[test]
fn server_that_resets_the_stream() {
    let servers = common::peer::BrokenServers::new();
    let target = servers.start(common::peer::Misbehaviour::ResetStream);
    let out = send(
        &target,
        &["-k", "--alpn", "qecho", "--count", "2", "--interval", "0s"],
    );
    let stdout = assert_status(&out, 1);
    assert!(
        stdout.contains("seq=1 lost: the server reset the stream (application error code 7)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("seq=2 lost: the server reset the stream"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 sent, 0 received, 0 corrupted, 100% loss"),
        "{stdout}"
    );
}

#[test]
fn server_that_closes_the_connection() {
    let servers = common::peer::BrokenServers::new();
    let target = servers.start(common::peer::Misbehaviour::CloseConnection);
    let out = send(
        &target,
        &["-k", "--alpn", "qecho", "--count", "3", "--interval", "0s"],
    );
    let stderr = assert_error(
        &out,
        1,
        &[
            "connection to",
            "was lost",
            "closed by the server",
            "code 9",
        ],
    );
    let stdout = common::text(&out.stdout);
    assert!(stdout.contains("1 sent, 0 received"), "{stdout}\n{stderr}");
}

#[test]
fn serve_with_nothing_to_serve_on_is_not_a_hang() {
    // Sanity for the harness itself: a server that starts is reachable and stoppable.
    let server = Server::start(&[]);
    let (status, _) = server.terminate();
    assert_eq!(status.code(), Some(0));
}
