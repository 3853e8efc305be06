//! The efm.toml layer.

use toml::de::{DeTable, DeValue};

use crate::draft::Draft;
use crate::keys::{self, KeyError};
use crate::problem::{Origin, Problem};
use crate::raw::Raw;
use crate::suggest::{closest, closest_key};

/// Applies every setting in `text` (the file at `path`) to `draft`; each problem is
/// collected and the rest of the file still applies.
pub fn apply(draft: &mut Draft, path: &str, text: &str, errors: &mut Vec<Problem>) {
    let mut found = Vec::new();
    apply_in_order(draft, path, text, &mut found);
    // The parser hands tables over in key order; a person reads a file top to bottom.
    found.sort_by_key(|p| match p {
        Problem::BadValue { origin, .. } | Problem::UnknownKey { origin, .. } => match origin {
            Origin::File { line, .. } => *line,
            Origin::Env => 0,
        },
        _ => 0,
    });
    errors.append(&mut found);
}

fn apply_in_order(draft: &mut Draft, path: &str, text: &str, errors: &mut Vec<Problem>) {
    let lines = LineIndex::new(text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map_or(1, |s| lines.line(s.start));
            errors.push(Problem::Syntax {
                origin: Origin::file(path, line),
                message: format!("not valid TOML: {}", e.message().trim_end()),
            });
            return;
        }
    };
    let file =
        File { path, lines: &lines, text, known: keys::known_keys(), tables: keys::tables() };
    for (key, value) in doc.get_ref() {
        let name = key.get_ref().as_ref();
        let origin = Origin::file(path, lines.line(key.span().start));
        match value.get_ref() {
            DeValue::Table(table) => file.table(draft, name, table, &origin, errors),
            other => file.leaf(draft, name, other, value.span(), &origin, errors),
        }
    }
}

struct File<'a> {
    path: &'a str,
    lines: &'a LineIndex,
    text: &'a str,
    known: Vec<String>,
    tables: Vec<&'static str>,
}

impl File<'_> {
    fn table(
        &self,
        draft: &mut Draft,
        name: &str,
        table: &DeTable<'_>,
        origin: &Origin,
        errors: &mut Vec<Problem>,
    ) {
        if !self.tables.contains(&name) {
            // One error for an unknown table, not one per key inside it.
            let candidates =
                self.tables.iter().copied().chain(self.known.iter().map(String::as_str));
            errors.push(Problem::UnknownKey {
                origin: origin.clone(),
                key: name.to_owned(),
                suggestion: closest(name, candidates),
            });
            return;
        }
        for (key, value) in table {
            let dotted = format!("{name}.{}", key.get_ref());
            let origin = Origin::file(self.path, self.lines.line(key.span().start));
            // A table where a value belongs is reported like any other wrong type.
            self.leaf(draft, &dotted, value.get_ref(), value.span(), &origin, errors);
        }
    }

    fn leaf(
        &self,
        draft: &mut Draft,
        key: &str,
        value: &DeValue<'_>,
        span: std::ops::Range<usize>,
        origin: &Origin,
        errors: &mut Vec<Problem>,
    ) {
        let raw = raw(value, self.text.get(span).unwrap_or(""));
        if self.tables.contains(&key) {
            errors.push(Problem::BadValue {
                origin: origin.clone(),
                key: key.to_owned(),
                value: raw.shown(),
                expected: crate::expected::Expected::new(format!("a table [{key}]")),
            });
            return;
        }
        match keys::apply(draft, key, &raw, origin, key) {
            Ok(()) => {}
            Err(KeyError::Unknown) => errors.push(Problem::UnknownKey {
                origin: origin.clone(),
                key: key.to_owned(),
                suggestion: closest_key(key, &self.known, &self.tables),
            }),
            Err(KeyError::Bad(expected)) => errors.push(Problem::BadValue {
                origin: origin.clone(),
                key: key.to_owned(),
                value: raw.shown_for(key),
                expected,
            }),
        }
    }
}

fn raw(value: &DeValue<'_>, source: &str) -> Raw {
    match value {
        DeValue::String(s) => Raw::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Raw::Int(n),
            Err(_) => Raw::Other { kind: "an integer too large", shown: source.to_owned() },
        },
        DeValue::Boolean(b) => Raw::Bool(*b),
        DeValue::Array(items) => Raw::List(items.iter().map(|v| raw(v.get_ref(), "")).collect()),
        DeValue::Float(_) => Raw::Other { kind: "a float", shown: source.to_owned() },
        DeValue::Datetime(_) => Raw::Other { kind: "a date", shown: source.to_owned() },
        // A table's source can run over many lines; its shape says enough.
        DeValue::Table(_) => Raw::Other { kind: "a table", shown: "{...}".to_owned() },
    }
}

/// Byte offset to 1-based line number.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}
