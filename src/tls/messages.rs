//! TLS 1.3 handshake messages (RFC 8446, section 4) as the TLS watch (`watch.rs`) reads them:
//! their types, the certificates of a Certificate message, and an extension of
//! EncryptedExtensions (QUIC's transport parameters).

/// TLS 1.3 handshake message types (RFC 8446, section 4) that we read.
pub(super) const ENCRYPTED_EXTENSIONS: u8 = 8;
pub(super) const CERTIFICATE_REQUEST: u8 = 13;
pub(super) const CERTIFICATE: u8 = 11;

/// The TLS extension that carries QUIC's transport parameters (RFC 9001, section 8.2).
pub(super) const QUIC_TRANSPORT_PARAMETERS: u16 = 0x39;

/// A 3-byte big-endian length, as TLS writes them.
pub(super) fn u24(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take(3)
        .fold(0, |len, &byte| (len << 8) | usize::from(byte))
}

/// The certificates (DER) of a Certificate message's body (RFC 8446, section 4.4.2), leaf
/// first; as many as could be read.
pub(super) fn certificate_chain(body: &[u8]) -> Vec<&[u8]> {
    let mut chain = Vec::new();
    let Some(context_len) = body.first().map(|len| usize::from(*len)) else {
        return chain;
    };
    let mut list = body.get(1 + context_len + 3..).unwrap_or_default();
    // Each entry: a 3-byte length and the certificate, a 2-byte length and its extensions.
    while let Some(len) = list.get(..3).map(u24) {
        let Some(der) = list.get(3..3 + len).filter(|der| !der.is_empty()) else {
            break;
        };
        chain.push(der);
        let rest = &list[3 + len..];
        let Some(extensions) = rest
            .get(..2)
            .map(|n| usize::from(u16::from_be_bytes([n[0], n[1]])))
        else {
            break;
        };
        list = rest.get(2 + extensions..).unwrap_or_default();
    }
    chain
}

/// The body of extension `wanted` in an EncryptedExtensions message's body (RFC 8446, 4.3.1).
pub(super) fn extension(body: &[u8], wanted: u16) -> Option<&[u8]> {
    let total = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut list = body.get(2..2 + total)?;
    while list.len() >= 4 {
        let kind = u16::from_be_bytes([list[0], list[1]]);
        let len = usize::from(u16::from_be_bytes([list[2], list[3]]));
        let data = list.get(4..4 + len)?;
        if kind == wanted {
            return Some(data);
        }
        list = &list[4 + len..];
    }
    None
}

/// Test helpers: handshake messages as a server would send them.
#[cfg(test)]
pub(super) mod build {
    /// A Certificate message body holding `certs`, as a server would send it.
    pub(in crate::tls) fn certificate_body(certs: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for cert in certs {
            list.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(cert);
            list.extend_from_slice(&[0, 0]); // no extensions
        }
        let mut body = vec![0]; // empty request context
        body.extend_from_slice(&(list.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(&list);
        body
    }

    pub(in crate::tls) fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut message = vec![kind];
        message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        message.extend_from_slice(body);
        message
    }
}

#[cfg(test)]
mod tests {
    use super::build::certificate_body;
    use super::*;

    #[test]
    fn reads_the_whole_chain_and_the_transport_parameters() {
        let body = certificate_body(&[b"leaf", b"intermediate", b"root"]);
        assert_eq!(
            certificate_chain(&body),
            vec![&b"leaf"[..], b"intermediate", b"root"]
        );
        assert!(certificate_chain(&[]).is_empty());
        // EncryptedExtensions: ALPN (16), then quic_transport_parameters (0x39).
        let extensions = [0, 16, 0, 3, 2, b'h', b'3', 0, 0x39, 0, 2, 0x08, 0x01];
        let mut body = (extensions.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&extensions);
        assert_eq!(
            extension(&body, QUIC_TRANSPORT_PARAMETERS),
            Some(&[0x08, 0x01][..])
        );
        assert_eq!(extension(&body, 0x1234), None);
        assert_eq!(extension(&body[..5], QUIC_TRANSPORT_PARAMETERS), None);
    }
}
