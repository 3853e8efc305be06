//! efm-blocking
pub mod asic_stream;
pub mod clock;
pub mod credentials;
pub mod http_server;
pub mod local_broker;
pub mod local_dpi;
pub mod local_registry;
pub mod local_service;
pub mod local_service_bus;
pub mod maskinporten;
pub mod outbound;
pub mod payloads;
pub mod registry_client;
pub mod serve;
pub mod staged_body;
pub mod tls;
pub mod workers;
