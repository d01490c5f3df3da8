//! The people page's API, for admins only: `GET /api/users`, `POST /api/users` (add),
//! `PATCH /api/users/<email>` (name, department, role, disable and enable, reset the
//! password) and `POST /api/users/import` (a CSV of the April transfers; `?dry_run=true`
//! answers what would change and writes nothing).
//!
//! A password is never sent in: a new person and a reset get a temporary password made
//! here, shown once in the answer and never stored in clear; it opens nothing but the page
//! where its holder chooses their own (`POST /api/session/password`). Disabling a person or
//! resetting their password ends their sessions at once. Every change is an audit event
//! (`person-changed`) whose actor is the admin who made it.

use std::convert::Infallible;

use chrono::Utc;
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

use crate::model::event::EventKind;
use crate::model::records::{Actor, NewEvent};
use crate::web::auth::people::{
    NewPerson, PasswordOrigin, People, PeopleError, PeopleFile, PersonChange, PersonRecord, Role,
};
use crate::web::auth::DashboardAuth;
use crate::web::http_server::ClientAddr;
use crate::web::reply::{blocking, error_reply, field_error, is_json, json_reply, not_json};
use crate::web::state::AppState;

/// Largest CSV accepted (a city office's staff list is a few hundred rows).
const MAX_CSV_BYTES: u64 = 1024 * 1024;
/// Length of a temporary password.
const TEMPORARY_CHARS: usize = 16;

type Reply = Result<warp::reply::Response, Infallible>;
type Answer = Result<warp::reply::Response, warp::reply::Response>;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_state = warp::any().map(move || state.clone());
    let person = warp::header::headers_cloned().and(warp::ext::optional::<ClientAddr>());
    let list = warp::path!("api" / "users")
        .and(warp::get())
        .and(with_state.clone())
        .and(person)
        .and_then(|state, headers, peer| answer(listing(state, headers, peer)));
    let add = warp::path!("api" / "users")
        .and(warp::post())
        .and(with_state.clone())
        .and(person)
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::bytes())
        .and_then(|state, headers, peer, body| answer(adding(state, headers, peer, body)));
    let import = warp::path!("api" / "users" / "import")
        .and(warp::post())
        .and(with_state.clone())
        .and(person)
        .and(warp::query::<Vec<(String, String)>>())
        .and(warp::body::content_length_limit(MAX_CSV_BYTES))
        .and(warp::body::bytes())
        .and_then(|state, headers, peer, query, body| {
            answer(importing(state, headers, peer, query, body))
        });
    let change = warp::path!("api" / "users" / String)
        .and(warp::patch())
        .and(with_state)
        .and(person)
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::bytes())
        .and_then(|email, state, headers, peer, body| {
            answer(changing(email, state, headers, peer, body))
        });
    list.or(add).unify().or(import).unify().or(change).unify()
}

async fn answer(f: impl std::future::Future<Output = Answer>) -> Reply {
    Ok(f.await.unwrap_or_else(|refused| refused))
}

/// The signed-in admin, the people file and the auth that holds their sessions.
#[allow(clippy::result_large_err)] // the refusal is the reply, made once per request
fn admin(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
) -> Result<(PersonRecord, PeopleFile, DashboardAuth), warp::reply::Response> {
    let Some(auth) = state.auth.clone() else {
        return Err(error_reply(
            StatusCode::NOT_FOUND,
            "this server has no people to manage",
        ));
    };
    let Some(people) = auth.people().cloned() else {
        return Err(error_reply(
            StatusCode::NOT_FOUND,
            "this server has no people to manage",
        ));
    };
    match auth.signed_in(headers, peer.map(|p| p.0.ip())) {
        Some(s) if s.person.role == Role::Admin => Ok((s.person, people, auth)),
        Some(_) => Err(error_reply(
            StatusCode::FORBIDDEN,
            "only admins manage people",
        )),
        None => Err(error_reply(
            StatusCode::FORBIDDEN,
            "people are managed by a signed-in admin",
        )),
    }
}

fn shown(p: &PersonRecord) -> Value {
    json!({
        "email": p.email,
        "name": p.name,
        "department": p.department,
        "role": p.role,
        "disabled": p.disabled,
        "must_change_password": p.must_change_password,
        "added_at": p.added_at,
        "changed_at": p.changed_at,
    })
}

fn refusal(e: &PeopleError) -> warp::reply::Response {
    let (status, field) = match e {
        PeopleError::BadEmail(_) => (StatusCode::BAD_REQUEST, Some("email")),
        PeopleError::BadText { field, .. } => (StatusCode::BAD_REQUEST, Some(*field)),
        PeopleError::Exists(_) => (StatusCode::CONFLICT, Some("email")),
        PeopleError::Unknown(_) => (StatusCode::NOT_FOUND, Some("email")),
        PeopleError::Password(_) => (StatusCode::BAD_REQUEST, Some("password")),
        _ => {
            tracing::error!("people: {e}");
            return error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the people file could not be written; the server log says why",
            );
        }
    };
    json_reply(status, &json!({ "error": e.to_string(), "field": field }))
}

fn temporary_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), TEMPORARY_CHARS)
}

/// Records what an admin changed, one event per person.
async fn audit(
    state: &AppState,
    by: &str,
    lines: Vec<String>,
) -> Result<(), warp::reply::Response> {
    let actor = Actor::Desk(by.to_string());
    let events = lines
        .into_iter()
        .map(|detail| NewEvent {
            actor: actor.clone(),
            ..NewEvent::service("", EventKind::PersonChanged, None, detail)
        })
        .collect();
    blocking(state, move |s| s.record(events, &[])).await?;
    Ok(())
}

#[allow(clippy::result_large_err)]
fn parse<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, warp::reply::Response> {
    if !is_json(headers) {
        return Err(not_json());
    }
    serde_json::from_slice(body)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, format!("the request: {e}")))
}

async fn listing(state: AppState, headers: HeaderMap, peer: Option<ClientAddr>) -> Answer {
    let (_, people, _) = admin(&state, &headers, peer)?;
    let all: Vec<Value> = people.current().all().iter().map(shown).collect();
    Ok(json_reply(StatusCode::OK, &json!({ "users": all })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    name: String,
    #[serde(default)]
    department: Option<String>,
    role: Role,
}

async fn adding(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Answer {
    let (me, people, _) = admin(&state, &headers, peer)?;
    let new: NewUser = parse(&headers, &body)?;
    let password = temporary_password();
    let cost = people.cost_for_new();
    let written = {
        let (people, password) = (people.clone(), password.clone());
        tokio::task::spawn_blocking(move || {
            people.update(|all| {
                let department = new.department.as_deref().filter(|d| !d.trim().is_empty());
                all.add(
                    NewPerson {
                        email: &new.email,
                        name: &new.name,
                        department,
                        role: new.role,
                        password: &password,
                        origin: PasswordOrigin::Temporary,
                        iterations: cost,
                    },
                    Utc::now(),
                )?;
                Ok(all.find(&new.email).cloned())
            })
        })
        .await
    };
    let added = match written {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return Err(error_reply(StatusCode::INTERNAL_SERVER_ERROR, "not added")),
        Ok(Err(e)) => return Err(refusal(&e)),
        Err(e) => {
            return Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
    };
    audit(
        &state,
        &me.email,
        vec![format!(
            "{} added {} ({}, {}, {})",
            me.email,
            added.email,
            added.name,
            added.department.as_deref().unwrap_or("no department"),
            added.role
        )],
    )
    .await?;
    Ok(json_reply(
        StatusCode::CREATED,
        &json!({ "user": shown(&added), "temporary_password": password }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    #[serde(default)]
    name: Option<String>,
    /// `null` or `""` clears it; absent leaves it.
    #[serde(default, with = "serde_with_double_option")]
    department: Option<Option<String>>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    reset_password: bool,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod serde_with_double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

async fn changing(
    email: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Answer {
    let (me, people, auth) = admin(&state, &headers, peer)?;
    let email = percent_encoding::percent_decode_str(&email)
        .decode_utf8_lossy()
        .into_owned();
    let asked: ChangeBody = parse(&headers, &body)?;
    // An admin cannot lock the office out by disabling or demoting themselves.
    if email.eq_ignore_ascii_case(&me.email)
        && (asked.disabled == Some(true) || asked.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(field_error(
            StatusCode::CONFLICT,
            "role",
            "you cannot disable yourself or give up your own admin role; ask another admin",
        ));
    }
    let change = PersonChange {
        name: asked.name,
        department: asked.department,
        role: asked.role,
        disabled: asked.disabled,
    };
    let password = asked.reset_password.then(temporary_password);
    let cost = people.cost_for_new();
    let written = {
        let (people, email, password) = (people.clone(), email.clone(), password.clone());
        tokio::task::spawn_blocking(move || {
            people.update(|all| {
                let now = Utc::now();
                let changed = all.change(&email, &change, now)?;
                if let Some(password) = &password {
                    all.set_password(&email, password, PasswordOrigin::Temporary, cost, now)?;
                }
                Ok((changed, all.find(&email).cloned()))
            })
        })
        .await
    };
    let (changed, person) = match written {
        Ok(Ok((c, Some(p)))) => (c, p),
        Ok(Ok((_, None))) => return Err(refusal(&PeopleError::Unknown(email))),
        Ok(Err(e)) => return Err(refusal(&e)),
        Err(e) => {
            return Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
    };
    if person.disabled || password.is_some() {
        auth.end_sessions_of(&person.email);
    }
    let mut said: Vec<String> = changed
        .iter()
        .map(|(field, before, after)| format!("{field} {before:?} → {after:?}"))
        .collect();
    if password.is_some() {
        said.push("password reset".into());
    }
    if !said.is_empty() {
        audit(
            &state,
            &me.email,
            vec![format!(
                "{} changed {}: {}",
                me.email,
                person.email,
                said.join(", ")
            )],
        )
        .await?;
    }
    let mut answer = json!({ "user": shown(&person) });
    if let Some(p) = password {
        answer["temporary_password"] = json!(p);
    }
    Ok(json_reply(StatusCode::OK, &answer))
}

/// One row of an import, as written (role and disabled are checked after, so that a bad
/// value is named by its column).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    email: String,
    name: String,
    #[serde(default)]
    department: Option<String>,
    role: String,
    #[serde(default)]
    disabled: Option<String>,
}

/// One row of an import, checked.
#[derive(Debug)]
struct Row {
    email: String,
    name: String,
    department: Option<String>,
    role: Role,
    disabled: Option<bool>,
}

impl RawRow {
    fn checked(self) -> Result<Row, (&'static str, String)> {
        let role = match self.role.trim().to_lowercase().as_str() {
            "staff" => Role::Staff,
            "approver" => Role::Approver,
            "admin" => Role::Admin,
            other => {
                return Err((
                    "role",
                    format!("`{other}` is not a role; use staff, approver or admin"),
                ))
            }
        };
        let disabled = match self.disabled.as_deref().map(|d| d.trim().to_lowercase()) {
            None => None,
            Some(d) => match d.as_str() {
                "" => None,
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                other => {
                    return Err((
                        "disabled",
                        format!("`{other}` is not true or false (or empty)"),
                    ))
                }
            },
        };
        Ok(Row {
            email: self.email,
            name: self.name,
            department: self.department,
            role,
            disabled,
        })
    }
}

/// What an import does to one person.
struct Planned {
    line: u64,
    email: String,
    action: &'static str,
    changes: Vec<(&'static str, String, String)>,
}

async fn importing(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    query: Vec<(String, String)>,
    body: warp::hyper::body::Bytes,
) -> Answer {
    let (me, people, auth) = admin(&state, &headers, peer)?;
    let mut dry_run = false;
    for (key, value) in query {
        match (key.as_str(), value.as_str()) {
            ("dry_run", "true" | "1") => dry_run = true,
            ("dry_run", "false" | "0") => dry_run = false,
            _ => {
                return Err(field_error(
                    StatusCode::BAD_REQUEST,
                    &key,
                    format!("`{key}={value}`: the one parameter is dry_run=true|false"),
                ))
            }
        }
    }
    let rows = read_csv(&body).map_err(|problems| {
        json_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({ "error": "the CSV has problems; nothing was changed", "problems": problems }),
        )
    })?;
    let cost = people.cost_for_new();
    let me_email = me.email.clone();
    let done = {
        let people = people.clone();
        tokio::task::spawn_blocking(move || {
            if dry_run {
                let mut copy = (*people.current()).clone();
                return plan(&mut copy, &rows, &me_email, cost);
            }
            people.update(|all| plan(all, &rows, &me_email, cost))
        })
        .await
    };
    let (planned, passwords) = match done {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(refusal(&e)),
        Err(e) => {
            return Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
    };
    if !dry_run {
        let mut lines = Vec::new();
        for p in planned.iter().filter(|p| p.action != "same") {
            let disabled = p
                .changes
                .iter()
                .any(|(f, _, after)| *f == "disabled" && after == "true");
            if disabled {
                auth.end_sessions_of(&p.email);
            }
            let said: Vec<String> = p
                .changes
                .iter()
                .map(|(field, before, after)| format!("{field} {before:?} → {after:?}"))
                .collect();
            lines.push(format!(
                "{} imported {} ({}, line {}): {}",
                me.email,
                p.email,
                p.action,
                p.line,
                said.join(", ")
            ));
        }
        audit(&state, &me.email, lines).await?;
    }
    let changes: Vec<Value> = planned
        .iter()
        .map(|p| {
            json!({
                "line": p.line,
                "email": p.email,
                "action": p.action,
                "changes": p.changes.iter().map(|(f, b, a)| json!({ "field": f, "before": b, "after": a })).collect::<Vec<_>>(),
            })
        })
        .collect();
    // A dry run's passwords were never stored: showing them would only mislead.
    let passwords: serde_json::Map<String, Value> = passwords
        .into_iter()
        .filter(|_| !dry_run)
        .map(|(e, p)| (e, json!(p)))
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        &json!({ "dry_run": dry_run, "changes": changes, "temporary_passwords": passwords }),
    ))
}

/// Applies the rows to `people` (a copy for a dry run); returns what each row does and the
/// temporary passwords of the people it added.
#[allow(clippy::type_complexity)]
fn plan(
    people: &mut People,
    rows: &[(u64, Row)],
    me: &str,
    cost: u32,
) -> Result<(Vec<Planned>, Vec<(String, String)>), PeopleError> {
    let now = Utc::now();
    let mut planned = Vec::new();
    let mut passwords = Vec::new();
    for (line, row) in rows {
        let department = row.department.as_deref().filter(|d| !d.trim().is_empty());
        if people.find(&row.email).is_none() {
            let password = temporary_password();
            people.add(
                NewPerson {
                    email: &row.email,
                    name: &row.name,
                    department,
                    role: row.role,
                    password: &password,
                    origin: PasswordOrigin::Temporary,
                    iterations: cost,
                },
                now,
            )?;
            if row.disabled == Some(true) {
                people.set_disabled(&row.email, true, now)?;
            }
            let email = people
                .find(&row.email)
                .map_or_else(|| row.email.clone(), |p| p.email.clone());
            planned.push(Planned {
                line: *line,
                email: email.clone(),
                action: "add",
                changes: vec![
                    ("name", String::new(), row.name.trim().to_string()),
                    (
                        "department",
                        String::new(),
                        department.unwrap_or("").trim().to_string(),
                    ),
                    ("role", String::new(), row.role.to_string()),
                ],
            });
            passwords.push((email, password));
            continue;
        }
        // The signed-in admin's own row may not disable or demote them.
        let own = row.email.trim().eq_ignore_ascii_case(me);
        let change = PersonChange {
            name: Some(row.name.clone()),
            department: Some(department.map(str::to_string)),
            role: Some(row.role).filter(|r| !own || *r == Role::Admin),
            disabled: row.disabled.filter(|d| !own || !d),
        };
        let changes = people.change(&row.email, &change, now)?;
        planned.push(Planned {
            line: *line,
            email: row.email.trim().to_string(),
            action: if changes.is_empty() { "same" } else { "change" },
            changes,
        });
    }
    Ok((planned, passwords))
}

/// The CSV's rows with their line numbers, or every problem, each naming its line (and the
/// column when there is one).
fn read_csv(bytes: &[u8]) -> Result<Vec<(u64, Row)>, Vec<Value>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes); // Excel's BOM
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    match reader.headers() {
        Ok(h) if h.iter().any(|c| c == "email") => {}
        Ok(_) => problems.push(json!({ "line": 1, "message": "the first line must name the columns: email,name,department,role (and optionally disabled)" })),
        Err(e) => problems.push(json!({ "line": 1, "message": e.to_string() })),
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let headers = reader.headers().cloned().unwrap_or_default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                problems.push(json!({ "line": line, "message": e.to_string() }));
                continue;
            }
        };
        // The reader's own line: a quoted field may span lines.
        let line = record.position().map_or(0, csv::Position::line);
        let row = match record.deserialize::<RawRow>(Some(&headers)) {
            Ok(raw) => raw.checked().map_err(|(field, message)| {
                json!({ "line": line, "field": field, "message": format!("{field}: {message}") })
            }),
            Err(e) => Err(csv_problem(&e, &headers, line)),
        };
        match row {
            Ok(row) if !seen.insert(row.email.trim().to_lowercase()) => problems.push(
                json!({ "line": line, "field": "email", "message": format!("{} is listed twice", row.email) }),
            ),
            Ok(row) => rows.push((line, row)),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// A CSV reader's problem with a row, naming its column when the reader knows it.
fn csv_problem(e: &csv::Error, headers: &csv::StringRecord, line: u64) -> Value {
    let column = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err
            .field()
            .and_then(|i| headers.get(i as usize))
            .map(str::to_string),
        _ => None,
    };
    json!({ "line": line, "field": column, "message": e.to_string() })
}
