//! Turns a domain event into an e-mail: subject, plain text and HTML, from the templates in
//! `templates/`, where all the words live.
//!
//! An e-mail never carries health information: no patient name, no diagnosis, no message body.
//! It names the clinic, says what to do and links to the portal. The only free text is the
//! optional message staff write with an invitation (an instruction such as "please fill in your
//! intake forms"), escaped in the HTML part.

use askama::Template;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use portal_core::events::{DomainEvent, LinkPurpose};
use portal_store::branding::Branding;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Where the notices (password changed, e-mail change) send a reader who must act: the portal's
/// sign-in page, which also offers "I forgot my password".
pub const PORTAL_HOME_PATH: &str = "/portal";

/// The clinic as an e-mail shows it: the location's name, phone and logo when the company
/// brands by location and the e-mail concerns a patient there; the company's otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub name: String,
    pub phone: Option<String>,
    /// An absolute URL under the public URL, when a logo was uploaded.
    pub logo_url: Option<String>,
}

impl Brand {
    pub fn from_branding(b: &Branding, public_url: &str) -> Brand {
        let company_logo = b.company_has_logo.then(|| format!("{public_url}/branding/logo"));
        match &b.location {
            Some(l) => Brand {
                name: l.name.clone(),
                phone: l.phone.clone().or_else(|| b.company_phone.clone()),
                logo_url: if l.has_logo {
                    Some(format!("{public_url}/branding/locations/{}/logo", l.id))
                } else {
                    company_logo
                },
            },
            None => Brand { name: b.company_name.clone(), phone: b.company_phone.clone(), logo_url: company_logo },
        }
    }
}

/// Which e-mail; the templates match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Invitation,
    Reset,
    Registration,
    EmailChange,
    PasswordChanged,
    EmailChangeNotice,
    /// Seed 001, step 3: a message is waiting in the portal.
    NewMessage,
    /// Seed 000: a notification rule's e-mail to staff.
    StaffNotification,
}

impl From<LinkPurpose> for EmailKind {
    fn from(p: LinkPurpose) -> Self {
        match p {
            LinkPurpose::Invitation => EmailKind::Invitation,
            LinkPurpose::Reset => EmailKind::Reset,
            LinkPurpose::Registration => EmailKind::Registration,
            LinkPurpose::EmailChange => EmailKind::EmailChange,
        }
    }
}

/// An e-mail ready to address and send.
#[derive(Debug, Clone)]
pub struct RenderedEmail {
    pub kind: EmailKind,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The link's validity ended before it could be sent: sending it would only frustrate.
    #[error("the link expired before delivery")]
    Expired,
    #[error("the event's expiry time is not RFC 3339")]
    BadExpiry,
    #[error("the event's link token is empty")]
    NoToken,
    #[error("rendering failed: {0}")]
    Template(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "subject.txt")]
struct Subject<'a> {
    kind: EmailKind,
    clinic: &'a str,
}

/// The link e-mails: invitation, reset, registration, e-mail confirmation.
struct LinkEmail<'a> {
    kind: EmailKind,
    brand: &'a Brand,
    subject: &'a str,
    link: String,
    /// "24 hours", "1 hour".
    validity: String,
    /// "22 November 2026 at 14:00 UTC".
    expires: String,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account_link.txt")]
struct LinkText<'a> {
    e: &'a LinkEmail<'a>,
}

#[derive(Template)]
#[template(path = "account_link.html")]
struct LinkHtml<'a> {
    e: &'a LinkEmail<'a>,
}

/// The security notices: password changed, e-mail being changed.
struct NoticeEmail<'a> {
    kind: EmailKind,
    brand: &'a Brand,
    subject: &'a str,
    /// When the change was recorded: "22 November 2026 at 14:00 UTC".
    when: String,
    portal_link: String,
}

#[derive(Template)]
#[template(path = "notice.txt")]
struct NoticeText<'a> {
    e: &'a NoticeEmail<'a>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeHtml<'a> {
    e: &'a NoticeEmail<'a>,
}

/// "You have a new message" (seed 001): the clinic and a link to sign in, nothing of the message.
#[derive(Template)]
#[template(path = "new_message.txt")]
struct NewMessageText<'a> {
    e: &'a NoticeEmail<'a>,
}

#[derive(Template)]
#[template(path = "new_message.html")]
struct NewMessageHtml<'a> {
    e: &'a NoticeEmail<'a>,
}

/// A staff notification's e-mail: the location and a link, nothing about the patient.
struct StaffNotificationEmail<'a> {
    brand: &'a Brand,
    subject: &'a str,
    location: &'a str,
    link: String,
}

#[derive(Template)]
#[template(path = "staff_notification.txt")]
struct StaffNotificationText<'a> {
    e: &'a StaffNotificationEmail<'a>,
}

#[derive(Template)]
#[template(path = "staff_notification.html")]
struct StaffNotificationHtml<'a> {
    e: &'a StaffNotificationEmail<'a>,
}

/// Where a staff notification's e-mail leads (the notifications list; signing in first).
pub const STAFF_NOTIFICATIONS_PATH: &str = "/notifications";

/// Renders the e-mail of `event`, or `None` for an event that is not an e-mail. `recorded_at` is
/// when the event was recorded (the outbox row's `created_at`); `now` is checked against a
/// link's expiry.
pub fn render(
    event: &DomainEvent,
    brand: &Brand,
    public_url: &str,
    recorded_at: PrimitiveDateTime,
    now: PrimitiveDateTime,
) -> Result<Option<RenderedEmail>, ComposeError> {
    match event {
        DomainEvent::AccountLinkIssued { purpose, to, token, expires_at, message, .. } => {
            if token.is_empty() {
                return Err(ComposeError::NoToken);
            }
            let expires = OffsetDateTime::parse(expires_at, &Rfc3339).map_err(|_| ComposeError::BadExpiry)?;
            let expires = PrimitiveDateTime::new(
                expires.to_offset(time::UtcOffset::UTC).date(),
                expires.to_offset(time::UtcOffset::UTC).time(),
            );
            if expires <= now {
                return Err(ComposeError::Expired);
            }
            let kind = EmailKind::from(*purpose);
            let subject = subject(kind, &brand.name)?;
            let e = LinkEmail {
                kind,
                brand,
                subject: &subject,
                link: format!("{public_url}{}", purpose.path(token)),
                validity: validity(expires - recorded_at),
                expires: when(expires),
                message: message.as_deref().map(str::trim).filter(|m| !m.is_empty()),
            };
            let text = LinkText { e: &e }.render()?;
            let html = LinkHtml { e: &e }.render()?;
            Ok(Some(RenderedEmail { kind, to: to.clone(), subject: subject.clone(), text, html }))
        }
        DomainEvent::PasswordChangedNotice { to, .. } | DomainEvent::EmailChangeNotice { to, .. } => {
            let kind = match event {
                DomainEvent::PasswordChangedNotice { .. } => EmailKind::PasswordChanged,
                _ => EmailKind::EmailChangeNotice,
            };
            let subject = subject(kind, &brand.name)?;
            let e = NoticeEmail {
                kind,
                brand,
                subject: &subject,
                when: when(recorded_at),
                portal_link: format!("{public_url}{PORTAL_HOME_PATH}"),
            };
            let text = NoticeText { e: &e }.render()?;
            let html = NoticeHtml { e: &e }.render()?;
            Ok(Some(RenderedEmail { kind, to: to.clone(), subject: subject.clone(), text, html }))
        }
        DomainEvent::PortalMessageNotice { to, .. } => {
            let kind = EmailKind::NewMessage;
            let subject = subject(kind, &brand.name)?;
            let e = NoticeEmail {
                kind,
                brand,
                subject: &subject,
                when: when(recorded_at),
                portal_link: format!("{public_url}{PORTAL_HOME_PATH}"),
            };
            let text = NewMessageText { e: &e }.render()?;
            let html = NewMessageHtml { e: &e }.render()?;
            Ok(Some(RenderedEmail { kind, to: to.clone(), subject: subject.clone(), text, html }))
        }
        DomainEvent::StaffNotificationEmail { to, location_name, .. } => {
            let kind = EmailKind::StaffNotification;
            let subject = subject(kind, location_name)?;
            let e = StaffNotificationEmail {
                brand,
                subject: &subject,
                location: location_name,
                link: format!("{public_url}{STAFF_NOTIFICATIONS_PATH}"),
            };
            let text = StaffNotificationText { e: &e }.render()?;
            let html = StaffNotificationHtml { e: &e }.render()?;
            Ok(Some(RenderedEmail { kind, to: to.clone(), subject: subject.clone(), text, html }))
        }
        DomainEvent::PortalRegistrationCompleted { .. }
        | DomainEvent::PortalEmailChanged { .. }
        | DomainEvent::PortalRequestSubmitted { .. }
        | DomainEvent::PortalMessageReceived { .. } => Ok(None),
    }
}

/// A subject on one line: a clinic name with a control character cannot add a header.
fn subject(kind: EmailKind, clinic: &str) -> Result<String, askama::Error> {
    let s = Subject { kind, clinic }.render()?;
    Ok(s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned())
}

fn validity(d: time::Duration) -> String {
    let minutes = (d.whole_seconds() + 30) / 60;
    match minutes {
        m if m >= 90 => format!("{} hours", (m + 30) / 60),
        m if m >= 60 => "1 hour".to_owned(),
        m if m > 1 => format!("{m} minutes"),
        _ => "1 minute".to_owned(),
    }
}

fn when(t: PrimitiveDateTime) -> String {
    let f = format_description!("[day padding:none] [month repr:long] [year] at [hour]:[minute] UTC");
    t.format(&f).unwrap_or_else(|_| portal_core::time_util::rfc3339(t))
}

/// The message to send: multipart/alternative (text, then HTML), with a Message-ID made from the
/// event's id, the same on every attempt, so that a duplicate delivery is recognisable.
pub fn message(
    rendered: &RenderedEmail,
    from: &Mailbox,
    to: lettre::Address,
    message_id: &str,
) -> Result<Message, lettre::error::Error> {
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_owned()))
        // RFC 3834: an automatic message; auto-responders should not answer it.
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".to_owned()))
        .multipart(MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone()))
}

/// `<{event_id}@{host of the public URL}>`.
pub fn message_id(event_id: &str, public_url: &str) -> String {
    let after_scheme = public_url.split_once("://").map_or(public_url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let host = if host.is_empty() { "localhost" } else { host };
    format!("<{event_id}@{host}>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_store::branding::LocationBrand;
    use time::macros::datetime;

    const URL: &str = "https://portal.example.org";

    fn brand() -> Brand {
        Brand {
            name: "Sunrise Clinic".into(),
            phone: Some("(555) 010-2000".into()),
            logo_url: Some(format!("{URL}/branding/logo")),
        }
    }

    fn link(purpose: LinkPurpose, expires_at: &str, message: Option<&str>) -> DomainEvent {
        DomainEvent::AccountLinkIssued {
            purpose,
            account_id: None,
            patient_id: Some("p1".into()),
            to: "ann@example.com".into(),
            token: "tok_123-abc".into(),
            expires_at: expires_at.into(),
            message: message.map(str::to_owned),
        }
    }

    const SENT: PrimitiveDateTime = datetime!(2026-11-22 13:00);

    #[test]
    fn an_invitation_names_the_clinic_links_with_the_token_and_shows_staffs_message() {
        let e = link(LinkPurpose::Invitation, "2026-11-23T13:00:00Z", Some("Please fill in <b>your</b> intake forms."));
        let r = render(&e, &brand(), URL, SENT, SENT).unwrap().unwrap();
        assert_eq!(r.subject, "You're invited to Sunrise Clinic's patient portal");
        assert_eq!(r.to, "ann@example.com");
        for body in [&r.text, &r.html] {
            assert!(body.contains("https://portal.example.org/portal/set-password/tok_123-abc"), "{body}");
            assert!(body.contains("Sunrise Clinic"));
            assert!(body.contains("24 hours"), "{body}");
            assert!(body.contains("23 November 2026 at 13:00 UTC"), "{body}");
            assert!(body.contains("(555) 010-2000"));
        }
        assert!(r.text.contains("Please fill in <b>your</b> intake forms."));
        assert!(
            r.html.contains("Please fill in &#60;b&#62;your&#60;/b&#62; intake forms.") || r.html.contains("&lt;b&gt;")
        );
        assert!(!r.html.contains("<b>your</b>"), "staff's message is escaped");
        assert!(r.html.contains(r#"<img src="https://portal.example.org/branding/logo""#), "{}", r.html);
    }

    #[test]
    fn each_purpose_has_its_words_its_path_and_its_validity() {
        let r = render(&link(LinkPurpose::Reset, "2026-11-22T14:00:00Z", None), &brand(), URL, SENT, SENT)
            .unwrap()
            .unwrap();
        assert_eq!(r.subject, "Reset your password for Sunrise Clinic's patient portal");
        assert!(r.text.contains("1 hour"), "{}", r.text);
        assert!(r.text.contains("/portal/set-password/tok_123-abc"));
        let r = render(&link(LinkPurpose::Registration, "2026-11-23T13:00:00Z", None), &brand(), URL, SENT, SENT)
            .unwrap()
            .unwrap();
        assert!(r.subject.contains("registration"), "{}", r.subject);
        assert!(r.text.contains("/portal/register/complete/tok_123-abc"));
        let r = render(&link(LinkPurpose::EmailChange, "2026-11-23T13:00:00Z", None), &brand(), URL, SENT, SENT)
            .unwrap()
            .unwrap();
        assert!(r.subject.contains("new e-mail address"), "{}", r.subject);
        assert!(r.html.contains("/portal/account/email/confirm/tok_123-abc"));
        // A message only goes with an invitation's words; without one there is no empty block.
        assert!(!r.text.contains("Message from"));
    }

    #[test]
    fn an_expired_link_is_not_sent_and_a_redacted_one_cannot_be() {
        let e = link(LinkPurpose::Reset, "2026-11-22T13:30:00Z", None);
        assert!(matches!(render(&e, &brand(), URL, SENT, datetime!(2026-11-22 13:31)), Err(ComposeError::Expired)));
        assert!(matches!(render(&e.redacted(), &brand(), URL, SENT, SENT), Err(ComposeError::NoToken)));
        let e = link(LinkPurpose::Reset, "tomorrow", None);
        assert!(matches!(render(&e, &brand(), URL, SENT, SENT), Err(ComposeError::BadExpiry)));
    }

    #[test]
    fn notices_say_what_happened_and_where_to_act_without_a_link_token() {
        let e = DomainEvent::PasswordChangedNotice { account_id: "a".into(), to: "ann@example.com".into() };
        let r = render(&e, &brand(), URL, SENT, SENT).unwrap().unwrap();
        assert_eq!(r.subject, "Your password for Sunrise Clinic's patient portal was changed");
        assert!(r.text.contains("22 November 2026 at 13:00 UTC"));
        assert!(r.text.contains("https://portal.example.org/portal"));
        assert!(r.text.contains("(555) 010-2000"));
        let e = DomainEvent::EmailChangeNotice { account_id: "a".into(), to: "old@example.com".into() };
        let r = render(&e, &brand(), URL, SENT, SENT).unwrap().unwrap();
        assert_eq!(r.to, "old@example.com");
        assert!(r.subject.contains("e-mail address"), "{}", r.subject);
        let e = DomainEvent::PortalRegistrationCompleted {
            account_id: "a".into(),
            patient_id: "p".into(),
            relation: portal_core::events::Relation::Myself,
        };
        assert!(render(&e, &brand(), URL, SENT, SENT).unwrap().is_none());
    }

    #[test]
    fn a_new_message_notice_links_to_sign_in_and_carries_nothing_of_the_message() {
        let e = DomainEvent::PortalMessageNotice {
            account_id: "a".into(),
            to: "ann@example.com".into(),
            patient_id: "p".into(),
            conversation_id: "c-123".into(),
        };
        let r = render(&e, &brand(), URL, SENT, SENT).unwrap().unwrap();
        assert_eq!(r.kind, EmailKind::NewMessage);
        assert_eq!(r.subject, "You have a new message from Sunrise Clinic");
        assert_eq!(r.to, "ann@example.com");
        for body in [&r.text, &r.html] {
            assert!(body.contains("new message from Sunrise Clinic"), "{body}");
            assert!(body.contains("https://portal.example.org/portal"), "{body}");
            assert!(body.contains("(555) 010-2000"), "{body}");
            assert!(!body.contains("c-123"), "no conversation id: {body}");
        }
    }

    #[test]
    fn a_clinic_name_cannot_break_the_subject_line() {
        let b = Brand { name: "Evil\r\nBcc: x@y".into(), phone: None, logo_url: None };
        let e = DomainEvent::PasswordChangedNotice { account_id: "a".into(), to: "ann@example.com".into() };
        let r = render(&e, &b, URL, SENT, SENT).unwrap().unwrap();
        assert!(!r.subject.contains(['\r', '\n']));
        assert!(!r.html.contains("<img"), "no logo, no image");
    }

    #[test]
    fn branding_by_location_uses_the_locations_name_phone_and_logo() {
        let mut b = Branding {
            company_name: "Sunrise Health".into(),
            company_phone: Some("111".into()),
            company_has_logo: true,
            brand_by_location: true,
            location: Some(LocationBrand { id: "loc-1".into(), name: "Northside".into(), phone: None, has_logo: true }),
        };
        let brand = Brand::from_branding(&b, URL);
        assert_eq!(brand.name, "Northside");
        assert_eq!(brand.phone.as_deref(), Some("111"), "the company's phone when the location has none");
        assert_eq!(brand.logo_url.as_deref(), Some("https://portal.example.org/branding/locations/loc-1/logo"));
        b.location.as_mut().unwrap().has_logo = false;
        assert_eq!(Brand::from_branding(&b, URL).logo_url.as_deref(), Some("https://portal.example.org/branding/logo"));
        b.location = None;
        b.company_has_logo = false;
        let brand = Brand::from_branding(&b, URL);
        assert_eq!((brand.name.as_str(), brand.logo_url), ("Sunrise Health", None));
    }

    #[test]
    fn message_ids_use_the_public_hosts_name() {
        assert_eq!(message_id("e1", "https://portal.example.org"), "<e1@portal.example.org>");
        assert_eq!(message_id("e1", "http://127.0.0.1:8080"), "<e1@127.0.0.1>");
        assert_eq!(message_id("e1", "http://[::1]:8080/x"), "<e1@[::1]>");
    }

    #[test]
    fn validity_reads_naturally() {
        assert_eq!(validity(time::Duration::hours(24)), "24 hours");
        assert_eq!(validity(time::Duration::hours(1)), "1 hour");
        assert_eq!(validity(time::Duration::minutes(59) + time::Duration::seconds(59)), "1 hour");
        assert_eq!(validity(time::Duration::minutes(15)), "15 minutes");
    }
}
