//! The HTTP client every outbound call of this runtime uses: statuses are answers
//! to read, not errors, and every call is bounded in time.

use std::time::Duration;

/// For short calls (tokens, registry lookups): 5 s to connect, 35 s in all.
pub const SHORT: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(35));

/// For payload transfers, which may be large: 10 s to connect, 10 minutes in all.
pub const TRANSFER: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(600));

/// A client with `(connect, global)` timeouts that hands back 4xx/5xx answers.
pub fn agent((connect, global): (Duration, Duration)) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_global(Some(global))
        .build()
        .into()
}

/// As [`agent`], keeping up to `idle` idle connections, `idle_per_host` of them to
/// one service: for a pool of workers that talk to the same few services at once.
pub fn pooled_agent(
    (connect, global): (Duration, Duration),
    idle: usize,
    idle_per_host: usize,
) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_global(Some(global))
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle_per_host)
        .build()
        .into()
}
