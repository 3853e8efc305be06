//! The reference's REST docs (`eformidling2-api-restdocs.txt`, the text of its
//! Spring REST Docs page) read as data: every example's request (request line,
//! headers, body) and response (status line, headers, body), under the headings
//! that name it; and a comparison of an answer's JSON with a documented one by
//! shape: the same keys, recursively, with the same JSON types.

use std::fmt;

use serde_json::Value;

/// One documented example. Most have both a request and a response; the error
/// examples show only the response, and the webhook events only the request (efm
/// sends those).
#[derive(Clone, Debug)]
pub struct Example {
    /// The operation's heading, e.g. "Find incoming messages".
    pub operation: String,
    /// The example's heading under the operation, when it has one, e.g.
    /// "Example 1 - Get all incoming messages".
    pub example: Option<String>,
    pub request: Option<DocRequest>,
    pub response: Option<DocResponse>,
    /// The line of the first block, for messages.
    pub line: usize,
}

impl Example {
    /// "operation / example", or the operation alone.
    pub fn title(&self) -> String {
        match &self.example {
            Some(e) => format!("{} / {e}", self.operation),
            None => self.operation.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocRequest {
    pub method: String,
    /// The request target as written (path and query).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

impl DocRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl DocResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A "Request" block whose first line is not `METHOD TARGET HTTP/1.1`.
    BadRequestLine { line: usize, text: String },
    /// A "Response" block whose first line is not `HTTP/1.1 CODE REASON`.
    BadStatusLine { line: usize, text: String },
    /// A header line without a colon.
    BadHeader { line: usize, text: String },
    /// A body that starts like JSON and is not.
    BadJson { line: usize, error: String },
    /// A block label with nothing after it.
    EmptyBlock { line: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadRequestLine { line, text } => {
                write!(f, "line {line}: not a request line: {text:?}")
            }
            ParseError::BadStatusLine { line, text } => {
                write!(f, "line {line}: not a status line: {text:?}")
            }
            ParseError::BadHeader { line, text } => {
                write!(f, "line {line}: not a header: {text:?}")
            }
            ParseError::BadJson { line, error } => write!(f, "line {line}: bad JSON body: {error}"),
            ParseError::EmptyBlock { line } => write!(f, "line {line}: an empty block"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The labels the page puts between its blocks; a text body ends at one of them.
const LABELS: [&str; 9] = [
    "Request",
    "Response",
    "Curl",
    "Request fields",
    "Response fields",
    "Request parameters",
    "Path parameters",
    "Request headers",
    "Request parts",
];

fn is_heading(line: &str) -> bool {
    line.starts_with("## ")
}

fn ends_text_body(line: &str) -> bool {
    is_heading(line) || LABELS.contains(&line.trim_end())
}

/// The text split into lines with each line's byte offset, so a JSON body can be
/// read with a streaming parser from where it starts.
struct Lines<'a> {
    text: &'a str,
    /// (offset, line without its end)
    lines: Vec<(usize, &'a str)>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let mut lines = Vec::new();
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            lines.push((offset, line));
            offset += raw.len();
        }
        Lines { text, lines }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        self.lines.get(i).map(|(_, l)| *l)
    }

    /// The index of the line holding byte `offset`.
    fn line_at(&self, offset: usize) -> usize {
        self.lines.partition_point(|(o, _)| *o <= offset).saturating_sub(1)
    }
}

/// What a block holds before it is known to be a request or a response.
struct Block {
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// Read the block whose label is on line `label`; returns it and the index of the
/// first line after it.
fn read_block(lines: &Lines<'_>, label: usize) -> Result<(Block, usize), ParseError> {
    let mut i = label + 1;
    while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
        i += 1;
    }
    let start = match lines.get(i) {
        Some(l) if !ends_text_body(l) => l.trim().to_owned(),
        _ => return Err(ParseError::EmptyBlock { line: label + 1 }),
    };
    i += 1;
    let mut headers = Vec::new();
    while let Some(l) = lines.get(i) {
        if l.trim().is_empty() || ends_text_body(l) {
            break;
        }
        let (k, v) = l
            .trim()
            .split_once(':')
            .ok_or_else(|| ParseError::BadHeader { line: i + 1, text: l.to_owned() })?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
        i += 1;
    }
    while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
        i += 1;
    }
    // A message without a Content-Type has no body: what follows is the page's
    // prose (its footer, say).
    if find_header(&headers, "content-type").is_none() {
        return Ok((Block { start, headers, body: String::new() }, i));
    }
    let Some(first) = lines.get(i) else {
        return Ok((Block { start, headers, body: String::new() }, i));
    };
    if ends_text_body(first) {
        return Ok((Block { start, headers, body: String::new() }, i));
    }
    if first.trim_start().starts_with(['{', '[']) {
        // A JSON body: exactly one value, however it is indented; the prose after
        // it is not part of it.
        let from = lines.lines[i].0 + (first.len() - first.trim_start().len());
        let mut stream =
            serde_json::Deserializer::from_str(&lines.text[from..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(ParseError::BadJson { line: i + 1, error: e.to_string() });
            }
            None => return Err(ParseError::BadJson { line: i + 1, error: "no value".into() }),
        }
        let end = from + stream.byte_offset();
        let body = lines.text[from..end].to_owned();
        return Ok((Block { start, headers, body }, lines.line_at(end) + 1));
    }
    // A text body (an upload, a multipart form, the bytes of an ASiC): up to the next
    // label or heading, without the blank lines before it.
    let mut body_lines = Vec::new();
    while let Some(l) = lines.get(i) {
        if ends_text_body(l) {
            break;
        }
        body_lines.push(l);
        i += 1;
    }
    while body_lines.last().is_some_and(|l| l.trim().is_empty()) {
        body_lines.pop();
    }
    Ok((Block { start, headers, body: body_lines.join("\n") }, i))
}

fn request_of(block: Block, line: usize) -> Result<DocRequest, ParseError> {
    let bad = || ParseError::BadRequestLine { line, text: block.start.clone() };
    let mut parts = block.start.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !version.starts_with("HTTP/") || !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad());
    }
    Ok(DocRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers: block.headers,
        body: block.body,
    })
}

fn response_of(block: Block, line: usize) -> Result<DocResponse, ParseError> {
    let bad = || ParseError::BadStatusLine { line, text: block.start.clone() };
    let mut parts = block.start.split_whitespace();
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    if !version.starts_with("HTTP/") {
        return Err(bad());
    }
    let status = code.parse().map_err(|_| bad())?;
    Ok(DocResponse { status, headers: block.headers, body: block.body })
}

/// Every example on the page, in page order.
pub fn parse(text: &str) -> Result<Vec<Example>, ParseError> {
    let lines = Lines::new(text);
    let mut examples: Vec<Example> = Vec::new();
    let mut operation = String::new();
    let mut example: Option<String> = None;
    // Whether the last example belongs to the current heading and can still take a
    // block (a request can be followed by its response, not by another request).
    let mut open = false;
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if let Some(heading) = line.strip_prefix("## ") {
            let heading = heading.trim().to_owned();
            if heading.starts_with("Example") {
                example = Some(heading);
            } else if heading != "About the service" {
                operation = heading;
                example = None;
            }
            open = false;
            i += 1;
            continue;
        }
        let label = line.trim_end();
        if label != "Request" && label != "Response" {
            i += 1;
            continue;
        }
        let (block, next) = read_block(&lines, i)?;
        let reply = label == "Response";
        let fits = open
            && examples.last().is_some_and(|e| {
                if reply {
                    e.response.is_none()
                } else {
                    e.request.is_none() && e.response.is_none()
                }
            });
        if !fits {
            examples.push(Example {
                operation: operation.clone(),
                example: example.clone(),
                request: None,
                response: None,
                line: i + 1,
            });
        }
        let current = examples.last_mut().expect("pushed above");
        if reply {
            current.response = Some(response_of(block, i + 2)?);
        } else {
            current.request = Some(request_of(block, i + 2)?);
        }
        open = true;
        i = next;
    }
    Ok(examples)
}

/// How an answer may differ from a documented JSON body and still have its shape.
#[derive(Clone, Debug, Default)]
pub struct ShapeRules {
    /// Documented keys that may be absent: their value is null for the data at hand
    /// and null fields are left out (the reference's Jackson is `NON_NULL`, and so is
    /// efm), or the field is gone from the reference since the docs were made.
    pub may_be_absent: Vec<&'static str>,
    /// Keys the answer may have that the documented body does not show.
    pub may_be_added: Vec<&'static str>,
    /// Arrays, by key, that may be empty where the documented one has elements.
    pub may_be_empty: Vec<&'static str>,
    /// Keys whose values must equal the documented ones wherever they occur.
    pub same_value: Vec<&'static str>,
    /// Keys whose values must be one of these wherever they occur as strings.
    pub vocabulary: Vec<(&'static str, &'static [&'static str])>,
    /// Values required at paths (`[]` matches every element of an array).
    pub pins: Vec<(String, Value)>,
    /// An SBD may carry another business message than the documented one (the data
    /// at hand has another message type); its header is compared all the same.
    pub business_may_differ: bool,
}

/// The business message's key of an SBD: its one key besides the header.
fn business_key(m: &serde_json::Map<String, Value>) -> Option<&str> {
    if !m.contains_key("standardBusinessDocumentHeader") {
        return None;
    }
    let mut others = m.keys().filter(|k| *k != "standardBusinessDocumentHeader");
    match (others.next(), others.next()) {
        (Some(k), None) => Some(k.as_str()),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The differences in shape between a documented JSON value and an answer's, each
/// with its path (`$.content[].id`); empty when the shapes agree.
pub fn shape_diff(doc: &Value, got: &Value, rules: &ShapeRules) -> Vec<String> {
    let mut out = Vec::new();
    walk(doc, got, "$", None, rules, &mut out);
    for (path, want) in &rules.pins {
        let found = select(got, path);
        if found.is_empty() {
            out.push(format!("{path}: absent, pinned to {want}"));
        }
        for v in found {
            if v != want {
                out.push(format!("{path}: {v} where {want} is required"));
            }
        }
    }
    out
}

fn walk(
    doc: &Value,
    got: &Value,
    path: &str,
    key: Option<&str>,
    rules: &ShapeRules,
    out: &mut Vec<String>,
) {
    if type_name(doc) != type_name(got) {
        out.push(format!("{path}: {} documented, {} answered", type_name(doc), type_name(got)));
        return;
    }
    if let Some(k) = key {
        if rules.same_value.contains(&k) && doc != got {
            out.push(format!("{path}: {got} where the docs have {doc}"));
        }
        if let (Some((_, words)), Value::String(s)) =
            (rules.vocabulary.iter().find(|(name, _)| *name == k), got)
            && !words.contains(&s.as_str())
        {
            out.push(format!("{path}: {s:?} is not one of {words:?}"));
        }
    }
    match (doc, got) {
        // An empty documented object says nothing of its members.
        (Value::Object(d), Value::Object(_)) if d.is_empty() => {}
        (Value::Object(d), Value::Object(g))
            if rules.business_may_differ
                && business_key(d).is_some()
                && business_key(g).is_some()
                && business_key(d) != business_key(g) =>
        {
            let header = "standardBusinessDocumentHeader";
            let p = format!("{path}.{header}");
            walk(&d[header], &g[header], &p, Some(header), rules, out);
        }
        (Value::Object(d), Value::Object(g)) => {
            for (k, dv) in d {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => walk(dv, gv, &p, Some(k), rules, out),
                    None if rules.may_be_absent.contains(&k.as_str()) => {}
                    None => out.push(format!("{p}: documented, absent")),
                }
            }
            for k in g.keys().filter(|k| !d.contains_key(*k)) {
                if !rules.may_be_added.contains(&k.as_str()) {
                    out.push(format!("{path}.{k}: answered, not documented"));
                }
            }
        }
        (Value::Array(d), Value::Array(g)) => {
            let p = format!("{path}[]");
            if d.is_empty() {
                return;
            }
            if g.is_empty() {
                if !key.is_some_and(|k| rules.may_be_empty.contains(&k)) {
                    out.push(format!("{p}: documented with elements, answered empty"));
                }
                return;
            }
            // Each answered element must have the shape of some documented one (a
            // page may mix message types); report against the closest.
            for gv in g {
                let mut best: Option<Vec<String>> = None;
                for dv in d {
                    let mut diffs = Vec::new();
                    walk(dv, gv, &p, key, rules, &mut diffs);
                    if best.as_ref().is_none_or(|b| diffs.len() < b.len()) {
                        best = Some(diffs);
                    }
                }
                out.extend(best.unwrap_or_default());
            }
        }
        _ => {}
    }
}

/// The values at `path` (`$.a.b`, `$.content[].status`).
fn select<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![v];
    let rest = path.strip_prefix('$').unwrap_or(path);
    for step in rest.split('.').filter(|s| !s.is_empty()) {
        let (name, all) = match step.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (step, false),
        };
        let mut next = Vec::new();
        for c in current {
            if let Some(x) = c.get(name) {
                match (all, x) {
                    (true, Value::Array(items)) => next.extend(items.iter()),
                    (true, _) => {}
                    (false, x) => next.push(x),
                }
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PAGE: &str = "## Things\n\n## Example 1 - One\n\nCurl\n\n$ curl x\n\nRequest\n\nPOST /api/x?a=1 HTTP/1.1\nContent-Type: application/json\nHost: localhost:8080\n\n{\n  \"a\" : [ 1 ]\n}\n\nResponse\n\nHTTP/1.1 200 OK\nContent-Type: application/json\n\n{ \"id\" : 3 }\n\nRequest fields\n\n | a\n\n## Example 2 - Error\n\nResponse\n\n  HTTP/1.1 404 Not Found\n    Content-Type: application/json\n\n    {\n      \"status\" : 404\n    }\n\n## Upload\n\nRequest\n\nPUT /api/x/1 HTTP/1.1\nContent-Type: text/plain\n\nline one\n\nline two\n\nResponse\n\nHTTP/1.1 200 OK\nX-Frame-Options: DENY\n\n## About the service\n";

    #[test]
    fn reads_requests_responses_and_bodies() {
        let ex = parse(PAGE).unwrap();
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[0].title(), "Things / Example 1 - One");
        let req = ex[0].request.as_ref().unwrap();
        assert_eq!((req.method.as_str(), req.target.as_str()), ("POST", "/api/x?a=1"));
        assert_eq!(req.json(), Some(json!({"a": [1]})));
        assert_eq!(ex[0].response.as_ref().unwrap().json(), Some(json!({"id": 3})));
        // A response alone, indented.
        assert!(ex[1].request.is_none());
        let r = ex[1].response.as_ref().unwrap();
        assert_eq!((r.status, r.header("content-type")), (404, Some("application/json")));
        assert_eq!(r.json(), Some(json!({"status": 404})));
        // A text body with a blank line in it; a response without a body.
        assert_eq!(ex[2].title(), "Upload");
        assert_eq!(ex[2].request.as_ref().unwrap().body, "line one\n\nline two");
        assert_eq!(ex[2].response.as_ref().unwrap().body, "");
    }

    #[test]
    fn refuses_a_broken_status_line() {
        let page = "## X\n\nResponse\n\nHTTP/1.1 OK\n";
        assert!(matches!(parse(page), Err(ParseError::BadStatusLine { .. })));
    }

    #[test]
    fn shapes_compare_keys_and_types_not_values() {
        let doc = json!({"content": [{"id": 1, "status": "MOTTATT", "title": "x"}], "total": 1});
        let rules = ShapeRules {
            may_be_absent: vec!["title"],
            vocabulary: vec![("status", &["MOTTATT", "SENDT"])],
            ..ShapeRules::default()
        };
        let same = json!({"content": [{"id": 7, "status": "SENDT"}], "total": 9});
        assert!(shape_diff(&doc, &same, &rules).is_empty());
        let off = json!({"content": [{"id": "7", "status": "KAPUTT", "extra": 1}], "total": 1});
        let diffs = shape_diff(&doc, &off, &rules);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
        let empty = json!({"content": [], "total": 0});
        assert_eq!(shape_diff(&doc, &empty, &rules).len(), 1);
        let pinned = ShapeRules {
            pins: vec![("$.content[].status".into(), json!("MOTTATT"))],
            ..rules.clone()
        };
        assert_eq!(shape_diff(&doc, &same, &pinned).len(), 1);
    }
}
