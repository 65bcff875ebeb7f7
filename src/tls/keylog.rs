//! `--keylog FILE` and `SSLKEYLOGFILE`: the TLS secrets of every connection, appended to a file in
//! the NSS key log format (`CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random> <secret>`, ...), so
//! that Wireshark can decrypt a capture of the QUIC traffic. For debugging only.
//!
//! s2n-quic-tls's own `with_key_logging()` reads only SSLKEYLOGFILE and silently logs nothing when
//! the file cannot be opened. We want a file the user chose and a clear error, so we give s2n-tls
//! our own callback. s2n-tls calls it through a C function pointer with a context pointer that
//! must outlive every TLS configuration it is set on; rather than prove that for each config, the
//! file lives in a static for the rest of the process (one key log per process is all qecho needs).

use color_eyre::eyre::{Result, eyre};
use s2n_quic::provider::tls::default::config::Builder as ConfigBuilder;
use s2n_quic::provider::tls::default::ffi::s2n_connection;
use std::ffi::{c_int, c_void};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The environment variable browsers and curl read for the same purpose.
pub const ENV: &str = "SSLKEYLOGFILE";

static FILE: OnceLock<Mutex<File>> = OnceLock::new();

/// An open key log file. It exists only once the file is open, so [`KeyLog::install`] never sets a
/// callback that has nowhere to write.
#[derive(Debug, Clone)]
pub struct KeyLog(());

impl KeyLog {
    /// Opens `path` for appending (created with mode 0600: the secrets decrypt the traffic) and
    /// warns on standard error that secrets go there.
    pub fn open(path: &Path) -> Result<Self> {
        // Say where the name came from: the flag, or the environment the user may have forgotten.
        let from_env = std::env::var_os(ENV).is_some_and(|value| value == path.as_os_str());
        let source = if from_env { ENV } else { "--keylog" };
        if FILE.get().is_none() {
            let mut options = OpenOptions::new();
            options.append(true).create(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(path).map_err(|err| {
                eyre!(
                    "cannot open the key log file {} ({source}): {err}; pass a file you can \
                     write to, or unset {ENV}",
                    path.display()
                )
            })?;
            // Only one key log per process; a second `open` keeps the first file.
            let _ = FILE.set(Mutex::new(file));
        }
        tracing::warn!(
            "{source}: writing TLS secrets to {}: anyone who has this file can decrypt the \
             traffic of these connections; use it for debugging only",
            path.display()
        );
        Ok(Self(()))
    }

    /// Makes the TLS configuration being built write its secrets to the key log.
    pub fn install(&self, config: &mut ConfigBuilder) -> Result<()> {
        // SAFETY: the callback ignores its context pointer (null here) and writes only to FILE, a
        // static that outlives every configuration.
        unsafe { config.set_key_log_callback(Some(write_line), std::ptr::null_mut()) }
            .map(|_| ())
            .map_err(|err| eyre!("cannot turn on key logging: {err}"))
    }
}

/// Called by s2n-tls with one key log line (without newline) each time a secret is derived.
unsafe extern "C" fn write_line(
    _context: *mut c_void,
    _connection: *mut s2n_connection,
    line: *mut u8,
    len: usize,
) -> c_int {
    if line.is_null() {
        return 0;
    }
    // SAFETY: s2n-tls passes a buffer of `len` bytes that stays valid during this call.
    let line = unsafe { std::slice::from_raw_parts(line, len) };
    if let Some(file) = FILE.get()
        && let Ok(mut file) = file.lock()
    {
        // One write per line, so that the lines of concurrent handshakes never interleave. A
        // failed write is ignored: key logging must never break a connection.
        let mut entry = Vec::with_capacity(len + 1);
        entry.extend_from_slice(line);
        entry.push(b'\n');
        let _ = file.write_all(&entry);
    }
    0
}
