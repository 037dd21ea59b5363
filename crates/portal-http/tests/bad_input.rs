//! Bad input on every route of the OpenAPI document, as a Super Admin holding every permission:
//! broken JSON, wrong shapes, missing or wrong content types, oversized bodies, odd ids and odd
//! query values. Each answer must be a 4xx `application/problem+json` whose `status` is the HTTP
//! status: never a 5xx, never a panic, never a plain-text rejection.

mod common;

use std::fmt::Write as _;

use common::{ApiRoute, Caller, Rec, TestRequest, TestResponse, World, api_routes, template_params};
use serde_json::Value;

/// Collects every failed expectation, to report them all at once.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// `expected`: an exact status, or `None` for "any 4xx".
    fn check(&mut self, what: &str, res: &TestResponse, expected: Option<u16>) {
        let code = res.code();
        let ok = match expected {
            Some(e) => code == e,
            None => (400..500).contains(&code),
        };
        if !ok {
            let want = expected.map_or("a 4xx".to_owned(), |e| e.to_string());
            let body: String = res.text().chars().take(200).collect();
            self.0.push(format!("{} {} ({what}): expected {want}, got {code}: {body}", res.method, res.uri));
        } else if let Some(why) = res.problem_violation() {
            self.0.push(format!("{} {} ({what}): {why}", res.method, res.uri));
        }
    }

    /// Not a 5xx; and an error answer, if any, is a problem document.
    fn check_never_5xx(&mut self, what: &str, res: &TestResponse) {
        if res.status.is_server_error() {
            self.0.push(format!("{} {} ({what}): server error {}: {}", res.method, res.uri, res.code(), res.text()));
        } else if res.status.is_client_error()
            && let Some(why) = res.problem_violation()
        {
            self.0.push(format!("{} {} ({what}): {why}", res.method, res.uri));
        }
    }

    #[track_caller]
    fn assert_none(self, checked: usize) {
        let mut msg = String::new();
        if !self.0.is_empty() {
            let _ = writeln!(msg, "{} of {checked} bad requests were answered wrongly:", self.0.len());
            for f in &self.0 {
                let _ = writeln!(msg, "  {f}");
            }
        }
        assert!(msg.is_empty(), "{msg}");
    }
}

/// The portal users' signed-in routes (h1): a staff token is refused there before the body is
/// read, so their bad input is sent by a portal user.
const PORTAL_USER_OPERATIONS: [&str; 19] = [
    "signOutPortal",
    "getPortalMe",
    "getPortalPatient",
    "changePortalPassword",
    "requestPortalEmailChange",
    "listPortalSessions",
    "endPortalSession",
    "signInPortal",
    // Secure messaging, the portal users' side.
    "listPortalConversations",
    "startPortalConversation",
    "getPortalConversation",
    "replyInPortalConversation",
    "setPortalConversationArchived",
    "getPortalUnreadCount",
    "listPortalMessageRecipients",
    // Requests, the portal users' side.
    "listPortalRequests",
    "submitPortalRequest",
    "getPortalRequest",
    "getPortalAppointmentChoices",
];

/// Who sends a route's bad requests: the Super Admin, or a portal user on the portal users' routes.
fn caller_for(r: &ApiRoute) -> Caller {
    if r.operation_id.as_deref().is_some_and(|o| PORTAL_USER_OPERATIONS.contains(&o)) {
        Caller::PortalA
    } else {
        Caller::SuperAdmin
    }
}

fn is_json_route(r: &ApiRoute) -> bool {
    r.body_type.as_deref() == Some("application/json")
}

/// The valid body with a NUL character inside each of its strings (`None` if it has none):
/// PostgreSQL cannot store one in text, so it must be refused before it reaches a query.
fn with_nul_in_every_string(valid: &[u8]) -> Option<Value> {
    fn walk(v: &mut Value, found: &mut bool) {
        match v {
            Value::String(s) => {
                s.insert(s.len() / 2, '\0');
                *found = true;
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, found)),
            Value::Object(o) => o.values_mut().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_slice(valid).expect("valid JSON");
    let mut found = false;
    walk(&mut v, &mut found);
    found.then_some(v)
}

/// A JSON text of more than the 1 MiB body limit.
fn oversized_json() -> Vec<u8> {
    let mut v = b"{\"name\":\"".to_vec();
    v.extend(std::iter::repeat_n(b'a', portal_http::app::BODY_LIMIT + 16));
    v.extend(b"\"}");
    v
}

/// Routes that take a body, as the Super Admin, with each kind of broken body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_get_4xx_problems() {
    let world = World::new().await;
    let mut findings = Findings::default();
    let mut checked = 0;
    let routes: Vec<_> = api_routes().into_iter().filter(|r| r.body_type.is_some()).collect();
    assert!(routes.iter().filter(|r| is_json_route(r)).count() >= 14, "JSON routes: {routes:?}");
    assert!(routes.iter().filter(|r| !is_json_route(r)).count() >= 2, "upload routes: {routes:?}");
    for route in &routes {
        let call = world.call(&route.method, &route.path, Rec::Own, "").await;
        let base = || TestRequest::new(call.method.clone(), call.path());
        let mut cases: Vec<(&str, TestRequest, Option<u16>)> =
            vec![("oversized body", base().raw(route.body_type.as_deref(), oversized_json()), Some(413))];
        if is_json_route(route) {
            let json = Some("application/json");
            let valid = serde_json::to_vec(match &call.body {
                Some(common::Payload::Json(v)) => v,
                other => panic!("{route:?} declares JSON but has body {other:?}"),
            })
            .expect("JSON");
            cases.extend([
                ("unterminated JSON", base().raw(json, "{"), Some(400)),
                ("trailing garbage", base().raw(json, [valid.clone(), b"}".to_vec()].concat()), Some(400)),
                ("invalid UTF-8", base().raw(json, b"{\"name\": \"\xff\xfe\"}".to_vec()), None),
                ("empty body", base().raw(json, ""), Some(400)),
                ("wrong field types", base().raw(json, r#"{"name": 1, "email": [], "enabled": "yes", "granted": 3, "kind": {}, "first_name": false, "team_role": 7, "current_password": 1}"#), Some(422)),
                ("an array", base().raw(json, "[1, 2, 3]"), Some(422)),
                ("a string", base().raw(json, "\"hello\""), Some(422)),
                ("null", base().raw(json, "null"), Some(422)),
                ("deeply nested", base().raw(json, "[".repeat(100_000)), None),
                ("no content type", base().raw(None, valid.clone()), Some(415)),
                ("text/plain", base().raw(Some("text/plain"), valid.clone()), Some(415)),
                ("form encoded", base().raw(Some("application/x-www-form-urlencoded"), "name=x"), Some(415)),
            ]);
            if let Some(poisoned) = with_nul_in_every_string(&valid) {
                cases.push(("NUL in every text", base().json(&poisoned), Some(422)));
            }
        } else {
            let mut too_big_logo = common::png_bytes();
            too_big_logo.resize(600 * 1024, 0);
            cases.extend([
                ("empty upload", base().raw(None, ""), Some(422)),
                (
                    "SVG",
                    base()
                        .raw(Some("image/svg+xml"), "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"),
                    Some(422),
                ),
                ("text as PNG", base().raw(Some("image/png"), "hello, world"), Some(422)),
                ("JSON", base().raw(Some("application/json"), "{}"), Some(422)),
                ("logo over 512 KiB", base().raw(Some("image/png"), too_big_logo), Some(422)),
            ]);
        }
        for (what, req, expected) in cases {
            let res = world.send_as(caller_for(route), req).await;
            checked += 1;
            findings.check(what, &res, expected);
        }
    }
    findings.assert_none(checked);
}

/// Every path parameter of every route, replaced one at a time by odd values, the rest of the
/// call (other parameters, body) kept valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_ids_get_4xx_problems() {
    let world = World::new().await;
    let mut findings = Findings::default();
    let mut checked = 0;
    let long = "a".repeat(5000);
    let long_hex = "0".repeat(4096);
    let odd: Vec<(&str, &str)> = vec![
        ("random UUID", "7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        ("not an id", "not-an-id"),
        ("encoded traversal", "..%2F..%2Fetc%2Fpasswd"),
        ("dot-dot", "%2E%2E"),
        ("very long", &long),
        ("long digits", &long_hex),
        ("invalid UTF-8", "%FF%FE"),
        ("NUL", "%00"),
        ("NUL inside UUID", "7c9e6679-7425-40de-944b-e07fc1f9%000e7"),
        ("SQL", "'%20OR%20'1'%3D'1"),
        ("uppercase UUID of nothing", "7C9E6679-7425-40DE-944B-E07FC1F90AE7"),
        ("unicode", "%C3%A9t%C3%A9"),
        ("braces", "%7Bid%7D"),
    ];
    let routes: Vec<_> = api_routes().into_iter().filter(|r| r.path.contains('{')).collect();
    assert!(routes.len() >= 12, "routes with ids: {routes:?}");
    for route in &routes {
        for param in template_params(&route.path) {
            for (what, value) in &odd {
                let call = world.call(&route.method, &route.path, Rec::Own, "").await.with_param(&param, value);
                let res = world.send_as(caller_for(route), call.request()).await;
                checked += 1;
                findings.check(&format!("{param} = {what}"), &res, None);
            }
        }
        // Unencoded traversal changes the route itself: no route, a 404 problem.
        let call = world.call(&route.method, &route.path, Rec::Own, "").await;
        let traversal = call.with_param(&template_params(&route.path)[0], "../../../etc/passwd");
        let res = world.send_as(caller_for(route), traversal.request()).await;
        checked += 1;
        findings.check("raw ../ traversal", &res, Some(404));
    }
    findings.assert_none(checked);
}

/// Query parameters of the GET routes, from the OpenAPI document, fed odd values: integers get
/// words and overflowing numbers, every parameter gets NUL, invalid UTF-8 and long text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_query_values_never_fail_the_server() {
    let world = World::new().await;
    let doc = serde_json::to_value(portal_http::app::openapi()).expect("OpenAPI");
    let mut findings = Findings::default();
    let mut checked = 0;
    let mut params_seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for p in params.iter().filter(|p| p["in"] == "query") {
            params_seen += 1;
            let name = p["name"].as_str().expect("name");
            let integer = p["schema"]["type"] == "integer"
                || p["schema"]["type"].as_array().is_some_and(|t| t.contains(&Value::from("integer")));
            let long = "x".repeat(3000);
            let mut values: Vec<(&str, String, bool)> = vec![
                ("NUL", "%00".into(), false),
                ("NUL in a word", "ab%00cd".into(), false),
                ("invalid UTF-8", "%FF".into(), false),
                ("long text", long, false),
                ("quotes and operators", "%22a%22%20OR%20*%20NEAR%20(b)%20-c%20'".into(), false),
                ("percent and underscore", "%25_%25".into(), false),
                ("repeated", "a&".to_owned() + name + "=b", false),
            ];
            if integer {
                values.extend([
                    ("a word for a number", "abc".into(), true),
                    ("overflowing number", "99999999999999999999999".into(), true),
                    ("fraction", "1.5".into(), true),
                ]);
            }
            for (what, value, must_fail) in values {
                let uri = format!("{path}?{name}={value}");
                let res = world.send_as(Caller::SuperAdmin, TestRequest::get(uri)).await;
                checked += 1;
                if must_fail {
                    findings.check(&format!("{name} = {what}"), &res, Some(400));
                } else {
                    findings.check_never_5xx(&format!("{name} = {what}"), &res);
                }
            }
        }
    }
    assert!(params_seen >= 10, "the OpenAPI document lists only {params_seen} query parameters");
    // Out-of-range values that parse: refused with a 422 naming the field.
    for (uri, field) in [
        ("/api/v1/patients?per_page=0", "per_page"),
        ("/api/v1/patients?per_page=101", "per_page"),
        ("/api/v1/patients?page=0", "page"),
        ("/api/v1/patients?page=-3", "page"),
        ("/api/v1/patients?status=zombie", "status"),
        ("/api/v1/patients?location_id=nowhere", "location_id"),
        ("/api/v1/audit-events?limit=0", "limit"),
        ("/api/v1/audit-events?limit=501", "limit"),
        ("/api/v1/audit-events?action=made_up", "action"),
        ("/api/v1/audit-events?patient_id=not-an-id", "patient_id"),
        ("/api/v1/audit-events?actor_id=not-an-id", "actor_id"),
        ("/api/v1/audit-events?from=2024-13-45", "from"),
        ("/api/v1/audit-events?to=yesterday", "to"),
        ("/api/v1/conversations?folder=trash", "folder"),
        ("/api/v1/conversations?q=ab", "q"),
        ("/api/v1/conversations?after=bm90LWEtY3Vyc29y", "after"),
        ("/api/v1/requests?before=abc", "before"),
        ("/api/v1/requests?before=-3", "before"),
        ("/api/v1/requests?before=99999999999999999999999", "before"),
        ("/api/v1/requests/archive?before=1.5", "before"),
        ("/api/v1/requests/archive?q=ab", "q"),
        ("/api/v1/notification-rules?location_id=nowhere", "location_id"),
    ] {
        let res = world.send_as(Caller::SuperAdmin, TestRequest::get(uri)).await;
        checked += 1;
        findings.check(field, &res, Some(422));
        if res.code() == 422 && !res.error_fields().contains(field) {
            findings.0.push(format!("GET {uri}: the 422 does not name `{field}`: {}", res.text()));
        }
    }
    findings.assert_none(checked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_get_problems() {
    let world = World::new().await;
    let mut findings = Findings::default();
    let mut checked = 0;
    for path in [
        "/api/v1/nope",
        "/api/v2/patients",
        "/api/v1/patients/x/y/z",
        "/api/v1/",
        "/api/",
        "/api/v1/staff-users/x/portal-permissions",
    ] {
        for caller in [Caller::Anonymous, Caller::SuperAdmin] {
            let res = world.send_as(caller, TestRequest::get(path)).await;
            checked += 1;
            findings.check(&format!("unknown route as {}", caller.label()), &res, Some(404));
        }
    }
    // Every documented path, with each method it does not document.
    let routes = api_routes();
    let paths: std::collections::BTreeSet<_> = routes.iter().map(|r| r.path.clone()).collect();
    for path in &paths {
        let concrete = path.replace("{permission}", "allow_document_share").replace(['{', '}'], "");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if routes.iter().any(|r| &r.path == path && r.method == method) {
                continue;
            }
            let req = TestRequest::new(method.parse().expect("method"), concrete.clone()).json(&serde_json::json!({}));
            let res = world.send_as(Caller::SuperAdmin, req).await;
            checked += 1;
            findings.check("undocumented method", &res, Some(405));
            if res.code() == 405 && res.header("allow").is_none() {
                findings.0.push(format!("{method} {concrete}: a 405 without an Allow header"));
            }
        }
    }
    findings.assert_none(checked);
}

/// The request queue's bodies (seed 002) with well-formed JSON but bad values: a 422 naming each
/// field, never a 500. Sent by callers who pass the permission checks, so that the values decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_with_bad_values_name_the_field() {
    use serde_json::json;
    let world = World::new().await;
    world.conversations().await;
    let own = world.request(Rec::Own).await;
    let task = world.requests().await.own_task.clone();
    let a = world.patient_a.clone();
    let long = "x".repeat(2001);
    let cases: Vec<(Caller, TestRequest, &str)> = vec![
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests").json(&json!({ "patient_id": a, "kind": "surgery" })),
            "kind",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests").json(&json!({ "patient_id": a, "kind": "refill" })),
            "medication",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests")
                .json(&json!({ "patient_id": a, "kind": "refill", "medication": "  " })),
            "medication",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests").json(&json!({ "patient_id": a, "kind": "appointment" })),
            "reason",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests")
                .json(&json!({ "patient_id": a, "kind": "records", "records": long })),
            "records",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests")
                .json(&json!({ "patient_id": a, "kind": "billing", "question": "\u{1b}[31m" })),
            "question",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests")
                .json(&json!({ "patient_id": a, "kind": "appointment", "reason": "Knee", "location_id": "nowhere" })),
            "location_id",
        ),
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests")
                .header("Idempotency-Key", "   ")
                .json(&json!({ "patient_id": a, "kind": "general", "question": "Hi" })),
            "Idempotency-Key",
        ),
        (
            Caller::SuperAdmin,
            TestRequest::post(format!("/api/v1/requests/{own}/dismissal")).json(&json!({ "how": "maybe" })),
            "how",
        ),
        (
            Caller::SuperAdmin,
            TestRequest::post(format!("/api/v1/requests/{own}/dismissal")).json(&json!({ "how": "" })),
            "how",
        ),
        (
            Caller::Clinician,
            TestRequest::post(format!("/api/v1/requests/{own}/reply"))
                .json(&json!({ "body": "Hi", "disposition": "later" })),
            "disposition",
        ),
        (
            Caller::Clinician,
            TestRequest::post(format!("/api/v1/requests/{own}/reply")).json(&json!({ "body": "   " })),
            "body",
        ),
        (
            Caller::Clinician,
            TestRequest::post(format!("/api/v1/requests/{own}/reply"))
                .header("Idempotency-Key", "a b")
                .json(&json!({ "body": "Hi" })),
            "Idempotency-Key",
        ),
        (
            Caller::SuperAdmin,
            TestRequest::put(format!("/api/v1/request-tasks/{task}")).json(&json!({ "body": "x".repeat(20_001) })),
            "body",
        ),
        (Caller::PortalA, TestRequest::get("/api/v1/portal/requests?before=later"), "before"),
    ];
    let mut findings = Findings::default();
    let mut checked = 0;
    for (caller, req, field) in cases {
        let res = world.send_as(caller, req).await;
        checked += 1;
        findings.check(field, &res, Some(422));
        if res.code() == 422 && !res.error_fields().contains(field) {
            findings.0.push(format!("{} {}: the 422 does not name `{field}`: {}", res.method, res.uri, res.text()));
        }
    }
    // Unknown fields: refused (422) on every request body.
    for (caller, req) in [
        (
            Caller::PortalA,
            TestRequest::post("/api/v1/portal/requests")
                .json(&json!({ "patient_id": a, "kind": "general", "question": "Hi", "priority": "high" })),
        ),
        (
            Caller::SuperAdmin,
            TestRequest::post(format!("/api/v1/requests/{own}/dismissal"))
                .json(&json!({ "how": "completed", "why": "done" })),
        ),
        (
            Caller::Clinician,
            TestRequest::post(format!("/api/v1/requests/{own}/reply")).json(&json!({ "body": "Hi", "cc": "x" })),
        ),
        (
            Caller::SuperAdmin,
            TestRequest::put(format!("/api/v1/request-tasks/{task}")).json(&json!({ "body": "Hi", "status": "done" })),
        ),
    ] {
        let res = world.send_as(caller, req).await;
        checked += 1;
        findings.check("unknown field", &res, Some(422));
    }
    findings.assert_none(checked);
    // Nothing of it changed the request.
    let res = world.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/requests/{own}"))).await;
    assert!(res.json()["request"]["open"].as_bool().unwrap_or_default());
}

/// Notification rules (seed 000) with well-formed JSON but bad values: a 422 naming each field,
/// never a 500; unknown fields refused. Sent by the Super Admin, who may set rules up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_rule_bodies_with_bad_values_name_the_field() {
    use serde_json::json;
    let world = World::new().await;
    let own = world.rule(Rec::Own).await;
    let valid = world.rule_body(&world.location_a);
    let with = |changes: serde_json::Value| {
        let mut b = valid.clone();
        for (k, v) in changes.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (with(json!({ "location_id": "" })), "location_id"),
        (with(json!({ "location_id": "nowhere" })), "location_id"),
        (with(json!({ "event": "party" })), "event"),
        (with(json!({ "name": "  " })), "name"),
        (with(json!({ "name": "x".repeat(101) })), "name"),
        (with(json!({ "starts_on": "2026-02-30" })), "starts_on"),
        (with(json!({ "ends_on": "yesterday" })), "ends_on"),
        (with(json!({ "ends_on": "2025-12-31" })), "ends_on"),
        (with(json!({ "severity": "mild" })), "severity"),
        (with(json!({ "recipient_users": ["not-an-id"] })), "recipient_users"),
        (with(json!({ "recipient_users": [portal_store::ids::new_id()] })), "recipient_users"),
        (with(json!({ "recipient_roles": ["janitor"] })), "recipient_roles"),
        (with(json!({ "recipient_care_team": false, "recipient_roles": [] })), "recipients"),
        (with(json!({ "title": "" })), "title"),
        (with(json!({ "title": "{document_name} signed" })), "title"),
        (with(json!({ "message": "unclosed {patient_name" })), "message"),
        (with(json!({ "message": "x".repeat(1001) })), "message"),
        (with(json!({ "toast": false, "email": false })), "delivery"),
        (json!({}), "event"),
    ];
    let mut findings = Findings::default();
    let mut checked = 0;
    for (body, field) in cases {
        for req in [
            TestRequest::post("/api/v1/notification-rules").json(&body),
            TestRequest::put(format!("/api/v1/notification-rules/{own}")).json(&body),
        ] {
            let res = world.send_as(Caller::SuperAdmin, req).await;
            checked += 1;
            findings.check(field, &res, Some(422));
            if res.code() == 422 && !res.error_fields().contains(field) {
                findings.0.push(format!("{} {}: the 422 does not name `{field}`: {}", res.method, res.uri, res.text()));
            }
        }
    }
    for req in [
        TestRequest::post("/api/v1/notification-rules").json(&with(json!({ "priority": "high" }))),
        TestRequest::put(format!("/api/v1/notification-rules/{own}")).json(&with(json!({ "id": "x" }))),
    ] {
        let res = world.send_as(Caller::SuperAdmin, req).await;
        checked += 1;
        findings.check("unknown field", &res, Some(422));
    }
    findings.assert_none(checked);
    // Nothing of it changed the rule.
    let res = world.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/notification-rules/{own}"))).await;
    assert_eq!(res.json()["name"], "New registrations");
}
