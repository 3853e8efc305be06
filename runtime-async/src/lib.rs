//! efm-async: the integration point on smol. Connections are tasks on one executor,
//! running core's HTTP framing over `smol::net` sockets; the node and the store are
//! the same as the blocking runtime's ([`efm_blocking::serve::Api`]), called through
//! `smol::unblock` because SQLite and the outbound HTTP client block.

pub mod serve;
