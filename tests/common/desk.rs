//! A desk's server with people in it, and a signed-in browser's requests (its cookie and
//! CSRF token), shared by the tests of proposals and approvals.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use oshirase::web::auth::people::{NewPerson, PasswordOrigin, People, PeopleFile, Role};
use serde_json::{json, Value};

use super::wait_for;

/// Everyone's password in these tests.
pub const PASSWORD: &str = "ごみ収集 2026 winter";

/// E-mail, name, department, role.
pub type Person = (&'static str, &'static str, &'static str, Role);

/// `people` in the data directory's people.json.
pub fn people_file(data: &Path, people: &[Person]) -> PeopleFile {
    let mut file = People::load(data).unwrap();
    for (email, name, dept, role) in people {
        file.add(
            NewPerson {
                email,
                name,
                department: Some(dept),
                role: *role,
                password: PASSWORD,
                origin: PasswordOrigin::Own,
                iterations: 1000,
            },
            chrono::Utc::now(),
        )
        .unwrap();
    }
    file.save(data).unwrap();
    PeopleFile::open(data).unwrap()
}

/// `serve` with these people signing in, once its first sync has finished.
pub async fn start_with_people(
    settings: oshirase::cli::serve::ServeSettings,
    people: &[Person],
) -> oshirase::cli::serve::Service {
    start_with_sessions(settings, people, Default::default()).await
}

/// [`start_with_people`] with sessions that last as `limits` say (`serve --session-idle`,
/// `--session-lifetime`).
pub async fn start_with_sessions(
    mut settings: oshirase::cli::serve::ServeSettings,
    people: &[Person],
    limits: oshirase::web::auth::sessions::SessionLimits,
) -> oshirase::cli::serve::Service {
    let people = people_file(&settings.data_dir, people);
    settings.auth = oshirase::web::auth::for_listen(
        settings.listen,
        &oshirase::support::secrets::Secrets::default(),
        Some(people),
    )
    .unwrap();
    if let Some(auth) = &settings.auth {
        auth.limit_sessions(limits);
    }
    let service = oshirase::cli::serve::Service::start(settings)
        .await
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(15), || service
            .store
            .meta(oshirase::store::meta::CONFIG_IN_FORCE_TEXT)
            .ok()
            .flatten()
            .is_some())
        .await,
        "the first sync finished"
    );
    service
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Clone)]
pub struct Browser {
    pub addr: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value, Vec<(String, String)>) {
    // A redirect is an answer to look at, as a browser's page load sees it.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let url = format!("http://{addr}{path}");
    let body = body.map(Value::to_string).unwrap_or_default();
    let response = match method {
        "GET" => {
            let mut r = agent.get(&url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        _ => {
            let mut r = match method {
                "PUT" => agent.put(&url),
                "DELETE" => agent.delete(&url).force_send_body(),
                "PATCH" => agent.patch(&url),
                _ => agent.post(&url),
            };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(body.as_bytes())
        }
    }
    .expect("request");
    let status = response.status().as_u16();
    let hs = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = response.into_body().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        hs,
    )
}

impl Browser {
    pub fn sign_in(addr: SocketAddr, email: &str) -> Browser {
        Browser::sign_in_with(addr, email, PASSWORD).expect("signed in")
    }

    /// Signs in with a password; the answer's status when refused.
    pub fn sign_in_with(addr: SocketAddr, email: &str, password: &str) -> Result<Browser, u16> {
        let (status, body, headers) = request(
            addr,
            "POST",
            "/api/session",
            &[("content-type", "application/json")],
            Some(&json!({ "email": email, "password": password })),
        );
        if status != 200 {
            return Err(status);
        }
        let cookie = headers
            .iter()
            .find(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.split(';').next().unwrap().to_string())
            .unwrap();
        Ok(Browser {
            addr,
            cookie,
            csrf: body["csrf"].as_str().unwrap().to_string(),
        })
    }

    /// Posts a body that is not JSON (a CSV file).
    pub fn send_text(&self, path: &str, content_type: &str, text: &str) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .post(format!("http://{}{path}", self.addr))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", content_type)
            .send(text.as_bytes())
            .expect("request");
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let (s, b, _) = request(self.addr, "GET", path, &[("cookie", &self.cookie)], None);
        (s, b)
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut headers = vec![
            ("cookie", self.cookie.as_str()),
            ("x-csrf-token", self.csrf.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let (s, b, _) = request(self.addr, method, path, &headers, Some(body));
        (s, b)
    }
}

/// `git` in `dir`, its output trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn branches(dir: &Path) -> Vec<String> {
    git(
        dir,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}
