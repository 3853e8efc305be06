//! Entry points for the fuzz targets `zip_read` and `cms_parse` (feature `fuzzing`).
//! Each must return (never panic) on any input. Run on stable with, e.g.,
//! `cargo fuzz run -s none zip_read fuzz/corpus/zip_read -- -max_total_time=90`.

use super::zip_read::{ZipLimits, ZipReader};
use crate::crypto::envelope_read::CmsDecryptor;
use crate::crypto::key_unwrap::{CEK_LEN, KeyTransport, KeyUnwrap};

/// Streams `data` through the zip reader in small, uneven pieces.
pub fn zip_read(data: &[u8]) {
    let limits = ZipLimits {
        max_total_size: 16 * 1024 * 1024,
        max_entries: 1000,
        max_directory_len: 1024 * 1024,
    };
    let mut r = ZipReader::new(limits);
    let mut out = [0u8; 4096];
    let mut rest = data;
    let mut idle = 0;
    while !rest.is_empty() {
        let piece = rest.get(..rest.len().min(777)).unwrap_or_default();
        match r.read(piece, &mut out) {
            Ok(step) => {
                rest = rest.get(step.consumed..).unwrap_or_default();
                idle = if step.consumed == 0 && step.written == 0 && step.event.is_none() {
                    idle + 1
                } else {
                    0
                };
                if idle > 2 {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = r.finish();
}

/// A key unwrapper that returns a fixed key: the fuzzer explores the parser, not RSA.
struct FixedKey;

impl KeyUnwrap for FixedKey {
    fn unwrap_cek(
        &self,
        _: KeyTransport,
        _: &[u8],
        _: &dyn ring::rand::SecureRandom,
    ) -> [u8; CEK_LEN] {
        [7; CEK_LEN]
    }
}

/// Parses `data` as a CMS EnvelopedData addressed to whoever its first recipient names.
pub fn cms_parse(data: &[u8]) {
    // Use the first recipient's identifier as "us", so the parser gets past recipient
    // selection on well-formed inputs.
    let me = first_recipient(data).unwrap_or_default();
    // ring seals SecureRandom; its test fakes are the only non-OS implementations.
    #[allow(deprecated)]
    let rng = ring::test::rand::FixedByteRandom { byte: 0 };
    let mut d = CmsDecryptor::new(&FixedKey, me, &rng);
    let mut out = [0u8; 4096];
    let mut rest = data;
    let mut idle = 0;
    while !rest.is_empty() {
        let piece = rest.get(..rest.len().min(999)).unwrap_or_default();
        match d.decrypt(piece, &mut out) {
            Ok(p) => {
                rest = rest.get(p.consumed..).unwrap_or_default();
                idle = if p.consumed == 0 { idle + 1 } else { 0 };
                if idle > 2 {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = d.finish(&mut out);
}

fn first_recipient(data: &[u8]) -> Option<Vec<u8>> {
    use crate::crypto::ber;
    let (ci, _) = ber::read(data).ok()?;
    let wrapper = ci.children().nth(1)?.ok()?;
    let ed = wrapper.children().next()?.ok()?;
    let set = ed.children().find(|t| t.as_ref().is_ok_and(|t| t.tag == 0x31))?.ok()?;
    let ktri = set.children().next()?.ok()?;
    Some(ktri.children().nth(1)?.ok()?.raw.to_vec())
}
