//! Field-level validation errors, collected so that a form or an API call reports every problem
//! at once (the pages show them beside each field; the API returns them in the problem body).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The input's name, as the form or JSON body spells it.
    pub field: String,
    /// A sentence a person can act on.
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} field(s) are invalid", .0.len())]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: &str, detail: impl std::fmt::Display) {
        self.0.push(FieldError { field: field.to_owned(), detail: detail.to_string() });
    }

    pub fn single(field: &str, detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new();
        e.push(field, detail);
        e
    }

    /// Parses one field, recording its error and returning `None` when it is invalid, so a whole
    /// form can be checked before anything is rejected.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e);
                None
            }
        }
    }

    /// Parses an optional field: blank or absent is `None`, anything else must parse.
    pub fn check_optional<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        raw: &Option<String>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        match raw.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => self.check(field, parse(v)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.detail.as_str())
    }
}
