//! What a client offered, read from its TLS ClientHello (RFC 8446 section 4.1.2), so that a server
//! can say why a handshake failed: s2n-tls ends a handshake with no common ALPN without saying
//! which protocols the client wanted. The hello comes off the network: every length is checked,
//! and a malformed one gives `None`, never a panic.

/// The application protocols (ALPN, RFC 7301) the client offered, in its order: empty when the
/// hello has no ALPN extension. `payload` is the ClientHello body, without the 4-byte handshake
/// header, in the chunks s2n-quic's `TlsClientHello` event hands over.
pub fn offered_alpns(payload: &[&[u8]]) -> Option<Vec<String>> {
    let hello = payload.concat();
    let mut reader = Reader(&hello);
    reader.skip(2 + 32)?; // legacy_version, random
    reader.vector(1)?; // legacy_session_id
    reader.vector(2)?; // cipher_suites
    reader.vector(1)?; // legacy_compression_methods
    if reader.0.is_empty() {
        return Some(Vec::new()); // no extensions at all
    }
    let mut extensions = Reader(reader.vector(2)?);
    while !extensions.0.is_empty() {
        let kind = extensions.number(2)?;
        let data = extensions.vector(2)?;
        if kind == ALPN_EXTENSION {
            let mut names = Reader(Reader(data).vector(2)?);
            let mut alpns = Vec::new();
            while !names.0.is_empty() {
                alpns.push(String::from_utf8_lossy(names.vector(1)?).into_owned());
            }
            return Some(alpns);
        }
    }
    Some(Vec::new())
}

/// The extension number of application_layer_protocol_negotiation.
const ALPN_EXTENSION: usize = 16;

/// A cursor over TLS's length-prefixed encoding.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.0.get(..len)?;
        self.0 = &self.0[len..];
        Some(bytes)
    }

    fn skip(&mut self, len: usize) -> Option<()> {
        self.take(len).map(|_| ())
    }

    /// A big-endian number of `width` bytes.
    fn number(&mut self, width: usize) -> Option<usize> {
        Some(
            self.take(width)?
                .iter()
                .fold(0, |n, &byte| n << 8 | usize::from(byte)),
        )
    }

    /// A vector whose length comes first, in `width` bytes.
    fn vector(&mut self, width: usize) -> Option<&'a [u8]> {
        let len = self.number(width)?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello body with the given extensions (type, data).
    fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]); // random
        body.extend([1, 0xaa]); // session id
        body.extend([0, 2, 0x13, 0x01]); // one cipher suite
        body.extend([1, 0]); // null compression
        let mut all = Vec::new();
        for (kind, data) in extensions {
            all.extend(kind.to_be_bytes());
            all.extend((data.len() as u16).to_be_bytes());
            all.extend(data);
        }
        body.extend((all.len() as u16).to_be_bytes());
        body.extend(all);
        body
    }

    fn alpn_extension(names: &[&str]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for name in names {
            list.push(name.len() as u8);
            list.extend(name.as_bytes());
        }
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend(list);
        (16, data)
    }

    #[test]
    fn finds_the_offered_protocols_among_other_extensions() {
        let body = hello(&[
            (0, vec![0, 0]),
            alpn_extension(&["quic-echo-example", "h3"]),
            (43, vec![2, 3, 4]),
        ]);
        // However s2n-quic splits it into chunks.
        let (a, b) = body.split_at(40);
        assert_eq!(
            offered_alpns(&[a, b]),
            Some(vec!["quic-echo-example".to_string(), "h3".to_string()])
        );
    }

    #[test]
    fn no_alpn_extension_is_an_empty_offer() {
        assert_eq!(
            offered_alpns(&[&hello(&[(43, vec![2, 3, 4])])]),
            Some(vec![])
        );
        assert_eq!(offered_alpns(&[&hello(&[])]), Some(vec![]));
    }

    #[test]
    fn malformed_hellos_give_none_at_every_cut() {
        let body = hello(&[alpn_extension(&["qecho"])]);
        for cut in 0..body.len() {
            // Cut inside the ALPN extension or before: never a panic, never a wrong list.
            let got = offered_alpns(&[&body[..cut]]);
            assert!(got.is_none() || got == Some(vec![]), "cut {cut}: {got:?}");
        }
        let mut lying = body.clone();
        let last = lying.len() - 6; // the length byte of "qecho"
        lying[last] = 200;
        assert_eq!(offered_alpns(&[&lying]), None);
    }
}
