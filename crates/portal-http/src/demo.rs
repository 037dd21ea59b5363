//! `portal demo`: a realistic clinic to explore — a company with a logo, two locations, ten
//! staff with varied roles and permissions, 300 patients with contacts and care teams, and the
//! patient portal on with patients in every portal status and one portal user who has signed in.
//!
//! Everything is created through the same use cases the pages use (as the system principal),
//! so the demo's audit log and rules are the real ones. The generator is seeded, so every demo
//! has the same people; only the passwords are random, printed once.

use anyhow::Context;
use portal_auth::staff::{self, StaffInput};
use portal_core::Actor;
use portal_core::staff::PortalPermission;
use portal_practice::company::{self, CompanyInput, LocationInput};
use portal_practice::patients::{self, ContactInput, PatientInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng, seq::SliceRandom};

use crate::state::AppState;

const LOGO: &[u8] = include_bytes!("../static/demo-logo.png");

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kevin",
    "Carmen",
    "Brian",
    "Amanda",
    "Wei",
    "Melissa",
    "Aisha",
    "Deborah",
    "Mohammed",
    "Stephanie",
    "Luis",
    "Rebecca",
    "Hiroshi",
    "Laura",
    "Olivia",
    "Noah",
    "Emma",
    "Liam",
    "Sophia",
    "Mateo",
    "Ava",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Amara",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Patel",
    "Okafor",
    "Kowalski",
    "O'Brien",
    "Tanaka",
    "Haddad",
    "Novak",
    "Silva",
];
const STREETS: &[&str] = &[
    "Maple St",
    "Oak Ave",
    "Pine Rd",
    "Cedar Ln",
    "Elm St",
    "Washington Ave",
    "Lake Dr",
    "Hillside Rd",
    "River Rd",
    "Park Pl",
];

/// Deletes the SQLite demo database (its file, its audit log's file and their WAL files) for
/// `--reset`. Refuses PostgreSQL, where dropping data is the operator's decision, not a flag's.
pub fn remove_sqlite_database(url: &str) -> anyhow::Result<()> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("--reset only works with a SQLite database; drop a PostgreSQL database yourself")?;
    let audit = portal_store::sqlite_audit_file(std::path::Path::new(path));
    for file in [path.to_owned(), audit.to_string_lossy().into_owned()] {
        for suffix in ["", "-wal", "-shm"] {
            let p = format!("{file}{suffix}");
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {p}")),
            }
        }
    }
    Ok(())
}

pub(crate) fn random_password(rng: &mut impl Rng) -> String {
    // 4 groups of 5 from an unambiguous alphabet: ~100 bits, easy to type from the console.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..4)
        .map(|_| (0..5).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Seeds the demo clinic if the database has no staff yet. Returns the sign-ins to print.
pub async fn seed_if_empty(state: &AppState) -> anyhow::Result<Option<String>> {
    let db = state.db();
    let existing = staff::list(db, &Actor::system()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !existing.is_empty() {
        return Ok(None);
    }
    Ok(Some(seed(state, 300).await?))
}

/// Seeds `patient_count` patients and the rest of the demo clinic.
pub async fn seed(state: &AppState, patient_count: usize) -> anyhow::Result<String> {
    let db = state.db();
    let sys = Actor::system();
    let e = |e: &dyn std::fmt::Display| anyhow::anyhow!("demo seed: {e}");
    let mut rng = StdRng::seed_from_u64(2026);
    let mut secret_rng = rand::rngs::OsRng;

    company::update_company(
        db,
        &sys,
        CompanyInput {
            name: "Riverside Family Health".into(),
            phone: Some("(617) 555-0100".into()),
            brand_by_location: false,
        },
    )
    .await
    .map_err(|x| e(&x))?;
    company::set_company_logo(db, &sys, LOGO.to_vec()).await.map_err(|x| e(&x))?;
    let downtown = company::create_location(
        db,
        &sys,
        LocationInput {
            name: "Riverside Downtown".into(),
            address_line1: Some("120 Main St".into()),
            city: Some("Cambridge".into()),
            state: Some("MA".into()),
            zip: Some("02139".into()),
            phone: Some("(617) 555-0101".into()),
            time_zone: "America/New_York".into(),
        },
    )
    .await
    .map_err(|x| e(&x))?;
    let north = company::create_location(
        db,
        &sys,
        LocationInput {
            name: "Riverside North".into(),
            address_line1: Some("45 Elm Ave".into()),
            city: Some("Somerville".into()),
            state: Some("MA".into()),
            zip: Some("02144".into()),
            phone: Some("(617) 555-0102".into()),
            time_zone: "America/New_York".into(),
        },
    )
    .await
    .map_err(|x| e(&x))?;
    let both = vec![downtown.id.clone(), north.id.clone()];

    // (name, e-mail, role, locations, portal permissions, active)
    type DemoStaff<'a> = (&'a str, &'a str, &'a str, Vec<String>, Vec<PortalPermission>, bool);
    let people: Vec<DemoStaff<'_>> = vec![
        (
            "Dana Whitfield",
            "admin@riverside.example",
            "super_admin",
            both.clone(),
            vec![PortalPermission::ManagePortalSettings, PortalPermission::AvailableForPortalMessages],
            true,
        ),
        (
            "Marcus Bell",
            "marcus.bell@riverside.example",
            "practice_manager",
            both.clone(),
            vec![PortalPermission::ManagePortalPackages],
            true,
        ),
        (
            "Dr. Priya Raman",
            "priya.raman@riverside.example",
            "clinician",
            vec![downtown.id.clone()],
            vec![PortalPermission::AvailableForPortalMessages, PortalPermission::AllowDocumentShare],
            true,
        ),
        (
            "Dr. Samuel Ortiz",
            "samuel.ortiz@riverside.example",
            "clinician",
            both.clone(),
            vec![PortalPermission::AvailableForPortalMessages],
            true,
        ),
        (
            "Dr. Grace Kim",
            "grace.kim@riverside.example",
            "clinician",
            vec![north.id.clone()],
            vec![PortalPermission::AvailableForPortalMessages, PortalPermission::AllowDocumentShare],
            true,
        ),
        ("Nina Alvarez, NP", "nina.alvarez@riverside.example", "clinician", vec![north.id.clone()], vec![], true),
        ("Tom Becker", "frontdesk@riverside.example", "front_desk", vec![downtown.id.clone()], vec![], true),
        ("Lucia Ferreira", "lucia.ferreira@riverside.example", "front_desk", vec![north.id.clone()], vec![], true),
        ("Owen Price", "billing@riverside.example", "billing", both.clone(), vec![], true),
        ("Harold Finch", "harold.finch@riverside.example", "clinician", vec![downtown.id.clone()], vec![], false),
    ];
    let mut printed = Vec::new();
    let mut clinicians: Vec<(String, Vec<String>)> = Vec::new();
    for (name, email, role, locations, perms, active) in people {
        let password = random_password(&mut secret_rng);
        let v = staff::create(
            db,
            &state.app().hasher,
            &sys,
            StaffInput {
                name: name.into(),
                email: email.into(),
                role: role.into(),
                location_ids: locations.clone(),
                active: true,
                password: Some(password.clone()),
            },
        )
        .await
        .map_err(|x| e(&x))?;
        for p in perms {
            staff::set_portal_permission(db, &sys, &v.row.id, p, true).await.map_err(|x| e(&x))?;
        }
        if !active {
            staff::update(
                db,
                &sys,
                &v.row.id,
                StaffInput {
                    name: name.into(),
                    email: email.into(),
                    role: role.into(),
                    location_ids: locations.clone(),
                    active: false,
                    password: None,
                },
            )
            .await
            .map_err(|x| e(&x))?;
        } else if role == "clinician" {
            clinicians.push((v.row.id.clone(), locations.clone()));
        }
        if email == "admin@riverside.example" {
            printed.push(format!("  Super Admin  {email}  password: {password}"));
        }
        if email == "frontdesk@riverside.example" {
            printed.push(format!("  Front desk   {email}  password: {password}"));
        }
    }

    let today = time::OffsetDateTime::now_utc().date();
    // Active adults with an e-mail address and a ZIP code: who the portal can be opened to.
    let mut portal_ready: Vec<(String, String, String)> = Vec::new();
    for i in 0..patient_count {
        let first = *FIRST.choose(&mut rng).unwrap_or(&"Alex");
        let last = *LAST.choose(&mut rng).unwrap_or(&"Doe");
        let age_days: i64 =
            if rng.gen_bool(0.2) { rng.gen_range(200..17 * 365) } else { rng.gen_range(18 * 365..90 * 365) };
        let dob = today - time::Duration::days(age_days);
        let at_north = rng.gen_bool(0.4);
        let location = if at_north { &north } else { &downtown };
        let zip = if at_north { ["02143", "02144", "02145"] } else { ["02138", "02139", "02141"] }[rng.gen_range(0..3)];
        let minor = age_days < 18 * 365;
        let has_email = rng.gen_bool(0.9);
        let local = format!("{}.{}{}", first.to_lowercase(), last.to_lowercase().replace('\'', ""), i);
        let p = patients::create(
            db,
            &sys,
            PatientInput {
                first_name: first.into(),
                last_name: last.into(),
                date_of_birth: dob.to_string(),
                email: has_email.then(|| format!("{local}@example.com")),
                phone: Some(format!("(617) 555-{:04}", rng.gen_range(1000..9999))),
                address_line1: Some(format!(
                    "{} {}",
                    rng.gen_range(1..400),
                    STREETS.choose(&mut rng).unwrap_or(&"Main St")
                )),
                city: Some(if at_north { "Somerville" } else { "Cambridge" }.into()),
                state: Some("MA".into()),
                zip: rng.gen_bool(0.95).then(|| zip.to_owned()),
                location_id: location.id.clone(),
                status: Some(if rng.gen_bool(0.93) { "active" } else { "inactive" }.into()),
                record_number: None,
                confirm_email_change: false,
            },
        )
        .await
        .map_err(|x| e(&x))?;
        if !minor && p.status == "active" && p.zip.is_some() && p.email.is_some() {
            portal_ready.push((p.id.clone(), local.clone(), p.email.clone().unwrap_or_default()));
        }
        if minor {
            let parent_first = *FIRST.choose(&mut rng).unwrap_or(&"Sam");
            patients::add_contact(
                db,
                &sys,
                &p.id,
                ContactInput {
                    kind: "guardian".into(),
                    first_name: parent_first.into(),
                    last_name: last.into(),
                    relation: Some(if rng.gen_bool(0.5) { "Mother" } else { "Father" }.into()),
                    email: Some(format!(
                        "{}.{}.parent{}@example.com",
                        parent_first.to_lowercase(),
                        last.to_lowercase().replace('\'', ""),
                        i
                    )),
                    phone: Some(format!("(617) 555-{:04}", rng.gen_range(1000..9999))),
                },
            )
            .await
            .map_err(|x| e(&x))?;
        } else if rng.gen_bool(0.15) {
            let g_first = *FIRST.choose(&mut rng).unwrap_or(&"Pat");
            patients::add_contact(
                db,
                &sys,
                &p.id,
                ContactInput {
                    kind: if rng.gen_bool(0.5) { "guarantor" } else { "emergency" }.into(),
                    first_name: g_first.into(),
                    last_name: (*LAST.choose(&mut rng).unwrap_or(&"Doe")).into(),
                    relation: Some(if rng.gen_bool(0.5) { "Spouse" } else { "Sibling" }.into()),
                    email: None,
                    phone: Some(format!("(617) 555-{:04}", rng.gen_range(1000..9999))),
                },
            )
            .await
            .map_err(|x| e(&x))?;
        }
        let eligible: Vec<&(String, Vec<String>)> =
            clinicians.iter().filter(|(_, locs)| locs.contains(&location.id)).collect();
        if let Some((clinician, _)) = eligible.choose(&mut rng) {
            patients::add_care_team_member(db, &sys, &p.id, clinician, "Primary clinician").await.map_err(|x| e(&x))?;
        }
    }
    if let Some(line) = seed_portal(state, &portal_ready, &mut secret_rng).await? {
        printed.push(line);
    }
    Ok(format!(
        "Demo clinic created: 2 locations, 10 staff, {patient_count} patients.\nSign in at /staff/sign-in (these passwords are shown only now):\n{}",
        printed.join("\n")
    ))
}

/// The portal of the demo clinic: turned on (the fee acknowledged by the system), and patients
/// in every status: about a third enabled and invited (orange; their e-mails go to the mail
/// transport), a sixth enabled only (gray), the rest red; one patient has signed in (green), and
/// their sign-in is returned for printing.
async fn seed_portal(
    state: &AppState,
    ready: &[(String, String, String)],
    secret_rng: &mut impl Rng,
) -> anyhow::Result<Option<String>> {
    use portal_core::portal_access::PortalAccessLevel;
    let db = state.db();
    let sys = Actor::system();
    let e = |e: &dyn std::fmt::Display| anyhow::anyhow!("demo seed (portal): {e}");
    portal_practice::settings::set_use_portal(db, &sys, true, true).await.map_err(|x| e(&x))?;
    let Some((first, rest)) = ready.split_first() else { return Ok(None) };
    let third = rest.len() / 3;
    let invited: Vec<String> = rest[..third].iter().map(|(id, _, _)| id.clone()).collect();
    let input = portal_auth::onboarding::BulkInput {
        patient_ids: Some(invited),
        enable: true,
        invite: true,
        ..Default::default()
    };
    portal_auth::onboarding::bulk_enable_and_invite(db, &sys, &input).await.map_err(|x| e(&x))?;
    for (id, _, _) in &rest[third..third + rest.len() / 6] {
        portal_practice::portal_access::set_access_level(db, &sys, id, PortalAccessLevel::CanAccess)
            .await
            .map_err(|x| e(&x))?;
    }

    // One patient accepts the invitation and signs in, as a patient would from the e-mail.
    let (id, username, email) = first;
    portal_practice::portal_access::set_access_level(db, &sys, id, PortalAccessLevel::CanAccess)
        .await
        .map_err(|x| e(&x))?;
    let invite = portal_auth::invitations::InviteInput {
        to: portal_auth::invitations::InviteTo::Patient,
        relation: None,
        scopes: None,
        ends_on: None,
        message: Some(
            "Welcome to our patient portal. Please review your contact details before your next visit.".into(),
        ),
        intake_form_ids: vec![],
        phi_warning_acknowledged: false,
    };
    portal_auth::invitations::invite(db, &sys, id, invite).await.map_err(|x| e(&x))?;
    let token = {
        let mut conn = db.read().await.map_err(|x| e(&x))?;
        let events = portal_store::portal_accounts::queued_events(&mut conn, &["account_link_issued"])
            .await
            .map_err(|x| e(&x))?;
        events
            .iter()
            .rev()
            .filter_map(|row| serde_json::from_str::<portal_core::events::DomainEvent>(&row.payload).ok())
            .find_map(|ev| match ev {
                portal_core::events::DomainEvent::AccountLinkIssued { to, token, .. } if &to == email => Some(token),
                _ => None,
            })
            .context("the demo invitation's link")?
    };
    let password = random_password(secret_rng);
    let accept =
        portal_auth::portal_links::AcceptLinkInput { username: Some(username.clone()), password: password.clone() };
    portal_auth::portal_links::accept_link(db, &state.app().hasher, &token, accept, None).await.map_err(|x| e(&x))?;
    let session = portal_auth::portal_sessions::sign_in_portal(
        db,
        &state.app().hasher,
        &state.app().portal_sessions,
        username,
        &password,
        None,
        None,
    )
    .await
    .map_err(|x| e(&x))?;
    seed_messages(state, id, &session.principal).await?;
    seed_requests(state, id, &session.principal).await?;
    let ip = None;
    portal_auth::portal_sessions::sign_out_portal(
        db,
        &portal_auth::PortalSession {
            token_hash: portal_auth::tokens::hash_token(&session.token),
            principal: session.principal,
        },
        ip,
    )
    .await
    .map_err(|x| e(&x))?;
    Ok(Some(format!("  Portal user  {username}  password: {password}   (sign in at /portal)")))
}

/// A few conversations, so that the printed sign-ins open a lived-in inbox (seed 001): the Super
/// Admin (who holds Available for Portal Messages) writes to the signed-in patient, who answers
/// (unread for the Super Admin); and a staff conversation with the front desk. Written through
/// the use cases, like every other demo record.
async fn seed_messages(
    state: &AppState,
    patient_id: &str,
    patient: &portal_core::portal_accounts::PortalPrincipal,
) -> anyhow::Result<()> {
    use portal_messaging::send::{self, PortalMessageInput, ReplyInput, StaffMessageInput};
    let db = state.db();
    let e = |e: &dyn std::fmt::Display| anyhow::anyhow!("demo seed (messages): {e}");
    let staff_actor = |email: &'static str| async move {
        let mut conn = db.read().await.map_err(|x| e(&x))?;
        let row = portal_store::staff::find_by_email(&mut conn, email).await.map_err(|x| e(&x))?.context(email)?;
        let p =
            portal_auth::sessions::load_staff_principal(&mut conn, &row.id).await.map_err(|x| e(&x))?.context(email)?;
        anyhow::Ok((row.id, Actor::new(portal_core::Principal::Staff(p), None)))
    };
    let (_, admin) = staff_actor("admin@riverside.example").await?;
    let (front_desk, _) = staff_actor("frontdesk@riverside.example").await?;
    let sent = send::start_portal_conversation(
        db,
        &admin,
        PortalMessageInput {
            patient_id: patient_id.to_owned(),
            recipient_account_id: patient.account_id.to_string(),
            subject: Some("Welcome to secure messaging".into()),
            body: "Hello! You can now write to us here for anything that is not urgent: questions about \
                   your care, refills or paperwork. We usually answer within one business day."
                .into(),
            idempotency_key: None,
            skip_email_notice: false,
        },
    )
    .await
    .map_err(|x| e(&x))?;
    let me = portal_messaging::Caller::portal(patient.clone(), None);
    let reply =
        ReplyInput { body: "Thank you! Is the clinic open on Saturday mornings?".into(), idempotency_key: None };
    send::reply(db, &me, &sent.conversation_id, reply).await.map_err(|x| e(&x))?;
    send::start_staff_conversation(
        db,
        &admin,
        StaffMessageInput {
            recipient_staff_ids: vec![front_desk],
            patient_id: None,
            subject: Some("Saturday hours".into()),
            body: "Patients are asking about Saturday mornings: can we put the hours on the handout?".into(),
            idempotency_key: None,
        },
    )
    .await
    .map_err(|x| e(&x))?;
    Ok(())
}

/// A few portal requests, so that the queue and the archive are not empty (seed 002): the printed
/// portal user asks for a refill and a general question (open, in the queue of the patient's
/// location) and had a billing question answered (dismissed as completed, in the archive).
async fn seed_requests(
    state: &AppState,
    patient_id: &str,
    patient: &portal_core::portal_accounts::PortalPrincipal,
) -> anyhow::Result<()> {
    use portal_core::requests::{Dismissal, RawRequestDetails};
    use portal_queue::portal::{self, NewRequestInput};
    let db = state.db();
    let e = |e: &dyn std::fmt::Display| anyhow::anyhow!("demo seed (requests): {e}");
    let ask = |details: RawRequestDetails| NewRequestInput {
        patient_id: patient_id.to_owned(),
        details,
        idempotency_key: None,
    };
    let billing = portal::submit(
        db,
        patient,
        None,
        ask(RawRequestDetails {
            kind: "billing".into(),
            question: Some("My last statement shows the same visit twice. Could you check it?".into()),
            ..Default::default()
        }),
    )
    .await
    .map_err(|x| e(&x))?;
    portal::submit(
        db,
        patient,
        None,
        ask(RawRequestDetails {
            kind: "refill".into(),
            medication: Some("Lisinopril 10 mg tablets".into()),
            pharmacy: Some("Riverside Pharmacy, 12 Main Street".into()),
            note: Some("I have five tablets left.".into()),
            ..Default::default()
        }),
    )
    .await
    .map_err(|x| e(&x))?;
    portal::submit(
        db,
        patient,
        None,
        ask(RawRequestDetails {
            kind: "general".into(),
            question: Some("Do I need to fast before my blood test next week?".into()),
            ..Default::default()
        }),
    )
    .await
    .map_err(|x| e(&x))?;
    let mut conn = db.read().await.map_err(|x| e(&x))?;
    let row = portal_store::staff::find_by_email(&mut conn, "admin@riverside.example")
        .await
        .map_err(|x| e(&x))?
        .context("admin@riverside.example")?;
    let admin =
        portal_auth::sessions::load_staff_principal(&mut conn, &row.id).await.map_err(|x| e(&x))?.context("admin")?;
    drop(conn);
    let admin = Actor::new(portal_core::Principal::Staff(admin), None);
    portal_queue::staff::dismiss(db, &admin, &billing.request.id, Dismissal::Completed).await.map_err(|x| e(&x))?;
    Ok(())
}
