//! The DPO parcel `sbd.zip`: a zip with `sbd.json` (the SBD as JSON) and, when the
//! message has documents, `asic.zip` (despite its name: the CMS EnvelopedData that
//! wraps the ASiC-E). Older senders put the SBD as XML in `content.xml`; the reader
//! takes that as well.
//!
//! Both directions stream in the style of [`package::pipeline`](crate::package::pipeline):
//! the CMS bytes go through [`ParcelWriter`] into the caller's buffers without the
//! parcel ever being whole in memory, and [`ParcelReader`] hands the CMS out in chunks
//! of the caller's buffer. Only the SBD is held, and it is capped at [`MAX_SBD_LEN`].

use bytes::Bytes;
use thiserror::Error;

use crate::Timestamp;
use crate::package::Progress;
use crate::package::dos_time::DosDateTime;
use crate::package::zip_read::{ZipEvent, ZipLimits, ZipReadError, ZipReader};
use crate::package::zip_write::{Method, ZipWriteError, ZipWriter};

/// The SBD entry.
pub const SBD_ENTRY: &str = "sbd.json";
/// The CMS entry.
pub const ASIC_ENTRY: &str = "asic.zip";
/// The SBD entry of older senders: SBD XML.
pub const LEGACY_SBD_ENTRY: &str = "content.xml";
/// Largest SBD the reader holds in memory. Real SBDs are a few KiB; documents travel in
/// the CMS, so anything near this size is not a message we want.
pub const MAX_SBD_LEN: usize = 1024 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParcelError {
    #[error("writing sbd.zip: {0}")]
    Write(#[from] ZipWriteError),
    #[error("reading sbd.zip: {0}")]
    Read(#[from] ZipReadError),
    #[error("the SBD in sbd.zip ({entry}) is larger than {limit} bytes")]
    SbdTooLarge { entry: &'static str, limit: usize },
    #[error("sbd.zip holds two SBDs (sbd.json and content.xml)")]
    TwoSbds,
    #[error("sbd.zip holds no SBD (neither sbd.json nor content.xml)")]
    NoSbd,
    #[error("the output buffer is empty")]
    OutputTooSmall,
    #[error("this parcel was made without asic.zip, so it takes no CMS bytes")]
    NoAsicEntry,
    #[error("called after the end of the stream")]
    Ended,
}

/// SBD JSON and a CMS stream in, `sbd.zip` out.
///
/// Use: [`new`](Self::new), then [`write`](Self::write) the CMS bytes (call again with
/// what it did not consume, emptying `out` in between), then [`finish`](Self::finish)
/// and [`flush`](Self::flush) until [`is_done`](Self::is_done).
pub struct ParcelWriter {
    zip: ZipWriter,
    asic: bool,
    finished: bool,
}

impl ParcelWriter {
    /// A parcel with `sbd.json` and an `asic.zip` entry for the CMS that follows.
    /// `now` becomes the entries' modification time.
    pub fn new(sbd_json: &[u8], now: Timestamp) -> Result<Self, ParcelError> {
        Self::build(sbd_json, now, true)
    }

    /// A parcel with `sbd.json` only, for messages without documents (statuses,
    /// receipts): the reference leaves `asic.zip` out then.
    pub fn without_asic(sbd_json: &[u8], now: Timestamp) -> Result<Self, ParcelError> {
        Self::build(sbd_json, now, false)
    }

    fn build(sbd_json: &[u8], now: Timestamp, asic: bool) -> Result<Self, ParcelError> {
        let mut zip = ZipWriter::new(DosDateTime::from_timestamp(now));
        // Deflated, as the reference's writer does; the SBD is small and shrinks well.
        zip.add_entry(SBD_ENTRY, sbd_json, Method::Deflate)?;
        if asic {
            // CMS output is random-looking: Auto stores it in level-0 deflate blocks
            // rather than spending CPU on compression that cannot pay.
            zip.start_entry(ASIC_ENTRY, Method::Auto)?;
        }
        Ok(ParcelWriter { zip, asic, finished: false })
    }

    /// Streams CMS bytes; also hands out bytes already queued (the `sbd.json` entry
    /// first). May consume less than `cms_in`: call again with the rest.
    pub fn write(&mut self, cms_in: &[u8], out: &mut [u8]) -> Result<Progress, ParcelError> {
        if self.finished {
            return Err(ParcelError::Ended);
        }
        if !self.asic && !cms_in.is_empty() {
            return Err(ParcelError::NoAsicEntry);
        }
        if out.is_empty() {
            return Err(ParcelError::OutputTooSmall);
        }
        let mut consumed = 0;
        let mut written = 0;
        loop {
            let rest = cms_in.get(consumed..).unwrap_or_default();
            let dst = out.get_mut(written..).unwrap_or_default();
            let p = if self.asic {
                self.zip.write(rest, dst)?
            } else {
                Progress { consumed: 0, written: self.zip.drain(dst) }
            };
            consumed += p.consumed;
            written += p.written;
            let input_done = consumed >= cms_in.len() && self.zip.pending_len() == 0;
            if (p.consumed == 0 && p.written == 0) || input_done {
                return Ok(Progress { consumed, written });
            }
        }
    }

    /// Queues the end of `asic.zip` and the zip's central directory. Then call
    /// [`flush`](Self::flush) until [`is_done`](Self::is_done).
    pub fn finish(&mut self) -> Result<(), ParcelError> {
        if self.finished {
            return Err(ParcelError::Ended);
        }
        if self.asic {
            self.zip.finish_entry()?;
        }
        self.zip.finish(b"")?;
        self.finished = true;
        Ok(())
    }

    /// Writes queued bytes into `out`; returns how many (0 when nothing is queued).
    pub fn flush(&mut self, out: &mut [u8]) -> Result<usize, ParcelError> {
        if out.is_empty() && self.zip.pending_len() > 0 {
            return Err(ParcelError::OutputTooSmall);
        }
        Ok(self.zip.drain(out))
    }

    /// True once the whole parcel has been handed out.
    pub fn is_done(&self) -> bool {
        self.finished && self.zip.pending_len() == 0
    }

    /// Bytes of parcel produced so far (handed out or queued).
    pub fn produced(&self) -> u64 {
        self.zip.produced()
    }
}

/// What one [`ParcelReader::read`] call found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'o> {
    /// The whole SBD: JSON from `sbd.json`, or XML from `content.xml`
    /// (`Sbd::parse` tells them apart).
    Sbd(Bytes),
    /// The next bytes of the CMS in `asic.zip`, in the caller's buffer.
    AsicData(&'o [u8]),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Step<'o> {
    /// Bytes of the input used; call again with the rest.
    pub consumed: usize,
    /// `None` only when the whole input was consumed and more is needed (or the
    /// input has ended: then call [`ParcelReader::finish`]).
    pub event: Option<Event<'o>>,
}

/// What the whole parcel held, once [`ParcelReader::finish`] checked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParcelSummary {
    /// Size of the CMS in `asic.zip`; `None` when the parcel has no `asic.zip`.
    pub asic_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Between,
    Sbd(&'static str),
    Asic,
    /// Anything else: read and dropped, as the reference does.
    Other,
}

/// `sbd.zip` in, the SBD and the CMS out. The entries may come in any order; other
/// entries are skipped.
///
/// Use: feed parcel bytes to [`read`](Self::read) and handle each event; when it
/// returns no event, feed the next bytes (an empty slice once the parcel ended, until
/// no event comes), then [`finish`](Self::finish), which checks the zip's directory and
/// that an SBD was there.
pub struct ParcelReader {
    zip: ZipReader,
    entry: Entry,
    sbd: Vec<u8>,
    sbd_seen: bool,
    asic_size: Option<u64>,
    finished: bool,
}

impl Default for ParcelReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ParcelReader {
    pub fn new() -> Self {
        // A parcel has two entries; room for a few unknown ones, not for thousands.
        Self::with_limits(ZipLimits {
            max_entries: 64,
            max_directory_len: 64 * 1024,
            ..ZipLimits::default()
        })
    }

    pub fn with_limits(limits: ZipLimits) -> Self {
        ParcelReader {
            zip: ZipReader::new(limits),
            entry: Entry::Between,
            sbd: Vec::new(),
            sbd_seen: false,
            asic_size: None,
            finished: false,
        }
    }

    /// Consumes parcel bytes. CMS bytes are written into `out` and handed out as
    /// [`Event::AsicData`]; `out` also serves as scratch space for the other entries.
    pub fn read<'o>(&mut self, input: &[u8], out: &'o mut [u8]) -> Result<Step<'o>, ParcelError> {
        if self.finished {
            return Err(ParcelError::Ended);
        }
        if out.is_empty() {
            return Err(ParcelError::OutputTooSmall);
        }
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            let step = self.zip.read(rest, out)?;
            consumed += step.consumed;
            let written = step.written;
            let entry = self.entry;
            match entry {
                Entry::Sbd(name) => {
                    if self.sbd.len() + written > MAX_SBD_LEN {
                        return Err(ParcelError::SbdTooLarge { entry: name, limit: MAX_SBD_LEN });
                    }
                    self.sbd.extend_from_slice(out.get(..written).unwrap_or_default());
                }
                Entry::Asic => {
                    if let Some(size) = self.asic_size.as_mut() {
                        *size += written as u64;
                    }
                }
                Entry::Between | Entry::Other => {}
            }
            let progressed = step.consumed > 0 || written > 0 || step.event.is_some();
            match step.event {
                Some(ZipEvent::EntryStart(meta)) => self.start(&meta.name)?,
                Some(ZipEvent::EntryEnd { .. }) => {
                    self.entry = Entry::Between;
                    if matches!(entry, Entry::Sbd(_)) {
                        let sbd = Bytes::from(std::mem::take(&mut self.sbd));
                        return Ok(Step { consumed, event: Some(Event::Sbd(sbd)) });
                    }
                }
                None => {}
            }
            if entry == Entry::Asic && written > 0 {
                let data: &'o [u8] = out;
                let data = data.get(..written).unwrap_or_default();
                return Ok(Step { consumed, event: Some(Event::AsicData(data)) });
            }
            if !progressed {
                return Ok(Step { consumed, event: None });
            }
        }
    }

    fn start(&mut self, name: &str) -> Result<(), ParcelError> {
        self.entry = match name {
            SBD_ENTRY | LEGACY_SBD_ENTRY => {
                if self.sbd_seen {
                    return Err(ParcelError::TwoSbds);
                }
                self.sbd_seen = true;
                Entry::Sbd(if name == SBD_ENTRY { SBD_ENTRY } else { LEGACY_SBD_ENTRY })
            }
            ASIC_ENTRY => {
                self.asic_size = Some(0);
                Entry::Asic
            }
            _ => Entry::Other,
        };
        Ok(())
    }

    /// Call when the parcel has ended (and `read(&[], …)` gives no more events): checks
    /// the zip's directory against the entries read and that an SBD was among them.
    pub fn finish(&mut self) -> Result<ParcelSummary, ParcelError> {
        if self.finished {
            return Err(ParcelError::Ended);
        }
        self.zip.finish()?;
        self.finished = true;
        if !self.sbd_seen {
            return Err(ParcelError::NoSbd);
        }
        Ok(ParcelSummary { asic_size: self.asic_size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::zip_write::drain_to_vec;

    const SBD: &[u8] =
        br#"{"standardBusinessDocumentHeader":{"headerVersion":"1.0"},"arkivmelding":{}}"#;

    fn now() -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000)
    }

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

    /// Runs the writer with input pieces of `piece` bytes and an output buffer of
    /// `out_len` bytes, as a runtime would.
    fn write_parcel(cms: Option<&[u8]>, piece: usize, out_len: usize) -> Vec<u8> {
        let mut w = match cms {
            Some(_) => ParcelWriter::new(SBD, now()).unwrap(),
            None => ParcelWriter::without_asic(SBD, now()).unwrap(),
        };
        let mut out = vec![0u8; out_len];
        let mut zip = Vec::new();
        for chunk in cms.unwrap_or_default().chunks(piece) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let p = w.write(rest, &mut out).unwrap();
                zip.extend_from_slice(&out[..p.written]);
                rest = &rest[p.consumed..];
            }
        }
        w.finish().unwrap();
        while !w.is_done() {
            let n = w.flush(&mut out).unwrap();
            zip.extend_from_slice(&out[..n]);
        }
        assert_eq!(w.produced(), zip.len() as u64);
        zip
    }

    struct Read {
        sbd: Option<Bytes>,
        cms: Vec<u8>,
        summary: ParcelSummary,
    }

    fn read_parcel(zip: &[u8], piece: usize, out_len: usize) -> Result<Read, ParcelError> {
        let mut r = ParcelReader::new();
        let mut out = vec![0u8; out_len];
        let mut sbd = None;
        let mut cms = Vec::new();
        let mut chunks = zip.chunks(piece).chain(std::iter::once(&[][..]));
        let mut rest = chunks.next().unwrap_or_default();
        loop {
            let step = r.read(rest, &mut out)?;
            rest = &rest[step.consumed..];
            match step.event {
                Some(Event::Sbd(b)) => {
                    assert!(sbd.is_none(), "two SBD events");
                    sbd = Some(b);
                }
                Some(Event::AsicData(d)) => {
                    assert!(!d.is_empty() && d.len() <= out_len);
                    cms.extend_from_slice(d);
                }
                None => {
                    assert!(rest.is_empty(), "no event although input is left");
                    match chunks.next() {
                        Some(next) => rest = next,
                        None => break,
                    }
                }
            }
        }
        let summary = r.finish()?;
        Ok(Read { sbd, cms, summary })
    }

    #[test]
    fn multi_megabyte_round_trip_through_small_buffers() {
        // Random bytes like a CMS, with a regular stretch in the middle (the writer
        // decides on compression from the first bytes, so that stretch stays stored).
        let mut cms = noise(3 * 1024 * 1024, 5);
        cms.extend_from_slice(&b"0123456789".repeat(100_000));
        cms.extend_from_slice(&noise(777_777, 6));
        for (piece, out_len, read_piece, read_out) in
            [(65_536, 4096, 65_536, 4096), (1000, 333, 777, 100), (1 << 20, 1 << 16, 13, 4096)]
        {
            let zip = write_parcel(Some(&cms), piece, out_len);
            // Stored deflate blocks cost 5 bytes per 64 KiB at most, plus the headers.
            assert!(
                zip.len() < cms.len() + cms.len() / 1000 + 1024,
                "parcel is {} bytes",
                zip.len()
            );
            let got = read_parcel(&zip, read_piece, read_out).unwrap();
            assert_eq!(got.sbd.as_deref(), Some(SBD));
            assert!(
                got.cms == cms,
                "CMS differs (pieces {piece}/{out_len}/{read_piece}/{read_out})"
            );
            assert_eq!(got.summary, ParcelSummary { asic_size: Some(cms.len() as u64) });
        }
    }

    #[test]
    fn one_byte_buffers_work() {
        let cms = noise(5000, 9);
        let zip = write_parcel(Some(&cms), 1, 1);
        let got = read_parcel(&zip, 1, 1).unwrap();
        assert_eq!((got.sbd.as_deref(), got.cms), (Some(SBD), cms));
    }

    #[test]
    fn entries_are_sbd_json_then_asic_zip() {
        let zip = write_parcel(Some(b"cms"), 100, 100);
        let names = local_names(&zip);
        assert_eq!(names, ["sbd.json", "asic.zip"]);
        let zip = write_parcel(None, 100, 100);
        assert_eq!(local_names(&zip), ["sbd.json"]);
        let got = read_parcel(&zip, 100, 100).unwrap();
        assert_eq!(got.summary.asic_size, None);
        assert!(got.cms.is_empty());
    }

    /// Entry names from the local headers, in order.
    fn local_names(zip: &[u8]) -> Vec<String> {
        let mut r = ZipReader::new(ZipLimits::default());
        let mut out = vec![0u8; 1 << 16];
        let mut names = Vec::new();
        let mut rest = zip;
        loop {
            let s = r.read(rest, &mut out).unwrap();
            rest = &rest[s.consumed..];
            if let Some(ZipEvent::EntryStart(m)) = s.event {
                names.push(m.name);
            } else if s.event.is_none() && s.written == 0 && rest.is_empty() {
                break;
            }
        }
        r.finish().unwrap();
        names
    }

    fn custom_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(DosDateTime::EPOCH);
        for (name, data) in entries {
            w.add_entry(name, data, Method::Auto).unwrap();
        }
        w.finish(b"").unwrap();
        let mut out = Vec::new();
        drain_to_vec(&mut w, &mut out);
        out
    }

    #[test]
    fn legacy_content_xml_is_the_sbd_and_order_and_extras_do_not_matter() {
        let xml = b"<StandardBusinessDocument/>";
        let zip =
            custom_zip(&[("asic.zip", b"cms bytes"), ("readme.txt", b"x"), ("content.xml", xml)]);
        let got = read_parcel(&zip, 5, 3).unwrap();
        assert_eq!(got.sbd.as_deref(), Some(&xml[..]));
        assert_eq!(got.cms, b"cms bytes");
    }

    #[test]
    fn refusals() {
        let no_sbd = custom_zip(&[("asic.zip", b"cms")]);
        assert_eq!(read_parcel(&no_sbd, 100, 100).err(), Some(ParcelError::NoSbd));
        let two = custom_zip(&[("sbd.json", b"{}"), ("content.xml", b"<a/>")]);
        assert_eq!(read_parcel(&two, 100, 100).err(), Some(ParcelError::TwoSbds));
        let big = vec![b' '; MAX_SBD_LEN + 1];
        let too_big = custom_zip(&[("sbd.json", &big)]);
        assert_eq!(
            read_parcel(&too_big, 1 << 16, 1 << 16).err(),
            Some(ParcelError::SbdTooLarge { entry: "sbd.json", limit: MAX_SBD_LEN })
        );
        let exact = vec![b' '; MAX_SBD_LEN];
        assert!(read_parcel(&custom_zip(&[("sbd.json", &exact)]), 1 << 16, 1 << 16).is_ok());
        let zip = write_parcel(Some(b"cms"), 100, 100);
        for cut in [0, 10, zip.len() / 2, zip.len() - 1] {
            assert!(read_parcel(&zip[..cut], 100, 100).is_err(), "cut at {cut}");
        }
        assert!(read_parcel(b"not a zip at all", 100, 100).is_err());
        let mut r = ParcelReader::new();
        assert_eq!(r.read(b"PK", &mut []).err(), Some(ParcelError::OutputTooSmall));
    }

    #[test]
    fn writer_misuse_is_an_error() {
        let mut w = ParcelWriter::without_asic(SBD, now()).unwrap();
        assert_eq!(w.write(b"x", &mut [0u8; 10]).err(), Some(ParcelError::NoAsicEntry));
        let mut w = ParcelWriter::new(SBD, now()).unwrap();
        assert_eq!(w.write(b"x", &mut []).err(), Some(ParcelError::OutputTooSmall));
        w.finish().unwrap();
        assert_eq!(w.finish().err(), Some(ParcelError::Ended));
        assert_eq!(w.write(b"x", &mut [0u8; 10]).err(), Some(ParcelError::Ended));
    }
}
