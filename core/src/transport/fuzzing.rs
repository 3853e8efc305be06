//! Fuzz entry point for everything the transports read from the outside: broker and
//! Service Bus answers, the DPE payload and the DPO parcel. Any bytes must give a value
//! or an error, never a panic, and what is read must keep its promises.

use bytes::Bytes;

use super::altinn_broker::{parse_details, parse_initiated, parse_list};
use super::dpo_parcel::{Event, ParcelReader};
use super::failure::classify;
use super::service_bus::{decode_payload, encode_payload, parse_peeked};

pub fn transport_answers(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let status = [200, 201, 204, 400, 401, 404, 500][usize::from(first) % 7];

    let _ = classify(status, rest);
    if let Ok(id) = parse_initiated(status, rest) {
        assert!(uuid::Uuid::try_parse(&id).is_ok(), "a fileTransferId that is no UUID");
    }
    if let Ok(ids) = parse_list(status, rest) {
        assert!(
            ids.iter().all(|id| uuid::Uuid::try_parse(id).is_ok()),
            "a listed id that is no UUID"
        );
    }
    let _ = parse_details(status, rest);

    // The first line is the BrokerProperties header, the rest the body.
    let (header, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i + 1..).unwrap_or_default()),
        None => (rest, &[][..]),
    };
    let headers =
        vec![("BrokerProperties".to_owned(), String::from_utf8_lossy(header).into_owned())];
    if let Ok(Some(p)) = parse_peeked(status, &headers, &Bytes::copy_from_slice(body)) {
        assert!(
            !p.message_id.is_empty() && !p.lock_token.is_empty(),
            "a message without id or lock"
        );
    }

    if let Ok(payload) = decode_payload(rest) {
        let again = decode_payload(&encode_payload(&payload.sbd, payload.cms.as_deref()));
        assert_eq!(again.as_ref(), Ok(&payload), "a payload does not survive re-encoding");
    }

    parcel(rest, usize::from(first % 16) + 1);
}

/// Reads `zip` as a parcel in pieces of `piece` bytes: the CMS handed out must add up
/// to the size the summary reports.
fn parcel(zip: &[u8], piece: usize) {
    let mut r = ParcelReader::new();
    let mut out = [0u8; 64];
    let mut cms_len = 0u64;
    let mut sbds = 0;
    let mut chunks = zip.chunks(piece).chain(std::iter::once(&[][..]));
    let mut rest = chunks.next().unwrap_or_default();
    // Each round consumes input or hands out data; bound the rounds all the same.
    for _ in 0..(zip.len() + 64) * 64 {
        let Ok(step) = r.read(rest, &mut out) else {
            return;
        };
        rest = rest.get(step.consumed..).unwrap_or_default();
        match step.event {
            Some(Event::Sbd(_)) => sbds += 1,
            Some(Event::AsicData(d)) => cms_len += d.len() as u64,
            None => {
                assert!(rest.is_empty(), "no event although input is left");
                match chunks.next() {
                    Some(next) => rest = next,
                    None => {
                        if let Ok(summary) = r.finish() {
                            assert_eq!(sbds, 1, "a finished parcel without exactly one SBD");
                            assert_eq!(summary.asic_size.unwrap_or(0), cms_len);
                        }
                        return;
                    }
                }
            }
        }
    }
    panic!("the parcel reader neither finished nor asked for input");
}
