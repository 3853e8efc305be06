//! A streaming zip reader: walks local headers front to back, inflates each entry into
//! the caller's buffer, checks CRC-32 and sizes, then checks the central directory and
//! the end record against what the local headers said.
//!
//! Streaming means we cannot seek to the central directory first, so entries must be
//! self-delimiting: DEFLATED (the deflate stream ends itself, with or without a data
//! descriptor) or STORED with sizes in the local header. STORED with a data descriptor
//! is refused, as `java.util.zip.ZipInputStream` also refuses it.

use flate2::{Decompress, FlushDecompress, Status};
use thiserror::Error;

const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIR_SIG: u32 = 0x0605_4b50;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// Reserved and feature bits we do not implement: enhanced deflate (4), patched data
/// (5), strong encryption (6), unused (7-10, 12, 14, 15), masked directory (13).
const FLAGS_UNSUPPORTED: u16 = 0xf7f0;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;

/// Bounds that keep a hostile archive from exhausting memory or disk.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Total uncompressed bytes over all entries (zip bomb bound).
    pub max_total_size: u64,
    pub max_entries: usize,
    /// Central directory plus end record, which we hold to check at the end.
    pub max_directory_len: usize,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_total_size: 64 * 1024 * 1024 * 1024,
            max_entries: 10_000,
            max_directory_len: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZipReadError {
    #[error("not a zip local header at offset {offset} (signature {found:#010x})")]
    BadSignature { offset: u64, found: u32 },
    #[error(
        "zip entry name {name:?} is unsafe (absolute, '..', backslash, drive letter or control character)"
    )]
    UnsafeName { name: String },
    #[error("zip entry name is not UTF-8")]
    NameNotUtf8,
    #[error("zip entry {name:?} is encrypted (zip encryption is not supported)")]
    Encrypted { name: String },
    #[error("zip entry {name:?} sets general purpose flags {flags:#06x}, which are not supported")]
    UnsupportedFlags { name: String, flags: u16 },
    #[error(
        "zip entry {name:?} uses compression method {method}; only STORED and DEFLATED are supported"
    )]
    UnsupportedMethod { name: String, method: u16 },
    #[error("zip entry {name:?} is STORED with a data descriptor, which cannot be streamed")]
    StoredWithDescriptor { name: String },
    #[error("zip entry {name:?}: deflate data is corrupt: {detail}")]
    Inflate { name: String, detail: String },
    #[error("zip entry {name:?}: CRC-32 mismatch (header {expected:#010x}, data {actual:#010x})")]
    CrcMismatch { name: String, expected: u32, actual: u32 },
    #[error("zip entry {name:?}: size mismatch ({what})")]
    SizeMismatch { name: String, what: &'static str },
    #[error("zip archive is larger than the limit of {limit} uncompressed bytes")]
    TooLarge { limit: u64 },
    #[error("zip archive has more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("zip entry {name:?} appears twice")]
    DuplicateName { name: String },
    #[error("zip central directory does not match the local headers: {what}")]
    DirectoryMismatch { what: String },
    #[error("zip archive ended early ({what})")]
    Truncated { what: &'static str },
    #[error("bytes after the end of the zip archive")]
    TrailingData,
    #[error("Zip64 archives are not supported")]
    Zip64,
}

/// An entry's header, as the reader announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    pub name: String,
    pub method: u16,
}

/// What one [`ZipReader::read`] call ended on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipEvent {
    /// A new entry starts; its data follows in later calls.
    EntryStart(EntryMeta),
    /// The current entry ended and its CRC-32 and sizes checked out. Bytes written in
    /// this call belong to it.
    EntryEnd { size: u64, crc32: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStep {
    pub consumed: usize,
    pub written: usize,
    pub event: Option<ZipEvent>,
}

struct LocalEntry {
    name: String,
    /// Version needed, flags, method, time and date as the local header has them; the
    /// central directory must repeat them.
    fixed: [u8; 10],
    flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

enum Body {
    Stored { remaining: u64 },
    Deflated(Box<Decompress>),
}

enum State {
    Header,
    Data(Body),
    Descriptor,
    Directory,
}

pub struct ZipReader {
    limits: ZipLimits,
    state: State,
    /// Header or descriptor bytes gathered across calls (bounded by 30 + 2 * 65535).
    buf: Vec<u8>,
    /// The entry being read and its running CRC/size.
    current: Option<LocalEntry>,
    crc: crc32fast::Hasher,
    size: u64,
    /// Compressed bytes of the current entry consumed so far.
    cdata: u64,
    offset: u64,
    total: u64,
    entries: Vec<LocalEntry>,
    directory: Vec<u8>,
}

impl ZipReader {
    pub fn new(limits: ZipLimits) -> Self {
        ZipReader {
            limits,
            state: State::Header,
            buf: Vec::with_capacity(512),
            current: None,
            crc: crc32fast::Hasher::new(),
            size: 0,
            cdata: 0,
            offset: 0,
            total: 0,
            entries: Vec::new(),
            directory: Vec::new(),
        }
    }

    /// Consumes archive bytes, writes entry data into `out`. Returns at each event, so
    /// the caller can route the data that follows. Call again with the unconsumed rest.
    pub fn read(&mut self, input: &[u8], out: &mut [u8]) -> Result<ReadStep, ZipReadError> {
        let mut consumed = 0;
        let mut written = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            match &mut self.state {
                State::Header => {
                    if rest.is_empty() {
                        return Ok(ReadStep { consumed, written, event: None });
                    }
                    let (n, event) = self.header(rest)?;
                    consumed += n;
                    if event.is_some() {
                        return Ok(ReadStep { consumed, written, event });
                    }
                }
                State::Data(body) => {
                    let dst = out.get_mut(written..).unwrap_or_default();
                    if dst.is_empty() && !matches!(body, Body::Stored { remaining: 0 }) {
                        return Ok(ReadStep { consumed, written, event: None });
                    }
                    let name = self.current.as_ref().map(|e| e.name.as_str()).unwrap_or("");
                    let (n, w, ended) = match body {
                        Body::Stored { remaining } => {
                            let n =
                                (*remaining).min(rest.len() as u64).min(dst.len() as u64) as usize;
                            if let (Some(d), Some(s)) = (dst.get_mut(..n), rest.get(..n)) {
                                d.copy_from_slice(s);
                            }
                            *remaining -= n as u64;
                            (n, n, *remaining == 0)
                        }
                        Body::Deflated(z) => {
                            let (i0, o0) = (z.total_in(), z.total_out());
                            let status =
                                z.decompress(rest, dst, FlushDecompress::None).map_err(|e| {
                                    ZipReadError::Inflate {
                                        name: name.into(),
                                        detail: e.to_string(),
                                    }
                                })?;
                            let n = (z.total_in() - i0) as usize;
                            let w = (z.total_out() - o0) as usize;
                            if n == 0 && w == 0 && status != Status::StreamEnd {
                                // Needs more input (or, with input present, is stuck on
                                // corrupt data: zlib then reports BufError as Ok).
                                if rest.is_empty() {
                                    return Ok(ReadStep { consumed, written, event: None });
                                }
                                return Err(ZipReadError::Inflate {
                                    name: name.into(),
                                    detail: "no progress".into(),
                                });
                            }
                            (n, w, status == Status::StreamEnd)
                        }
                    };
                    if let Some(d) = dst.get(..w) {
                        self.crc.update(d);
                    }
                    self.size += w as u64;
                    self.total += w as u64;
                    if self.total > self.limits.max_total_size {
                        return Err(ZipReadError::TooLarge { limit: self.limits.max_total_size });
                    }
                    if let Some(e) = &self.current
                        && e.flags & FLAG_DESCRIPTOR == 0
                        && self.size > e.size
                    {
                        return Err(ZipReadError::SizeMismatch {
                            name: e.name.clone(),
                            what: "more data than the header says",
                        });
                    }
                    consumed += n;
                    written += w;
                    self.offset += n as u64;
                    self.cdata += n as u64;
                    if ended {
                        let has_descriptor =
                            self.current.as_ref().is_some_and(|e| e.flags & FLAG_DESCRIPTOR != 0);
                        if has_descriptor {
                            self.state = State::Descriptor;
                            self.buf.clear();
                        } else {
                            let event = self.end_entry()?;
                            return Ok(ReadStep { consumed, written, event: Some(event) });
                        }
                    } else if rest.get(n..).is_none_or(|r| r.is_empty()) {
                        return Ok(ReadStep { consumed, written, event: None });
                    }
                }
                State::Descriptor => {
                    if rest.is_empty() {
                        return Ok(ReadStep { consumed, written, event: None });
                    }
                    let (n, event) = self.descriptor(rest)?;
                    consumed += n;
                    if let Some(event) = event {
                        return Ok(ReadStep { consumed, written, event: Some(event) });
                    }
                }
                State::Directory => {
                    if self.directory.len() + rest.len() > self.limits.max_directory_len {
                        return Err(ZipReadError::DirectoryMismatch {
                            what: "central directory longer than the limit".into(),
                        });
                    }
                    self.directory.extend_from_slice(rest);
                    consumed += rest.len();
                    return Ok(ReadStep { consumed, written, event: None });
                }
            }
        }
    }

    /// Gathers and parses one local header (or sees the central directory begin).
    fn header(&mut self, rest: &[u8]) -> Result<(usize, Option<ZipEvent>), ZipReadError> {
        let need = if self.buf.len() < 30 {
            30
        } else {
            30 + usize::from(le16(&self.buf, 26)) + usize::from(le16(&self.buf, 28))
        };
        let take = (need - self.buf.len()).min(rest.len());
        self.buf.extend_from_slice(rest.get(..take).unwrap_or_default());
        if self.buf.len() >= 4 {
            let sig = le32(&self.buf, 0);
            if sig == CENTRAL_HEADER_SIG || sig == END_OF_CENTRAL_DIR_SIG {
                self.directory.clear();
                self.directory.extend_from_slice(&self.buf);
                self.buf.clear();
                self.state = State::Directory;
                return Ok((take, None));
            }
            if sig != LOCAL_HEADER_SIG {
                return Err(ZipReadError::BadSignature { offset: self.offset, found: sig });
            }
        }
        if self.buf.len() < 30 {
            return Ok((take, None));
        }
        let full = 30 + usize::from(le16(&self.buf, 26)) + usize::from(le16(&self.buf, 28));
        if self.buf.len() < full {
            // Loop again for the name and extra field.
            if take == rest.len() {
                return Ok((take, None));
            }
            let (more, ev) = self.header(rest.get(take..).unwrap_or_default())?;
            return Ok((take + more, ev));
        }
        let flags = le16(&self.buf, 6);
        let method = le16(&self.buf, 8);
        let name_len = usize::from(le16(&self.buf, 26));
        let name_bytes = self.buf.get(30..30 + name_len).unwrap_or_default();
        let name =
            std::str::from_utf8(name_bytes).map_err(|_| ZipReadError::NameNotUtf8)?.to_owned();
        check_name(&name)?;
        if flags & FLAG_ENCRYPTED != 0 {
            return Err(ZipReadError::Encrypted { name });
        }
        if flags & FLAGS_UNSUPPORTED != 0 {
            return Err(ZipReadError::UnsupportedFlags { name, flags });
        }
        let mut fixed = [0u8; 10];
        fixed.copy_from_slice(self.buf.get(4..14).unwrap_or(&[0; 10]));
        let crc = le32(&self.buf, 14);
        let compressed = u64::from(le32(&self.buf, 18));
        let size = u64::from(le32(&self.buf, 22));
        if compressed == u64::from(u32::MAX) || size == u64::from(u32::MAX) {
            return Err(ZipReadError::Zip64);
        }
        if self.entries.len() >= self.limits.max_entries {
            return Err(ZipReadError::TooManyEntries { limit: self.limits.max_entries });
        }
        if self.entries.iter().any(|e| e.name == name) {
            return Err(ZipReadError::DuplicateName { name });
        }
        let body = match method {
            METHOD_STORED if flags & FLAG_DESCRIPTOR != 0 => {
                return Err(ZipReadError::StoredWithDescriptor { name });
            }
            METHOD_STORED => {
                if compressed != size {
                    return Err(ZipReadError::SizeMismatch {
                        name,
                        what: "STORED entry with different sizes",
                    });
                }
                Body::Stored { remaining: size }
            }
            METHOD_DEFLATED => Body::Deflated(Box::new(Decompress::new(false))),
            other => {
                return Err(ZipReadError::UnsupportedMethod { name, method: other });
            }
        };
        let entry = LocalEntry {
            name: name.clone(),
            fixed,
            flags,
            crc,
            compressed,
            size,
            offset: self.offset,
        };
        self.offset += full as u64;
        self.buf.clear();
        self.current = Some(entry);
        self.crc = crc32fast::Hasher::new();
        self.size = 0;
        self.cdata = 0;
        self.state = State::Data(body);
        Ok((take, Some(ZipEvent::EntryStart(EntryMeta { name, method }))))
    }

    /// Gathers the data descriptor (signature optional, as the format allows).
    fn descriptor(&mut self, rest: &[u8]) -> Result<(usize, Option<ZipEvent>), ZipReadError> {
        let need: usize =
            if self.buf.len() >= 4 && le32(&self.buf, 0) != DESCRIPTOR_SIG { 12 } else { 16 };
        let take = need.saturating_sub(self.buf.len()).min(rest.len());
        self.buf.extend_from_slice(rest.get(..take).unwrap_or_default());
        let need: usize =
            if self.buf.len() >= 4 && le32(&self.buf, 0) != DESCRIPTOR_SIG { 12 } else { 16 };
        if self.buf.len() < need {
            if take < rest.len() {
                let (more, ev) = self.descriptor(rest.get(take..).unwrap_or_default())?;
                return Ok((take + more, ev));
            }
            return Ok((take, None));
        }
        let base = need - 12;
        let (crc, compressed, size) = (
            le32(&self.buf, base),
            u64::from(le32(&self.buf, base + 4)),
            u64::from(le32(&self.buf, base + 8)),
        );
        // The local header carried zeros (or the same values); the descriptor is the
        // truth for a streamed entry, and the central directory is checked against it.
        if let Some(e) = self.current.as_mut() {
            e.crc = crc;
            e.compressed = compressed;
            e.size = size;
        }
        self.offset += need as u64;
        self.buf.clear();
        let event = self.end_entry()?;
        Ok((take, Some(event)))
    }

    fn end_entry(&mut self) -> Result<ZipEvent, ZipReadError> {
        let Some(e) = self.current.take() else {
            return Err(ZipReadError::Truncated { what: "no entry" });
        };
        let actual = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        if actual != e.crc {
            return Err(ZipReadError::CrcMismatch { name: e.name, expected: e.crc, actual });
        }
        if self.size != e.size {
            return Err(ZipReadError::SizeMismatch {
                name: e.name,
                what: "uncompressed size differs from the header",
            });
        }
        if self.cdata != e.compressed {
            return Err(ZipReadError::SizeMismatch {
                name: e.name,
                what: "compressed size differs from the header",
            });
        }
        let event = ZipEvent::EntryEnd { size: self.size, crc32: actual };
        self.entries.push(e);
        self.state = State::Header;
        Ok(event)
    }

    /// Call when the input has ended: checks the central directory and end record.
    pub fn finish(&mut self) -> Result<(), ZipReadError> {
        match self.state {
            State::Directory => {}
            State::Header if self.buf.is_empty() && self.entries.is_empty() => {
                return Err(ZipReadError::Truncated { what: "empty input" });
            }
            State::Header => {
                return Err(ZipReadError::Truncated { what: "no central directory" });
            }
            State::Data(_) => {
                return Err(ZipReadError::Truncated { what: "inside entry data" });
            }
            State::Descriptor => {
                return Err(ZipReadError::Truncated { what: "inside a data descriptor" });
            }
        }
        check_directory(&self.directory, &self.entries, self.offset)
    }

    /// The archive comment, once [`finish`](Self::finish) succeeded.
    pub fn comment(&self) -> &[u8] {
        let d = &self.directory;
        // finish() validated that the end record sits at len - 22 - comment_len.
        let mut pos = 0;
        while pos + 22 <= d.len() {
            if le32(d, pos) == END_OF_CENTRAL_DIR_SIG {
                let len = usize::from(le16(d, pos + 20));
                if pos + 22 + len == d.len() {
                    return d.get(pos + 22..).unwrap_or_default();
                }
            }
            pos += 1;
        }
        &[]
    }
}

fn mismatch(what: impl Into<String>) -> ZipReadError {
    ZipReadError::DirectoryMismatch { what: what.into() }
}

fn check_directory(d: &[u8], entries: &[LocalEntry], cd_offset: u64) -> Result<(), ZipReadError> {
    let mut pos = 0;
    for e in entries {
        if d.len() < pos + 46 {
            return Err(ZipReadError::Truncated { what: "central directory" });
        }
        if le32(d, pos) != CENTRAL_HEADER_SIG {
            return Err(mismatch(format!("bad central header signature for {:?}", e.name)));
        }
        let name_len = usize::from(le16(d, pos + 28));
        let extra_len = usize::from(le16(d, pos + 30));
        let comment_len = usize::from(le16(d, pos + 32));
        let name = d.get(pos + 46..pos + 46 + name_len).unwrap_or_default();
        let same = d.get(pos + 6..pos + 16) == Some(&e.fixed[..])
            && le32(d, pos + 16) == e.crc
            && u64::from(le32(d, pos + 20)) == e.compressed
            && u64::from(le32(d, pos + 24)) == e.size
            && u64::from(le32(d, pos + 42)) == e.offset
            && le16(d, pos + 34) == 0
            && name == e.name.as_bytes();
        if !same {
            return Err(mismatch(format!("entry {:?} differs", e.name)));
        }
        pos += 46 + name_len + extra_len + comment_len;
    }
    let cd_size = pos as u64;
    if d.len() < pos + 22 {
        return Err(ZipReadError::Truncated { what: "end of central directory" });
    }
    if le32(d, pos) != END_OF_CENTRAL_DIR_SIG {
        return Err(mismatch("more central entries than local entries, or no end record"));
    }
    let count = entries.len() as u64;
    let ok = le16(d, pos + 4) == 0
        && le16(d, pos + 6) == 0
        && u64::from(le16(d, pos + 8)) == count
        && u64::from(le16(d, pos + 10)) == count
        && u64::from(le32(d, pos + 12)) == cd_size
        && u64::from(le32(d, pos + 16)) == cd_offset;
    if !ok {
        return Err(mismatch("end record counts, size or offset"));
    }
    let comment_len = usize::from(le16(d, pos + 20));
    if d.len() != pos + 22 + comment_len {
        return Err(ZipReadError::TrailingData);
    }
    Ok(())
}

/// Refuses names that could escape an extraction directory or confuse a file system.
pub fn check_name(name: &str) -> Result<(), ZipReadError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains(':')
        || name.chars().any(|c| c.is_control())
        || name.split('/').any(|part| part == ".." || part == ".")
        || name.ends_with('/');
    if bad {
        return Err(ZipReadError::UnsafeName { name: name.into() });
    }
    Ok(())
}

fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b2, c, d]) => u32::from_le_bytes([a, b2, c, d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::dos_time::DosDateTime;
    use crate::package::zip_write::{Method, ZipWriter, drain_to_vec, write_all_to_vec};

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

    fn build(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut w = ZipWriter::new(DosDateTime::EPOCH);
        let mut out = Vec::new();
        w.add_entry("mimetype", b"text/plain", Method::Stored).expect("add");
        for (name, data) in entries {
            w.start_entry(name, Method::Auto).expect("start");
            write_all_to_vec(&mut w, data, &mut out).expect("write");
            w.finish_entry().expect("finish entry");
            drain_to_vec(&mut w, &mut out);
        }
        w.finish(b"comment").expect("finish");
        drain_to_vec(&mut w, &mut out);
        // add_entry queued bytes before the first streamed write drained them in order.
        out
    }

    fn read_all(
        zip: &[u8],
        piece: usize,
        out_len: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ZipReadError> {
        let mut r = ZipReader::new(ZipLimits::default());
        let mut out = vec![0u8; out_len];
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut rest = zip;
        loop {
            let feed = rest.get(..piece.min(rest.len())).unwrap_or_default();
            let step = r.read(feed, &mut out)?;
            if let Some(last) = files.last_mut() {
                last.1.extend_from_slice(&out[..step.written]);
            }
            if let Some(ZipEvent::EntryStart(m)) = &step.event {
                files.push((m.name.clone(), Vec::new()));
            }
            rest = &rest[step.consumed..];
            if rest.is_empty() && step.event.is_none() && step.written == 0 {
                break;
            }
        }
        r.finish()?;
        files.push(("(comment)".into(), r.comment().to_vec()));
        Ok(files)
    }

    #[test]
    fn round_trips_mixed_entries_in_any_chunking() {
        let entries = vec![
            ("empty.txt", Vec::new()),
            ("small.txt", b"hello zip".to_vec()),
            ("text.xml", b"<a>lots of repeated text</a>".repeat(5000)),
            ("noise.bin", noise(300_000, 7)),
        ];
        let zip = build(&entries);
        for (piece, out_len) in [(1, 1), (7, 3), (4096, 100), (1 << 20, 1 << 16)] {
            let files = read_all(&zip, piece, out_len).expect("reads");
            assert_eq!(files.len(), entries.len() + 2);
            assert_eq!(files.last(), Some(&("(comment)".to_string(), b"comment".to_vec())));
            assert_eq!(files[0], ("mimetype".to_string(), b"text/plain".to_vec()));
            for ((n, d), (en, ed)) in files[1..files.len() - 1].iter().zip(entries.iter()) {
                assert_eq!(n, en);
                assert!(d == ed, "entry {n} differs with piece {piece}");
            }
        }
    }

    #[test]
    fn incompressible_data_is_barely_larger() {
        let data = noise(1_000_000, 3);
        let zip = build(&[("n.bin", data.clone())]);
        assert!(zip.len() < data.len() + 1000, "zip {} for {} bytes", zip.len(), data.len());
    }

    #[test]
    fn compressible_data_shrinks() {
        let data = b"abcdefgh".repeat(100_000);
        let zip = build(&[("a.txt", data.clone())]);
        assert!(zip.len() < data.len() / 20);
    }

    #[test]
    fn every_flipped_byte_is_caught_or_harmless_never_a_panic() {
        let zip =
            build(&[("a.txt", b"some text to protect".repeat(50)), ("b.bin", noise(5000, 9))]);
        let good = read_all(&zip, 1 << 20, 1 << 16).expect("reads");
        for i in 0..zip.len() {
            let mut bad = zip.clone();
            bad[i] ^= 0x01;
            if let Ok(files) = read_all(&bad, 1 << 20, 1 << 16) {
                // Only fields no reader interprets may change silently (times, versions,
                // attributes, the comment): the entries must be identical.
                assert_eq!(
                    files[..files.len() - 1],
                    good[..good.len() - 1],
                    "flip at {i} changed content silently"
                );
            }
        }
    }

    #[test]
    fn unsafe_names_are_refused() {
        for n in ["../x", "/etc/passwd", "a\\b", "c:x", "a/../../b", "a/", ""] {
            assert!(check_name(n).is_err(), "{n:?}");
        }
        assert!(check_name("dir/file.txt").is_ok());
    }

    #[test]
    fn truncation_is_an_error() {
        let zip = build(&[("a.txt", b"abc".to_vec())]);
        for cut in [0, 10, zip.len() / 2, zip.len() - 1] {
            assert!(read_all(&zip[..cut], 1 << 20, 1 << 16).is_err(), "cut at {cut}");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::package::dos_time::DosDateTime;
    use crate::package::zip_write::{Method, ZipWriter, drain_to_vec, write_all_to_vec};

    fn entry() -> impl Strategy<Value = (String, Vec<u8>, bool)> {
        (
            "[a-z]{1,8}(/[a-z]{1,8})?\\.[a-z]{1,3}",
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..3000),
                proptest::collection::vec(0u8..3, 0..20_000),
            ],
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever we write, in whatever pieces it is read back, comes back the same.
        #[test]
        fn write_then_read_is_identity(
            entries in proptest::collection::vec(entry(), 0..6),
            piece in 1usize..5000,
            out_len in 1usize..5000,
        ) {
            let mut w = ZipWriter::new(DosDateTime::EPOCH);
            let mut zip = Vec::new();
            let mut expected: Vec<(String, Vec<u8>)> = Vec::new();
            for (i, (name, data, whole)) in entries.into_iter().enumerate() {
                let name = format!("{i}{name}");
                if whole {
                    w.add_entry(&name, &data, Method::Auto).expect("add");
                } else {
                    w.start_entry(&name, Method::Auto).expect("start");
                    write_all_to_vec(&mut w, &data, &mut zip).expect("write");
                    w.finish_entry().expect("finish entry");
                }
                drain_to_vec(&mut w, &mut zip);
                expected.push((name, data));
            }
            w.finish(b"").expect("finish");
            drain_to_vec(&mut w, &mut zip);

            let mut r = ZipReader::new(ZipLimits::default());
            let mut out = vec![0u8; out_len];
            let mut got: Vec<(String, Vec<u8>)> = Vec::new();
            let mut rest = &zip[..];
            loop {
                let step = r.read(&rest[..rest.len().min(piece)], &mut out).expect("reads");
                if let Some(last) = got.last_mut() {
                    last.1.extend_from_slice(&out[..step.written]);
                }
                if let Some(ZipEvent::EntryStart(m)) = &step.event {
                    got.push((m.name.clone(), Vec::new()));
                }
                rest = &rest[step.consumed..];
                if rest.is_empty() && step.event.is_none() && step.written == 0 {
                    break;
                }
            }
            r.finish().expect("directory");
            prop_assert_eq!(got, expected);
        }
    }
}
