//! Each connection's transport parameters as its TLS handshake carries them, for the qlog traces:
//! s2n-quic's event for the peer's parameters leaves some out (initial_max_data among them), has
//! none for our own, and a server has no event that names the connection's original destination
//! connection ID, which names its trace file. The TLS watch (`watch.rs`) sees them all: a server
//! session is given its own parameters (ODCID included) with the client's address; a client's
//! watch reads the server's, ODCID included, from its EncryptedExtensions. The event subscriber
//! picks them up, by the client's address on a server and by the ODCID on a client.

use crate::transport_parameters::{find, id};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Entries not picked up (a handshake that never became a connection) are bounded.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// On a server: the client's address.
    Client(SocketAddr),
    /// On a client: the connection's original destination connection ID.
    Odcid(Vec<u8>),
}

/// One connection's parameters, encoded as they travel.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub odcid: Option<Vec<u8>>,
    pub local: Option<Vec<u8>>,
    pub remote: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct ParameterBook(Arc<Mutex<HashMap<Key, Entry>>>);

impl ParameterBook {
    /// A server session's own parameters, for the client at `client`.
    pub fn server_session(&self, client: SocketAddr, local: Vec<u8>) {
        let odcid = find(&local, id::ORIGINAL_DESTINATION_CONNECTION_ID).map(<[u8]>::to_vec);
        let entry = Entry {
            odcid,
            local: Some(local),
            remote: None,
        };
        self.record(Key::Client(crate::events::canonical(client)), entry);
    }

    /// A client session's own parameters and the server's, once its EncryptedExtensions came.
    pub fn client_session(&self, local: Vec<u8>, remote: Vec<u8>) {
        let Some(odcid) = find(&remote, id::ORIGINAL_DESTINATION_CONNECTION_ID) else {
            return;
        };
        let entry = Entry {
            odcid: Some(odcid.to_vec()),
            local: Some(local),
            remote: Some(remote.clone()),
        };
        self.record(Key::Odcid(odcid.to_vec()), entry);
    }

    fn record(&self, key: Key, entry: Entry) {
        let mut book = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if book.len() >= MAX_ENTRIES {
            book.clear();
        }
        book.insert(key, entry);
    }

    pub fn take(&self, key: &Key) -> Option<Entry> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
    }
}
