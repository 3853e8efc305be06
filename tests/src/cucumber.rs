//! The reference's cucumber feature files, read at test time so that the conformance
//! suites check what the features pin (SBDs, manifests, wire payloads, status pages)
//! without copying them into the project.
//!
//! Only the Gherkin the features use is read: `Feature:`, `Background:`, `Scenario:`,
//! steps (`Given`/`When`/`Then`/`And`/`But`), doc strings (`"""`) and tables (`|`).
//! Doc strings lose the indentation of their opening `"""`, as Gherkin's do.

use std::path::Path;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step without its keyword, e.g. `I POST the following message:`.
    pub text: String,
    pub doc: Option<String>,
    pub table: Vec<Vec<String>>,
}

impl Step {
    /// The doc string; panics naming the step when it has none (a feature changed).
    pub fn doc(&self) -> &str {
        self.doc.as_deref().unwrap_or_else(|| panic!("step {:?} has no doc string", self.text))
    }

    /// The doc string as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.doc())
            .unwrap_or_else(|e| panic!("step {:?}: doc string is not JSON: {e}", self.text))
    }

    /// The step's quoted arguments, in order: `a file named "x" with mimetype "y"`
    /// gives `["x", "y"]`.
    pub fn quoted(&self) -> Vec<String> {
        self.text.split('"').skip(1).step_by(2).map(str::to_owned).collect()
    }

    /// The table's rows without its header row.
    pub fn rows(&self) -> &[Vec<String>] {
        self.table.get(1..).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    /// The feature's background steps, then the scenario's own.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The first step whose text starts with `prefix`.
    pub fn step(&self, prefix: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.text.starts_with(prefix))
            .unwrap_or_else(|| panic!("scenario {:?} has no step {prefix:?}", self.name))
    }

    /// Every step whose text starts with `prefix`, in order.
    pub fn steps_starting<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        self.steps.iter().filter(move |s| s.text.starts_with(prefix))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub name: String,
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    #[error("line {line}: a doc string is not closed")]
    OpenDocString { line: usize },
    #[error("line {line}: {what} outside a step")]
    Stray { line: usize, what: &'static str },
}

impl Feature {
    /// `<reference>/cucumber/<file>`; panics when it is missing or unreadable, since a
    /// reference folder without its features is not one the suites can run against.
    pub fn load(reference: &Path, file: &str) -> Feature {
        let path = reference.join("cucumber").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Feature::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Feature, FeatureError> {
        let mut name = String::new();
        let mut background: Vec<Step> = Vec::new();
        let mut scenarios: Vec<(String, Vec<Step>)> = Vec::new();
        // Where steps go: the background until the first scenario.
        let mut lines = text.lines().enumerate();
        while let Some((i, line)) = lines.next() {
            let trimmed = line.trim();
            let steps = match scenarios.last_mut() {
                Some((_, s)) => s,
                None => &mut background,
            };
            if let Some(rest) = trimmed.strip_prefix("Feature:") {
                name = rest.trim().to_owned();
            } else if trimmed.starts_with("Background:") {
                continue;
            } else if let Some(rest) = trimmed.strip_prefix("Scenario:") {
                scenarios.push((rest.trim().to_owned(), Vec::new()));
            } else if trimmed.starts_with("\"\"\"") {
                let indent = line.len() - line.trim_start().len();
                let mut doc = Vec::new();
                let mut closed = false;
                for (_, l) in lines.by_ref() {
                    if l.trim() == "\"\"\"" {
                        closed = true;
                        break;
                    }
                    doc.push(dedent(l, indent));
                }
                if !closed {
                    return Err(FeatureError::OpenDocString { line: i + 1 });
                }
                let step = steps
                    .last_mut()
                    .ok_or(FeatureError::Stray { line: i + 1, what: "a doc string" })?;
                step.doc = Some(doc.join("\n"));
            } else if trimmed.starts_with('|') {
                let step =
                    steps.last_mut().ok_or(FeatureError::Stray { line: i + 1, what: "a table" })?;
                let cells = trimmed.trim_matches('|').split('|').map(|c| c.trim().to_owned());
                step.table.push(cells.collect());
            } else if let Some(text) = ["Given ", "When ", "Then ", "And ", "But "]
                .iter()
                .find_map(|k| trimmed.strip_prefix(k))
            {
                steps.push(Step { text: text.trim().to_owned(), doc: None, table: Vec::new() });
            }
        }
        let scenarios = scenarios
            .into_iter()
            .map(|(name, own)| {
                let mut steps = background.clone();
                steps.extend(own);
                Scenario { name, steps }
            })
            .collect();
        Ok(Feature { name, scenarios })
    }

    /// The scenario whose name contains `part`.
    pub fn scenario(&self, part: &str) -> &Scenario {
        self.scenarios
            .iter()
            .find(|s| s.name.contains(part))
            .unwrap_or_else(|| panic!("feature {:?} has no scenario {part:?}", self.name))
    }

    /// The only scenario.
    pub fn only(&self) -> &Scenario {
        assert_eq!(self.scenarios.len(), 1, "feature {:?}: one scenario expected", self.name);
        &self.scenarios[0]
    }
}

/// Gherkin's doc string rule: remove up to `indent` leading spaces (a line indented
/// less keeps what it has beyond its own indentation).
fn dedent(line: &str, indent: usize) -> String {
    let lead = line.len() - line.trim_start_matches(' ').len();
    line[lead.min(indent)..].to_owned()
}

/// Runs of whitespace made one space, and the ends trimmed: how the reference's steps
/// compare file contents (hamcrest's `equalToCompressingWhiteSpace`).
pub fn compress_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replace every string value equal to `from` with `to`, anywhere in `v`.
pub fn replace_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s == from => *s = to.to_owned(),
        Value::Array(a) => a.iter_mut().for_each(|x| replace_strings(x, from, to)),
        Value::Object(m) => m.values_mut().for_each(|x| replace_strings(x, from, to)),
        _ => {}
    }
}

/// The features were written in 2019 with the reference's clock fixed then, so
/// their messages' `expectedResponseDateTime` lies in our past. Move each to the same
/// day and time in `year` (keeping its offset and form), for the scenarios in which
/// a message must not expire.
pub fn move_expiry(v: &mut Value, year: &str) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| move_expiry(x, year)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s) if k == "expectedResponseDateTime" && s.len() > 4 => {
                        *s = format!("{year}{}", &s[4..]);
                    }
                    _ => move_expiry(x, year),
                }
            }
        }
        _ => {}
    }
}

/// Set every value under a key in `keys`, anywhere in `v`, to `to`: for fields that
/// differ between runs by nature (database ids, clock readings, fresh UUIDs), after
/// the caller checked their form.
pub fn mask(v: &mut Value, keys: &[&str], to: &Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| mask(x, keys, to)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if keys.contains(&k.as_str()) {
                    *x = to.clone();
                } else {
                    mask(x, keys, to);
                }
            }
        }
        _ => {}
    }
}

/// Every value under `key`, anywhere in `v`.
pub fn values_of<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| values_of(x, key, out)),
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    out.push(x);
                }
                values_of(x, key, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEATURE: &str = r#"Feature: Something
  Background:
    Given a "GET" request to "http://x/identifier/1" will respond
    And a table:
      | filename | content type |
      | a.txt    | text/plain   |

  Scenario: First one
    Given I POST the following message:
    """
    {
      "a": 1
    }
    """
    Then the content is:
    """
  less indented
        more indented
    """

  Scenario: Second one
    Then nothing
"#;

    #[test]
    fn reads_background_scenarios_doc_strings_and_tables() {
        let f = Feature::parse(FEATURE).unwrap();
        assert_eq!(f.name, "Something");
        assert_eq!(f.scenarios.len(), 2);
        let s = f.scenario("First");
        assert_eq!(s.steps.len(), 4, "background steps come first: {:?}", s.steps);
        assert_eq!(s.step("a \"GET\"").quoted(), ["GET", "http://x/identifier/1"]);
        assert_eq!(s.step("a table").rows(), [vec!["a.txt".to_owned(), "text/plain".to_owned()]]);
        assert_eq!(s.step("I POST").json(), serde_json::json!({"a": 1}));
        assert_eq!(s.step("the content").doc(), "less indented\n    more indented");
        assert_eq!(f.scenario("Second").steps.len(), 3);
    }

    #[test]
    fn an_open_doc_string_is_an_error() {
        let e = Feature::parse("Feature: x\n Scenario: y\n  Given z\n  \"\"\"\n  a\n").unwrap_err();
        assert_eq!(e, FeatureError::OpenDocString { line: 4 });
    }

    #[test]
    fn masks_and_replaces_nested_values() {
        let mut v = serde_json::json!({"id": 3, "x": [{"id": 4, "t": "old"}], "t": "old"});
        mask(&mut v, &["id"], &Value::from(1));
        replace_strings(&mut v, "old", "new");
        assert_eq!(v, serde_json::json!({"id": 1, "x": [{"id": 1, "t": "new"}], "t": "new"}));
        let mut v =
            serde_json::json!({"s": [{"expectedResponseDateTime": "2019-05-10T00:31:52+01:00"}]});
        move_expiry(&mut v, "2099");
        assert_eq!(v["s"][0]["expectedResponseDateTime"], "2099-05-10T00:31:52+01:00");
        assert_eq!(compress_whitespace("  a \n\t b  "), "a b");
    }
}
