//! The Onboarding Tool (seed 004): the list with its status colours and filters, and the bulk
//! enable-and-invite that queues thousands of invitations in chunks.

mod portal_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portal_auth::PortalError;
use portal_auth::invitations::InviteTo;
use portal_auth::onboarding::{
    BulkInput, BulkStatus, OnboardingInput, bulk_enable_and_invite, bulk_job, onboarding_list, run_bulk, start_bulk,
};
use portal_auth::registration::{IdentityInput, request_registration};
use portal_common::*;
use portal_core::AccessError;
use portal_core::audit::AuditAction;
use portal_core::events::DomainEvent;
use portal_core::portal_access::{BulkSkip, PortalAccessStatus, PortalFacts};
use portal_core::portal_accounts::InviteRefused;
use portal_core::staff::StaffRole;
use portal_store::onboarding::{OnboardingFilter, count};
use portal_store::patients::{PatientFields, search_name};

/// Inserts `n` patients in one transaction; `f(i)` gives (email, zip, access enabled).
async fn many_patients(
    w: &World,
    n: usize,
    f: impl Fn(usize) -> (Option<String>, Option<String>, bool),
) -> Vec<String> {
    let rows: Vec<(String, PatientFields, bool)> = (0..n)
        .map(|i| {
            let (email, zip, on) = f(i);
            let first = format!("P{i:05}");
            let fields = PatientFields {
                search_name: search_name(&first, "Bulk"),
                first_name: first,
                last_name: "Bulk".into(),
                date_of_birth: time::macros::date!(1970 - 01 - 01),
                email,
                phone: None,
                address_line1: None,
                city: None,
                state: None,
                zip,
                location_id: w.loc.clone(),
                status: "active".into(),
            };
            (portal_store::ids::new_id(), fields, on)
        })
        .collect();
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    w.db()
        .write(move |tx| {
            Box::pin(async move {
                for (id, f, on) in &rows {
                    let rn = portal_store::patients::next_record_number(tx).await?;
                    portal_store::patients::insert(tx, id, &rn, f).await?;
                    if *on {
                        portal_store::portal_access::set_portal_access(tx, id, true).await?;
                    }
                }
                Ok::<_, portal_store::StoreError>(())
            })
        })
        .await
        .unwrap();
    ids
}

fn all_ok(i: usize) -> (Option<String>, Option<String>, bool) {
    (Some(format!("bulk{i}@example.org")), Some("02139".into()), false)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_invitations_are_queued_quickly_with_hashed_tokens_only() {
    let w = World::new().await;
    let ids = many_patients(&w, 1000, all_ok).await;
    let input = BulkInput { patient_ids: Some(ids.clone()), enable: true, invite: true, ..BulkInput::default() };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let t = Instant::now();
    let job = start_bulk(w.db(), &w.desk, &input).await.unwrap();
    assert_eq!(job.total(), 1000);
    let s2 = seen.clone();
    let summary = run_bulk(w.db(), &w.desk, job, move |p| s2.lock().unwrap().push(p.processed)).await.unwrap();
    let took = t.elapsed();
    println!("1,000 enable-and-invite: {took:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(summary.status, BulkStatus::Finished);
    assert_eq!((summary.processed, summary.enabled, summary.sent, summary.skipped), (1000, 1000, 1000, 0));
    // Progress after every chunk.
    assert_eq!(*seen.lock().unwrap(), vec![200, 400, 600, 800, 1000]);
    let polled = bulk_job(w.db(), &w.desk, &summary.job_id).await.unwrap();
    assert_eq!((polled.status, polled.sent), (BulkStatus::Finished, 1000));

    let links: Vec<(String, String)> = events(w.db())
        .await
        .into_iter()
        .filter_map(|e| match e {
            DomainEvent::AccountLinkIssued { to, token, .. } => Some((to, token)),
            _ => None,
        })
        .collect();
    assert_eq!(links.len(), 1000);
    let mut conn = w.db().read().await.unwrap();
    for (i, id) in ids.iter().enumerate().step_by(97) {
        let rows = portal_store::portal_accounts::tokens_of_patient(&mut conn, id).await.unwrap();
        assert_eq!(rows.len(), 1);
        let (_, token) = links.iter().find(|(to, _)| to == &format!("bulk{i}@example.org")).unwrap();
        assert_eq!(rows[0].token_hash, hash(token), "the database holds the SHA-256 only");
        assert!(!rows[0].data.contains(token.as_str()));
    }
    let green_or_orange = count(
        &mut conn,
        &OnboardingFilter { status: Some(PortalAccessStatus::InvitedNotSignedIn), ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(green_or_orange, 1000, "all orange now");
    drop(conn);
    assert_eq!(w.audit(AuditAction::PortalInvitationSent).await.len(), 500, "the audit page holds 500; all are there");
    // A link of the bulk run works like any invitation.
    let (_, token) = links.iter().find(|(to, _)| to == "bulk5@example.org").unwrap();
    w.accept(token, Some("bulk5"), PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_says_who_was_skipped_and_why() {
    let w = World::new().await;
    let mut ids = many_patients(&w, 6, |i| match i {
        0 => (Some("a@example.org".into()), Some("02139".into()), false), // enabled, invited
        1 => (None, Some("02139".into()), false),                         // no e-mail
        2 => (Some("c@example.org".into()), None, false),                 // no ZIP
        3 => (None, None, true),                                          // red although enabled
        4 => (Some("e@example.org".into()), Some("02139".into()), true),  // invited
        _ => (Some("f@example.org".into()), Some("02139".into()), false), // not enabled
    })
    .await;
    let far = w.patient(PatientSpec::new("Far", "Away").email("far@example.org").zip("02139").at(&w.other_loc)).await;
    ids.push(far);
    ids.push("00000000-0000-4000-8000-000000000000".into());

    // Inviting only: access must be enabled already (auto-enable is off).
    let only_invite = BulkInput { patient_ids: Some(ids.clone()), invite: true, ..BulkInput::default() };
    let s = bulk_enable_and_invite(w.db(), &w.desk, &only_invite).await.unwrap();
    assert_eq!(s.sent, 1);
    assert_eq!(s.enabled, 0);
    assert_eq!(s.skipped_reasons.get(&BulkSkip::AccessNotEnabled), Some(&4));
    assert_eq!(s.skipped_reasons.get(&BulkSkip::NoEmailAndZip), Some(&1));
    assert_eq!(s.skipped_reasons.get(&BulkSkip::NotFound), Some(&2), "other location, unknown id");

    // With auto-enable on, inviting enables those who can be enabled.
    w.db()
        .write(|tx| Box::pin(async move { portal_store::portal_access::set_instance_auto_enable(tx, true).await }))
        .await
        .unwrap();
    let s = bulk_enable_and_invite(w.db(), &w.desk, &only_invite).await.unwrap();
    assert_eq!((s.enabled, s.sent), (2, 3));
    assert_eq!(s.skipped_reasons.get(&BulkSkip::NoEmail), Some(&1));
    assert_eq!(s.skipped_reasons.get(&BulkSkip::NoZip), Some(&1));

    // Enabling only: the ones already enabled are skipped as such.
    let only_enable = BulkInput { patient_ids: Some(ids[..6].to_vec()), enable: true, ..BulkInput::default() };
    let s = bulk_enable_and_invite(w.db(), &w.desk, &only_enable).await.unwrap();
    assert_eq!(s.sent, 0);
    assert_eq!(s.skipped_reasons.get(&BulkSkip::AlreadyEnabled), Some(&3));
    let enabled_rows = w.audit(AuditAction::PortalAccessChanged).await;
    assert!(enabled_rows.is_empty(), "nothing newly enabled by the last run");
    let sent_rows = w.audit(AuditAction::PortalInvitationSent).await;
    assert_eq!(sent_rows.len(), 4);
    assert!(sent_rows.iter().all(|r| detail(r)["bulk_job"].is_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_runs_are_refused_without_permission_or_portal() {
    let w = World::new().await;
    let ids = many_patients(&w, 3, all_ok).await;
    let input = BulkInput { patient_ids: Some(ids.clone()), enable: true, invite: true, ..BulkInput::default() };
    let billing = staff(StaffRole::Billing, &[&w.loc]);
    assert_access(start_bulk(w.db(), &billing, &input).await, AccessError::Forbidden { needs: "Edit Patients" });
    let neither = BulkInput { patient_ids: Some(ids.clone()), ..BulkInput::default() };
    assert_eq!(invalid_fields(start_bulk(w.db(), &w.desk, &neither).await), ["invite"]);
    let both = BulkInput {
        patient_ids: Some(ids.clone()),
        filter: Some(OnboardingInput::default()),
        invite: true,
        ..BulkInput::default()
    };
    assert_eq!(invalid_fields(start_bulk(w.db(), &w.desk, &both).await), ["patient_ids"]);
    set_use_portal(w.db(), false).await;
    assert!(matches!(start_bulk(w.db(), &w.desk, &input).await, Err(PortalError::Invite(InviteRefused::PortalOff))));
    // Enabling alone needs no portal.
    let enable = BulkInput { patient_ids: Some(ids), enable: true, ..BulkInput::default() };
    assert_eq!(bulk_enable_and_invite(w.db(), &w.desk, &enable).await.unwrap().enabled, 3);
    // A job's progress is its creator's.
    let job = start_bulk(w.db(), &w.desk, &enable).await.unwrap();
    let other = staff(StaffRole::FrontDesk, &[&w.loc]);
    assert_access(bulk_job(w.db(), &other, &job.id).await, AccessError::NotFound);
    assert_eq!(bulk_job(w.db(), &w.desk, &job.id).await.unwrap().status, BulkStatus::Running);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_colours_filters_and_counts() {
    let w = World::new().await;
    let red = w.patient(PatientSpec::new("Rita", "Red").email("r@example.org").zip("02139").at(&w.loc)).await;
    let gray = w.enabled_patient("Gary", "Gray", "g@example.org").await;
    let orange = w.enabled_patient("Olga", "Orange", "o@example.org").await;
    w.invite(&orange, InviteTo::Patient).await.unwrap();
    let (green, _) = w.registered_patient("Gina", "gina@example.org", "gina").await;
    w.sign_in("gina", PASSWORD).await.unwrap();
    w.patient(PatientSpec::new("Far", "Away").email("f@example.org").zip("02139").at(&w.other_loc)).await;

    let page = onboarding_list(w.db(), &w.desk, &OnboardingInput::default()).await.unwrap();
    assert_eq!(page.total, 4, "only the staff member's location");
    assert_eq!((page.counts.red, page.counts.gray, page.counts.orange, page.counts.green), (1, 1, 1, 1));
    let colour = |id: &str| page.rows.iter().find(|r| r.patient_id == id).unwrap().status.colour;
    assert_eq!([colour(&red), colour(&gray), colour(&orange), colour(&green)], ["red", "gray", "orange", "green"]);
    let red_row = page.rows.iter().find(|r| r.patient_id == red).unwrap();
    assert_eq!(red_row.invite_action, None, "no invite link on red rows");
    let gray_row = page.rows.iter().find(|r| r.patient_id == gray).unwrap();
    assert_eq!(gray_row.invite_action.as_deref(), Some("Send Invite to g@example.org"));
    let green_row = page.rows.iter().find(|r| r.patient_id == green).unwrap();
    assert!(green_row.last_signed_in_at.is_some() && green_row.last_invited_at.is_some());

    for (status, expected) in [("red", &red), ("gray", &gray), ("orange", &orange), ("green", &green)] {
        let input = OnboardingInput { status: Some(status.into()), ..OnboardingInput::default() };
        let p = onboarding_list(w.db(), &w.desk, &input).await.unwrap();
        assert_eq!(p.rows.iter().map(|r| r.patient_id.as_str()).collect::<Vec<_>>(), [expected.as_str()], "{status}");
    }
    let by_name = OnboardingInput { q: Some("olg".into()), ..OnboardingInput::default() };
    assert_eq!(onboarding_list(w.db(), &w.desk, &by_name).await.unwrap().total, 1);
    let wrong = OnboardingInput {
        status: Some("blue".into()),
        location_id: Some("x".into()),
        per_page: Some(0),
        ..OnboardingInput::default()
    };
    let mut f = invalid_fields(onboarding_list(w.db(), &w.desk, &wrong).await);
    f.sort();
    assert_eq!(f, ["location_id", "per_page", "status"]);
    let searched = w.audit(AuditAction::PatientSearched).await;
    assert!(searched.iter().all(|r| detail(r)["by"] == "onboarding"));

    // "All that match the filter": enable every red patient of the location.
    let filter = OnboardingInput { status: Some("red".into()), ..OnboardingInput::default() };
    let input = BulkInput { filter: Some(filter), enable: true, ..BulkInput::default() };
    let s = bulk_enable_and_invite(w.db(), &w.desk, &input).await.unwrap();
    assert_eq!((s.total, s.enabled), (1, 1));
    assert!(w.patient_row(&red).await.portal_access);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sql_filters_agree_with_the_status_rule() {
    // Every combination of the five facts, as rows; each SQL filter must select exactly the rows
    // that `PortalAccessStatus::derive` puts in its colour.
    let w = World::new().await;
    let mut expected = std::collections::HashMap::new();
    for bits in 0..32u8 {
        let f = PortalFacts {
            access_enabled: bits & 1 != 0,
            has_email: bits & 2 != 0,
            has_zip: bits & 4 != 0,
            invited: bits & 8 != 0,
            signed_in: bits & 16 != 0,
        };
        let mut spec = PatientSpec::new(&format!("C{bits}"), "Combo").at(&w.loc);
        if f.has_email {
            spec = spec.email(&format!("c{bits}@example.org"));
        }
        if f.has_zip {
            spec = spec.zip("02139");
        }
        let id = w.patient(spec).await;
        let id2 = id.clone();
        w.db()
            .write(move |tx| {
                Box::pin(async move {
                    let now = portal_core::time_util::now_utc();
                    portal_store::portal_access::set_portal_access(tx, &id2, f.access_enabled).await?;
                    if f.invited {
                        portal_store::portal_access::mark_invited(tx, std::slice::from_ref(&id2), now).await?;
                    }
                    if f.signed_in {
                        portal_store::portal_access::set_last_signed_in(tx, std::slice::from_ref(&id2), now).await?;
                    }
                    Ok::<_, portal_store::StoreError>(())
                })
            })
            .await
            .unwrap();
        expected.insert(id, PortalAccessStatus::derive(&f));
    }
    for s in PortalAccessStatus::ALL {
        let input =
            OnboardingInput { status: Some(s.as_str().into()), per_page: Some(200), ..OnboardingInput::default() };
        let mut got: Vec<String> =
            onboarding_list(w.db(), &w.desk, &input).await.unwrap().rows.into_iter().map(|r| r.patient_id).collect();
        got.sort();
        let mut want: Vec<String> = expected.iter().filter(|(_, v)| **v == s).map(|(k, _)| k.clone()).collect();
        want.sort();
        assert_eq!(got, want, "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_run_does_not_stall_other_requests() {
    let w = World::new().await;
    let ids = many_patients(&w, 2000, all_ok).await;
    let db = w.db().clone();
    let desk = w.desk.clone();
    let bulk = tokio::spawn(async move {
        let input = BulkInput { patient_ids: Some(ids), enable: true, invite: true, ..BulkInput::default() };
        bulk_enable_and_invite(&db, &desk, &input).await
    });
    // Meanwhile, small write requests (each one transaction with an audit row) keep coming.
    let probe = IdentityInput {
        email: "nobody@example.org".into(),
        last_name: "Nobody".into(),
        date_of_birth: "1980-01-01".into(),
        zip: "02139".into(),
    };
    let mut latencies = Vec::new();
    while !bulk.is_finished() {
        let t = Instant::now();
        request_registration(w.db(), &probe, None).await.unwrap();
        latencies.push(t.elapsed());
    }
    let summary = bulk.await.unwrap().unwrap();
    assert_eq!(summary.sent, 2000);
    let worst = latencies.iter().max().copied().unwrap_or_default();
    println!("{} requests during the bulk run; worst {worst:?}", latencies.len());
    assert!(latencies.len() >= 3, "requests were served while the bulk run went on");
    assert!(worst < Duration::from_secs(2), "a request waited {worst:?}");
}
