//! The documents in a popped ASiC-E (decrypted by the integration point), read with
//! core's zip reader, so that B can compare them with what A sent.

use efm_core::package::zip_read::{ZipEvent, ZipLimits, ZipReadError, ZipReader};

/// The largest total a demo container may unpack to: the demo's own files are far
/// smaller, and this bounds memory should something else arrive.
const MAX_TOTAL: u64 = 64 * 1024 * 1024;

/// The container's documents by name: what the sender put in, without the entries
/// of the container itself (META-INF, `mimetype`, and eFormidling's `manifest.xml`).
pub fn documents(zip: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ZipReadError> {
    let limits = ZipLimits { max_total_size: MAX_TOTAL, max_entries: 1000, ..ZipLimits::default() };
    let mut reader = ZipReader::new(limits);
    let mut out = vec![0u8; 64 * 1024];
    let mut rest = zip;
    let mut entries = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    loop {
        let step = reader.read(rest, &mut out)?;
        rest = rest.get(step.consumed..).unwrap_or_default();
        if let Some((_, data)) = current.as_mut() {
            data.extend_from_slice(out.get(..step.written).unwrap_or_default());
        }
        match step.event {
            Some(ZipEvent::EntryStart(meta)) => current = Some((meta.name, Vec::new())),
            Some(ZipEvent::EntryEnd { .. }) => entries.extend(current.take()),
            // No event and no progress: the input is used up (or the reader waits
            // for bytes that will not come, which `finish` reports).
            None if step.consumed == 0 && step.written == 0 => break,
            None => {}
        }
    }
    reader.finish()?;
    entries.retain(|(name, _)| {
        !name.starts_with("META-INF/") && name != "mimetype" && name != "manifest.xml"
    });
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use efm_core::package::dos_time::DosDateTime;
    use efm_core::package::zip_write::{Method, ZipWriter};

    #[test]
    fn reads_back_what_was_zipped_without_the_container_entries() {
        let mut w =
            ZipWriter::new(DosDateTime::from_timestamp(efm_core::Timestamp::from_unix_millis(0)));
        let mut zip = Vec::new();
        let mut buf = vec![0u8; 4096];
        let big: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
        for (name, body, method) in [
            ("mimetype", b"application/vnd.etsi.asic-e+zip".to_vec(), Method::Stored),
            ("a.txt", b"hello".to_vec(), Method::Deflate),
            ("b.bin", big.clone(), Method::Deflate),
            ("manifest.xml", b"<manifest/>".to_vec(), Method::Deflate),
            ("META-INF/manifest.xml", b"<m/>".to_vec(), Method::Deflate),
        ] {
            w.add_entry(name, &body, method).unwrap();
            loop {
                let n = w.drain(&mut buf);
                if n == 0 {
                    break;
                }
                zip.extend_from_slice(&buf[..n]);
            }
        }
        w.finish(b"").unwrap();
        loop {
            let n = w.drain(&mut buf);
            if n == 0 {
                break;
            }
            zip.extend_from_slice(&buf[..n]);
        }
        let docs = documents(&zip).unwrap();
        assert_eq!(docs, vec![("a.txt".to_owned(), b"hello".to_vec()), ("b.bin".to_owned(), big)]);
        assert!(documents(&zip[..zip.len() - 10]).is_err(), "a cut-off container is refused");
    }
}
