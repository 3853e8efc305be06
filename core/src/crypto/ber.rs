//! A bounded BER reader over a byte slice: single-byte tags, definite and indefinite
//! lengths, nesting limited so hostile input cannot exhaust the stack.

use thiserror::Error;

const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BerError {
    #[error("ASN.1 data ends early")]
    Incomplete,
    #[error("ASN.1 data is malformed at offset {0}")]
    Malformed(usize),
    #[error("ASN.1 nesting is deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// One parsed element. `value` excludes the header and, for indefinite lengths, the
/// end-of-contents octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The whole element as it appeared, header included.
    pub raw: &'a [u8],
    pub indefinite: bool,
}

impl<'a> Tlv<'a> {
    pub fn constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }

    /// Iterates the children of a constructed element.
    pub fn children(&self) -> Children<'a> {
        Children { rest: self.value }
    }

    /// The value of a (possibly constructed, BER) OCTET STRING, concatenated.
    pub fn octets(&self) -> Result<Vec<u8>, BerError> {
        let mut out = Vec::new();
        collect_octets(self, &mut out, 0)?;
        Ok(out)
    }
}

fn collect_octets(t: &Tlv<'_>, out: &mut Vec<u8>, depth: usize) -> Result<(), BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::TooDeep);
    }
    if !t.constructed() {
        out.extend_from_slice(t.value);
        return Ok(());
    }
    for c in t.children() {
        collect_octets(&c?, out, depth + 1)?;
    }
    Ok(())
}

pub struct Children<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, BerError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match read(self.rest) {
            Ok((t, rest)) => {
                self.rest = rest;
                Some(Ok(t))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// An element's header: tag, and the value length (None = indefinite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    pub len: Option<usize>,
    pub header_len: usize,
}

/// Reads only the header. `Incomplete` means more bytes are needed.
pub fn read_header(input: &[u8]) -> Result<Header, BerError> {
    let tag = *input.first().ok_or(BerError::Incomplete)?;
    if tag & 0x1f == 0x1f {
        // Multi-byte tags never occur in the structures we read.
        return Err(BerError::Malformed(0));
    }
    let first = *input.get(1).ok_or(BerError::Incomplete)?;
    if first < 0x80 {
        return Ok(Header { tag, len: Some(usize::from(first)), header_len: 2 });
    }
    if first == 0x80 {
        if tag & 0x20 == 0 {
            return Err(BerError::Malformed(1));
        }
        return Ok(Header { tag, len: None, header_len: 2 });
    }
    let n = usize::from(first & 0x7f);
    if n > 4 {
        return Err(BerError::Malformed(1));
    }
    let bytes = input.get(2..2 + n).ok_or(BerError::Incomplete)?;
    let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok(Header { tag, len: Some(len), header_len: 2 + n })
}

/// Reads one element; returns it and the bytes after it.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), BerError> {
    read_depth(input, 0)
}

fn read_depth(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::TooDeep);
    }
    let h = read_header(input)?;
    let body = input.get(h.header_len..).ok_or(BerError::Incomplete)?;
    match h.len {
        Some(len) => {
            let value = body.get(..len).ok_or(BerError::Incomplete)?;
            let total = h.header_len + len;
            let raw = input.get(..total).ok_or(BerError::Incomplete)?;
            let rest = input.get(total..).ok_or(BerError::Incomplete)?;
            Ok((Tlv { tag: h.tag, value, raw, indefinite: false }, rest))
        }
        None => {
            let mut pos = 0;
            loop {
                let rest = body.get(pos..).ok_or(BerError::Incomplete)?;
                if rest.len() >= 2 && rest.first() == Some(&0) && rest.get(1) == Some(&0) {
                    break;
                }
                if rest.len() < 2 {
                    return Err(BerError::Incomplete);
                }
                let (_, after) = read_depth(rest, depth + 1)?;
                pos = body.len() - after.len();
            }
            let value = body.get(..pos).ok_or(BerError::Incomplete)?;
            let total = h.header_len + pos + 2;
            Ok((
                Tlv {
                    tag: h.tag,
                    value,
                    raw: input.get(..total).ok_or(BerError::Incomplete)?,
                    indefinite: true,
                },
                input.get(total..).ok_or(BerError::Incomplete)?,
            ))
        }
    }
}

/// Reads exactly one element that must fill `input`, with the given tag.
pub fn expect(input: &[u8], tag: u8) -> Result<Tlv<'_>, BerError> {
    let (t, rest) = read(input)?;
    if t.tag != tag || !rest.is_empty() {
        return Err(BerError::Malformed(0));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_indefinite_with_constructed_octets() {
        // SEQUENCE (indef) { [0] cons (indef) { OCTET STRING "ab", OCTET STRING "c" } }
        let data = [0x30, 0x80, 0xa0, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0];
        let (t, rest) = read(&data).expect("parses");
        assert!(rest.is_empty());
        let inner = t.children().next().expect("child").expect("ok");
        assert_eq!(inner.octets(), Ok(b"abc".to_vec()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let data: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert_eq!(read(&data).err(), Some(BerError::TooDeep));
    }
}
