//! The dashboard's files, embedded from `web/` at build time so the binary is all there is
//! to install.

use rust_embed::RustEmbed;
use warp::http::{header, Response, StatusCode};

use crate::model::records::State;
use crate::web::reply::error_reply;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// `GET /<file>`: one of the dashboard's files; `/` is `index.html`.
pub fn asset(tail: warp::path::Tail) -> warp::reply::Response {
    let name = match tail.as_str() {
        "" => "index.html",
        other => other,
    };
    let body = if name == "index.html" {
        warp::hyper::body::Bytes::from_static(index_page().as_bytes())
    } else {
        match Assets::get(name) {
            None => return error_reply(StatusCode::NOT_FOUND, "not found"),
            Some(file) => warp::hyper::body::Bytes::from(file.data.into_owned()),
        }
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(name))
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body.into())
        .unwrap_or_else(|_| error_reply(StatusCode::INTERNAL_SERVER_ERROR, "asset"))
}

/// Where `web/index.html` wants the module preloads.
const PRELOADS_HERE: &str = "<!-- modulepreload: every module, written by src/web/assets.rs -->";

/// `index.html` with a `<link rel="modulepreload">` for every module of the dashboard, so
/// the browser fetches them all at once instead of discovering them one import at a time
/// (a chain five modules deep cost a cold first view five round trips). Made from the
/// embedded files, so a new module is preloaded without anyone editing a list.
fn index_page() -> &'static str {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE.get_or_init(|| {
        let html = Assets::get("index.html")
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default();
        let mut modules: Vec<String> = Assets::iter()
            .filter(|name| name.starts_with("js/") && name.ends_with(".js"))
            .map(|name| name.into_owned())
            .collect();
        modules.push("js/delivery-states.js".to_string());
        modules.sort();
        let links: Vec<String> = modules
            .iter()
            .map(|m| format!("<link rel=\"modulepreload\" href=\"{m}\">"))
            .collect();
        html.replacen(PRELOADS_HERE, &links.join("\n  "), 1)
    })
}

/// `GET /js/delivery-states.js`: the delivery states and their groups as the server
/// defines them (`State` in src/model/records.rs), so the dashboard never keeps a list
/// of its own that could fall behind.
pub fn delivery_states() -> warp::reply::Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(states_module().into())
        .unwrap_or_else(|_| error_reply(StatusCode::INTERNAL_SERVER_ERROR, "asset"))
}

fn states_module() -> String {
    let list = |states: &[State]| {
        let names: Vec<String> = states.iter().map(|s| format!("'{s}'")).collect();
        format!("[{}]", names.join(", "))
    };
    format!(
        "// Made by the server from its State enum (src/model/records.rs); not a file to edit.\n\
         export const STATES = {};\n\
         export const ATTENTION = {};\n\
         export const UPCOMING = {};\n",
        list(&State::ALL),
        list(&State::ATTENTION),
        list(&State::UPCOMING)
    )
}

/// The `Content-Type` of a dashboard file, by its extension.
fn content_type(name: &str) -> String {
    let guessed = mime_guess::from_path(name).first_or_octet_stream();
    // Every text file in `web/` is UTF-8; saying so spares the browser a guess.
    match guessed.type_() {
        mime_guess::mime::TEXT => format!("{guessed}; charset=utf-8"),
        _ => guessed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{content_type, index_page, Assets};
    use crate::model::records::State;

    #[test]
    fn the_states_module_lists_every_state_the_server_knows() {
        let js = super::states_module();
        for state in State::ALL {
            assert!(js.contains(&format!("'{state}'")), "{state} in {js}");
        }
        assert!(js.contains(
            "export const ATTENTION = ['invalid', 'held', 'unknown', 'failed', 'missed'];"
        ));
        assert!(js.contains("export const UPCOMING = ['scheduled', 'retrying', 'publishing'];"));
    }

    #[test]
    fn module_scripts_and_pages_get_the_types_browsers_require() {
        // A module script served as anything but JavaScript is refused by the browser.
        assert_eq!(content_type("js/main.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("icon.svg"), "image/svg+xml");
        assert_eq!(content_type("unknown.bin"), "application/octet-stream");
    }

    #[test]
    fn the_page_preloads_every_module() {
        let page = index_page();
        assert!(
            !page.contains("modulepreload: every module"),
            "placeholder left"
        );
        for name in Assets::iter().filter(|n| n.starts_with("js/")) {
            let link = format!("<link rel=\"modulepreload\" href=\"{name}\">");
            assert!(page.contains(&link), "{name} not preloaded");
        }
        assert!(page.contains("href=\"js/delivery-states.js\""));
    }
}
