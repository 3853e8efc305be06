//! The `java.util.Properties` text format, as the reference's
//! `integrasjonspunkt-local.properties` is written.
//!
//! Comments start with `#` or `!`; a key ends at the first unescaped `=`, `:` or
//! whitespace; a line ending in an odd number of backslashes continues on the next
//! (whose leading whitespace is dropped); `\t \n \r \f \uXXXX` are escapes and a
//! backslash before any other character stands for that character. As in Java, a
//! `#` after a value is part of the value, not a comment.

/// One `key = value` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The line the key is on, 1-based.
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// A malformed escape, by line; the rest of the file is still read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

const BLANK: [char; 3] = [' ', '\t', '\x0c'];

pub fn parse(text: &str) -> (Vec<Entry>, Vec<SyntaxError>) {
    // Java accepts \n, \r\n and a lone \r as line ends; a lone \r becomes \n so that
    // line numbers count the way an editor shows them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i].trim_start_matches(BLANK);
        let line = i + 1;
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = first;
        loop {
            if ends_in_escape(current) {
                logical.push_str(&current[..current.len() - 1]);
                match lines.get(i) {
                    Some(next) => {
                        current = next.trim_start_matches(BLANK);
                        i += 1;
                    }
                    None => break,
                }
            } else {
                logical.push_str(current);
                break;
            }
        }
        let (key, value) = split_key_value(&logical);
        match (unescape(key), unescape(value)) {
            (Ok(key), Ok(value)) => entries.push(Entry { line, key, value }),
            (Err(message), _) | (_, Err(message)) => errors.push(SyntaxError { line, message }),
        }
    }
    (entries, errors)
}

/// An odd number of trailing backslashes: the last one escapes the line end.
fn ends_in_escape(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line (escapes still in) into its raw key and raw value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut chars = line.char_indices();
    let mut key_end = line.len();
    let mut separator = None;
    while let Some((idx, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == '=' || c == ':' || BLANK.contains(&c) {
            key_end = idx;
            separator = Some(c);
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    if let Some(sep) = separator {
        rest = &rest[sep.len_utf8()..];
        if BLANK.contains(&sep) {
            rest = rest.trim_start_matches(BLANK);
            if let Some(after) = rest.strip_prefix(['=', ':']) {
                rest = after;
            }
        }
    }
    (key, rest.trim_start_matches(BLANK))
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("malformed \\uXXXX escape \\u{hex}"))?;
                out.push(decode_unit(unit, &mut chars)?);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// A `\uXXXX` is a UTF-16 unit: a high surrogate must be followed by `\uXXXX` with
/// the low one (Java would keep a lone surrogate; a Rust string cannot).
fn decode_unit(unit: u32, chars: &mut std::str::Chars<'_>) -> Result<char, String> {
    if let Some(c) = char::from_u32(unit) {
        return Ok(c);
    }
    let bad = || format!("unpaired surrogate \\u{unit:04X}");
    if !(0xD800..0xDC00).contains(&unit) {
        return Err(bad());
    }
    let rest: String = chars.by_ref().take(6).collect();
    let low = rest
        .strip_prefix("\\u")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .filter(|l| (0xDC00..0xE000).contains(l))
        .ok_or_else(bad)?;
    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(usize, String, String)> {
        let (entries, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        entries.into_iter().map(|e| (e.line, e.key, e.value)).collect()
    }

    fn p(line: usize, k: &str, v: &str) -> (usize, String, String) {
        (line, k.to_owned(), v.to_owned())
    }

    #[test]
    fn separators_and_comments() {
        let text = "# comment\n! also\n\n  a=1\nb: 2\nc 3\nd = = 4\ne\n  f\t=\t\n";
        assert_eq!(
            pairs(text),
            [
                p(4, "a", "1"),
                p(5, "b", "2"),
                p(6, "c", "3"),
                p(7, "d", "= 4"),
                p(8, "e", ""),
                p(9, "f", "")
            ]
        );
    }

    #[test]
    fn a_hash_after_a_value_is_part_of_it() {
        assert_eq!(pairs("k= # required"), [p(1, "k", "# required")]);
        assert_eq!(pairs("k=v # note"), [p(1, "k", "v # note")]);
    }

    #[test]
    fn continuations_and_escapes() {
        let text = "list=a,\\\n    b,\\\r\n    c\nkey\\ with\\:colon=x\\ty\nodd=ends\\\\\nnext=1";
        assert_eq!(
            pairs(text),
            [
                p(1, "list", "a,b,c"),
                p(4, "key with:colon", "x\ty"),
                p(5, "odd", "ends\\"),
                p(6, "next", "1"),
            ]
        );
        assert_eq!(pairs("n=f\\u00E5r \\u00ABx\\u00BB"), [p(1, "n", "får «x»")]);
        assert_eq!(pairs("e=\\uD83D\\uDE00"), [p(1, "e", "😀")]);
        assert_eq!(pairs("last=x\\"), [p(1, "last", "x")]);
    }

    #[test]
    fn a_comment_does_not_continue() {
        assert_eq!(pairs("# a \\\nk=v"), [p(2, "k", "v")]);
    }

    #[test]
    fn line_ends() {
        assert_eq!(pairs("a=1\rb=2\r\nc=3"), [p(1, "a", "1"), p(2, "b", "2"), p(3, "c", "3")]);
    }

    #[test]
    fn malformed_unicode_escapes_are_errors_with_their_line() {
        let (entries, errors) = parse("ok=1\nbad=\\u12G4\nshort=\\u12\nlone=\\uD800x\nalso=2");
        assert_eq!(entries.len(), 2);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert_eq!(errors[0].message, "malformed \\uXXXX escape \\u12G4");
    }
}
