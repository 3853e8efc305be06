//! References in XML text: character references and the five predefined entities,
//! and nothing else. Every XML reader in core goes through this, so none expands an
//! entity a document defines (no billion laughs, no external fetches).

use quick_xml::events::BytesRef;

/// The character `r` stands for, or why it is refused.
pub fn resolve(r: &BytesRef<'_>) -> Result<char, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c);
    }
    match &*r.xml10_content() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!("entity '&{other};' is not accepted")),
    }
}
