//! The DPO parcel (`sbd.zip`) against an independent zip implementation (Info-ZIP):
//! `unzip` accepts and extracts what our streaming writer produces, and our streaming
//! reader takes what `zip` produces, including the legacy `content.xml` form.

use std::path::Path;
use std::process::{Command, Output};

use efm_core::Timestamp;
use efm_core::transport::dpo_parcel::{Event, ParcelReader, ParcelWriter};

const SBD: &[u8] = br#"{"standardBusinessDocumentHeader":{"headerVersion":"1.0"},"arkivmelding":{"sikkerhetsnivaa":3}}"#;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?} does not start: {e} (scripts/install-test-deps installs it)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Random-looking bytes, like a CMS.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Streams `cms` through a ParcelWriter in 10 000-byte pieces with a 1 500-byte output
/// buffer, as a runtime would, into `path`.
fn write_parcel(cms: &[u8], path: &Path) {
    let mut w = ParcelWriter::new(SBD, Timestamp::from_unix_millis(1_700_000_000_000)).unwrap();
    let mut out = vec![0u8; 1500];
    let mut parcel = Vec::new();
    for mut rest in cms.chunks(10_000) {
        while !rest.is_empty() {
            let p = w.write(rest, &mut out).unwrap();
            parcel.extend_from_slice(&out[..p.written]);
            rest = &rest[p.consumed..];
        }
    }
    w.finish().unwrap();
    while !w.is_done() {
        let n = w.flush(&mut out).unwrap();
        parcel.extend_from_slice(&out[..n]);
    }
    std::fs::write(path, parcel).unwrap();
}

/// Reads a parcel file with a ParcelReader in 4 096-byte pieces: (SBD, CMS).
fn read_parcel(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let zip = std::fs::read(path).unwrap();
    let mut r = ParcelReader::new();
    let mut out = vec![0u8; 2048];
    let (mut sbd, mut cms) = (Vec::new(), Vec::new());
    let mut chunks = zip.chunks(4096).chain(std::iter::once(&[][..]));
    let mut rest = chunks.next().unwrap();
    loop {
        let step = r.read(rest, &mut out).unwrap();
        rest = &rest[step.consumed..];
        match step.event {
            Some(Event::Sbd(b)) => sbd = b.to_vec(),
            Some(Event::AsicData(d)) => cms.extend_from_slice(d),
            None => match chunks.next() {
                Some(next) => rest = next,
                None => break,
            },
        }
    }
    let summary = r.finish().unwrap();
    assert_eq!(summary.asic_size, Some(cms.len() as u64));
    (sbd, cms)
}

#[test]
fn unzip_accepts_and_extracts_a_streamed_parcel() {
    let dir = tempfile::tempdir().unwrap();
    let parcel = dir.path().join("sbd.zip");
    let cms = noise(3 * 1024 * 1024 + 17, 11);
    write_parcel(&cms, &parcel);

    let test = run(Command::new("unzip").arg("-t").arg(&parcel));
    let listing = String::from_utf8_lossy(&test.stdout);
    assert!(
        listing.contains("testing: sbd.json") && listing.contains("testing: asic.zip"),
        "{listing}"
    );
    assert!(listing.contains("No errors detected"), "{listing}");

    let sbd = run(Command::new("unzip").arg("-p").arg(&parcel).arg("sbd.json")).stdout;
    assert_eq!(sbd, SBD);
    let extracted = run(Command::new("unzip").arg("-p").arg(&parcel).arg("asic.zip")).stdout;
    assert!(extracted == cms, "unzip extracts a different CMS ({} bytes)", extracted.len());
}

#[test]
fn a_parcel_made_by_info_zip_reads_in_either_sbd_form() {
    let dir = tempfile::tempdir().unwrap();
    let cms = noise(1024 * 1024, 12);
    std::fs::write(dir.path().join("asic.zip"), &cms).unwrap();
    std::fs::write(dir.path().join("sbd.json"), SBD).unwrap();
    let xml = b"<StandardBusinessDocument xmlns=\"http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader\"/>";
    std::fs::write(dir.path().join("content.xml"), xml).unwrap();

    // -X: no extra fields; -D: no directory entries. Deflate where it pays, as zip does.
    run(Command::new("zip")
        .current_dir(dir.path())
        .args(["-q", "-X", "-D", "json.zip", "sbd.json", "asic.zip"]));
    let (sbd, got) = read_parcel(&dir.path().join("json.zip"));
    assert_eq!(sbd, SBD);
    assert!(got == cms, "CMS from zip's parcel differs");

    run(Command::new("zip").current_dir(dir.path()).args([
        "-q",
        "-X",
        "-D",
        "xml.zip",
        "asic.zip",
        "content.xml",
    ]));
    let (sbd, got) = read_parcel(&dir.path().join("xml.zip"));
    assert_eq!(sbd, xml);
    assert!(got == cms, "CMS from zip's legacy parcel differs");
}
