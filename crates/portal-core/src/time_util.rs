//! Time rules shared by every backend.

use time::{OffsetDateTime, PrimitiveDateTime};

/// The current UTC time truncated to microseconds: PostgreSQL keeps microseconds and SQLite would
/// keep nanoseconds, so truncating before writing makes both backends read back the same value.
pub fn now_utc() -> PrimitiveDateTime {
    truncate_micros(OffsetDateTime::now_utc())
}

pub fn truncate_micros(t: OffsetDateTime) -> PrimitiveDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.microsecond();
    let t = t.replace_microsecond(micros).unwrap_or(t);
    PrimitiveDateTime::new(t.date(), t.time())
}

/// Renders a stored UTC time as RFC 3339, the one time format of the API.
pub fn rfc3339(t: PrimitiveDateTime) -> String {
    t.assume_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_microseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let p = truncate_micros(t);
        assert_eq!(p.nanosecond(), 123_456_000);
        assert_eq!(rfc3339(p), "2023-11-14T22:13:20.123456Z");
    }
}
