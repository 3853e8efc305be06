//! The query string: percent-decoded `name=value` pairs, in order, repeats kept
//! (`sort` may repeat).

/// A decoded query string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

/// A query string that is not valid percent-encoded UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the query string is not valid percent-encoded UTF-8")]
pub struct BadQuery;

impl Query {
    pub fn parse(raw: &str) -> Result<Self, BadQuery> {
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query(pairs))
    }

    /// The first value of `name`; an empty value counts as absent, as Spring binds it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Percent-decoding, with `+` as a space (form encoding, which Spring also accepts).
pub fn decode(s: &str) -> Result<String, BadQuery> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or(BadQuery)?;
                let hex = std::str::from_utf8(hex).map_err(|_| BadQuery)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| BadQuery)?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| BadQuery)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_keeps_repeats() {
        let q = Query::parse("a=1&sort=x%2Cdesc&sort=y&b=%C3%A6+%C3%B8&empty=&flag").unwrap();
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.all("sort").collect::<Vec<_>>(), ["x,desc", "y"]);
        assert_eq!(q.get("b"), Some("æ ø"));
        assert_eq!(q.get("empty"), None);
        assert_eq!(q.get("flag"), None);
    }

    #[test]
    fn refuses_broken_escapes() {
        for s in ["a=%", "a=%4", "a=%zz", "a=%ff%fe"] {
            assert_eq!(Query::parse(s), Err(BadQuery), "{s}");
        }
    }
}
