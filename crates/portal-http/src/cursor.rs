//! The inbox's paging cursor as one text value, for the API's `next`/`after` and the pages'
//! "next page" links alike: base64url of `UNIX_NANOS~CONVERSATION_ID`. Opaque to clients (they
//! pass it back as given); encoded so that nobody builds one by hand and relies on its layout.
//! An edited but well-formed cursor only moves within the caller's own conversations (the query
//! starts from their participant rows), so it can reach nothing else.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portal_core::ids::ConversationId;
use portal_store::messaging::InboxCursor;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The cursor's text: base64url of `UNIX_NANOS~CONVERSATION_ID`. Opaque to clients (they pass
/// `next` back as given); encoded so that nobody builds one by hand and relies on its layout.
pub fn encode_cursor(c: &InboxCursor) -> String {
    let nanos = c.last_message_at.assume_utc().unix_timestamp_nanos();
    URL_SAFE_NO_PAD.encode(format!("{nanos}~{}", c.conversation_id))
}

/// The cursor a `next` stands for, or `None` for anything this server did not give out.
pub fn decode_cursor(raw: &str) -> Option<InboxCursor> {
    // A cursor of ours is about 70 characters; longer text is not worth decoding.
    if raw.len() > 200 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (nanos, id) = text.split_once('~')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?.to_offset(UtcOffset::UTC);
    let id = ConversationId::parse(id).ok()?;
    Some(InboxCursor { last_message_at: PrimitiveDateTime::new(at.date(), at.time()), conversation_id: id.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_nanosecond() {
        let at = PrimitiveDateTime::new(
            time::Date::from_calendar_date(2026, time::Month::November, 21).unwrap(),
            time::Time::from_hms_micro(23, 58, 19, 808_261).unwrap(),
        );
        let c = InboxCursor { last_message_at: at, conversation_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301".into() };
        let text = encode_cursor(&c);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
        let back = decode_cursor(&text).expect("decodes");
        assert_eq!((back.last_message_at, back.conversation_id), (c.last_message_at, c.conversation_id));
    }

    #[test]
    fn malformed_cursors_decode_to_nothing() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            "".to_owned(),
            "!!!".to_owned(),
            "a".repeat(500),
            enc("no separator"),
            enc("12~not-an-id"),
            enc("x~3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
            enc("999999999999999999999999999999999~3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'~']),
        ] {
            assert!(decode_cursor(&bad).is_none(), "{bad}");
        }
    }
}
