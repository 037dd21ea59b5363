//! The task a helper opened (seed 002: "clicking on the helper button beside a prescription
//! refill request opens a new encounter note and adds the requested prescription"): its title,
//! the request it serves, the draft text, "Save draft" and "Mark done".

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_queue::QueueError;
use portal_queue::helpers::{self, TaskDetail};
use serde::Deserialize;

use super::{NO_SUCH_TASK, RequestLine, failure, well_formed};
use crate::extract::{PageStaff, SignedInStaff};
use crate::pages::forms::{FormErrors, when};
use crate::pages::{Chrome, PageForm, PageQuery, error_page, render_status};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskForm {
    #[serde(default)]
    body: String,
    /// `save` ("Save draft") or `done` ("Mark done").
    #[serde(default)]
    action: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskNotice {
    #[serde(default)]
    saved: Option<String>,
}

#[derive(Template)]
#[template(path = "queue_task.html")]
struct TaskPage {
    chrome: Chrome,
    id: String,
    title: String,
    kind_label: &'static str,
    done: bool,
    completed_by: String,
    completed_when: String,
    created_by: String,
    created_when: String,
    body: String,
    r: RequestLine,
    /// The staff member may edit it (Edit Patients); otherwise the text is shown read-only.
    may_edit: bool,
    errors: FormErrors,
    /// Why saving was refused, as a sentence.
    refused: String,
    /// `save` or `done` after a successful save.
    saved: String,
}

impl TaskPage {
    fn of(state: &AppState, s: &SignedInStaff, d: TaskDetail) -> Self {
        let t = d.task;
        Self {
            chrome: Chrome::bare(),
            id: t.id,
            title: t.title,
            kind_label: t.kind_label,
            done: t.done,
            completed_by: t.completed_by_name.unwrap_or_default(),
            completed_when: t.completed_at.map(when).unwrap_or_default(),
            created_by: t.created_by_name,
            created_when: when(t.created_at),
            body: t.body,
            r: RequestLine::of(state, &d.request),
            may_edit: portal_queue::helpers::may_edit_tasks(&s.staff).is_ok(),
            errors: FormErrors::none(),
            refused: String::new(),
            saved: String::new(),
        }
    }
}

async fn load(state: &AppState, s: &SignedInStaff, id: &str) -> Result<TaskPage, Response> {
    let Some(id) = well_formed(id) else { return Err(error_page(StatusCode::NOT_FOUND, NO_SUCH_TASK)) };
    match helpers::task(state.db(), &s.actor, &id).await {
        Ok(d) => Ok(TaskPage::of(state, s, d)),
        Err(e) => Err(failure(e, NO_SUCH_TASK)),
    }
}

async fn finish(state: &AppState, s: &SignedInStaff, mut page: TaskPage, status: StatusCode) -> Response {
    page.chrome = Chrome::for_staff(state, s, "/queue").await;
    render_status(status, &page)
}

pub(super) async fn task_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(notice): PageQuery<TaskNotice>,
) -> Response {
    let mut page = match load(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.saved = match notice.saved.as_deref() {
        Some("done") => "done".into(),
        Some(_) => "save".into(),
        None => String::new(),
    };
    finish(&state, &s, page, StatusCode::OK).await
}

pub(super) async fn save(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<TaskForm>,
) -> Response {
    let Some(id) = well_formed(&id) else { return error_page(StatusCode::NOT_FOUND, NO_SUCH_TASK) };
    let done = match form.action.as_str() {
        "done" => true,
        "save" | "" => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "A task is saved as a draft or marked done, and this form said neither. Go back to the task and use one of the two buttons.",
            );
        }
    };
    let (status, errors, refused) = match helpers::save_task(state.db(), &s.actor, &id, &form.body, done).await {
        Ok(t) => {
            let what = if done { "done" } else { "save" };
            return Redirect::to(&format!("/queue/tasks/{}?saved={what}", t.task.id)).into_response();
        }
        Err(QueueError::Invalid(f)) => (StatusCode::UNPROCESSABLE_ENTITY, FormErrors::from_fields(f), String::new()),
        Err(QueueError::Access(a)) if !matches!(a, portal_core::AccessError::NotFound) => {
            (StatusCode::FORBIDDEN, FormErrors::none(), super::sentence(&a))
        }
        Err(QueueError::Refused(r)) => (StatusCode::CONFLICT, FormErrors::none(), super::sentence(&r)),
        Err(e) => return failure(e, NO_SUCH_TASK),
    };
    let mut page = match load(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.body = form.body;
    page.errors = errors;
    page.refused = refused;
    finish(&state, &s, page, status).await
}
