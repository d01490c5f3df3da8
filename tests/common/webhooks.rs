//! HookDialect webhook deliveries as a forge makes them: an HMAC-SHA256 signature of the body
//! and the headers that carry it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use warp::http::{HeaderMap, HeaderValue};

/// The lowercase hex HMAC-SHA256 of `body` under `secret`, as GitHub and Gitea send it.
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A header map from name/value pairs.
pub fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).expect("a valid header value"));
    }
    h
}
