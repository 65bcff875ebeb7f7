//! TLS session resumption. On the server: the keys that encrypt session tickets, random per start
//! and rotated, or shared between servers through `serve --ticket-key FILE`. On the client: the
//! ticket the server sent, kept by the TLS callbacks and offered on the next connection, and with
//! `send --session FILE` carried from one run to the next.

use crate::cert::Fingerprint;
use color_eyre::eyre::{Result, eyre};
use s2n_quic::provider::tls::default as s2n_tls;
use serde_json::json;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// How long one random key encrypts new tickets before the next one takes over: a stolen key
/// opens at most this much of the past (plus the decrypt-only time below).
const KEY_ROTATION: Duration = Duration::from_secs(6 * 3600);
/// How long a retired key still decrypts the tickets it issued.
const DECRYPT_ONLY: Duration = Duration::from_secs(12 * 3600);
/// s2n-tls holds at most 48 ticket keys (S2N_MAX_TICKET_KEYS), and keys can only be added before
/// the server starts: 48 x 6 hours covers 12 days. A server up longer issues no new tickets (full
/// handshakes only) until it is restarted.
const RANDOM_KEYS: u32 = 48;
/// A `--ticket-key` key encrypts for this long after each start; rotating it is the operator's
/// job, as with nginx's ssl_session_ticket_key.
const SHARED_KEY_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
const KEY_BYTES: usize = 32;

/// How the server issues tickets.
pub enum ServerTickets {
    Off,
    /// Random keys of this start only, each with its turn: (name, key, first use).
    Random(Vec<([u8; 16], [u8; KEY_BYTES], SystemTime)>),
    /// One key from `--ticket-key`, the same for every server that reads the file.
    Shared {
        path: PathBuf,
        key: [u8; KEY_BYTES],
    },
}

impl ServerTickets {
    pub fn from_args(off: bool, key_file: Option<&Path>) -> Result<Self> {
        if off {
            return Ok(Self::Off);
        }
        if let Some(path) = key_file {
            let key = read_or_create_key(path)?;
            return Ok(Self::Shared {
                path: path.to_path_buf(),
                key,
            });
        }
        let now = SystemTime::now();
        let keys = (0..RANDOM_KEYS)
            .map(|turn| {
                let mut name = [0u8; 16];
                let mut key = [0u8; KEY_BYTES];
                random(&mut name)?;
                random(&mut key)?;
                Ok((name, key, now + KEY_ROTATION * turn))
            })
            .collect::<Result<_>>()?;
        Ok(Self::Random(keys))
    }

    /// For the listening line: "session tickets on (keys rotated every 6h)".
    pub fn describe(&self) -> String {
        match self {
            Self::Off => "session tickets off".to_string(),
            Self::Random(_) => "session tickets on (random keys, rotated every 6h)".to_string(),
            Self::Shared { path, .. } => {
                format!(
                    "session tickets on (key from --ticket-key {})",
                    path.display()
                )
            }
        }
    }

    pub fn install(&self, config: &mut s2n_tls::config::Builder) -> Result<()> {
        let failed = |err: s2n_tls::error::Error| eyre!("cannot set up session tickets: {err}");
        match self {
            Self::Off => {}
            Self::Random(keys) => {
                config
                    .set_ticket_key_encrypt_decrypt_lifetime(KEY_ROTATION)
                    .and_then(|config| config.set_ticket_key_decrypt_lifetime(DECRYPT_ONLY))
                    .map_err(failed)?;
                for (name, key, from) in keys {
                    config
                        .add_session_ticket_key(name, key, *from)
                        .map_err(failed)?;
                }
            }
            Self::Shared { key, .. } => {
                // Named by the key itself, so that every server with the file finds it.
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key);
                config
                    .set_ticket_key_encrypt_decrypt_lifetime(SHARED_KEY_LIFETIME)
                    .and_then(|config| config.set_ticket_key_decrypt_lifetime(DECRYPT_ONLY))
                    .and_then(|config| {
                        config.add_session_ticket_key(
                            &digest.as_ref()[..16],
                            key,
                            SystemTime::now(),
                        )
                    })
                    .map_err(failed)?;
            }
        }
        Ok(())
    }
}

fn random(bytes: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(bytes).map_err(|_| eyre!("the system's random number generator failed"))
}

/// `--ticket-key FILE`: its key, or a new one written to a new FILE (mode 0600).
fn read_or_create_key(path: &Path) -> Result<[u8; KEY_BYTES]> {
    match std::fs::metadata(path) {
        Ok(metadata) => {
            refuse_if_others_can_read(path, &metadata)?;
            let text = std::fs::read_to_string(path)
                .map_err(|err| eyre!("cannot read --ticket-key {}: {err}", path.display()))?;
            parse_key(text.trim()).ok_or_else(|| {
                eyre!(
                    "--ticket-key {} does not hold a ticket key: expected {} hex digits on one \
                     line, as qecho writes when the file does not exist yet (move this file away \
                     and let qecho make a new one)",
                    path.display(),
                    KEY_BYTES * 2
                )
            })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_BYTES];
            random(&mut key)?;
            create_secret(path, &format!("{}\n", to_hex(&key))).map_err(|err| {
                eyre!(
                    "cannot create --ticket-key {}: {err}; check that its directory exists and \
                     is writable",
                    path.display()
                )
            })?;
            tracing::info!(
                "wrote a new session ticket key to {} (mode 0600)",
                path.display()
            );
            Ok(key)
        }
        Err(err) => Err(eyre!("cannot read --ticket-key {}: {err}", path.display())),
    }
}

fn parse_key(hex: &str) -> Option<[u8; KEY_BYTES]> {
    from_hex(hex)?.try_into().ok()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(unix)]
fn refuse_if_others_can_read(path: &Path, metadata: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(eyre!(
            "--ticket-key {} can be read by others (mode {mode:03o}): whoever reads the key can \
             decrypt the tickets, and with them the sessions; run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_others_can_read(_: &Path, _: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

/// Creates `path`, which must not exist, readable by its owner only.
fn create_secret(path: &Path, contents: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// A session ticket as the client keeps it.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub bytes: Vec<u8>,
    /// When the server says it stops accepting it.
    pub expires: SystemTime,
}

/// The client's tickets, shared by the TLS callbacks (which store what arrives and offer what is
/// chosen) and `send` (which chooses, waits, and saves).
#[derive(Debug, Clone, Default)]
pub struct ClientTickets(Arc<(Mutex<Slots>, Notify)>);

#[derive(Debug, Default)]
struct Slots {
    /// Offered by each new connection.
    offer: Option<Ticket>,
    /// The latest the server sent.
    newest: Option<Ticket>,
}

impl ClientTickets {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes every new connection offer `ticket`.
    pub fn offer(&self, ticket: Ticket) {
        self.slots().offer = Some(ticket);
    }

    pub fn offering(&self) -> bool {
        self.slots().offer.is_some()
    }

    pub fn newest(&self) -> Option<Ticket> {
        self.slots().newest.clone()
    }

    /// Waits up to `limit` for a ticket from the server. Tickets arrive after the handshake:
    /// 1.0-1.7 ms after `connect` returned on loopback here.
    pub async fn wait_for_new(&self, limit: Duration) -> Option<Ticket> {
        let arrived = crate::events::wait_for(&self.0.1, || self.newest());
        tokio::time::timeout(limit, arrived).await.ok()
    }

    pub fn install(&self, config: &mut s2n_tls::config::Builder) -> Result<()> {
        config
            .enable_session_tickets(true)
            .and_then(|config| config.set_session_ticket_callback(self.clone()))
            .and_then(|config| config.set_connection_initializer(self.clone()))
            .map_err(|err| eyre!("cannot set up session resumption: {err}"))?;
        Ok(())
    }
}

impl s2n_tls::callbacks::SessionTicketCallback for ClientTickets {
    fn on_session_ticket(
        &self,
        _: &mut s2n_tls::connection::Connection,
        ticket: &s2n_tls::callbacks::SessionTicket,
    ) {
        let Ok(len) = ticket.len() else { return };
        let mut bytes = vec![0; len];
        if ticket.data(&mut bytes).is_err() {
            return;
        }
        let lifetime = ticket.lifetime().unwrap_or_default();
        self.slots().newest = Some(Ticket {
            bytes,
            expires: SystemTime::now() + lifetime,
        });
        self.0.1.notify_waiters();
    }
}

impl s2n_tls::config::ConnectionInitializer for ClientTickets {
    fn initialize_connection(
        &self,
        connection: &mut s2n_tls::connection::Connection,
    ) -> Result<
        Option<std::pin::Pin<Box<dyn s2n_tls::callbacks::ConnectionFuture>>>,
        s2n_tls::error::Error,
    > {
        if let Some(ticket) = &self.slots().offer {
            connection.set_session_ticket(&ticket.bytes)?;
        }
        Ok(None)
    }
}

/// `send --session FILE`: a ticket kept between runs, for one server name (and, with `--pin`,
/// one certificate).
pub struct SessionFile {
    pub path: PathBuf,
}

impl SessionFile {
    /// Checks that FILE can be written later: its directory must exist.
    pub fn new(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(eyre!(
                "--session {}: the directory {} does not exist; create it, or give a path in an \
                 existing directory",
                path.display(),
                dir.display()
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The ticket FILE holds for `server_name` (and `certificate`, with a pin), if it holds a
    /// usable one; a warning says why not when it does not. A missing file is no news.
    pub fn load(&self, server_name: &str, certificate: Option<Fingerprint>) -> Option<Ticket> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return None,
            Err(err) => {
                self.warn(&format!("cannot read it ({err})"));
                return None;
            }
        };
        match parse_session(&text, server_name, certificate) {
            Ok(ticket) => Some(ticket),
            Err(why) => {
                self.warn(&why);
                None
            }
        }
    }

    fn warn(&self, why: &str) {
        tracing::warn!(
            "--session {}: {why}; making a full handshake instead (the file is replaced with the \
             new ticket)",
            self.path.display()
        );
    }

    /// Writes `ticket` for `server_name`, replacing FILE atomically, mode 0600.
    pub fn save(
        &self,
        ticket: &Ticket,
        server_name: &str,
        certificate: Option<Fingerprint>,
    ) -> Result<()> {
        let expires = ticket
            .expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let contents = json!({
            "qecho_session": 1,
            "server_name": server_name,
            "certificate": certificate.map(|c| c.to_string()),
            "expires_unix": expires,
            "ticket": to_hex(&ticket.bytes),
        });
        let temporary = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_file(&temporary);
        create_secret(&temporary, &format!("{contents}\n"))
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|err| {
                let _ = std::fs::remove_file(&temporary);
                eyre!("cannot write --session {}: {err}", self.path.display())
            })
    }
}

fn parse_session(
    text: &str,
    server_name: &str,
    certificate: Option<Fingerprint>,
) -> Result<Ticket, String> {
    let session: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| "it is not a qecho session file (corrupt or truncated?)".to_string())?;
    if session["qecho_session"] != 1 {
        return Err("it is not a qecho session file".to_string());
    }
    let stored_name = session["server_name"].as_str().unwrap_or_default();
    if stored_name != server_name {
        return Err(format!(
            "its ticket is for server name {stored_name:?}, not {server_name:?}"
        ));
    }
    if let Some(pin) = certificate
        && session["certificate"].as_str() != Some(pin.to_string().as_str())
    {
        return Err("its ticket is from a server with another certificate than --pin".into());
    }
    let expires = UNIX_EPOCH + Duration::from_secs(session["expires_unix"].as_u64().unwrap_or(0));
    if expires <= SystemTime::now() {
        return Err("its ticket has expired".to_string());
    }
    match from_hex(session["ticket"].as_str().unwrap_or_default()) {
        Some(bytes) if !bytes.is_empty() => Ok(Ticket { bytes, expires }),
        _ => Err("its ticket is not readable (corrupt?)".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_only_as_64_hex_digits() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_key(&hex).map(|key| key[31]), Some(0xff));
        assert!(parse_key(&hex[2..]).is_none());
        assert!(parse_key(&("zz".to_string() + &hex[2..])).is_none());
    }

    #[test]
    fn session_files_are_checked_before_use() {
        let later = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let good = format!(
            r#"{{"qecho_session":1,"server_name":"localhost","certificate":null,"expires_unix":{later},"ticket":"0a0b"}}"#
        );
        assert_eq!(
            parse_session(&good, "localhost", None).map(|t| t.bytes),
            Ok(vec![10, 11])
        );
        let other = parse_session(&good, "example.net", None).unwrap_err();
        assert!(other.contains("not \"example.net\""), "{other}");
        assert!(
            parse_session(&good[..40], "localhost", None)
                .unwrap_err()
                .contains("corrupt")
        );
        let expired = good.replace(&later.to_string(), "1");
        assert!(
            parse_session(&expired, "localhost", None)
                .unwrap_err()
                .contains("expired")
        );
        let odd = good.replace("0a0b", "0a0");
        assert!(
            parse_session(&odd, "localhost", None)
                .unwrap_err()
                .contains("not readable")
        );
        let pinned = parse_session(&good, "localhost", Some(Fingerprint::of_der(b"x")));
        assert!(pinned.unwrap_err().contains("--pin"));
    }
}
