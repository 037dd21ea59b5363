//! What every form page shares: field errors kept for the template, select options, the raw
//! key/value form of pages with checkboxes, and the way a readable time is shown.
//!
//! Messages stay in the templates: a domain error carries its detail ("is required"), which the
//! template puts after the field's label; a rule of the page itself only flags the field, and
//! the template says what is wrong.

use std::collections::HashMap;

use portal_core::{FieldError, FieldErrors};
use time::PrimitiveDateTime;

/// The field errors of one submission, in the order the domain reported them.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
struct Item {
    field: String,
    detail: String,
    /// The detail is a whole sentence (a refusal naming its own subject), not "is required".
    sentence: bool,
}

impl FormErrors {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn from_fields(e: FieldErrors) -> Self {
        Self {
            items: e
                .0
                .into_iter()
                .map(|FieldError { field, detail }| Item { field, detail, sentence: false })
                .collect(),
        }
    }

    /// One field with a domain detail (shown after the label, or alone as a sentence).
    pub fn single(field: &str, detail: impl std::fmt::Display) -> Self {
        let mut e = Self::none();
        e.add(field, detail);
        e
    }

    /// One field with a refusal worded as a whole sentence.
    pub fn with_sentence(field: &str, detail: impl std::fmt::Display) -> Self {
        let mut e = Self::none();
        e.add_sentence(field, detail);
        e
    }

    pub fn add(&mut self, field: &str, detail: impl std::fmt::Display) {
        self.items.push(Item { field: field.to_owned(), detail: detail.to_string(), sentence: false });
    }

    /// A refusal shown beside `field` as a sentence of its own ("only a Super Admin can ...").
    pub fn add_sentence(&mut self, field: &str, detail: impl std::fmt::Display) {
        self.items.push(Item { field: field.to_owned(), detail: detail.to_string(), sentence: true });
    }

    /// Whether `field`'s error is a whole sentence.
    pub fn is_sentence(&self, field: &str) -> bool {
        self.items.iter().find(|e| e.field == field).is_some_and(|e| e.sentence)
    }

    /// Flags a field broken by a rule of the page; the template words the message.
    pub fn flag(&mut self, field: &str) {
        self.add(field, "");
    }

    /// Replaces the domain's detail of `field` by the page's own words (used when nothing was
    /// chosen in a select, where "must be one of: a, b, c" would not help).
    pub fn reflag(&mut self, field: &str) {
        for e in self.items.iter_mut().filter(|e| e.field == field) {
            e.detail.clear();
            e.sentence = false;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.items.iter().any(|e| e.field == field)
    }

    /// The detail of `field`'s first error ("" for a flagged field).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.items.iter().find(|e| e.field == field).map(|e| e.detail.as_str())
    }

    /// The detail as a sentence of its own (first letter capitalised), for domain messages that
    /// name their subject ("the logo must be a PNG or JPEG image").
    pub fn sentence(&self, field: &str) -> String {
        crate::error::capitalise(self.get(field).unwrap_or_default())
    }

    /// Errors on fields the form does not show (a domain rule the page did not foresee): the
    /// template lists them in the summary so that nothing is silently lost.
    /// `shown` is a comma-separated list of the form's field names.
    pub fn others(&self, shown: &str) -> Vec<String> {
        let shown: Vec<&str> = shown.split(',').map(str::trim).collect();
        self.items
            .iter()
            .filter(|e| !shown.contains(&e.field.as_str()))
            .map(|e| if e.sentence { e.detail.clone() } else { format!("{} {}", e.field.replace('_', " "), e.detail) })
            .map(|s| crate::error::capitalise(&s))
            .collect()
    }
}

/// One `<option>`.
#[derive(Debug, Clone)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
    pub disabled: bool,
}

impl SelectOption {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected_value: &str) -> Self {
        let value = value.into();
        let selected = value == selected_value;
        Self { value, label: label.into(), selected, disabled: false }
    }
}

/// A submitted form as key/value pairs, for pages whose checkboxes have one name each
/// (`location_<id>=on`): serde_urlencoded cannot gather repeated keys into a list.
pub struct RawForm(pub HashMap<String, String>);

impl RawForm {
    pub fn text(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_default()
    }

    pub fn optional(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    pub fn checked(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_empty())
    }

    /// The suffixes of every ticked `prefix<suffix>` checkbox, e.g. the ids of `location_<id>`.
    pub fn ticked_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .iter()
            .filter(|(k, val)| k.starts_with(prefix) && !val.is_empty())
            .map(|(k, _)| k[prefix.len()..].to_owned())
            .collect();
        v.sort();
        v
    }
}

/// A stored UTC time as the pages show it: `2026-01-05 14:03` (the column says UTC).
pub fn when(t: PrimitiveDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    t.format(&f).unwrap_or_default()
}

/// The same time for a `<time datetime>` attribute.
pub fn when_iso(t: PrimitiveDateTime) -> String {
    portal_core::time_util::rfc3339(t)
}

/// `Some(v)` unless `v` is blank, for optional fields of the domain inputs.
pub fn opt(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The query string of a link, leaving out empty values; `""` when nothing is left.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", crate::extract::urlencode(v.trim())))
        .collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_details_and_flags() {
        let mut e = FormErrors::from_fields(FieldErrors::single("logo", "the logo must be a PNG or JPEG image"));
        e.flag("confirm_email");
        assert_eq!(e.get("confirm_email"), Some(""));
        assert_eq!(e.sentence("logo"), "The logo must be a PNG or JPEG image");
        assert!(e.has("logo") && !e.has("name"));
        assert_eq!(e.others("logo, confirm_email"), Vec::<String>::new());
        assert_eq!(FormErrors::single("per_page", "is wrong").others(""), vec!["Per page is wrong".to_owned()]);
    }

    #[test]
    fn raw_forms_and_queries() {
        let f = RawForm(HashMap::from([
            ("location_b".to_owned(), "on".to_owned()),
            ("location_a".to_owned(), "on".to_owned()),
            ("name".to_owned(), " Ann ".to_owned()),
        ]));
        assert_eq!(f.ticked_with_prefix("location_"), vec!["a", "b"]);
        assert_eq!(f.optional("name").as_deref(), Some("Ann"));
        assert!(!f.checked("active"));
        assert_eq!(query(&[("q", "Lee, Ann"), ("status", "")]), "?q=Lee%2C%20Ann");
        assert_eq!(query(&[("q", " ")]), "");
    }
}
