//! Link cards: the title, description and picture a linked page gives itself (its
//! OpenGraph tags), read at publish time for Bluesky's `app.bsky.embed.external`.
//!
//! The page is named by a post in the content repository, so the fetch is held to what a
//! careful browser would do: http(s) only, a short time limit and a size limit, and never
//! to loopback, private or link-local addresses (checked on the addresses the name
//! resolves to, and the connection pinned to them, so a name cannot change its answer
//! between the check and the request), except the hosts the operator lists in
//! `OSHIRASE_CARD_ALLOW_HOSTS`. A page that cannot be read leaves the post a plain link.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use scraper::{Html, Selector};
use url::Url;

use crate::support::secrets::Secrets;

/// Hosts (`name` or `name:port`) a card may be read from even on a private address:
/// comma-separated, for an office's own intranet site or a test server.
pub const CARD_ALLOW_HOSTS: &str = "OSHIRASE_CARD_ALLOW_HOSTS";
/// Names resolved by the operator instead of DNS, `name=address` separated by commas (as
/// curl's `--resolve`): for a site reached at an address of the office's own. The address
/// is checked like any other.
pub const CARD_RESOLVE: &str = "OSHIRASE_CARD_RESOLVE";
/// The whole fetch of a page, or of its picture.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Only the start of a page is read: its `<head>` holds the tags.
const PAGE_BYTES: usize = 512 * 1024;
/// `app.bsky.embed.external`'s thumb takes at most this.
pub const THUMB_BYTES: usize = 1_000_000;
const MAX_REDIRECTS: usize = 3;
/// Bluesky shows a short card: longer texts are cut, at a character.
const TITLE_CHARS: usize = 300;
const DESCRIPTION_CHARS: usize = 1000;

/// What a fetch is for: the page (only its start is read) or its picture (whole, or not
/// at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Page,
    Picture,
}

impl Body {
    fn what(self) -> &'static str {
        match self {
            Body::Page => "an HTML page",
            Body::Picture => "an image",
        }
    }

    fn limit(self) -> usize {
        match self {
            Body::Page => PAGE_BYTES,
            Body::Picture => THUMB_BYTES,
        }
    }

    /// Whether a response's `Content-Type` (lower-cased) is this kind of body.
    fn fits(self, content_type: &str) -> bool {
        match self {
            Body::Page => {
                content_type.starts_with("text/html")
                    || content_type.starts_with("application/xhtml")
            }
            Body::Picture => content_type.starts_with("image/"),
        }
    }
}

/// A linked page as a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub uri: String,
    pub title: String,
    pub description: String,
    /// The picture's bytes and MIME type, when the page names one that could be read.
    pub thumb: Option<(Vec<u8>, String)>,
}

/// Why no card was made; the post then keeps a plain link.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("`{0}` is not an http(s) address")]
    NotHttp(String),
    #[error("{host} is a loopback, private or link-local address; list it in {CARD_ALLOW_HOSTS} to allow it")]
    Private { host: String },
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("reading {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is {what}, not {wanted}")]
    NotWanted {
        url: String,
        what: String,
        wanted: &'static str,
    },
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("more than {MAX_REDIRECTS} redirects from {0}")]
    Redirects(String),
}

/// Reads cards, with the operator's allowed hosts.
#[derive(Debug, Clone, Default)]
pub struct CardReader {
    allowed: Vec<String>,
    resolve: Vec<(String, IpAddr)>,
}

impl CardReader {
    pub fn from_secrets(secrets: &Secrets) -> CardReader {
        let allowed = secrets
            .get(CARD_ALLOW_HOSTS)
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let resolve = secrets
            .get(CARD_RESOLVE)
            .map(|v| {
                v.split(',')
                    .filter_map(|pair| {
                        let (name, addr) = pair.split_once('=')?;
                        match addr.trim().parse() {
                            Ok(ip) => Some((name.trim().to_lowercase(), ip)),
                            Err(_) => {
                                tracing::warn!(
                                    "{CARD_RESOLVE}: `{}` is not an address",
                                    addr.trim()
                                );
                                None
                            }
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        CardReader { allowed, resolve }
    }

    /// The card of the page at `url`.
    pub async fn read(&self, url: &str) -> Result<Card, CardError> {
        let (final_url, body) = self.get(url, Body::Page).await?;
        let page = parse_page(&String::from_utf8_lossy(&body), &final_url);
        let thumb = match &page.image {
            None => None,
            Some(image) => match self.get(image.as_str(), Body::Picture).await {
                Ok((_, bytes)) => infer::get(&bytes)
                    .filter(|kind| kind.mime_type().starts_with("image/"))
                    .map(|kind| (bytes, kind.mime_type().to_string())),
                Err(e) => {
                    tracing::info!("link card of {url}: no picture: {e}");
                    None
                }
            },
        };
        Ok(Card {
            uri: url.to_string(),
            title: page.title.unwrap_or_else(|| final_url.to_string()),
            description: page.description.unwrap_or_default(),
            thumb,
        })
    }

    /// GETs `url` following at most a few redirects, each hop checked. A page longer than
    /// its limit is cut there; a picture longer than its limit is refused.
    async fn get(&self, url: &str, wanted: Body) -> Result<(Url, Vec<u8>), CardError> {
        let limit = wanted.limit();
        let fetch = async {
            let mut current = Url::parse(url).map_err(|_| CardError::NotHttp(url.to_string()))?;
            for _ in 0..=MAX_REDIRECTS {
                let mut response = self.request(&current).await?;
                if response.status().is_redirection() {
                    let next = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|l| current.join(l).ok())
                        .ok_or_else(|| CardError::Status {
                            url: current.to_string(),
                            status: response.status().as_u16(),
                        })?;
                    current = next;
                    continue;
                }
                if !response.status().is_success() {
                    return Err(CardError::Status {
                        url: current.to_string(),
                        status: response.status().as_u16(),
                    });
                }
                let kind = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_lowercase();
                if !wanted.fits(&kind) {
                    return Err(CardError::NotWanted {
                        url: current.to_string(),
                        what: if kind.is_empty() {
                            "untyped".into()
                        } else {
                            kind
                        },
                        wanted: wanted.what(),
                    });
                }
                let mut body = Vec::new();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| fetch_error(&current, e))?
                {
                    body.extend_from_slice(&chunk);
                    if body.len() > limit {
                        if wanted == Body::Picture {
                            return Err(CardError::TooLarge {
                                url: current.to_string(),
                                limit,
                            });
                        }
                        body.truncate(limit);
                        break;
                    }
                }
                return Ok((current, body));
            }
            Err(CardError::Redirects(url.to_string()))
        };
        match tokio::time::timeout(TIME_LIMIT, fetch).await {
            Ok(result) => result,
            Err(_) => Err(CardError::Fetch {
                url: url.to_string(),
                message: format!("no answer within {} s", TIME_LIMIT.as_secs()),
            }),
        }
    }

    /// One request to `url`, on addresses checked first and pinned for the connection.
    async fn request(&self, url: &Url) -> Result<reqwest::Response, CardError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CardError::NotHttp(url.to_string()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| CardError::NotHttp(url.to_string()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        let port = url.port_or_known_default().unwrap_or(443);
        let fixed = self.resolve.iter().find(|(name, _)| *name == host);
        let addrs: Vec<SocketAddr> = match fixed {
            Some((_, ip)) => vec![SocketAddr::new(*ip, port)],
            None => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| CardError::Resolve {
                    host: host.clone(),
                    message: e.to_string(),
                })?
                .collect(),
        };
        let allowed = self
            .allowed
            .iter()
            .any(|a| *a == host || *a == format!("{host}:{port}"));
        if addrs.is_empty() || (!allowed && addrs.iter().any(|a| !is_public(a.ip()))) {
            return Err(CardError::Private { host });
        }
        // The process's TLS provider is installed with the shared client; a card's own
        // client (pinned to the checked addresses) needs it too.
        super::http::init().map_err(|e| CardError::Fetch {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "oshirase/",
                env!("CARGO_PKG_VERSION"),
                " (link card)"
            ))
            .connect_timeout(Duration::from_secs(3))
            .timeout(TIME_LIMIT)
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|e| fetch_error(url, e))?;
        client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| fetch_error(url, e))
    }
}

fn fetch_error(url: &Url, e: reqwest::Error) -> CardError {
    CardError::Fetch {
        url: url.to_string(),
        // The URL is named beside the message.
        message: e.without_url().to_string(),
    }
}

/// An address on the public internet: not loopback, private, link-local, unique-local,
/// shared (CGNAT), documentation, multicast or unspecified.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// What a page says of itself.
#[derive(Debug, Default, PartialEq)]
struct Page {
    title: Option<String>,
    description: Option<String>,
    image: Option<Url>,
}

/// OpenGraph tags first, then `<title>` and `<meta name="description">`.
fn parse_page(html: &str, base: &Url) -> Page {
    let doc = Html::parse_document(html);
    let meta = |attr: &str, name: &str| -> Option<String> {
        let selector = Selector::parse(&format!("meta[{attr}=\"{name}\"]")).ok()?;
        doc.select(&selector)
            .filter_map(|m| m.value().attr("content"))
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|c| !c.is_empty())
    };
    let title_tag = || -> Option<String> {
        let selector = Selector::parse("title").ok()?;
        let text: String = doc.select(&selector).next()?.text().collect();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then_some(text)
    };
    let title = meta("property", "og:title").or_else(title_tag);
    let description = meta("property", "og:description").or_else(|| meta("name", "description"));
    let image = meta("property", "og:image")
        .and_then(|i| base.join(&i).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    Page {
        title: title.map(|t| cut(&t, TITLE_CHARS)),
        description: description.map(|d| cut(&d, DESCRIPTION_CHARS)),
        image,
    }
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opengraph_first_then_the_title_and_description() {
        let base = Url::parse("https://www.city.example.jp/bousai/").unwrap();
        let page = parse_page(
            r#"<html><head><title>区のページ</title>
            <meta property="og:title" content="避難所の開設状況">
            <meta name="description" content="区内の避難所">
            <meta property="og:description" content="  開設中の避難所と
              混雑状況 ">
            <meta property="og:image" content="/img/map.png"></head></html>"#,
            &base,
        );
        assert_eq!(page.title.as_deref(), Some("避難所の開設状況"));
        assert_eq!(
            page.description.as_deref(),
            Some("開設中の避難所と 混雑状況")
        );
        assert_eq!(
            page.image.unwrap().as_str(),
            "https://www.city.example.jp/img/map.png"
        );
        let plain = parse_page(
            "<title> 区のページ </title><meta name=description content=説明>",
            &base,
        );
        assert_eq!(plain.title.as_deref(), Some("区のページ"));
        assert_eq!(plain.description.as_deref(), Some("説明"));
        assert_eq!(plain.image, None);
        let odd = parse_page(
            "<meta property=og:image content=\"javascript:alert(1)\">",
            &base,
        );
        assert_eq!(odd.image, None);
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
