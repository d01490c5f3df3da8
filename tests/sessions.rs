//! People who sign in: `oshirase users add|list|disable|enable|passwd` on a data
//! directory, and `serve` with that directory — the sign-in page, the session cookie, the
//! CSRF token on changing requests, sign-out, and a disabled person out at once — with the
//! shared token still working for scripts. All through the real binary over HTTP.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TOKEN: &str = "s3cret-dashboard-token-0123";
const HANAKO: &str = "hanako@city.example.jp";
const PASSWORD: &str = "ごみ収集 2026 winter";

fn oshirase() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
}

/// Runs `oshirase users …` with `stdin` piped in: (success, stdout, stderr).
fn users(data: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = oshirase()
        .arg("users")
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let url = format!("http://{addr}{path}");
    let response = match (method, body) {
        ("POST", Some(body)) => {
            let mut req = agent.post(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(body.as_bytes())
        }
        ("DELETE", _) => {
            let mut req = agent.delete(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call()
        }
        _ => {
            let mut req = agent.get(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call()
        }
    }
    .expect("request");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Answer {
        status: response.status().as_u16(),
        headers,
        body: response.into_body().read_to_string().unwrap_or_default(),
    }
}

fn sign_in(addr: SocketAddr, email: &str, password: &str) -> Answer {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    call(
        addr,
        "POST",
        "/api/session",
        &[("content-type", "application/json")],
        Some(&body),
    )
}

/// `oshirase_session=…` from a sign-in answer, as a `Cookie` header value.
fn cookie_of(answer: &Answer) -> String {
    let set = answer.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

fn serve(repo: &Path, data: &Path) -> (std::process::Child, SocketAddr) {
    serve_with(repo, data, &[])
}

fn serve_with(repo: &Path, data: &Path, extra: &[&str]) -> (std::process::Child, SocketAddr) {
    let mut child = oshirase()
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(repo)
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("OSHIRASE_DASHBOARD_TOKEN", TOKEN)
        .env_remove("OSHIRASE_DASHBOARD_USERS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = serving_port(&mut child);
    (child, format!("127.0.0.1:{port}").parse().unwrap())
}

#[test]
fn users_are_managed_on_the_command_line_with_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out, _) = users(data.path(), &["list"], "");
    assert!(ok && out.contains("nobody yet"), "{out}");
    let (ok, out, err) = users(
        data.path(),
        &[
            "add",
            HANAKO,
            "--name",
            "足立 花子",
            "--department",
            "環境部",
            "--role",
            "staff",
            "--iterations",
            "1000",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains(HANAKO), "{out}");
    let file = std::fs::read_to_string(data.path().join("people.json")).unwrap();
    assert!(!file.contains(PASSWORD) && file.contains("pbkdf2-sha256:1000:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("people.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "people.json is readable by its owner only");
    }
    let (ok, out, _) = users(data.path(), &["list"], "");
    assert!(ok && out.contains("足立 花子") && out.contains("環境部") && out.contains("staff"));

    // The same address again, a bad address, an unknown person, an empty password.
    let again = users(
        data.path(),
        &["add", "Hanako@City.example.jp", "--name", "x"],
        "pw\n",
    );
    assert!(!again.0 && again.2.contains("already"), "{}", again.2);
    let bad = users(data.path(), &["add", "hanako", "--name", "x"], "pw\n");
    assert!(!bad.0 && bad.2.contains("email:"), "{}", bad.2);
    let unknown = users(data.path(), &["disable", "nobody@city.example.jp"], "");
    assert!(
        !unknown.0 && unknown.2.contains("nobody@city.example.jp"),
        "{}",
        unknown.2
    );
    let empty = users(data.path(), &["passwd", HANAKO], "\n");
    assert!(!empty.0 && empty.2.contains("password:"), "{}", empty.2);
    let role = users(
        data.path(),
        &["add", "b@city.example.jp", "--name", "b", "--role", "boss"],
        "pw\n",
    );
    assert!(!role.0 && role.2.contains("boss"), "{}", role.2);

    let (ok, _, err) = users(data.path(), &["disable", HANAKO], "");
    assert!(ok, "{err}");
    let (_, out, _) = users(data.path(), &["list"], "");
    assert!(out.contains("disabled"), "{out}");
    let (ok, _, err) = users(data.path(), &["enable", HANAKO], "");
    assert!(ok, "{err}");
    let (ok, _, err) = users(
        data.path(),
        &["passwd", HANAKO, "--iterations", "1000"],
        "new one\n",
    );
    assert!(ok, "{err}");
    assert_ne!(
        std::fs::read_to_string(data.path().join("people.json")).unwrap(),
        file
    );
    // A broken file is named with its line; nothing is written over it.
    std::fs::write(
        data.path().join("people.json"),
        "{\n  \"version\": 1,\n  oops\n}",
    )
    .unwrap();
    let broken = users(data.path(), &["list"], "");
    assert!(
        !broken.0 && broken.2.contains("people.json, line 3"),
        "{}",
        broken.2
    );
}

/// A repository with one published post saying `body`, and a data directory whose
/// people.json holds HANAKO of 環境部.
fn repository_with_hanako(body: &str) -> (GitRepo, tempfile::TempDir) {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", body))],
    );
    let data = tempfile::tempdir().unwrap();
    let add = users(
        data.path(),
        &[
            "add",
            HANAKO,
            "--name",
            "足立 花子",
            "--department",
            "環境部",
            "--iterations",
            "1000",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(add.0, "{}", add.2);
    (repo, data)
}

#[test]
fn people_sign_in_with_a_session_and_csrf_and_are_out_when_disabled() {
    let (repo, data) = repository_with_hanako("サインインの向こう");
    let (mut child, addr) = serve(&repo.path, data.path());

    // Signed out: a page load goes to the sign-in page, the API answers 401 without a
    // challenge (the browser's own dialog would cover the sign-in page), and the sign-in
    // page and what it loads are reachable.
    let page = call(addr, "GET", "/", &[], None);
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/signin.html"));
    let api = call(addr, "GET", "/api/posts", &[], None);
    assert_eq!(api.status, 401);
    assert_eq!(api.header("www-authenticate"), None);
    assert!(!api.body.contains("サインインの向こう"));
    for open in ["/signin.html", "/js/signin.js", "/js/i18n.js", "/style.css"] {
        assert_eq!(call(addr, "GET", open, &[], None).status, 200, "{open}");
    }
    assert_eq!(call(addr, "GET", "/js/main.js", &[], None).status, 401);

    // Wrong password, unknown address, malformed body: refused, the same words for the
    // first two.
    let wrong = sign_in(addr, HANAKO, "guess");
    let nobody = sign_in(addr, "nobody@city.example.jp", PASSWORD);
    assert_eq!((wrong.status, nobody.status), (401, 401));
    assert_eq!(wrong.body, nobody.body);
    assert!(wrong.header("set-cookie").is_none());
    let malformed = call(
        addr,
        "POST",
        "/api/session",
        &[("content-type", "application/json")],
        Some(r#"{"email": "a", "password": "b", "role": "admin"}"#),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.body);

    // A body a form on another site could send (text/plain that parses as JSON) is refused.
    let body = serde_json::json!({ "email": HANAKO, "password": PASSWORD }).to_string();
    let form = call(
        addr,
        "POST",
        "/api/session",
        &[("content-type", "text/plain")],
        Some(&body),
    );
    assert_eq!(form.status, 415, "{}", form.body);
    assert!(form.header("set-cookie").is_none());

    // Signed in: an HttpOnly, SameSite=Strict cookie and a CSRF token.
    let signed = sign_in(addr, "Hanako@city.example.jp", PASSWORD);
    assert_eq!(signed.status, 200, "{}", signed.body);
    let set = signed.header("set-cookie").unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(part), "{part} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure");
    let csrf = signed.json()["csrf"].as_str().unwrap().to_string();
    assert_eq!(signed.json()["person"]["department"], "環境部");
    assert!(!signed.body.contains("pbkdf2"));
    let cookie = cookie_of(&signed);
    let with_cookie = [("cookie", cookie.as_str())];
    let posts = call(addr, "GET", "/api/posts", &with_cookie, None);
    assert_eq!(posts.status, 200);
    assert!(posts.body.contains("サインインの向こう"));
    assert_eq!(call(addr, "GET", "/", &with_cookie, None).status, 200);
    let who = call(addr, "GET", "/api/session", &with_cookie, None);
    assert_eq!(who.json()["person"]["email"], HANAKO);
    assert_eq!(who.json()["csrf"], csrf.as_str());

    // Behind a TLS proxy the cookie is Secure.
    let body = serde_json::json!({ "email": HANAKO, "password": PASSWORD }).to_string();
    let tls = call(
        addr,
        "POST",
        "/api/session",
        &[
            ("content-type", "application/json"),
            ("x-forwarded-proto", "https"),
        ],
        Some(&body),
    );
    assert!(tls.header("set-cookie").unwrap().contains("Secure"));

    // A changing request of a session needs its CSRF token.
    let forged = call(addr, "POST", "/api/posts", &with_cookie, Some("{}"));
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("X-CSRF-Token"));
    let bad_token = [("cookie", cookie.as_str()), ("x-csrf-token", "guess")];
    assert_eq!(
        call(addr, "POST", "/api/posts", &bad_token, Some("{}")).status,
        403
    );
    let with_csrf = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    assert_ne!(
        call(addr, "POST", "/api/posts", &with_csrf, Some("{}")).status,
        403
    );
    assert_eq!(
        call(addr, "DELETE", "/api/session", &with_cookie, None).status,
        403
    );

    // The shared token still works for scripts, without any CSRF token.
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        call(
            addr,
            "GET",
            "/api/posts",
            &[("authorization", &bearer)],
            None
        )
        .status,
        200
    );

    // Sign-out ends the session and clears the cookie.
    let out = call(addr, "DELETE", "/api/session", &with_csrf, None);
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        call(addr, "GET", "/api/posts", &with_cookie, None).status,
        401
    );

    // Disabled while signed in: out at the next request once serve has read the file.
    let again = sign_in(addr, HANAKO, PASSWORD);
    let cookie = cookie_of(&again);
    let with_cookie = [("cookie", cookie.as_str())];
    assert_eq!(
        call(addr, "GET", "/api/posts", &with_cookie, None).status,
        200
    );
    assert!(users(data.path(), &["disable", HANAKO], "").0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(addr, "GET", "/api/posts", &with_cookie, None).status == 200 {
        assert!(
            Instant::now() < deadline,
            "a disabled person's session ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sign_in(addr, HANAKO, PASSWORD).status, 401);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_trusted_proxy_names_the_person_and_only_from_its_own_address() {
    let (repo, data) = repository_with_hanako("シングルサインオン");
    let sso = [
        "--proxy-user-header",
        "X-Forwarded-Email",
        "--trusted-proxy",
        "127.0.0.1",
    ];
    let (mut child, addr) = serve_with(&repo.path, data.path(), &sso);
    let named = [("x-forwarded-email", HANAKO)];
    let posts = call(addr, "GET", "/api/posts", &named, None);
    assert_eq!(posts.status, 200, "{}", posts.body);
    assert!(posts.body.contains("シングルサインオン"));
    let stranger = [("x-forwarded-email", "someone@elsewhere.example")];
    assert_eq!(call(addr, "GET", "/api/posts", &stranger, None).status, 401);
    // A changing request still needs the person's CSRF token, from GET /api/session.
    let who = call(addr, "GET", "/api/session", &named, None);
    assert_eq!(who.json()["person"]["email"], HANAKO);
    let csrf = who.json()["csrf"].as_str().unwrap().to_string();
    assert_eq!(
        call(addr, "POST", "/api/posts", &named, Some("{}")).status,
        403
    );
    let with_csrf = [
        ("x-forwarded-email", HANAKO),
        ("x-csrf-token", csrf.as_str()),
    ];
    assert_ne!(
        call(addr, "POST", "/api/posts", &with_csrf, Some("{}")).status,
        403
    );
    // Disabled: the proxy's word no longer lets them in.
    assert!(users(data.path(), &["disable", HANAKO], "").0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(addr, "GET", "/api/posts", &named, None).status == 200 {
        assert!(Instant::now() < deadline, "a disabled person is out");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();

    // The same header from an address that is not the proxy is ignored.
    assert!(users(data.path(), &["enable", HANAKO], "").0);
    let elsewhere = [
        "--proxy-user-header",
        "X-Forwarded-Email",
        "--trusted-proxy",
        "192.0.2.1",
    ];
    let (mut child, addr) = serve_with(&repo.path, data.path(), &elsewhere);
    assert_eq!(call(addr, "GET", "/api/posts", &named, None).status, 401);
    let _ = child.kill();
    let _ = child.wait();

    // A header name that is not one stops start-up, naming the flag; one flag alone too.
    let bad = oshirase()
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .args([
            "--proxy-user-header",
            "X Email",
            "--trusted-proxy",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--proxy-user-header"));
    let alone = oshirase()
        .args(["serve", "--repo"])
        .arg(&repo.path)
        .args(["--proxy-user-header", "X-Forwarded-Email"])
        .output()
        .unwrap();
    assert!(!alone.status.success());
    assert!(String::from_utf8_lossy(&alone.stderr).contains("--trusted-proxy"));
    // Session limits that cannot hold stop start-up, naming the flags.
    for limits in [["0s", "12h"], ["3h", "1h"]] {
        let refused = oshirase()
            .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
            .arg(&repo.path)
            .arg("--data")
            .arg(data.path())
            .args(["--session-idle", limits[0], "--session-lifetime", limits[1]])
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{limits:?}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("--session-idle") && said.contains("--session-lifetime"),
            "{said}"
        );
    }
}
