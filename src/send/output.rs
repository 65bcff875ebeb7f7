//! What `send` prints. Ping-style text by default, or with `--json` one JSON object per line;
//! `-q` keeps only the summary. In pipe mode standard output carries the echoed data, so
//! everything else goes to standard error.

use super::Session;
use serde_json::{Value, json};
use std::io::Write;

pub struct Output {
    json: bool,
    quiet: bool,
    /// Standard output is taken by data (pipe mode).
    stdout_is_data: bool,
    /// Whether the connection resumed a session, for every JSON summary.
    resumed: std::cell::Cell<bool>,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            quiet,
            stdout_is_data: false,
            resumed: std::cell::Cell::new(false),
        }
    }

    /// The same output with per-event lines off (as with `-q`): summaries still print.
    pub fn without_events(&self) -> Output {
        Output {
            json: self.json,
            quiet: true,
            stdout_is_data: self.stdout_is_data,
            resumed: std::cell::Cell::new(self.resumed.get()),
        }
    }

    /// From now on, print to standard error: standard output carries data.
    pub fn for_pipe(&mut self) {
        self.stdout_is_data = true;
    }

    fn print(&self, line: &str) {
        if self.stdout_is_data {
            eprintln!("{line}");
        } else {
            // A closed stdout (`| head`) is not worth a panic: the results just go nowhere.
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    pub fn connected(&self, session: &Session) {
        self.resumed.set(session.resumed);
        if self.quiet {
            return;
        }
        if self.json {
            self.print(
                &json!({
                    "type": "connected",
                    "remote": session.remote.to_string(),
                    "local": session.local.to_string(),
                    "alpn": session.alpn,
                    "server_name": session.server_name,
                    "handshake_ms": session.handshake.as_secs_f64() * 1000.0,
                    "resumed": session.resumed,
                    "full_handshake_ms": session.full_handshake.map(|full| full.as_secs_f64() * 1000.0),
                    "server_certificate": session.server_certificate.map(|c| c.to_string()),
                })
                .to_string(),
            );
        } else {
            self.print(&super::connected_line(session));
        }
    }

    /// A per-event line (an echo, a loss): `text` for people, `value` for `--json`.
    pub fn event(&self, text: impl FnOnce() -> String, value: impl FnOnce() -> Value) {
        if self.quiet {
            return;
        }
        if self.json {
            self.print(&value().to_string());
        } else {
            self.print(&text());
        }
    }

    /// The closing summary: printed even with `-q`. Its JSON says whether the connection
    /// resumed, unless it says so itself (connections mode).
    pub fn summary(&self, text: impl FnOnce() -> String, value: impl FnOnce() -> Value) {
        if self.json {
            let mut value = value();
            if let Some(summary) = value.as_object_mut() {
                summary
                    .entry("resumed")
                    .or_insert(json!(self.resumed.get()));
            }
            self.print(&value.to_string());
        } else {
            self.print(&text());
        }
    }
}
