//! The address the REST API listens on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::expected::Expected;

const SHAPE: &str = "an address like 127.0.0.1:9093";

/// Parses `host:port` where host is an IP address or `localhost` (read as 127.0.0.1:
/// resolving names is IO, and the only name worth accepting here is loopback).
pub fn parse_listen(s: &str) -> Result<SocketAddr, Expected> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) =
            rest.split_once(']').ok_or_else(|| Expected::because(SHAPE, "unclosed ["))?;
        let port = after.strip_prefix(':').ok_or_else(|| Expected::because(SHAPE, "no port"))?;
        (v6, port)
    } else {
        s.rsplit_once(':').ok_or_else(|| Expected::because(SHAPE, "no port"))?
    };
    let port = parse_port(port).map_err(|why| Expected::because(SHAPE, why))?;
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .map_err(|_| Expected::because(SHAPE, "the host must be an IP address or localhost"))?
    };
    Ok(SocketAddr::new(ip, port))
}

/// A TCP port, 0 to 65535 (0 asks the OS for a free port, which test harnesses use).
pub fn parse_port(s: &str) -> Result<u16, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a number");
    }
    s.parse().map_err(|_| "port out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_listen("127.0.0.1:9093").unwrap().to_string(), "127.0.0.1:9093");
        assert_eq!(parse_listen("localhost:80").unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(parse_listen("[::1]:9093").unwrap().to_string(), "[::1]:9093");
        assert_eq!(parse_listen("0.0.0.0:0").unwrap().port(), 0);
        assert_eq!(
            parse_listen("localhost:99999").unwrap_err().0,
            "an address like 127.0.0.1:9093 (port out of range)"
        );
        for bad in ["", "9093", "host:9093", "[::1]", "[::1]9093", "1.2.3.4:", "1.2.3.4:-1"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }
}
