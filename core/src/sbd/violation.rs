//! Constraint violations: the reference's bean-validation failures, one per field.

use serde_json::Value;

/// One failed constraint, named as the reference names it so that clients that read
/// `errors[].code` or `errors[].field` keep working.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// The property path, e.g. `standardBusinessDocumentHeader.documentIdentification.type`.
    pub field: String,
    /// The constraint annotation's simple name: `NotNull`, `UUID`, `MessageType`, ...
    pub code: &'static str,
    pub message: String,
    pub rejected: Option<Value>,
}

impl Violation {
    pub fn new(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
        rejected: Option<Value>,
    ) -> Self {
        Violation { field: field.into(), code, message: message.into(), rejected }
    }

    pub fn not_null(field: impl Into<String>) -> Self {
        Violation::new(field, "NotNull", "must not be null", None)
    }

    pub fn uuid(field: impl Into<String>, value: &str) -> Self {
        Violation::new(
            field,
            "UUID",
            format!("'{value}' is not a UUID."),
            Some(Value::String(value.to_owned())),
        )
    }
}
