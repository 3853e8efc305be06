//! Entry points for the fuzz targets and for the corpus replay in the test suite.
//! Each one runs a parser on arbitrary bytes and asserts the properties that must
//! hold for every input; a panic is a finding.

use crate::sbd::Sbd;

/// Parse `data` as an SBD. Whatever parses must write back to JSON that parses to
/// the same SBD, and to XML that reads without a panic.
pub fn sbd_parse(data: &[u8]) {
    let Ok((sbd, _)) = Sbd::parse(data) else {
        return;
    };
    let json = sbd.to_json_pretty();
    match Sbd::from_json(json.as_bytes()) {
        Ok(again) => assert_eq!(again, sbd, "JSON round trip changed the SBD"),
        Err(e) => panic!("our own JSON does not read back: {e}\n{json}"),
    }
    let _ = Sbd::from_xml(sbd.to_xml().as_bytes());
}
