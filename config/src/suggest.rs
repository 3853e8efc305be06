//! "Did you mean" for misspelt keys.

/// The known key closest to `key`, if it is close enough to be a likely typo: at most
/// two edits, or a quarter of the key's length for long keys.
pub fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (key.chars().count() / 4).max(2);
    known
        .into_iter()
        .map(|k| (edit_distance(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_owned())
}

/// Like [`closest`] for a dotted key, but a key in a known table is only compared
/// with that table's keys (`dpv.polling_interval` must not suggest another
/// service's setting), and a known key that starts with the given name counts
/// as close (`dpo.ttl` suggests `dpo.ttl_hours`).
pub fn closest_key(key: &str, known: &[String], tables: &[&str]) -> Option<String> {
    let Some((table, name)) = key.split_once('.').filter(|(t, _)| tables.contains(t)) else {
        return closest(key, known.iter().map(String::as_str));
    };
    let prefix = format!("{table}.");
    let names: Vec<&str> = known.iter().filter_map(|k| k.strip_prefix(&prefix)).collect();
    let by_prefix =
        names.iter().find(|n| name.len() >= 3 && n.starts_with(&name.to_ascii_lowercase()));
    by_prefix
        .map(|n| n.to_string())
        .or_else(|| closest(name, names.iter().copied()))
        .map(|n| format!("{prefix}{n}"))
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
        assert_eq!(closest("keystore.pasword", known).as_deref(), Some("keystore.password"));
        assert_eq!(closest("Data_Dir", known).as_deref(), Some("data_dir"));
        assert_eq!(closest("frobnicate", known), None);
    }

    #[test]
    fn key_suggestions_stay_in_their_table() {
        let known: Vec<String> =
            ["dpo.ttl_hours", "dpi.polling_interval", "listen"].map(String::from).to_vec();
        let tables = ["dpo", "dpi", "dpv"];
        assert_eq!(closest_key("dpo.ttl", &known, &tables).as_deref(), Some("dpo.ttl_hours"));
        assert_eq!(closest_key("dpv.polling_interval", &known, &tables), None);
        assert_eq!(closest_key("listn", &known, &tables).as_deref(), Some("listen"));
        assert_eq!(closest_key("dpx.ttl_hours", &known, &tables).as_deref(), Some("dpo.ttl_hours"));
    }
}
