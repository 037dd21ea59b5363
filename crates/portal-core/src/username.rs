//! Portal usernames (seed 002: "For patients who want to share a single email address, each one
//! must have a unique username for the Patient Portal").

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::patient::InvalidValue;

/// A portal username: 3 to 64 characters of ASCII letters, digits and `. _ - @ +`, starting with
/// a letter or a digit, stored lowercase so that uniqueness and sign-in ignore case.
///
/// ASCII only on purpose: look-alike letters of other scripts (Cyrillic `а` for Latin `a`) would
/// let two usernames look the same on the staff's screens. `@` is allowed so that people may use
/// their e-mail address, which is the username many of them expect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        let n = t.chars().count();
        if n < Self::MIN {
            return Err(InvalidValue::TooShort { min: Self::MIN });
        }
        if n > Self::MAX {
            return Err(InvalidValue::TooLong { max: Self::MAX });
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
        let starts_well = t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !t.chars().all(allowed) || !starts_well {
            return Err(InvalidValue::BadCharacters);
        }
        Ok(Self(t.to_ascii_lowercase()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Username {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<Username> for String {
    fn from(v: Username) -> String {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(Username::parse("  Ann.Lee ").unwrap().as_str(), "ann.lee");
        assert_eq!(Username::parse("ann+kid@example.org").unwrap().as_str(), "ann+kid@example.org");
        assert_eq!(Username::parse(""), Err(InvalidValue::Missing));
        assert_eq!(Username::parse("ab"), Err(InvalidValue::TooShort { min: 3 }));
        assert_eq!(Username::parse(&"a".repeat(65)), Err(InvalidValue::TooLong { max: 64 }));
        for bad in ["ann lee", ".ann", "-ann", "аnn", "ann\u{0}", "ann/../x", "ann;drop"] {
            assert_eq!(Username::parse(bad), Err(InvalidValue::BadCharacters), "{bad:?}");
        }
    }
}
