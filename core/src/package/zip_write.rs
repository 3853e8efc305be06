//! A streaming zip writer: entries go out as their bytes come in, sizes and CRC-32 follow
//! each streamed entry in a data descriptor, and the central directory is written last.
//!
//! Output model: header, descriptor and directory bytes are queued in a small internal
//! buffer (`pending`, bounded by the largest header or compressor flush, reused so it
//! does not allocate per chunk) and handed out by [`ZipWriter::drain`] and
//! [`ZipWriter::write`]; entry data goes straight into the caller's buffer.
//!
//! Streamed entries are always DEFLATED. For data that does not shrink we deflate at
//! level 0, which emits stored deflate blocks (5 bytes of framing per 64 KiB) at memcpy
//! speed. We do not use method STORED for streamed entries because STORED with a data
//! descriptor is unreadable for `java.util.zip.ZipInputStream`, which the reference's
//! ASiC reader is built on ("only DEFLATED entries can have EXT descriptor"). Method
//! STORED is used only when the caller knows the bytes up front (`mimetype`).
//!
//! Limits: no Zip64, so each entry and the whole archive must stay under 4 GiB; the
//! writer refuses to go past that instead of writing a corrupt archive.

use flate2::{Compress, Compression, FlushCompress, Status};
use thiserror::Error;

use super::Progress;
use super::dos_time::DosDateTime;

const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIR_SIG: u32 = 0x0605_4b50;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
const VERSION_NEEDED: u16 = 20;
/// How much of an entry's first input we trial-compress to decide whether deflate pays.
const SAMPLE_LEN: usize = 64 * 1024;
/// Deflate level for data that does shrink; 6 is `java.util.zip`'s default.
const DEFLATE_LEVEL: u32 = 6;

/// How an entry's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Method STORED. Only for [`ZipWriter::add_entry`], where the bytes are known.
    Stored,
    /// Method DEFLATED at the normal level.
    Deflate,
    /// Method DEFLATED; trial-compress the first input and fall back to level 0 (stored
    /// deflate blocks) when the data does not shrink.
    Auto,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZipWriteError {
    #[error("zip entry name is empty or longer than 65535 bytes")]
    BadName,
    #[error("an entry is still open; finish it before starting another")]
    EntryOpen,
    #[error("no entry is open")]
    NoEntryOpen,
    #[error("the archive is already finished")]
    Finished,
    #[error("method STORED needs the whole entry up front; use add_entry")]
    StoredNotStreamable,
    #[error("zip entry {name:?} or the archive passed 4 GiB, which needs Zip64 (not supported)")]
    TooLarge { name: String },
    #[error("deflate failed in entry {name:?}: {detail}")]
    Deflate { name: String, detail: String },
    #[error("archive comment is longer than 65535 bytes")]
    CommentTooLong,
}

struct CentralEntry {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

enum Stream {
    /// Header not written yet: waiting for the first input to choose the level.
    Undecided { auto: bool },
    /// Deflating at the level given (to hand the compressor back to the spares).
    Deflating(Box<Compress>, u32),
}

/// Compressors kept for the next entry, one per level. A compressor's state (window,
/// hash chains: a few hundred KiB) costs more to allocate and clear than a small
/// entry costs to deflate, and every ASiC and parcel has several small entries
/// (manifests, sbd.json, signatures): `reset` reuses it instead. When the writer is
/// dropped its compressors go to [`SHELF`] for the next writer, since a node seals
/// and opens many small containers one after another.
#[derive(Default)]
struct Spares([Option<Box<Compress>>; 3]);

/// Compressors left by finished writers, per level slot, at most [`SHELF_DEPTH`]
/// each. Shared process-wide: a reset compressor carries nothing of its last entry,
/// so what a writer takes from here does not change a byte of its output; the
/// state it keeps is only memory, bounded by the depth (about 300 KiB each).
// Boxed as the writers hold them: shelving moves a pointer, not the state.
#[allow(clippy::vec_box)]
static SHELF: std::sync::Mutex<[Vec<Box<Compress>>; 3]> =
    std::sync::Mutex::new([Vec::new(), Vec::new(), Vec::new()]);
/// About as many as a node has containers in the making at once.
const SHELF_DEPTH: usize = 8;

impl Spares {
    fn slot(level: u32) -> usize {
        match level {
            0 => 0,
            1 => 1,
            _ => 2,
        }
    }

    /// A compressor at `level` (0, 1 or [`DEFLATE_LEVEL`]), fresh or reset.
    fn take(&mut self, level: u32) -> Box<Compress> {
        let slot = Self::slot(level);
        let kept = self.0.get_mut(slot).and_then(Option::take).or_else(|| {
            // A poisoned lock only means another writer panicked while holding it;
            // the shelf is still a list of whole compressors.
            let mut shelf = SHELF.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            shelf.get_mut(slot).and_then(Vec::pop)
        });
        match kept {
            Some(mut c) => {
                c.reset();
                c
            }
            None => Box::new(Compress::new(Compression::new(level), false)),
        }
    }

    /// Keep `c` for the next entry. Only a compressor whose stream reached its end
    /// may come back (see `ZipWriter::shrinks`).
    fn give(&mut self, level: u32, c: Box<Compress>) {
        if let Some(slot) = self.0.get_mut(Self::slot(level)) {
            *slot = Some(c);
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        if self.0.iter().all(Option::is_none) {
            return;
        }
        let mut shelf = SHELF.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (kept, shelved) in self.0.iter_mut().zip(shelf.iter_mut()) {
            if let Some(c) = kept.take()
                && shelved.len() < SHELF_DEPTH
            {
                shelved.push(c);
            }
        }
    }
}

struct OpenEntry {
    name: String,
    flags: u16,
    offset: u64,
    crc: crc32fast::Hasher,
    stream: Stream,
}

/// The streaming zip writer. See the module documentation for the output model.
pub struct ZipWriter {
    modified: DosDateTime,
    pending: Vec<u8>,
    pending_pos: usize,
    /// Bytes produced so far (handed out or pending): the next local header's offset.
    produced: u64,
    entries: Vec<CentralEntry>,
    open: Option<OpenEntry>,
    finished: bool,
    scratch: Vec<u8>,
    spares: Spares,
}

impl ZipWriter {
    pub fn new(modified: DosDateTime) -> Self {
        ZipWriter {
            modified,
            pending: Vec::with_capacity(4096),
            pending_pos: 0,
            produced: 0,
            entries: Vec::new(),
            open: None,
            finished: false,
            scratch: Vec::new(),
            spares: Spares::default(),
        }
    }

    /// Bytes queued and not yet handed out by [`drain`](Self::drain).
    pub fn pending_len(&self) -> usize {
        self.pending.len() - self.pending_pos
    }

    /// Copies queued bytes into `out`; returns how many. Call until it returns 0 after
    /// `finish_entry` and `finish`.
    pub fn drain(&mut self, out: &mut [u8]) -> usize {
        let avail = &self.pending[self.pending_pos..];
        let n = avail.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pending_pos += n;
        if self.pending_pos == self.pending.len() {
            self.pending.clear();
            self.pending_pos = 0;
        }
        n
    }

    fn check_can_start(&self, name: &str) -> Result<(), ZipWriteError> {
        if self.finished {
            return Err(ZipWriteError::Finished);
        }
        if self.open.is_some() {
            return Err(ZipWriteError::EntryOpen);
        }
        if name.is_empty() || name.len() > usize::from(u16::MAX) {
            return Err(ZipWriteError::BadName);
        }
        Ok(())
    }

    fn flags_for(name: &str) -> u16 {
        if name.is_ascii() { 0 } else { FLAG_UTF8 }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.produced += bytes.len() as u64;
    }

    #[allow(clippy::too_many_arguments)]
    fn push_local_header(
        &mut self,
        name: &str,
        flags: u16,
        method: u16,
        crc: u32,
        csize: u32,
        size: u32,
    ) {
        let mut h = [0u8; 30];
        put32(&mut h, 0, LOCAL_HEADER_SIG);
        put16(&mut h, 4, VERSION_NEEDED);
        put16(&mut h, 6, flags);
        put16(&mut h, 8, method);
        put16(&mut h, 10, self.modified.time);
        put16(&mut h, 12, self.modified.date);
        put32(&mut h, 14, crc);
        put32(&mut h, 18, csize);
        put32(&mut h, 22, size);
        // Name length was checked to fit in u16 by check_can_start.
        put16(&mut h, 26, name.len() as u16);
        put16(&mut h, 28, 0);
        self.push(&h);
        self.push(name.as_bytes());
    }

    /// Adds a whole entry whose bytes are at hand (mimetype, manifests, sbd.json):
    /// sizes and CRC go in the local header, no data descriptor. Bytes are queued.
    pub fn add_entry(
        &mut self,
        name: &str,
        data: &[u8],
        method: Method,
    ) -> Result<(), ZipWriteError> {
        self.check_can_start(name)?;
        let crc = crc32fast::hash(data);
        let size =
            u32::try_from(data.len()).map_err(|_| ZipWriteError::TooLarge { name: name.into() })?;
        let offset = self.produced;
        let flags = Self::flags_for(name);
        let deflated = match method {
            Method::Stored => None,
            Method::Deflate | Method::Auto => {
                let mut c = self.spares.take(DEFLATE_LEVEL);
                // Given back only when whole: a failed deflate may have stopped mid-stream.
                let d = deflate_all(&mut c, data, name)?;
                self.spares.give(DEFLATE_LEVEL, c);
                if method == Method::Auto && d.len() >= data.len() { None } else { Some(d) }
            }
        };
        let (m, body): (u16, &[u8]) = match &deflated {
            Some(d) => (METHOD_DEFLATED, d),
            None => (METHOD_STORED, data),
        };
        let csize =
            u32::try_from(body.len()).map_err(|_| ZipWriteError::TooLarge { name: name.into() })?;
        self.push_local_header(name, flags, m, crc, csize, size);
        self.push(body);
        self.entries.push(CentralEntry {
            name: name.into(),
            flags,
            method: m,
            crc,
            compressed: u64::from(csize),
            size: u64::from(size),
            offset,
        });
        Ok(())
    }

    /// Opens a streamed entry. Its local header is queued with the first input (or at
    /// `finish_entry` when it stays empty), once the level is chosen.
    pub fn start_entry(&mut self, name: &str, method: Method) -> Result<(), ZipWriteError> {
        self.check_can_start(name)?;
        if method == Method::Stored {
            return Err(ZipWriteError::StoredNotStreamable);
        }
        self.open = Some(OpenEntry {
            name: name.into(),
            flags: Self::flags_for(name) | FLAG_DESCRIPTOR,
            offset: 0,
            crc: crc32fast::Hasher::new(),
            stream: Stream::Undecided { auto: method == Method::Auto },
        });
        Ok(())
    }

    /// Chooses the deflate level from a sample and queues the local header.
    fn decide(&mut self, sample: &[u8]) -> Result<(), ZipWriteError> {
        let Some(mut entry) = self.open.take() else {
            return Err(ZipWriteError::NoEntryOpen);
        };
        let Stream::Undecided { auto } = entry.stream else {
            self.open = Some(entry);
            return Ok(());
        };
        let level = if auto && !self.shrinks(sample) { 0 } else { DEFLATE_LEVEL };
        entry.offset = self.produced;
        self.push_local_header(&entry.name, entry.flags, METHOD_DEFLATED, 0, 0, 0);
        entry.stream = Stream::Deflating(self.spares.take(level), level);
        self.open = Some(entry);
        Ok(())
    }

    /// Trial-compresses up to 64 KiB at level 1: worth deflating only if it saves 5 %.
    fn shrinks(&mut self, sample: &[u8]) -> bool {
        let sample = sample.get(..SAMPLE_LEN.min(sample.len())).unwrap_or(sample);
        self.scratch.clear();
        self.scratch.reserve(sample.len() + 1024);
        let mut c = self.spares.take(1);
        match c.compress_vec(sample, &mut self.scratch, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => {
                self.spares.give(1, c);
                (self.scratch.len() as u64) * 100 < (sample.len() as u64) * 95
            }
            // Output did not fit in sample + 1 KiB: it certainly does not shrink. The
            // compressor is left mid-stream, output still pending, and zlib-rs's
            // reset does not recover from that (the next use overflows its pending
            // buffer and panics): dropped, never reused.
            _ => false,
        }
    }

    /// Streams entry data: first hands out queued bytes, then compresses `input` into
    /// the rest of `out`. May consume less than all of `input`; call again with the rest.
    pub fn write(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, ZipWriteError> {
        let mut written = self.drain(out);
        if self.pending_len() > 0 || input.is_empty() {
            return Ok(Progress { consumed: 0, written });
        }
        if matches!(self.open.as_ref().map(|e| &e.stream), Some(Stream::Undecided { .. })) {
            self.decide(input)?;
            written += self.drain(out.get_mut(written..).unwrap_or_default());
            if self.pending_len() > 0 {
                return Ok(Progress { consumed: 0, written });
            }
        }
        let Some(entry) = self.open.as_mut() else {
            return Err(ZipWriteError::NoEntryOpen);
        };
        let Stream::Deflating(c, _) = &mut entry.stream else {
            return Err(ZipWriteError::NoEntryOpen);
        };
        let dst = out.get_mut(written..).unwrap_or_default();
        let (in0, out0) = (c.total_in(), c.total_out());
        c.compress(input, dst, FlushCompress::None).map_err(|e| ZipWriteError::Deflate {
            name: entry.name.clone(),
            detail: e.to_string(),
        })?;
        let consumed = usize::try_from(c.total_in() - in0).unwrap_or(0);
        let produced = usize::try_from(c.total_out() - out0).unwrap_or(0);
        if let Some(done) = input.get(..consumed) {
            entry.crc.update(done);
        }
        self.produced += produced as u64;
        written += produced;
        Ok(Progress { consumed, written })
    }

    /// Closes the streamed entry: queues the compressor's tail and the data descriptor.
    pub fn finish_entry(&mut self) -> Result<(), ZipWriteError> {
        if self.open.is_none() {
            return Err(ZipWriteError::NoEntryOpen);
        }
        self.decide(&[])?;
        let Some(entry) = self.open.take() else {
            return Err(ZipWriteError::NoEntryOpen);
        };
        let Stream::Deflating(mut c, level) = entry.stream else {
            return Err(ZipWriteError::NoEntryOpen);
        };
        loop {
            if self.pending.capacity() - self.pending.len() < 16 * 1024 {
                self.pending.reserve(64 * 1024);
            }
            let before = c.total_out();
            let status =
                c.compress_vec(&[], &mut self.pending, FlushCompress::Finish).map_err(|e| {
                    ZipWriteError::Deflate { name: entry.name.clone(), detail: e.to_string() }
                })?;
            self.produced += c.total_out() - before;
            if status == Status::StreamEnd {
                break;
            }
        }
        let crc = entry.crc.finalize();
        let (compressed, size) = (c.total_out(), c.total_in());
        self.spares.give(level, c);
        if compressed > u64::from(u32::MAX)
            || size > u64::from(u32::MAX)
            || self.produced > u64::from(u32::MAX)
        {
            return Err(ZipWriteError::TooLarge { name: entry.name });
        }
        let mut d = [0u8; 16];
        put32(&mut d, 0, DESCRIPTOR_SIG);
        put32(&mut d, 4, crc);
        put32(&mut d, 8, compressed as u32);
        put32(&mut d, 12, size as u32);
        self.push(&d);
        self.entries.push(CentralEntry {
            name: entry.name,
            flags: entry.flags,
            method: METHOD_DEFLATED,
            crc,
            compressed,
            size,
            offset: entry.offset,
        });
        Ok(())
    }

    /// Queues the central directory and the end record with `comment`.
    pub fn finish(&mut self, comment: &[u8]) -> Result<(), ZipWriteError> {
        if self.finished {
            return Err(ZipWriteError::Finished);
        }
        if self.open.is_some() {
            return Err(ZipWriteError::EntryOpen);
        }
        let comment_len =
            u16::try_from(comment.len()).map_err(|_| ZipWriteError::CommentTooLong)?;
        let cd_start = self.produced;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut h = [0u8; 46];
            put32(&mut h, 0, CENTRAL_HEADER_SIG);
            put16(&mut h, 4, VERSION_NEEDED);
            put16(&mut h, 6, VERSION_NEEDED);
            put16(&mut h, 8, e.flags);
            put16(&mut h, 10, e.method);
            put16(&mut h, 12, self.modified.time);
            put16(&mut h, 14, self.modified.date);
            put32(&mut h, 16, e.crc);
            // Sizes and offsets were checked against u32::MAX when the entry closed.
            put32(&mut h, 20, e.compressed as u32);
            put32(&mut h, 24, e.size as u32);
            put16(&mut h, 28, e.name.len() as u16);
            put32(&mut h, 42, e.offset as u32);
            self.push(&h);
            self.push(e.name.as_bytes());
        }
        let cd_size = self.produced - cd_start;
        let count = u16::try_from(entries.len())
            .map_err(|_| ZipWriteError::TooLarge { name: "(entry count)".into() })?;
        if self.produced > u64::from(u32::MAX) {
            return Err(ZipWriteError::TooLarge { name: "(central directory)".into() });
        }
        let mut end = [0u8; 22];
        put32(&mut end, 0, END_OF_CENTRAL_DIR_SIG);
        put16(&mut end, 8, count);
        put16(&mut end, 10, count);
        put32(&mut end, 12, cd_size as u32);
        put32(&mut end, 16, cd_start as u32);
        put16(&mut end, 20, comment_len);
        self.push(&end);
        self.push(comment);
        self.finished = true;
        Ok(())
    }

    /// Total bytes produced so far, handed out or pending.
    pub fn produced(&self) -> u64 {
        self.produced
    }
}

fn deflate_all(c: &mut Compress, data: &[u8], name: &str) -> Result<Vec<u8>, ZipWriteError> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        out.reserve(data.len() / 2 + 1024);
        let consumed = usize::try_from(c.total_in()).unwrap_or(0);
        let rest = data.get(consumed..).unwrap_or_default();
        let status = c
            .compress_vec(rest, &mut out, FlushCompress::Finish)
            .map_err(|e| ZipWriteError::Deflate { name: name.into(), detail: e.to_string() })?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
    }
}

fn put16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(dst) = buf.get_mut(at..at + 2) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

fn put32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(dst) = buf.get_mut(at..at + 4) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

/// Drives a writer to completion into a `Vec`: for tests and small archives only.
pub fn write_all_to_vec(
    w: &mut ZipWriter,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ZipWriteError> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut rest = input;
    loop {
        let p = w.write(rest, &mut buf)?;
        out.extend_from_slice(buf.get(..p.written).unwrap_or_default());
        rest = rest.get(p.consumed..).unwrap_or_default();
        if rest.is_empty() && w.pending_len() == 0 {
            return Ok(());
        }
    }
}

/// Moves every queued byte into `out`.
pub fn drain_to_vec(w: &mut ZipWriter, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        let n = w.drain(&mut buf);
        if n == 0 {
            return;
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes deflate cannot shrink (an LCG's high bytes), so the trial compression
    /// overflows its scratch buffer and stops short of the stream's end.
    fn incompressible(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    fn archive(files: &[Vec<u8>]) -> Vec<u8> {
        let mut w = ZipWriter::new(DosDateTime::EPOCH);
        let mut out = Vec::new();
        for (i, data) in files.iter().enumerate() {
            w.start_entry(&format!("f{i}.bin"), Method::Auto).unwrap();
            write_all_to_vec(&mut w, data, &mut out).unwrap();
            w.finish_entry().unwrap();
            w.add_entry(&format!("m{i}.xml"), b"<manifest/>", Method::Deflate).unwrap();
            drain_to_vec(&mut w, &mut out);
        }
        w.finish(b"").unwrap();
        drain_to_vec(&mut w, &mut out);
        out
    }

    /// Compressors are reused within a writer and, through the shelf, by the next
    /// writers; one left mid-stream by a trial that did not finish must not be.
    #[test]
    fn compressors_reused_across_entries_and_writers_keep_working() {
        let data: Vec<Vec<u8>> = (0..3).map(|i| incompressible(300_000, i)).collect();
        let first = archive(&data);
        for _ in 0..4 {
            assert_eq!(archive(&data), first, "a reused compressor changed the output");
        }
        let text = b"compressible text ".repeat(20_000);
        let mixed = archive(&[text.clone(), data[0].clone(), text]);
        assert!(mixed.len() < first.len());
    }
}
