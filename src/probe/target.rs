//! What the user typed as a target, read as a host and a port: `HOST`, `HOST:PORT`,
//! `[IPv6]:PORT`, a bare IPv6 address, or a URL `https://HOST[:PORT]/...`; port 443, HTTP/3's,
//! when none is given.

use color_eyre::eyre::{Result, eyre};
use std::io::BufRead;
use std::path::Path;

const DEFAULT_PORT: u16 = 443;

/// One target: as typed, and as `HOST:PORT` for `send`'s resolver.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub text: String,
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            eyre!(
                "'{text}' is not a probe target: {why}; expected HOST, HOST:PORT, [IPv6]:PORT or \
                 https://HOST[:PORT]/, such as cloudflare-quic.com or 127.0.0.1:9999"
            )
        };
        let trimmed = text.trim();
        let rest = match trimmed.split_once("://") {
            Some(("https" | "HTTPS", rest)) => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "a {scheme}:// URL names no QUIC server; use https://"
                )));
            }
            None => trimmed,
        };
        // The authority of a URL ends at its path, query or fragment; user info is dropped.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(bad("the host is missing"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address's closing ']' is missing"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(bad("expected ':PORT' after ']'")),
                },
            }
        } else if authority.matches(':').count() > 1 {
            // More than one colon and no brackets: a bare IPv6 address, no port.
            (authority, None)
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| bad(&format!("'{port}' is not a port number (1-65535)")))?,
        };
        Ok(Self {
            text: trimmed.to_string(),
            host: host.to_string(),
            port,
        })
    }

    /// `HOST:PORT`, with an IPv6 host in brackets, as `send`'s resolver reads it.
    pub fn host_port(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }
}

/// The targets of the command line and of `-f FILE` (`-` for standard input), in that order.
pub fn all(arguments: &[String], file: Option<&Path>) -> Result<Vec<Target>> {
    let mut texts: Vec<String> = arguments.to_vec();
    if let Some(path) = file {
        texts.extend(read_lines(path)?);
    }
    if texts.is_empty() {
        return Err(eyre!(
            "no target to probe: name one or more (qecho probe example.com 127.0.0.1:9999), or \
             give a file of them with -f FILE"
        ));
    }
    texts.iter().map(|text| Target::parse(text)).collect()
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let shown = path.display();
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(path).map_err(|err| eyre!("-f {shown}: cannot open it: {err}"))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut lines = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(|err| eyre!("-f {shown}: cannot read it: {err}"))?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            lines.push(line.to_string());
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn parsed(text: &str) -> (String, u16) {
        let target = Target::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        (target.host, target.port)
    }

    #[test]
    fn every_form_of_target() {
        assert_eq!(parsed("example.com"), ("example.com".into(), 443));
        assert_eq!(parsed("example.com:4433"), ("example.com".into(), 4433));
        assert_eq!(parsed("127.0.0.1:9999"), ("127.0.0.1".into(), 9999));
        assert_eq!(parsed("[::1]:9999"), ("::1".into(), 9999));
        assert_eq!(parsed("[::1]"), ("::1".into(), 443));
        assert_eq!(parsed("::1"), ("::1".into(), 443));
        assert_eq!(parsed("https://example.com/"), ("example.com".into(), 443));
        assert_eq!(
            parsed("https://example.com:8443/path?q=1"),
            ("example.com".into(), 8443)
        );
        assert_eq!(
            parsed("https://[2001:db8::1]:444/x"),
            ("2001:db8::1".into(), 444)
        );
        assert_eq!(Target::parse("[::1]:9").unwrap().host_port(), "[::1]:9");
        for bad in [
            "",
            "http://example.com/",
            "example.com:0",
            "example.com:http",
            "[::1",
            ":443",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }
}
