//! The Patient Portal Onboarding Tool (seed 004; seed 002's "Invite Existing Patients"): the
//! patients of the staff member's locations with their status colour, e-mail, last invitation
//! and last sign-in; and the bulk action that enables access and sends invitations to many
//! patients, or to all that match the filter.
//!
//! A bulk run works in chunks of [`CHUNK`] patients, one transaction each (rows, events, audit
//! rows and the job's counts commit together), so no other request waits behind more than one
//! chunk. Tokens are SHA-256 hashed, never argon2: 10,000 invitations are queued in seconds and
//! the e-mails are portal-notify's to deliver. Progress is kept in `bulk_jobs` (any replica's page
//! can poll [`bulk_job`]) and handed to the caller's callback after every chunk.

use std::collections::{BTreeMap, HashMap};

use portal_core::audit::AuditAction;
use portal_core::events::{LinkPurpose, Relation};
use portal_core::ids::LocationId;
use portal_core::patient::PatientSearchText;
use portal_core::portal_access::{
    BulkSkip, PortalAccessLevel, PortalAccessStatus, PortalStatusView, bulk_step, effective_auto_enable,
};
use portal_core::portal_accounts::{GrantScopes, InviteRefused};
use portal_core::staff::Permission;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, Actor, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::onboarding::{self as store, BulkJobRow, JobProgress, OnboardingFilter};
use portal_store::portal_access::{self as access_store, PatientPortalRow};
use portal_store::portal_accounts::{self as accounts, NewAccount, NewGrant};
use portal_store::{Db, ids::new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, PrimitiveDateTime};

use crate::portal_error::PortalError;
use crate::portal_links::{ACCOUNT_LINK_PURPOSES, LinkData, NewLink, make_link, portal_is_on, write_links};

/// Patients per transaction of a bulk run: small enough that a chunk holds the write lock (and
/// on PostgreSQL the audit chain's head) for a fraction of a second.
pub const CHUNK: usize = 200;
/// The most patients one bulk run may name.
pub const MAX_BULK: usize = 50_000;
pub const MAX_PER_PAGE: i64 = 200;
/// A running job whose counts have not moved for this long was interrupted (a restart).
const STALE_AFTER: Duration = Duration::minutes(2);

/// The tool's filters, as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OnboardingInput {
    /// A name (or part of one).
    #[serde(default)]
    pub q: Option<String>,
    /// A colour (`red`, `gray`, `orange`, `green`) or status name.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub page: Option<i64>,
    #[serde(default)]
    pub per_page: Option<i64>,
}

fn parse_filter(actor: &Actor, input: &OnboardingInput, errors: &mut FieldErrors) -> OnboardingFilter {
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => errors.check("status", PortalAccessStatus::parse(s)),
    };
    let location = match input.location_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => match LocationId::parse(l) {
            Ok(l) => Some(l.into_string()),
            Err(_) => {
                errors.push("location_id", "is not a location id");
                None
            }
        },
    };
    let name_words = match PatientSearchText::interpret(input.q.as_deref().unwrap_or("")) {
        PatientSearchText::NameWords(w) => w,
        PatientSearchText::Everyone => vec![],
        // The tool searches by name only; other shapes are searched as typed words.
        _ => input.q.as_deref().unwrap_or("").split_whitespace().take(5).map(str::to_lowercase).collect(),
    };
    let locations = actor.principal.location_scope().map(|ls| ls.iter().map(|l| l.to_string()).collect());
    OnboardingFilter { locations, location, status, name_words }
}

/// One row of the tool.
#[derive(Debug, Clone, Serialize)]
pub struct OnboardingRow {
    pub patient_id: String,
    pub record_number: String,
    pub first_name: String,
    pub last_name: String,
    pub location_id: String,
    pub email: Option<String>,
    pub access_level: PortalAccessLevel,
    pub status: PortalStatusView,
    pub last_invited_at: Option<PrimitiveDateTime>,
    pub last_signed_in_at: Option<PrimitiveDateTime>,
    /// "Send Invite to <e-mail>", shown only for gray, orange and green rows (seed 004).
    pub invite_action: Option<String>,
}

impl From<PatientPortalRow> for OnboardingRow {
    fn from(r: PatientPortalRow) -> Self {
        let status = PortalStatusView::of(&r.facts());
        let invite_action = match (&r.email, status.status) {
            (Some(e), s) if s != PortalAccessStatus::NotEnabled => Some(format!("Send Invite to {e}")),
            _ => None,
        };
        Self {
            patient_id: r.id,
            record_number: r.record_number,
            first_name: r.first_name,
            last_name: r.last_name,
            location_id: r.location_id,
            email: r.email,
            access_level: PortalAccessLevel::from_enabled(r.portal_access),
            status,
            last_invited_at: r.portal_last_invited_at,
            last_signed_in_at: r.portal_last_signed_in_at,
            invite_action,
        }
    }
}

/// How many patients of the filter (ignoring its status) have each colour.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusCounts {
    pub red: i64,
    pub gray: i64,
    pub orange: i64,
    pub green: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OnboardingPage {
    pub rows: Vec<OnboardingRow>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub counts: StatusCounts,
}

/// The tool's list: the patients of the actor's locations by name, filtered. Needs View
/// Patients; audited like a patient search (how, and how many; never the typed text).
pub async fn onboarding_list(db: &Db, actor: &Actor, input: &OnboardingInput) -> Result<OnboardingPage, PortalError> {
    actor.principal.require(Permission::ViewPatients)?;
    let mut errors = FieldErrors::new();
    let per_page = input.per_page.unwrap_or(50);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        errors.push("per_page", format!("must be between 1 and {MAX_PER_PAGE}"));
    }
    let page = input.page.unwrap_or(1);
    if !(1..=100_000).contains(&page) {
        errors.push("page", "must be between 1 and 100000");
    }
    let filter = parse_filter(actor, input, &mut errors);
    errors.into_result()?;
    let mut conn = db.read().await?;
    let (rows, total) = store::list(&mut conn, &filter, (page - 1) * per_page, per_page).await?;
    let mut counts = StatusCounts::default();
    for s in PortalAccessStatus::ALL {
        let n = store::count(&mut conn, &OnboardingFilter { status: Some(s), ..filter.clone() }).await?;
        match s {
            PortalAccessStatus::NotEnabled => counts.red = n,
            PortalAccessStatus::EnabledNotInvited => counts.gray = n,
            PortalAccessStatus::InvitedNotSignedIn => counts.orange = n,
            PortalAccessStatus::SignedIn => counts.green = n,
        }
    }
    drop(conn);
    let shown = rows.len();
    let status = filter.status.map(|s| s.as_str());
    db.audit_read(AuditEntry::by(actor, AuditAction::PatientSearched).detail(json!({
        "by": "onboarding", "status": status, "results": shown, "total": total,
    })))
    .await?;
    Ok(OnboardingPage { rows: rows.into_iter().map(OnboardingRow::from).collect(), total, page, per_page, counts })
}

/// What to do, and to whom: the selected rows, or every patient matching a filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BulkInput {
    #[serde(default)]
    pub patient_ids: Option<Vec<String>>,
    /// "All that match the filter" (its page and per-page are ignored).
    #[serde(default)]
    pub filter: Option<OnboardingInput>,
    /// Enable portal access (red rows with an e-mail and a ZIP code turn gray).
    #[serde(default)]
    pub enable: bool,
    /// Send the invitation/reset e-mail.
    #[serde(default)]
    pub invite: bool,
}

/// A started run: its id (for [`bulk_job`]) and the patients it will go through, fixed when it
/// started.
#[derive(Debug, Clone)]
pub struct BulkJob {
    pub id: String,
    patient_ids: Vec<String>,
    enable: bool,
    invite: bool,
}

impl BulkJob {
    pub fn total(&self) -> usize {
        self.patient_ids.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkStatus {
    Running,
    Finished,
    Failed,
    /// Stopped mid-way (the server restarted): the chunks done are done; run the rest again.
    Interrupted,
}

/// A run's counts: after each chunk while it runs, and its summary at the end.
#[derive(Debug, Clone, Serialize)]
pub struct BulkProgress {
    pub job_id: String,
    pub status: BulkStatus,
    pub total: i64,
    pub processed: i64,
    /// Patients whose access this run enabled.
    pub enabled: i64,
    /// Invitation/reset e-mails queued.
    pub sent: i64,
    pub skipped: i64,
    /// Why patients were skipped, with counts.
    pub skipped_reasons: BTreeMap<BulkSkip, i64>,
}

const KIND: &str = "portal_enable_invite";

/// Starts a bulk run: checks the permission and the portal, fixes the list of patients and
/// records the job (so that progress can be polled). Needs Edit Patients.
pub async fn start_bulk(db: &Db, actor: &Actor, input: &BulkInput) -> Result<BulkJob, PortalError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut errors = FieldErrors::new();
    if !input.enable && !input.invite {
        errors.push("invite", "choose to enable access, to send invitations, or both");
    }
    let mut conn = db.read().await?;
    if input.invite && !portal_is_on(&mut conn).await? {
        return Err(InviteRefused::PortalOff.into());
    }
    let mut ids: Vec<String> = match (&input.patient_ids, &input.filter) {
        (Some(ids), None) => {
            if ids.len() > MAX_BULK {
                errors.push("patient_ids", format!("at most {MAX_BULK} patients at once"));
            }
            ids.iter().take(MAX_BULK).map(|i| i.trim().to_ascii_lowercase()).collect()
        }
        (None, Some(f)) => {
            let filter = parse_filter(actor, f, &mut errors);
            if errors.is_empty() { store::ids(&mut conn, &filter, MAX_BULK as i64).await? } else { vec![] }
        }
        _ => {
            errors.push("patient_ids", "give either patient ids or a filter");
            vec![]
        }
    };
    drop(conn);
    errors.into_result()?;
    let mut seen = std::collections::HashSet::new();
    ids.retain(|i| seen.insert(i.clone()));
    let now = now_utc();
    let row = BulkJobRow {
        id: new_id(),
        kind: KIND.into(),
        created_by: actor.principal.actor_id().map(str::to_owned),
        created_by_name: actor.name().to_owned(),
        status: "running".into(),
        total: ids.len() as i32,
        processed: 0,
        enabled: 0,
        sent: 0,
        skipped: 0,
        skipped_reasons: "{}".into(),
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    let id = row.id.clone();
    db.write(move |tx| Box::pin(async move { store::insert_job(tx, &row).await })).await?;
    Ok(BulkJob { id, patient_ids: ids, enable: input.enable, invite: input.invite })
}

/// Runs a started job chunk by chunk, calling `on_progress` after each; returns the summary.
/// Every patient gets one audit row (`portal_invitation_sent`, or `portal_access_changed` when
/// only enabled) naming the job.
pub async fn run_bulk(
    db: &Db,
    actor: &Actor,
    job: BulkJob,
    mut on_progress: impl FnMut(&BulkProgress) + Send,
) -> Result<BulkProgress, PortalError> {
    let mut conn = db.read().await?;
    let instance = access_store::instance_auto_enable(&mut conn).await?;
    let auto: HashMap<String, bool> = access_store::location_overrides(&mut conn)
        .await?
        .into_iter()
        .map(|(id, _, over)| (id, effective_auto_enable(instance, over)))
        .collect();
    drop(conn);
    let mut progress = BulkProgress {
        job_id: job.id.clone(),
        status: BulkStatus::Running,
        total: job.patient_ids.len() as i64,
        processed: 0,
        enabled: 0,
        sent: 0,
        skipped: 0,
        skipped_reasons: BTreeMap::new(),
    };
    let chunks: Vec<Vec<String>> = job.patient_ids.chunks(CHUNK).map(<[String]>::to_vec).collect();
    let last = chunks.len().saturating_sub(1);
    if chunks.is_empty() {
        progress.status = BulkStatus::Finished;
        save_progress(db, &progress).await?;
    }
    for (i, chunk) in chunks.into_iter().enumerate() {
        let before = progress.clone();
        let outcome = db
            .write({
                let (actor, auto, job_id) = (actor.clone(), auto.clone(), job.id.clone());
                let (enable, invite) = (job.enable, job.invite);
                let mut p = progress.clone();
                move |tx| {
                    Box::pin(async move {
                        run_chunk(tx, &actor, &job_id, &chunk, enable, invite, &auto, &mut p).await?;
                        p.status = if i == last { BulkStatus::Finished } else { BulkStatus::Running };
                        write_progress(tx, &p).await?;
                        Ok::<_, PortalError>(p)
                    })
                }
            })
            .await;
        match outcome {
            Ok(p) => progress = p,
            Err(e) => {
                let mut failed = before;
                failed.status = BulkStatus::Failed;
                let _ = save_progress(db, &failed).await;
                return Err(e);
            }
        }
        on_progress(&progress);
        // Let requests queued for the database go first.
        tokio::task::yield_now().await;
    }
    Ok(progress)
}

/// Runs a started job in a task of its own, so that the request that started it answers at once
/// (the page and the API both poll [`bulk_job`]). The outcome is logged with the job's id,
/// counts and the kind of failure only: never a patient or an address.
pub fn spawn_bulk(db: &Db, actor: &Actor, job: BulkJob) -> tokio::task::JoinHandle<()> {
    let (db, actor, id) = (db.clone(), actor.clone(), job.id.clone());
    tokio::spawn(async move {
        match run_bulk(&db, &actor, job, |_| {}).await {
            Ok(p) => tracing::info!(job_id = %id, processed = p.processed, sent = p.sent, "onboarding job finished"),
            Err(e) => tracing::warn!(job_id = %id, failure = failure_kind(&e), "onboarding job failed"),
        }
    })
}

fn failure_kind(e: &PortalError) -> &'static str {
    match e {
        PortalError::Store(_) => "database",
        PortalError::Access(_) => "access",
        PortalError::Invalid(_) => "invalid input",
        PortalError::Invite(_) | PortalError::Enable(_) => "refused",
        _ => "other",
    }
}

/// Starts and runs a bulk job in one call (the command line, tests; the HTTP layer starts the
/// job, answers with its id, and runs it in a task of its own).
pub async fn bulk_enable_and_invite(db: &Db, actor: &Actor, input: &BulkInput) -> Result<BulkProgress, PortalError> {
    let job = start_bulk(db, actor, input).await?;
    run_bulk(db, actor, job, |_| {}).await
}

/// A job's progress, for the page that polls it. Only its creator (or the command line) sees it.
pub async fn bulk_job(db: &Db, actor: &Actor, job_id: &str) -> Result<BulkProgress, PortalError> {
    let mut conn = db.read().await?;
    let row = store::find_job(&mut conn, job_id.trim()).await?;
    if actor.principal.actor_id().is_some_and(|me| row.created_by.as_deref() != Some(me)) {
        return Err(AccessError::NotFound.into());
    }
    let mut status = match row.status.as_str() {
        "finished" => BulkStatus::Finished,
        "failed" => BulkStatus::Failed,
        _ => BulkStatus::Running,
    };
    if status == BulkStatus::Running && row.updated_at + STALE_AFTER < now_utc() {
        status = BulkStatus::Interrupted;
    }
    let reasons: BTreeMap<BulkSkip, i64> = serde_json::from_str(&row.skipped_reasons).unwrap_or_default();
    Ok(BulkProgress {
        job_id: row.id,
        status,
        total: row.total.into(),
        processed: row.processed.into(),
        enabled: row.enabled.into(),
        sent: row.sent.into(),
        skipped: row.skipped.into(),
        skipped_reasons: reasons,
    })
}

fn job_progress_row(p: &BulkProgress) -> (String, &'static str, Option<PrimitiveDateTime>) {
    let reasons = serde_json::to_string(&p.skipped_reasons).unwrap_or_else(|_| "{}".into());
    let (status, finished) = match p.status {
        BulkStatus::Running | BulkStatus::Interrupted => ("running", None),
        BulkStatus::Finished => ("finished", Some(now_utc())),
        BulkStatus::Failed => ("failed", Some(now_utc())),
    };
    (reasons, status, finished)
}

async fn write_progress(tx: &mut portal_store::DbConn, p: &BulkProgress) -> Result<(), PortalError> {
    let (reasons, status, finished_at) = job_progress_row(p);
    store::update_job(
        tx,
        &p.job_id,
        &JobProgress {
            status,
            processed: p.processed as i32,
            enabled: p.enabled as i32,
            sent: p.sent as i32,
            skipped: p.skipped as i32,
            skipped_reasons: &reasons,
            finished_at,
        },
    )
    .await?;
    Ok(())
}

async fn save_progress(db: &Db, p: &BulkProgress) -> Result<(), PortalError> {
    let p = p.clone();
    db.write(move |tx| Box::pin(async move { write_progress(tx, &p).await })).await
}

/// What one patient's audit row of a chunk will say.
struct ChunkAudit {
    patient_id: String,
    enabled: bool,
    /// The link's purpose and the account it went to, when invited.
    invitation: Option<(LinkPurpose, String)>,
}

fn skip(p: &mut BulkProgress, why: BulkSkip) {
    p.skipped += 1;
    *p.skipped_reasons.entry(why).or_insert(0) += 1;
}

/// One chunk, inside its transaction.
#[allow(clippy::too_many_arguments)]
async fn run_chunk(
    tx: &mut portal_store::DbConn,
    actor: &Actor,
    job_id: &str,
    chunk: &[String],
    want_enable: bool,
    want_invite: bool,
    auto: &HashMap<String, bool>,
    p: &mut BulkProgress,
) -> Result<(), PortalError> {
    let now = now_utc();
    let rows: HashMap<String, PatientPortalRow> =
        access_store::patients_for_update(tx, chunk).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let selfs: HashMap<String, accounts::AccountRow> =
        accounts::self_accounts(tx, chunk).await?.into_iter().map(|(g, a)| (g.patient_id, a)).collect();
    let staff_id = actor.principal.actor_id().map(str::to_owned);
    let mut to_enable = Vec::new();
    let mut new_accounts = Vec::new();
    let mut new_grants = Vec::new();
    let mut existing_accounts = Vec::new();
    let mut links = Vec::new();
    let mut invited = Vec::new();
    let mut audits: Vec<ChunkAudit> = Vec::new();
    for id in chunk {
        p.processed += 1;
        let Some(row) = rows
            .get(id)
            .filter(|r| actor.principal.may_access_location(&LocationId::from_trusted(r.location_id.clone())))
        else {
            skip(p, BulkSkip::NotFound);
            continue;
        };
        let auto_enable = auto.get(&row.location_id).copied().unwrap_or(false);
        let step = match bulk_step(&row.facts(), want_enable, want_invite, auto_enable) {
            Ok(s) => s,
            Err(why) => {
                skip(p, why);
                continue;
            }
        };
        let account = selfs.get(id);
        if step.invite && account.is_some_and(|a| !a.active) {
            skip(p, BulkSkip::AccountInactive);
            continue;
        }
        if step.enable {
            to_enable.push(id.clone());
            p.enabled += 1;
        }
        if !step.invite {
            audits.push(ChunkAudit { patient_id: id.clone(), enabled: step.enable, invitation: None });
            continue;
        }
        let email = row.email.clone().unwrap_or_default();
        let (account_id, purpose) = match account {
            Some(a) => {
                existing_accounts.push(a.id.clone());
                (a.id.clone(), if a.has_password() { LinkPurpose::Reset } else { LinkPurpose::Invitation })
            }
            None => {
                let account_id = new_id();
                new_accounts.push(NewAccount::invited(account_id.clone(), &email, &row.full_name(), now));
                new_grants.push(NewGrant {
                    id: new_id(),
                    account_id: account_id.clone(),
                    patient_id: id.clone(),
                    relation: Relation::Myself.as_str().to_owned(),
                    contact_id: None,
                    scopes: GrantScopes::all().to_stored(),
                    ends_on: None,
                    created_by: staff_id.clone(),
                    created_at: now,
                    updated_at: now,
                });
                (account_id, LinkPurpose::Invitation)
            }
        };
        let data =
            LinkData { relation: Some(Relation::Myself), bulk_job: Some(job_id.to_owned()), ..LinkData::default() };
        links.push(make_link(
            NewLink {
                purpose,
                account_id: Some(&account_id),
                patient_id: Some(id),
                to: &email,
                data: &data,
                created_by: staff_id.as_deref(),
            },
            now,
        ));
        invited.push(id.clone());
        p.sent += 1;
        audits.push(ChunkAudit {
            patient_id: id.clone(),
            enabled: step.enable,
            invitation: Some((purpose, account_id)),
        });
    }
    access_store::enable_many(tx, &to_enable).await?;
    accounts::insert_accounts(tx, &new_accounts).await?;
    accounts::insert_grants(tx, &new_grants).await?;
    accounts::supersede_tokens(tx, &existing_accounts, &[], &ACCOUNT_LINK_PURPOSES, now).await?;
    write_links(tx, links).await?;
    access_store::mark_invited(tx, &invited, now).await?;
    // Audit rows last (on PostgreSQL the chain's head stays locked until the commit), all in one
    // append.
    let entries: Vec<AuditEntry> = audits
        .into_iter()
        .map(|ChunkAudit { patient_id, enabled, invitation }| match invitation {
            Some((purpose, account_id)) => AuditEntry::by(actor, AuditAction::PortalInvitationSent)
                .patient(&patient_id)
                .target("portal_account", &account_id)
                .detail(json!({
                    "purpose": purpose.as_str(), "relation": "self", "access_enabled": enabled, "bulk_job": job_id,
                })),
            None => AuditEntry::by(actor, AuditAction::PortalAccessChanged)
                .patient(&patient_id)
                .target("patient", &patient_id)
                .detail(json!({ "from": "no_access", "to": "can_access", "bulk_job": job_id })),
        })
        .collect();
    audit::append_many(tx, &entries).await?;
    Ok(())
}
