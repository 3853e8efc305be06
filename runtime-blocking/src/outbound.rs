//! The HTTP client every outbound call of this runtime uses: statuses are answers
//! to read, not errors, and every call is bounded in time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// For short calls (tokens, registry lookups): 5 s to connect, 35 s in all.
pub const SHORT: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(35));

/// For payload transfers, which may be large: 10 s to connect, 10 minutes in all.
pub const TRANSFER: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(600));

/// A client with `(connect, global)` timeouts that hands back 4xx/5xx answers.
pub fn agent((connect, global): (Duration, Duration)) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_global(Some(global))
        .build();
    with_resolver(config)
}

/// As [`agent`], keeping up to `idle` idle connections, `idle_per_host` of them to
/// one service: for a pool of workers that talk to the same few services at once.
pub fn pooled_agent(
    (connect, global): (Duration, Duration),
    idle: usize,
    idle_per_host: usize,
) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_global(Some(global))
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle_per_host)
        .build();
    with_resolver(config)
}

fn with_resolver(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(config, DefaultConnector::default(), LiteralFirst::default())
}

/// ureq resolves the host of every request, pooled connection or not, and with a
/// time limit set its resolver starts a thread for each lookup so that it can give
/// up on a slow DNS. An address written as an IP (the local services, many
/// in-house deployments) needs no lookup: it is read here, with no thread. A name
/// goes to ureq's own resolver as before.
#[derive(Debug, Default)]
struct LiteralFirst {
    names: DefaultResolver,
}

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            Some(addr) => {
                let mut found = self.empty();
                found.push(addr);
                Ok(found)
            }
            None => self.names.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URI whose host is an IP address (IPv6 in brackets).
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = match (authority.port_u16(), uri.scheme_str()) {
        (Some(p), _) => p,
        (None, Some("http")) => 80,
        (None, Some("https")) => 443,
        (None, _) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(uri: &str) -> Option<SocketAddr> {
        literal(&uri.parse::<Uri>().expect("a URI"))
    }

    #[test]
    fn ip_hosts_are_read_without_a_lookup() {
        assert_eq!(addr("http://127.0.0.1:8080/x"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(addr("https://10.0.0.1/x"), Some("10.0.0.1:443".parse().unwrap()));
        assert_eq!(addr("http://[::1]/x"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(addr("http://[::1]:9/x"), Some("[::1]:9".parse().unwrap()));
    }

    #[test]
    fn names_and_unknown_schemes_are_left_to_the_lookup() {
        assert_eq!(addr("http://localhost:8080/x"), None);
        assert_eq!(addr("https://platform.altinn.no/x"), None);
        assert_eq!(addr("ftp://127.0.0.1/x"), None);
    }

    #[test]
    fn an_agent_reaches_a_listener_by_its_ip() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let served = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().expect("a connection");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).expect("a request");
            s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .expect("an answer");
        });
        let answer =
            agent(SHORT).get(format!("http://127.0.0.1:{port}/")).call().expect("an answer");
        assert_eq!(answer.status().as_u16(), 204);
        served.join().expect("the listener");
    }
}
