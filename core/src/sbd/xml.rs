//! SBD XML: the form older peers exchange. The header's elements map one to one onto
//! the JSON form's fields (`HeaderVersion` -> `headerVersion`, the `Authority`
//! attribute -> `authority`), so reading turns the XML into the JSON form and hands it
//! to the same reader; writing goes the other way.
//!
//! Documents with a DTD, or any entity but the five predefined ones and character
//! references, are refused: no entity expansion, no external fetches.

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde_json::{Map, Value};

use super::json::HEADER_KEY;
use super::{Sbd, SbdError};

const SBDH_NS: &str = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";
const BUSINESS_NS: &str = "urn:no:difi:meldingsutveksling:2.0";
/// Deep enough for any SBD; shallow enough that a hostile document cannot exhaust
/// the stack of the recursive conversion.
const MAX_DEPTH: usize = 32;
/// Header elements that repeat: they become JSON arrays even when they occur once.
const HEADER_LISTS: [&str; 5] =
    ["Sender", "Receiver", "Scope", "ScopeInformation", "ContactInformation"];

#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

fn unreadable(e: impl std::fmt::Display) -> SbdError {
    SbdError::Unreadable(format!("XML parse error: {e}"))
}

impl Sbd {
    pub fn from_xml(bytes: &[u8]) -> Result<Self, SbdError> {
        let text = std::str::from_utf8(bytes).map_err(|_| unreadable("not UTF-8"))?;
        let root = read_tree(text)?;
        if root.name != "StandardBusinessDocument" {
            return Err(unreadable(format!(
                "root element is '{}', not StandardBusinessDocument",
                root.name
            )));
        }
        let [header, business] = <[Element; 2]>::try_from(root.children).map_err(|c| {
            unreadable(format!(
                "StandardBusinessDocument must hold exactly a header and a business message, found {} elements",
                c.len()
            ))
        })?;
        if header.name != "StandardBusinessDocumentHeader" {
            return Err(unreadable(format!(
                "expected StandardBusinessDocumentHeader, found '{}'",
                header.name
            )));
        }
        let header_json = element_to_json(&header, true)?;
        let body = element_to_json(&business, false)?;
        let body = match body {
            // An empty business element (`<avtalt/>`) is an empty object.
            Value::String(s) if s.is_empty() => Value::Object(Map::new()),
            other => other,
        };
        // XML documents of the pre-NextMove era put the service (`DPO`) in Type; the
        // business element names the message type, so that decides.
        Sbd::from_parts(header_json, &business.name, body, false, super::json::Checks::Created)
    }

    /// The SBD as XML, with the reference's prefixes: `ns2` for the header's
    /// namespace, `ns3` for the business message.
    pub fn to_xml(&self) -> String {
        let json = self.to_json_value();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<ns2:StandardBusinessDocument xmlns:ns2=\"{SBDH_NS}\" xmlns:ns3=\"{BUSINESS_NS}\">\n"
        ));
        if let Some(h) = json.get(HEADER_KEY) {
            write_element(&mut out, "ns2:", "StandardBusinessDocumentHeader", h, 1, true);
        }
        let t = self.message_type().name();
        if let Some(b) = json.get(t) {
            write_business(&mut out, t, b);
        }
        out.push_str("</ns2:StandardBusinessDocument>\n");
        out
    }
}

fn read_tree(text: &str) -> Result<Element, SbdError> {
    // Text is kept as written: entity references split it into pieces, and trimming
    // each piece would eat the spaces around them. Whitespace between elements is
    // dropped when the element turns out to have children.
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| unreadable(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::DocType(_) => return Err(unreadable("DTDs are not accepted")),
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                return Err(unreadable(format!(
                    "content after the root element: <{}>",
                    e.local_name().as_ref()
                )));
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(unreadable("elements nested too deep"));
                }
                stack.push(start_element(&e)?);
            }
            Event::Empty(e) => {
                let el = start_element(&e)?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                // The reader has checked that the end tag matches its start tag.
                let el = stack.pop().ok_or_else(|| unreadable("unbalanced end tag"))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => append_text(&mut stack, &t.xml10_content())?,
            Event::CData(c) => append_text(&mut stack, &c)?,
            Event::GeneralRef(r) => {
                let c = crate::xml_reference::resolve(&r).map_err(unreadable)?;
                append_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(unreadable("truncated document: unclosed elements"));
    }
    root.ok_or_else(|| unreadable("no root element"))
}

fn start_element(e: &quick_xml::events::BytesStart) -> Result<Element, SbdError> {
    let name = e.local_name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(unreadable)?;
        let key = a.key;
        // Namespace declarations are structure, not data.
        if key.as_ref() == "xmlns" || key.prefix().is_some_and(|p| p.as_ref() == "xmlns") {
            continue;
        }
        let k = key.local_name().as_ref().to_owned();
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(unreadable)?
            .into_owned();
        attributes.push((k, v));
    }
    Ok(Element { name, attributes, ..Element::default() })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn append_text(stack: &mut [Element], s: &str) -> Result<(), SbdError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(unreadable("text outside the root element")),
    }
}

/// `HeaderVersion` -> `headerVersion`.
fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn element_to_json(el: &Element, header: bool) -> Result<Value, SbdError> {
    let key = |n: &str| if header { camel(n) } else { n.to_owned() };
    if el.children.is_empty() && el.attributes.is_empty() {
        return Ok(Value::String(el.text.clone()));
    }
    let mut m = Map::new();
    for (k, v) in &el.attributes {
        m.insert(key(k), Value::String(v.clone()));
    }
    if el.children.is_empty() {
        // `<Identifier Authority="…">0192:…</Identifier>`
        m.insert("value".to_owned(), Value::String(el.text.clone()));
        return Ok(Value::Object(m));
    }
    if !el.text.trim().is_empty() {
        return Err(unreadable(format!("<{}> mixes text and elements", el.name)));
    }
    // From here on `el.text` is only the indentation between child elements.
    for child in &el.children {
        let k = key(&child.name);
        let v = element_to_json(child, header)?;
        let listed = header && HEADER_LISTS.contains(&child.name.as_str());
        match m.get_mut(&k) {
            Some(Value::Array(a)) if listed || !header => a.push(v),
            Some(existing) if !header => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            Some(_) => return Err(unreadable(format!("<{}> occurs twice", child.name))),
            None if listed => {
                m.insert(k, Value::Array(vec![v]));
            }
            None => {
                m.insert(k, v);
            }
        }
    }
    Ok(Value::Object(m))
}

fn pascal(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
}

/// Write the header's JSON form as SBDH elements. A JSON object holding `value` and
/// `authority` is the one attribute-bearing element, `Identifier`.
fn write_element(
    out: &mut String,
    prefix: &str,
    name: &str,
    v: &Value,
    depth: usize,
    header: bool,
) {
    let tag = if header { pascal(name) } else { name.to_owned() };
    match v {
        Value::Array(items) => {
            for item in items {
                write_element(out, prefix, name, item, depth, header);
            }
        }
        Value::Object(m) if header && m.contains_key("value") && m.contains_key("authority") => {
            indent(out, depth);
            let auth = m.get("authority").and_then(Value::as_str).unwrap_or_default();
            let val = m.get("value").and_then(Value::as_str).unwrap_or_default();
            out.push_str(&format!(
                "<{prefix}{tag} Authority=\"{}\">{}</{prefix}{tag}>\n",
                escape(auth),
                escape(val)
            ));
        }
        Value::Object(m) => {
            indent(out, depth);
            out.push_str(&format!("<{prefix}{tag}>\n"));
            for (k, child) in m {
                write_element(out, prefix, k, child, depth + 1, header);
            }
            indent(out, depth);
            out.push_str(&format!("</{prefix}{tag}>\n"));
        }
        Value::Null => {}
        scalar => {
            indent(out, depth);
            let text = match scalar {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("<{prefix}{tag}>{}</{prefix}{tag}>\n", escape(text.as_str())));
        }
    }
}

fn write_business(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push_str(&format!("    <ns3:{name}>\n"));
            for (k, child) in m {
                write_element(out, "", k, child, 2, false);
            }
            out.push_str(&format!("    </ns3:{name}>\n"));
        }
        _ => out.push_str(&format!("    <ns3:{name}/>\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbd::MessageType;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:StandardBusinessDocument xmlns:ns2="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader" xmlns:ns3="urn:no:difi:meldingsutveksling:2.0">
  <ns2:StandardBusinessDocumentHeader>
    <ns2:HeaderVersion>1.0</ns2:HeaderVersion>
    <ns2:Sender><ns2:Identifier Authority="iso6523-actorid-upis">0192:910077473</ns2:Identifier></ns2:Sender>
    <ns2:Receiver><ns2:Identifier Authority="iso6523-actorid-upis">0192:910075918</ns2:Identifier></ns2:Receiver>
    <ns2:DocumentIdentification>
      <ns2:Standard>urn:no:difi:avtalt:xsd::avtalt</ns2:Standard>
      <ns2:TypeVersion>1.0</ns2:TypeVersion>
      <ns2:InstanceIdentifier>ff88849c-e281-4809-8555-7cd54952b916</ns2:InstanceIdentifier>
      <ns2:Type>avtalt</ns2:Type>
    </ns2:DocumentIdentification>
    <ns2:BusinessScope><ns2:Scope>
      <ns2:Type>ConversationId</ns2:Type>
      <ns2:InstanceIdentifier>37efbd4c-413d-4e2c-bbc5-257ef4a65a45</ns2:InstanceIdentifier>
      <ns2:Identifier>urn:no:difi:profile:avtalt:avtalt:ver1.0</ns2:Identifier>
    </ns2:Scope></ns2:BusinessScope>
  </ns2:StandardBusinessDocumentHeader>
  <ns3:avtalt><identifier>a &amp; b &#x41;</identifier><nytt><x>1</x><x>2</x></nytt></ns3:avtalt>
</ns2:StandardBusinessDocument>"#;

    #[test]
    fn reads_and_writes_back() {
        let s = Sbd::from_xml(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.message_type(), MessageType::Avtalt);
        let crate::sbd::BusinessMessage::Avtalt(a) = &s.message else { panic!() };
        assert_eq!(a.identifier.as_deref(), Some("a & b A"));
        assert_eq!(a.extra["nytt"], serde_json::json!({"x": ["1", "2"]}));
        let again = Sbd::from_xml(s.to_xml().as_bytes()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn refuses_dtds_entities_and_truncation() {
        let dtd =
            SAMPLE.replacen("<ns2:Standard", "<!DOCTYPE x [<!ENTITY e \"boom\">]><ns2:Standard", 1);
        assert!(matches!(Sbd::from_xml(dtd.as_bytes()), Err(SbdError::Unreadable(_))));
        let dtd_first = SAMPLE.replacen(
            "?>",
            "?><!DOCTYPE ns2:StandardBusinessDocument SYSTEM \"http://x/\">",
            1,
        );
        let Err(SbdError::Unreadable(m)) = Sbd::from_xml(dtd_first.as_bytes()) else { panic!() };
        assert!(m.contains("DTD"), "{m}");
        let entity = SAMPLE.replace("a &amp; b", "a &xxe; b");
        assert!(matches!(Sbd::from_xml(entity.as_bytes()), Err(SbdError::Unreadable(_))));
        for cut in [10, 200, SAMPLE.len() - 5] {
            assert!(
                matches!(Sbd::from_xml(&SAMPLE.as_bytes()[..cut]), Err(SbdError::Unreadable(_))),
                "{cut}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "<a>".repeat(10_000);
        assert!(matches!(Sbd::from_xml(deep.as_bytes()), Err(SbdError::Unreadable(_))));
    }
}
