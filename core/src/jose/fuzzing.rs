//! Fuzz entry point for the compact JWS and JWK set parsers.

use super::jwk::JwkSet;
use super::jws::CompactJws;

pub fn jws(data: &[u8]) {
    if let Ok(jws) = std::str::from_utf8(data).map(CompactJws::parse) {
        let _ = jws.map(|j| j.kid().map(str::len));
    }
    if let Ok(set) = JwkSet::parse(data) {
        for k in &set.keys {
            let _ = k.thumbprint();
        }
        let _ = set.to_json();
    }
}

#[cfg(test)]
mod tests {
    /// Replays the committed seed corpus (the fuzz crate needs libFuzzer; this does not).
    #[test]
    fn seed_corpus_replays() {
        for seed in [
            &include_bytes!("../../../fuzz/corpus/jws_parse/rs256_kid.txt")[..],
            include_bytes!("../../../fuzz/corpus/jws_parse/alg_none.txt"),
            include_bytes!("../../../fuzz/corpus/jws_parse/jwks.json"),
            b"..",
            b"\xff.\xfe.\xfd",
        ] {
            super::jws(seed);
        }
    }
}
