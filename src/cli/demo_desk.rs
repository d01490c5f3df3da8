//! The demo's desk story, played through the dashboard's own HTTP routes as a browser
//! would: the staff member signs in and proposes a post (`POST /api/proposals`), the
//! supervisor signs in, finds it waiting (`GET /api/proposals`) and approves it (`POST
//! /api/proposals/{id}/approve` with the commit they saw). The merge then goes out like any
//! other; the printed log shows each step.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::demo::DemoPerson;
use crate::web::auth::people::Role;

#[derive(Debug, thiserror::Error)]
pub enum DeskPlayError {
    #[error("{step}: {source}")]
    Http {
        step: &'static str,
        source: reqwest::Error,
    },
    #[error("{step}: the desk answered {status}: {body}")]
    Refused {
        step: &'static str,
        status: u16,
        body: String,
    },
    #[error("the demo has no {0} to sign in as")]
    Nobody(&'static str),
}

/// A signed-in browser, as far as the routes care: its cookie and CSRF token.
struct Visitor {
    cookie: String,
    csrf: String,
}

/// Plays the story against the demo's service at `addr`; answers the approval's merge.
pub async fn play(
    client: &reqwest::Client,
    addr: SocketAddr,
    people: &[DemoPerson],
    pause: std::time::Duration,
) -> Result<String, DeskPlayError> {
    let base = format!("http://{addr}");
    let staff = person(people, Role::Staff, "staff member")?;
    let supervisor = person(people, Role::Admin, "supervisor")?;

    let yamada = sign_in(client, &base, staff).await?;
    let draft = json!({
        "title": "年末年始の窓口のご案内",
        "networks": ["x", "portal"],
        "department": "環境部 清掃課",
        "body": "12月29日から1月3日まで、区役所の窓口はお休みです。\
                 ごみの出し方は www.city.example.jp/gomi をご覧ください。 #足立区",
    });
    let made = call(
        client,
        &base,
        "POST",
        "/api/proposals",
        Some(&yamada),
        Some(&draft),
        "proposing",
    )
    .await?;
    let branch = made["branch"].as_str().unwrap_or_default().to_string();

    tokio::time::sleep(pause).await;
    let sato = sign_in(client, &base, supervisor).await?;
    let list = call(
        client,
        &base,
        "GET",
        "/api/proposals",
        Some(&sato),
        None,
        "reading the proposals",
    )
    .await?;
    let waiting = list["proposals"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["branch"] == branch.as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    let (id, commit) = (
        waiting["id"].as_str().unwrap_or_default(),
        waiting["commit"].as_str().unwrap_or_default(),
    );
    let approved = call(
        client,
        &base,
        "POST",
        &format!("/api/proposals/{id}/approve"),
        Some(&sato),
        Some(&json!({ "commit": commit })),
        "approving",
    )
    .await?;
    Ok(approved["merge"].as_str().unwrap_or_default().to_string())
}

fn person<'a>(
    people: &'a [DemoPerson],
    role: Role,
    what: &'static str,
) -> Result<&'a DemoPerson, DeskPlayError> {
    people
        .iter()
        .find(|p| p.role == role)
        .ok_or(DeskPlayError::Nobody(what))
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    who: &DemoPerson,
) -> Result<Visitor, DeskPlayError> {
    let step = "signing in";
    let answer = client
        .post(format!("{base}/api/session"))
        .json(&json!({ "email": who.email, "password": who.password }))
        .send()
        .await
        .map_err(|source| DeskPlayError::Http { step, source })?;
    let cookie = answer
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string();
    let body = answered(answer, step).await?;
    Ok(Visitor {
        cookie,
        csrf: body["csrf"].as_str().unwrap_or_default().to_string(),
    })
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    who: Option<&Visitor>,
    body: Option<&Value>,
    step: &'static str,
) -> Result<Value, DeskPlayError> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(v) = who {
        request = request
            .header(reqwest::header::COOKIE, &v.cookie)
            .header("x-csrf-token", &v.csrf);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request
        .send()
        .await
        .map_err(|source| DeskPlayError::Http { step, source })?;
    answered(answer, step).await
}

async fn answered(answer: reqwest::Response, step: &'static str) -> Result<Value, DeskPlayError> {
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|source| DeskPlayError::Http { step, source })?;
    if !status.is_success() {
        return Err(DeskPlayError::Refused {
            step,
            status: status.as_u16(),
            body: text,
        });
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}
