//! "Did you mean" for misspelt keys.

/// The known key closest to `key`, if it is close enough to be a likely typo: at most
/// two edits, or a quarter of the key's length for long keys.
pub fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (key.chars().count() / 4).max(2);
    known
        .into_iter()
        .map(|k| {
            (
                edit_distance(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_owned())
}

/// Levenshtein distance over chars, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("listen", "listen"), 0);
        assert_eq!(edit_distance("listn", "listen"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggestions() {
        let known = ["listen", "data_dir", "keystore.password"];
        assert_eq!(closest("lisen", known).as_deref(), Some("listen"));
        assert_eq!(
            closest("keystore.pasword", known).as_deref(),
            Some("keystore.password")
        );
        assert_eq!(closest("Data_Dir", known).as_deref(), Some("data_dir"));
        assert_eq!(closest("frobnicate", known), None);
    }
}
