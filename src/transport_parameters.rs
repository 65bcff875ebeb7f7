//! QUIC transport parameters as they travel (RFC 9000, section 18): a list of (id, length,
//! value) entries in variable-length integers. `probe` reads a server's from its TLS
//! EncryptedExtensions; qlog traces read both ends' (see `tls/watch.rs`).

/// Transport parameter ids (RFC 9000 section 18.2; RFC 9221 for max_datagram_frame_size).
pub mod id {
    pub const ORIGINAL_DESTINATION_CONNECTION_ID: u64 = 0x00;
    pub const MAX_IDLE_TIMEOUT: u64 = 0x01;
    pub const STATELESS_RESET_TOKEN: u64 = 0x02;
    pub const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    pub const INITIAL_MAX_DATA: u64 = 0x04;
    pub const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
    pub const INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: u64 = 0x06;
    pub const INITIAL_MAX_STREAM_DATA_UNI: u64 = 0x07;
    pub const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
    pub const INITIAL_MAX_STREAMS_UNI: u64 = 0x09;
    pub const ACK_DELAY_EXPONENT: u64 = 0x0a;
    pub const MAX_ACK_DELAY: u64 = 0x0b;
    pub const DISABLE_ACTIVE_MIGRATION: u64 = 0x0c;
    pub const PREFERRED_ADDRESS: u64 = 0x0d;
    pub const ACTIVE_CONNECTION_ID_LIMIT: u64 = 0x0e;
    pub const INITIAL_SOURCE_CONNECTION_ID: u64 = 0x0f;
    pub const RETRY_SOURCE_CONNECTION_ID: u64 = 0x10;
    pub const MAX_DATAGRAM_FRAME_SIZE: u64 = 0x20;
}

/// A QUIC variable-length integer (RFC 9000, section 16) from the front of `bytes`.
pub fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let first = *bytes.first()?;
    let len = 1usize << (first >> 6);
    let raw = bytes.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for byte in &raw[1..] {
        value = (value << 8) | u64::from(*byte);
    }
    *bytes = &bytes[len..];
    Some(value)
}

/// The (id, value) entries of an encoded list; `None` if it is malformed.
pub fn entries(mut bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let id = varint(&mut bytes)?;
        let len = usize::try_from(varint(&mut bytes)?).ok()?;
        let value = bytes.get(..len)?;
        bytes = &bytes[len..];
        entries.push((id, value));
    }
    Some(entries)
}

/// An integer parameter's value.
pub fn number(mut value: &[u8]) -> Option<u64> {
    varint(&mut value)
}

/// The value of parameter `wanted` in an encoded list.
pub fn find(bytes: &[u8], wanted: u64) -> Option<&[u8]> {
    entries(bytes)?
        .into_iter()
        .find_map(|(id, value)| (id == wanted).then_some(value))
}
