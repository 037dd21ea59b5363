//! The printable handout for patients (seed 003, "Handout for Portal Users"): the limits of its
//! editable title and text, Portal's default text, and how plain text becomes paragraphs.
//!
//! The text is plain: no markup is interpreted, so whatever staff type is shown as typed (the
//! templates escape it). A blank line starts a new paragraph; a line starting with `- ` or `* `
//! is a list item; any other line break is kept as a line break.

use crate::patient::InvalidValue;

/// A title longer than this would not fit on one printed line at the sheet's heading size.
pub const TITLE_MAX_CHARS: usize = 120;
/// About one printed page at the sheet's reading size, beside the address block and QR code.
pub const BODY_MAX_CHARS: usize = 4000;

/// The title a clinic gets until it writes its own.
pub const DEFAULT_TITLE: &str = "Your health, online: our patient portal";
/// The text a clinic gets until it writes its own: what the portal offers (seed 003's list,
/// worded for patients) and the three ways in (an invitation, "I am a registered patient",
/// "I forgot my password"). Kept as a file so that it reads as the text it is.
const DEFAULT_BODY_FILE: &str = include_str!("handout_default.txt");

/// A handout's title: one line of 1 to [`TITLE_MAX_CHARS`] characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoutTitle(String);

impl HandoutTitle {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        // A title is one line: a line break or any other control character is refused.
        if t.chars().any(char::is_control) {
            return Err(InvalidValue::BadCharacters);
        }
        if t.chars().count() > TITLE_MAX_CHARS {
            return Err(InvalidValue::TooLong { max: TITLE_MAX_CHARS });
        }
        Ok(Self(t.to_owned()))
    }

    pub fn default_title() -> Self {
        Self(DEFAULT_TITLE.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A handout's text, normalised: `\n` line ends, no trailing spaces, tabs as spaces, at most one
/// blank line in a row, none at either end; 1 to [`BODY_MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoutBody(String);

impl HandoutBody {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let unified = raw.replace("\r\n", "\n").replace('\r', "\n").replace('\t', " ");
        if unified.chars().any(|c| c.is_control() && c != '\n') {
            return Err(InvalidValue::BadCharacters);
        }
        let mut lines: Vec<&str> = Vec::new();
        for line in unified.split('\n').map(str::trim_end) {
            let blank = line.is_empty();
            let after_blank = lines.last().is_none_or(|l| l.is_empty());
            if blank && after_blank {
                continue;
            }
            lines.push(line);
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let text = lines.join("\n");
        if text.trim().is_empty() {
            return Err(InvalidValue::Missing);
        }
        if text.chars().count() > BODY_MAX_CHARS {
            return Err(InvalidValue::TooLong { max: BODY_MAX_CHARS });
        }
        Ok(Self(text))
    }

    pub fn default_body() -> Self {
        // The file is ours and within the limits (tested); normalising it drops the final newline.
        Self::parse(DEFAULT_BODY_FILE).unwrap_or_else(|_| Self(DEFAULT_BODY_FILE.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn blocks(&self) -> Vec<Block> {
        blocks(&self.0)
    }
}

/// One block of the printed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Lines of one paragraph (shown with line breaks between them).
    Paragraph(Vec<String>),
    /// Items of a list, without their `- ` or `* ` marker.
    List(Vec<String>),
}

fn list_item(line: &str) -> Option<&str> {
    let t = line.trim_start();
    t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")).map(str::trim).filter(|i| !i.is_empty())
}

/// The blocks of a (normalised) text: paragraphs split at blank lines, and within a paragraph,
/// runs of list lines made into lists.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    for chunk in text.split("\n\n") {
        let mut current: Option<Block> = None;
        for line in chunk.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match (list_item(line), &mut current) {
                (Some(item), Some(Block::List(items))) => items.push(item.to_owned()),
                (None, Some(Block::Paragraph(lines))) => lines.push(line.to_owned()),
                (item, _) => {
                    out.extend(current.take());
                    current = Some(match item {
                        Some(i) => Block::List(vec![i.to_owned()]),
                        None => Block::Paragraph(vec![line.to_owned()]),
                    });
                }
            }
        }
        out.extend(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_one_trimmed_line_within_the_limit() {
        assert_eq!(HandoutTitle::parse("  Our portal  ").unwrap().as_str(), "Our portal");
        assert_eq!(HandoutTitle::parse(" \n ").unwrap_err(), InvalidValue::Missing);
        assert_eq!(HandoutTitle::parse("two\nlines").unwrap_err(), InvalidValue::BadCharacters);
        assert_eq!(HandoutTitle::parse("bell\u{7}").unwrap_err(), InvalidValue::BadCharacters);
        let longest = "é".repeat(TITLE_MAX_CHARS);
        assert!(HandoutTitle::parse(&longest).is_ok(), "the limit counts characters, not bytes");
        assert_eq!(
            HandoutTitle::parse(&format!("{longest}x")).unwrap_err(),
            InvalidValue::TooLong { max: TITLE_MAX_CHARS }
        );
    }

    #[test]
    fn bodies_are_normalised() {
        let b = HandoutBody::parse("\r\n\r\nFirst line  \r\nsecond\tline\r\n\r\n\r\n\r\nNext   \n\n\n").unwrap();
        assert_eq!(b.as_str(), "First line\nsecond line\n\nNext");
        assert_eq!(HandoutBody::parse(" \n\n \t ").unwrap_err(), InvalidValue::Missing);
        assert_eq!(HandoutBody::parse("a\u{0}b").unwrap_err(), InvalidValue::BadCharacters);
        assert_eq!(HandoutBody::parse("a\u{1b}[31mred").unwrap_err(), InvalidValue::BadCharacters);
        assert!(HandoutBody::parse(&"x".repeat(BODY_MAX_CHARS)).is_ok());
        assert_eq!(
            HandoutBody::parse(&"x".repeat(BODY_MAX_CHARS + 1)).unwrap_err(),
            InvalidValue::TooLong { max: BODY_MAX_CHARS }
        );
        // Normalising first: blank lines collapsed away do not count against the limit.
        let padded = format!("{}\n\n\n\n\n", "x".repeat(BODY_MAX_CHARS));
        assert!(HandoutBody::parse(&padded).is_ok());
    }

    #[test]
    fn markup_is_kept_as_typed() {
        let b = HandoutBody::parse("<script>alert(1)</script> & **bold**").unwrap();
        assert_eq!(b.as_str(), "<script>alert(1)</script> & **bold**");
        assert_eq!(b.blocks(), vec![Block::Paragraph(vec!["<script>alert(1)</script> & **bold**".into()])]);
    }

    #[test]
    fn blank_lines_make_paragraphs_and_dashes_make_lists() {
        let b =
            HandoutBody::parse("Intro line one\nline two\n\nYou can:\n- read\n* write\n-not an item\n\nEnd").unwrap();
        assert_eq!(
            b.blocks(),
            vec![
                Block::Paragraph(vec!["Intro line one".into(), "line two".into()]),
                Block::Paragraph(vec!["You can:".into()]),
                Block::List(vec!["read".into(), "write".into()]),
                Block::Paragraph(vec!["-not an item".into()]),
                Block::Paragraph(vec!["End".into()]),
            ]
        );
    }

    #[test]
    fn the_default_text_is_valid_and_names_the_ways_in() {
        let raw = DEFAULT_BODY_FILE;
        let body = HandoutBody::default_body();
        assert_eq!(HandoutBody::parse(raw).unwrap(), body, "the default file parses");
        assert!(HandoutTitle::parse(DEFAULT_TITLE).is_ok());
        let text = body.as_str();
        for must in ["messages", "requests", "forms", "appointments", "bills", "front desk", "invitation"] {
            assert!(text.contains(must), "the default text should mention {must}");
        }
        assert!(text.contains("\"I am a registered patient\""));
        assert!(text.contains("\"I forgot my password\""));
        let lists = body.blocks().iter().filter(|b| matches!(b, Block::List(_))).count();
        assert_eq!(lists, 1, "the benefits are one list");
    }
}
