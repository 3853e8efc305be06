//! Absolute http(s) URLs for the services efm calls.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::expected::Expected;

/// An absolute `http` or `https` URL with a host, checked when the config is read so
/// that a typo fails at start-up rather than at the first registry lookup.
///
/// This is a syntax check of the parts efm relies on (scheme, host, port, no spaces),
/// not a full RFC 3986 parser; the HTTP client parses the URL again when it is used.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    text: String,
    https: bool,
}

const SHAPE: &str = "an http(s) URL like https://example.no/path";

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// For the embedded defaults, which the tests parse too.
    pub(crate) fn known(text: &'static str) -> Self {
        HttpUrl { text: text.to_owned(), https: text.starts_with("https:") }
    }
}

impl FromStr for HttpUrl {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Expected> {
        HttpUrl::parse_as(s, SHAPE)
    }
}

impl HttpUrl {
    /// Parses `s`; an error says that `shape` was expected, and why `s` is not it.
    pub(crate) fn parse_as(s: &str, shape: &str) -> Result<Self, Expected> {
        let bad = |why: &dyn fmt::Display| Expected::because(shape, why);
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(&"contains whitespace"));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad(&"no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad(&format_args!("scheme {scheme}"))),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.contains('@') {
            return Err(bad(&"credentials in the URL"));
        }
        let (host, port) = split_host_port(authority).map_err(|why| bad(&why))?;
        check_host(host).map_err(|why| bad(&why))?;
        if let Some(port) = port {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => return Err(bad(&format_args!("bad port {port}"))),
            }
        }
        Ok(HttpUrl { text: s.to_owned(), https })
    }
}

/// Why an authority is malformed, for [`Expected::because`].
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']').ok_or("unclosed [")?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("bad IPv6 address {v6}"));
        }
        return match after {
            "" => Ok((authority, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((&authority[..v6.len() + 2], Some(port))),
                None => Err("junk after ]".to_owned()),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    if host.starts_with('[') {
        return Ok(());
    }
    let ok = host.split('.').all(|label| {
        !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !ok {
        return Err(format!("bad host {host}"));
    }
    Ok(())
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls() {
        for good in [
            "https://test.eformidling.no/adressetjeneste",
            "http://127.0.0.1:8080",
            "http://[::1]:9099/sr?x=1",
            "HTTPS://mocks:8001/dpe",
        ] {
            assert!(good.parse::<HttpUrl>().is_ok(), "{good}");
        }
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "",
            "test.eformidling.no",
            "ftp://x.no",
            "https://",
            "https://a b.no",
            "https://x.no:0",
            "https://x.no:99999",
            "https://user:pw@x.no",
            "https://[::1",
            "https://[zz]/",
            "https://x..no",
        ] {
            assert!(bad.parse::<HttpUrl>().is_err(), "{bad}");
        }
    }
}
