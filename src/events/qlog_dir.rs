//! Where qlog traces go (`--qlog DIR`): the directory, checked at start, and the bound on traces
//! open at once, so that a flood of connections cannot exhaust file descriptors or memory; each
//! trace's file, created new (never over an old one) and buffered.

use super::qlog::Trace;
use super::qlog_model::hex;
use crate::tls::ParameterBook;
use color_eyre::eyre::{Result, eyre};
use qlog::events::EventImportance;
use qlog::streamer::QlogStreamer;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// At most this many traces are open at once (a file descriptor and a buffer each).
const MAX_OPEN_TRACES: usize = 1000;

/// Each trace's write buffer.
const BUFFER: usize = 64 * 1024;

/// Where traces go, shared by all connections of an endpoint.
#[derive(Debug, Clone)]
pub struct QlogDir {
    dir: PathBuf,
    /// `MAX_OPEN_TRACES`, but in the unit test.
    bound: usize,
    open: Arc<AtomicUsize>,
    warned: Arc<AtomicBool>,
    book: ParameterBook,
}

impl QlogDir {
    /// Creates `dir` if need be and checks that files can be written in it: a directory that
    /// cannot be used is an error at start, not a silent loss of every trace.
    pub fn new(dir: &Path) -> Result<Self> {
        let shown = dir.display();
        std::fs::create_dir_all(dir).map_err(|err| {
            eyre!("--qlog {shown}: cannot create the directory: {err}; pick one you can write to")
        })?;
        let probe = dir.join(format!(".qecho-write-test-{}", std::process::id()));
        File::create(&probe).map_err(|err| {
            eyre!(
                "--qlog {shown}: cannot write in this directory: {err}; pick one you can write to"
            )
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(Self {
            dir: dir.to_path_buf(),
            bound: MAX_OPEN_TRACES,
            open: Arc::default(),
            warned: Arc::default(),
            book: ParameterBook::default(),
        })
    }

    /// How many traces are open now.
    #[cfg(test)]
    pub(super) fn open_traces(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Where the TLS watch records each connection's transport parameters for its trace.
    pub fn book(&self) -> ParameterBook {
        self.book.clone()
    }

    /// A trace for the connection whose original destination connection ID is `odcid`; none past
    /// the bound, or if the file cannot be created (with a warning).
    pub fn open(&self, odcid: &[u8], server: bool) -> Option<Trace> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.bound {
            self.open.fetch_sub(1, Ordering::AcqRel);
            if !self.warned.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    "--qlog: {} traces are open; new connections are not traced until some \
                     close",
                    self.bound
                );
            }
            return None;
        }
        self.warned.store(false, Ordering::Release);
        let vantage = if server { "server" } else { "client" };
        let path = self.dir.join(format!("{}_{vantage}.sqlog", hex(odcid)));
        let file = match File::create_new(&path) {
            Ok(file) => TraceFile(Arc::new(Mutex::new(BufWriter::with_capacity(BUFFER, file)))),
            Err(err) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!("--qlog: cannot create {}: {err}", path.display());
                return None;
            }
        };
        let vantage_point = qlog::VantagePoint {
            name: Some(format!("qecho {vantage}")),
            ty: match server {
                true => qlog::VantagePointType::Server,
                false => qlog::VantagePointType::Client,
            },
            flow: None,
        };
        let trace = qlog::TraceSeq::new(vantage_point, None, None, None, None);
        let started = Instant::now();
        let mut streamer = QlogStreamer::new(
            qlog::QLOG_VERSION.to_string(),
            Some(format!("qecho {vantage} {}", hex(odcid))),
            None,
            None,
            started,
            trace,
            EventImportance::Extra,
            Box::new(file.clone()),
        );
        if streamer.start_log().is_err() {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Trace::new(streamer, file, self.open.clone()))
    }
}

/// A trace's buffered file.
#[derive(Clone)]
pub(super) struct TraceFile(Arc<Mutex<BufWriter<File>>>);

impl Write for TraceFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the bound, no trace (and no file) for new connections; a closed one makes room.
    #[test]
    fn past_the_bound_new_connections_are_not_traced() {
        let dir = std::env::temp_dir().join(format!("qecho-qlog-bound-{}", std::process::id()));
        let mut qlog = QlogDir::new(&dir).unwrap_or_else(|err| panic!("{err}"));
        qlog.bound = 2;
        let first = qlog.open(&[1; 8], false);
        let second = qlog.open(&[2; 8], false);
        assert!(first.is_some() && second.is_some());
        assert!(
            qlog.open(&[3; 8], false).is_none(),
            "the third is past the bound"
        );
        if let Some(first) = &first {
            first.closed("done".to_string(), false);
        }
        assert!(
            qlog.open(&[4; 8], false).is_some(),
            "a closed trace made room"
        );
        let files = std::fs::read_dir(&dir)
            .map(|entries| entries.count())
            .unwrap_or(0);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(files, 3, "no file for the untraced connection");
    }
}
