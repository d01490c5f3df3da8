//! What every HTTP adapter shares: one client with timeouts and a user agent, and one
//! classifier that turns a response or a transport error into a [`NetError`].

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::{ErrorClass, NetError};

const USER_AGENT: &str = concat!("oshirase/", env!("CARGO_PKG_VERSION"));

static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();

/// The shared HTTP client could not be built. There is no fallback: a client without the
/// time limits would let one hanging network stop every delivery.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot build the HTTP client that reaches the networks: {0:#}; on Linux this usually \
     means no CA certificates were found (install Debian's ca-certificates, or point \
     SSL_CERT_FILE at a bundle)"
)]
pub struct ClientError(#[source] reqwest::Error);

/// Builds the process's one HTTP client. `serve` and the demo call it before anything
/// else, so a client that cannot be built stops start-up with the reason.
pub fn init() -> Result<&'static reqwest::Client, ClientError> {
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    // reqwest is built without a default crypto provider; ring is the one we ship.
    // Installing twice is harmless (the first stays).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = build(
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(same_origin_redirects()),
    )?;
    Ok(CLIENT.get_or_init(|| client))
}

/// The client `builder` makes, or why it cannot: never another client in its place.
fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, ClientError> {
    builder.build().map_err(ClientError)
}

/// The one HTTP client of the process (connection pools are shared between adapters).
///
/// # Panics
/// When [`init`] was not called and the client cannot be built: every entry point of the
/// binary calls `init` first and stops on its error, so only a library caller that skipped
/// it (a test) can get here.
pub fn client() -> &'static reqwest::Client {
    match init() {
        Ok(client) => client,
        Err(e) => panic!("{e} (networks::http::init was not called at start-up)"),
    }
}

/// Redirects are followed only within the origin the request went to. The host was
/// allowed for the credential, and a redirect elsewhere must not carry it on: reqwest drops
/// the `Authorization` header across hosts, but a 307 or 308 would send the body again, and
/// some bodies hold a secret (Bluesky's app password). A redirect elsewhere comes back as
/// the 3xx response, a permanent failure that names the status.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let next = attempt.url();
        let same_origin = attempt.previous().first().is_some_and(|first| {
            first.scheme() == next.scheme()
                && first.host_str() == next.host_str()
                && first.port_or_known_default() == next.port_or_known_default()
        });
        if !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > 10 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// A failed response: 5xx, 408 and 429 are worth retrying, 401 and 403 are the
/// credentials, any other 4xx is permanent. The network's own message is kept (cut to a
/// readable length) because it tells a person what to fix.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> NetError {
    let class = match status.as_u16() {
        408 | 429 | 500..=599 => ErrorClass::Transient,
        401 | 403 => ErrorClass::Credentials,
        _ => ErrorClass::Permanent,
    };
    let snippet: String = body.chars().take(300).collect();
    NetError {
        class,
        message: format!("HTTP {status}: {}", snippet.trim()),
        retry_after: retry_after(headers, Utc::now()),
    }
}

/// How long the network asked us to wait: `Retry-After` (seconds or an HTTP date), or
/// `x-rate-limit-reset` (X's epoch seconds).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = text("retry-after") {
        if let Ok(seconds) = v.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(v) {
            return Some(
                (at.with_timezone(&Utc) - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    let reset = text("x-rate-limit-reset")?.parse::<i64>().ok()?;
    let at = DateTime::from_timestamp(reset, 0)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A request that got no response: timeouts and connection failures are transient.
pub fn transport(e: reqwest::Error) -> NetError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    // reqwest's message may carry the URL, which for a webhook is the secret itself.
    NetError::transient(format!("{what}: {}", e.without_url()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_client_that_cannot_be_built_is_an_error_that_says_so_not_another_client() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No TLS version left to speak: reqwest refuses to build, as it does on a machine
        // without CA certificates.
        let impossible = reqwest::Client::builder()
            .min_tls_version(reqwest::tls::Version::TLS_1_3)
            .max_tls_version(reqwest::tls::Version::TLS_1_2);
        let e = build(impossible).expect_err("no client");
        let text = e.to_string();
        assert!(text.starts_with("cannot build the HTTP client"), "{text}");
        assert!(
            text.contains("CA certificates"),
            "says what to check: {text}"
        );
        assert!(
            std::error::Error::source(&e).is_some(),
            "keeps reqwest's error"
        );
    }

    #[test]
    fn classifies_statuses() {
        let h = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &h, "").class,
            ErrorClass::Transient
        );
        assert_eq!(
            classify(StatusCode::REQUEST_TIMEOUT, &h, "").class,
            ErrorClass::Transient
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h, "").class,
            ErrorClass::Transient
        );
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &h, "").class,
            ErrorClass::Credentials
        );
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &h, "").class,
            ErrorClass::Credentials
        );
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &h, "too long").class,
            ErrorClass::Permanent
        );
        assert!(classify(StatusCode::BAD_REQUEST, &h, "too long")
            .message
            .contains("too long"));
    }

    #[test]
    fn reads_retry_after_and_rate_limit_reset() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        let reset = (now.timestamp() + 30).to_string();
        h.insert("x-rate-limit-reset", HeaderValue::from_str(&reset).unwrap());
        let wait = retry_after(&h, now).unwrap();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(29));
        let mut h = HeaderMap::new();
        let date = (now + chrono::Duration::seconds(60)).to_rfc2822();
        h.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        assert!(retry_after(&h, now).unwrap() >= Duration::from_secs(59));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
