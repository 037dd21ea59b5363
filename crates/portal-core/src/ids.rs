//! Identifiers of records. Every id that can appear in a URL is random (a version 4 UUID made by
//! the store), so that ids cannot be guessed or counted. Core only checks their shape.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The shape of an id was wrong: it is treated exactly like an unknown id by callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid identifier")]
pub struct InvalidId {
    pub value: String,
}

/// True when `s` is a lowercase hyphenated UUID (`8-4-4-4-12` hex digits).
fn is_uuid_text(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Accepts only the canonical lowercase UUID text the store generates.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                let lower = value.trim().to_ascii_lowercase();
                if is_uuid_text(&lower) {
                    Ok(Self(lower))
                } else {
                    Err(InvalidId { value: value.chars().take(64).collect() })
                }
            }

            /// For values read back from the database, which were checked when written.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A staff (EMR) user.
    StaffId
);
id_type!(
    /// A location (clinic site) of the organisation.
    LocationId
);
id_type!(
    /// A patient record.
    PatientId
);
id_type!(
    /// A contact (guardian, guarantor, ...) of a patient.
    ContactId
);
id_type!(
    /// A conversation of secure messaging.
    ConversationId
);
id_type!(
    /// One message of a conversation.
    MessageId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_uuid_and_normalises_case() {
        let id = PatientId::parse("3F2504E0-4F89-41D3-9A0C-0305E82C3301").unwrap();
        assert_eq!(id.as_str(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    }

    #[test]
    fn refuses_sequential_numbers_and_junk() {
        assert!(PatientId::parse("1").is_err());
        assert!(PatientId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c330").is_err());
        assert!(PatientId::parse("3f2504e0x4f89-41d3-9a0c-0305e82c3301").is_err());
        assert!(PatientId::parse("../../etc/passwd").is_err());
    }
}
