//! The message services' wire formats as values: request builders that return
//! [`HttpRequest`](crate::node::HttpRequest)s and parsers that read answers, for
//! DPO (Altinn 3 Broker and its `sbd.zip` parcel), DPV (Altinn 3 Correspondence), DPE
//! (Azure Service Bus REST) and DPF (KS FIKS: SvarUt's SOAP web service, SvarInn's REST API).
//!
//! Nothing here sends anything or keeps state between calls: the node decides when to
//! call, the runtime carries the requests out, and large bodies (the parcel, a
//! download) are streamed by the runtime through [`dpo_parcel`] without passing through
//! these functions whole.

pub mod altinn_broker;
pub mod correspondence;
pub mod dpi;
pub mod dpo_parcel;
pub mod failure;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod percent;
pub mod service_bus;
pub mod svarinn;
pub mod svarut;

pub use failure::{Failure, classify};

/// Reads a JSON object into `T`. Going through a map first keeps serde from also
/// accepting a JSON array as the struct's fields in order, which no service sends.
fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)?;
    serde_json::from_value(serde_json::Value::Object(map))
}
