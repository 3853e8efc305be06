//! A minimal DER writer: tag, definite length, value. Enough for the fixed structures we
//! emit (SignedData, KeyTransRecipientInfo, the envelope header).

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const NULL: u8 = 0x05;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;

/// Appends the DER length octets for `len`.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// Returns `tag || len || value`.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// A constructed TLV over concatenated parts.
pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

pub fn oid(content: &[u8]) -> Vec<u8> {
    tlv(OID, content)
}

/// AlgorithmIdentifier with the given parameters (already encoded) or none.
pub fn alg_id(oid_content: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let o = oid(oid_content);
    match params {
        Some(p) => cons(SEQUENCE, &[&o, p]),
        None => cons(SEQUENCE, &[&o]),
    }
}

/// DER `SET OF`: elements sorted by their encodings (X.690 11.6).
pub fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
    cons(SET, &refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_are_minimal() {
        let mut v = Vec::new();
        push_len(&mut v, 0x7f);
        push_len(&mut v, 0x80);
        push_len(&mut v, 0x1234);
        assert_eq!(v, [0x7f, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }
}
