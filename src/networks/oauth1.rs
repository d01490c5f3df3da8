//! OAuth 1.0a request signing (RFC 5849), HMAC-SHA1, as X's user-context authentication
//! takes it.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;
use reqwest::Url;
use sha1::Sha1;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded,
/// as OAuth 1.0a (RFC 5849 §3.6) requires.
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, OAUTH_ENCODE).to_string()
}

/// The four OAuth 1.0a user-context credentials. `Debug` shows none of them.
#[derive(Clone)]
pub struct Keys {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token: String,
    pub token_secret: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oauth1::Keys(..)")
    }
}

/// The HMAC-SHA1 signature of a request (RFC 5849 §3.4): over the method, the base string
/// URI (scheme, host, port when not the default, path), and every parameter of the query,
/// of a form-encoded body and of `oauth_params`. JSON and multipart bodies are not signed.
pub fn signature(
    method: &str,
    url: &Url,
    form: &[(String, String)],
    oauth_params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (encode(&k), encode(&v)))
        .chain(form.iter().map(|(k, v)| (encode(k), encode(v))))
        .chain(oauth_params.iter().map(|(k, v)| (encode(k), encode(v))))
        .collect();
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_string_uri(url)),
        encode(&normalized)
    );
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// RFC 5849 §3.4.1.2: lower-case scheme and host, the port only when it is not the
/// scheme's default, the path, no query or fragment.
fn base_string_uri(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{host}{port}{}",
        url.scheme().to_ascii_lowercase(),
        url.path()
    )
}

/// The `Authorization: OAuth …` header of a request, with the nonce and timestamp given
/// (the caller draws them; tests fix them).
pub fn header(
    keys: &Keys,
    method: &str,
    url: &Url,
    form: &[(String, String)],
    nonce: &str,
    timestamp: i64,
) -> String {
    let mut oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), keys.consumer_key.clone()),
        ("oauth_nonce".into(), nonce.to_string()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_token".into(), keys.token.clone()),
        ("oauth_version".into(), "1.0".into()),
    ];
    let signature = signature(
        method,
        url,
        form,
        &oauth,
        &keys.consumer_secret,
        &keys.token_secret,
    );
    oauth.push(("oauth_signature".into(), signature));
    oauth.sort();
    let fields = oauth
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("OAuth {fields}")
}

/// A fresh nonce: 32 random alphanumerics, unique enough for X's replay check.
pub fn nonce() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// X's "Creating a signature" example, for both URLs it has been published with.
    #[test]
    fn x_signature_vectors() {
        let oauth = pairs(&[
            ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
            ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1318622958"),
            (
                "oauth_token",
                "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            ),
            ("oauth_version", "1.0"),
        ]);
        let form = pairs(&[(
            "status",
            "Hello Ladies + Gentlemen, a signed OAuth request!",
        )]);
        for (url, expected) in [
            (
                "https://api.twitter.com/1/statuses/update.json",
                "tnnArxj06cWHq44gCs1OSKk/jLY=",
            ),
            (
                "https://api.twitter.com/1.1/statuses/update.json",
                "hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
            ),
        ] {
            let url = Url::parse(&format!("{url}?include_entities=true")).unwrap();
            let sig = signature(
                "POST",
                &url,
                &form,
                &oauth,
                "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
            );
            assert_eq!(sig, expected, "{url}");
        }
    }
    /// The same vector through the header builder, with the nonce and clock injected.
    #[test]
    fn header_carries_the_vector_signature() {
        let keys = Keys {
            consumer_key: "xvz1evFS4wEEPTGEFPHBog".into(),
            consumer_secret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw".into(),
            token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb".into(),
            token_secret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE".into(),
        };
        let url =
            Url::parse("https://api.twitter.com/1.1/statuses/update.json?include_entities=true")
                .unwrap();
        let form = pairs(&[(
            "status",
            "Hello Ladies + Gentlemen, a signed OAuth request!",
        )]);
        let header = header(
            &keys,
            "POST",
            &url,
            &form,
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            1318622958,
        );
        assert_eq!(
            header,
            "OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", \
             oauth_nonce=\"kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg\", \
             oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1318622958\", \
             oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\", \
             oauth_version=\"1.0\""
        );
        assert!(!format!("{keys:?}").contains("kAcSOq"));
    }
    /// RFC 5849 §1.2: a GET with query parameters, no oauth_version.
    #[test]
    fn rfc5849_vector() {
        let url =
            Url::parse("http://photos.example.net/photos?file=vacation.jpg&size=original").unwrap();
        let oauth = pairs(&[
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ]);
        let sig = signature(
            "GET",
            &url,
            &[],
            &oauth,
            "kd94hf93k423kf44",
            "pfkkdhi9sl3r4s00",
        );
        assert_eq!(sig, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }
    #[test]
    fn base_string_uri_drops_default_ports_and_queries() {
        let u = |s: &str| base_string_uri(&Url::parse(s).unwrap());
        assert_eq!(
            u("HTTPS://API.X.com:443/2/tweets?x=1"),
            "https://api.x.com/2/tweets"
        );
        assert_eq!(
            u("http://127.0.0.1:8080/2/tweets"),
            "http://127.0.0.1:8080/2/tweets"
        );
    }
    #[test]
    fn encoding_is_rfc3986() {
        assert_eq!(
            encode("a-b.c_d~e f+g/h=あ"),
            "a-b.c_d~e%20f%2Bg%2Fh%3D%E3%81%82"
        );
    }
}
