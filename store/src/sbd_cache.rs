//! Parsed SBDs by their stored JSON text.
//!
//! The node reads the same rows again and again: an outgoing message at each of
//! its uploads, at its send and at its delivery; an incoming one at every peek
//! that finds it among the candidates. Parsing its SBD (JSON into a tree, the tree
//! into the model, the model checked) cost more than the rest of the read. A parse
//! is a function of the text and the form it is read in, so an answer kept under
//! the exact text is the answer a new parse would give, and nothing needs to be
//! invalidated: a changed row has a different text.
//!
//! Bounded by two generations: when the young one is full the old one is dropped
//! and the young one takes its place, so an entry in use keeps being promoted and
//! at most `2 * GENERATION` entries are held.

use std::collections::HashMap;

use efm_core::sbd::{Sbd, SbdError};

/// Entries per generation. An SBD is 1-2 KB of text and about as much parsed.
const GENERATION: usize = 1024;

/// Which of the core's readers a stored text is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// As the node created it (`Sbd::from_json`): outgoing messages, status replies.
    Created,
    /// As another integration point sent it (`Sbd::from_json_received`).
    Received,
}

#[derive(Default)]
pub(crate) struct SbdCache {
    created: Generations,
    received: Generations,
}

impl SbdCache {
    /// The SBD `text` reads as, parsed now or earlier. Errors are not kept: a
    /// stored text that does not read back is an error every time, and rare.
    pub(crate) fn parse(&mut self, form: Form, text: &str) -> Result<Sbd, SbdError> {
        let generations = match form {
            Form::Created => &mut self.created,
            Form::Received => &mut self.received,
        };
        if let Some(sbd) = generations.get(text) {
            return Ok(sbd);
        }
        let sbd = match form {
            Form::Created => Sbd::from_json(text.as_bytes()),
            Form::Received => Sbd::from_json_received(text.as_bytes()),
        }?;
        generations.insert(text, sbd.clone());
        Ok(sbd)
    }
}

#[derive(Default)]
struct Generations {
    young: HashMap<Box<str>, Sbd>,
    old: HashMap<Box<str>, Sbd>,
}

impl Generations {
    fn get(&mut self, text: &str) -> Option<Sbd> {
        if let Some(sbd) = self.young.get(text) {
            return Some(sbd.clone());
        }
        let (key, sbd) = self.old.remove_entry(text)?;
        let found = sbd.clone();
        self.insert_owned(key, sbd);
        Some(found)
    }

    fn insert(&mut self, text: &str, sbd: Sbd) {
        self.insert_owned(text.into(), sbd);
    }

    fn insert_owned(&mut self, text: Box<str>, sbd: Sbd) {
        if self.young.len() >= GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(text, sbd);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sbd_text(n: usize) -> String {
        let id = format!("{n:08}-0000-4000-8000-000000000000");
        serde_json::json!({
            "standardBusinessDocumentHeader": {
                "headerVersion": "1.0",
                "sender": [{ "identifier": { "authority": "iso6523-actorid-upis", "value": "0192:910077473" } }],
                "receiver": [{ "identifier": { "authority": "iso6523-actorid-upis", "value": "0192:910075918" } }],
                "documentIdentification": {
                    "standard": "urn:no:difi:arkivmelding:xsd::arkivmelding",
                    "typeVersion": "2.0",
                    "instanceIdentifier": id,
                    "type": "arkivmelding",
                    "creationDateAndTime": "2026-11-24T00:00:00+01:00"
                },
                "businessScope": { "scope": [{
                    "type": "ConversationId",
                    "instanceIdentifier": id,
                    "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
                    "scopeInformation": [{ "expectedResponseDateTime": "2026-11-25T00:00:00+01:00" }]
                }] }
            },
            "arkivmelding": { "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 }
        })
        .to_string()
    }

    #[test]
    fn a_cached_answer_is_the_parse_of_the_same_text() {
        let mut cache = SbdCache::default();
        let text = sbd_text(1);
        let first = cache.parse(Form::Created, &text).expect("an SBD");
        assert_eq!(first, Sbd::from_json(text.as_bytes()).expect("an SBD"));
        let again = cache.parse(Form::Created, &text).expect("an SBD");
        assert_eq!(again, first);
        // Another text is another answer, not the cached one.
        let other = cache.parse(Form::Created, &sbd_text(2)).expect("an SBD");
        assert_ne!(other, first);
    }

    #[test]
    fn errors_are_errors_every_time() {
        let mut cache = SbdCache::default();
        assert!(cache.parse(Form::Received, "{}").is_err());
        assert!(cache.parse(Form::Received, "{}").is_err());
        assert_eq!(cache.received.len(), 0);
    }

    #[test]
    fn at_most_two_generations_are_held_and_a_used_entry_survives() {
        let mut cache = SbdCache::default();
        let kept = sbd_text(0);
        let expected = cache.parse(Form::Received, &kept).expect("an SBD");
        for n in 1..=3 * GENERATION {
            cache.parse(Form::Received, &sbd_text(n)).expect("an SBD");
            if n % (GENERATION / 2) == 0 {
                assert_eq!(cache.parse(Form::Received, &kept).expect("an SBD"), expected);
            }
        }
        assert!(cache.received.len() <= 2 * GENERATION, "{}", cache.received.len());
        assert!(
            cache.received.young.contains_key(kept.as_str())
                || cache.received.old.contains_key(kept.as_str())
        );
    }
}
