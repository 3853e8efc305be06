//! Fuzz entry points for the registry answer parsers: any bytes must give a value or an
//! error, never a panic.

use super::answer::{classify, parse_identifier_resource, parse_virksert};
use super::capabilities::capabilities;

pub fn registry_json(data: &[u8]) {
    if let Ok(resource) = parse_identifier_resource(data) {
        let caps = capabilities(&resource.service_records);
        let _ = serde_json::to_string(&caps);
        for r in &resource.service_records {
            let _ = r.pem_certificate();
        }
    }
    let status = data.first().map_or(200, |b| 200 + u16::from(*b) * 2);
    let _ = classify(status, Some("application/json"), data);
    let _ = parse_virksert(data);
}

#[cfg(test)]
mod tests {
    /// Replays the committed seed corpus (the fuzz crate needs libFuzzer; this does not).
    #[test]
    fn seed_corpus_replays() {
        for seed in [
            &include_bytes!("../../../fuzz/corpus/registry_json/org_dpo.json")[..],
            include_bytes!("../../../fuzz/corpus/registry_json/citizen_dpi.json"),
            include_bytes!("../../../fuzz/corpus/registry_json/error.json"),
            b"",
            b"{\"serviceRecords\":[{\"service\":{\"identifier\":7}}]}",
        ] {
            super::registry_json(seed);
        }
    }
}
