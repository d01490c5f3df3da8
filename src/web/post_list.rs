//! Which posts a dashboard view shows, in what order, a page at a time (`GET /api/posts`),
//! and the counts the dashboard shows beside them (`GET /api/summary`).
//!
//! At 10,000 posts a dashboard cannot download every post (2.7 s and 30 MB before its first
//! view), so every view asks for one page of its own list. A view is a filter and an order:
//!
//! - `all` (no `view`): every post, soonest first, posts without a time leading;
//! - `attention`: posts a person must act on, most urgent first;
//! - `upcoming`: posts with a delivery still to go, by its due time;
//! - `published`: posts that went out, newest first (on one network with `network=`).
//!
//! A page ends with a cursor: the sort key of its last post, encoded so that comparing two
//! cursors as strings compares the keys. The next page is every post after it, so a post
//! that changes while someone pages moves instead of shifting every later page. Each post
//! carries its own cursor too: a dashboard that hears a post changed asks for just that post
//! (`id=`) in its view and places it by that cursor.
//!
//! Lists are decided on the posts' listings (`listing`), kept in memory; only a search of
//! the texts (`q=`) needs the whole posts, which the caller reads and tests with
//! [`Filters::text_matches`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::model::records::PostView;
use crate::model::records::State;
use crate::store::listing::Listing;

/// The most posts one page holds.
pub const MAX_LIMIT: usize = 1000;
/// The most posts one request may name with `id=`.
pub const MAX_IDS: usize = 200;

const ATTENTION: [State; 5] = State::ATTENTION;
const UPCOMING: [State; 3] = State::UPCOMING;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    All,
    Attention,
    Upcoming,
    Published,
}

impl View {
    const NAMES: [(&'static str, View); 4] = [
        ("all", View::All),
        ("attention", View::Attention),
        ("upcoming", View::Upcoming),
        ("published", View::Published),
    ];

    fn parse(value: &str) -> Option<View> {
        View::NAMES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, v)| *v)
    }
}

/// `/api/posts` filters, validated.
#[derive(Debug, Default, PartialEq)]
pub struct Filters {
    state: Option<State>,
    network: Option<String>,
    account: Option<String>,
    department: Option<String>,
    q: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// Everything `/api/posts` was asked: the filters, the view and the page.
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    filters: Filters,
    view: View,
    /// `None`: every matching post (what `/api/posts` always answered).
    limit: Option<usize>,
    after: Option<String>,
    /// Only these posts of the view (`total` still counts the whole view).
    ids: Option<BTreeSet<String>>,
}

/// A `/api/posts` query this API does not take; each names the parameter first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("state: `{0}` is not a state; use one of {states}", states = State::ALL.map(State::as_str).join(", "))]
    State(String),
    #[error("view: `{0}` is not a view; use one of {views}", views = View::NAMES.map(|(n, _)| n).join(", "))]
    View(String),
    #[error("limit: `{0}` is not a number of posts from 1 to {MAX_LIMIT}")]
    Limit(String),
    #[error("cursor: not a cursor this API gave (use `next_cursor` of a page)")]
    Cursor,
    #[error("id: at most {MAX_IDS} posts in one request")]
    TooManyIds,
    #[error("{field}: `{value}` is not a date (2026-12-20) or an RFC 3339 time")]
    Time { field: &'static str, value: String },
    #[error(
        "`{0}` is not a parameter; use state, network, account, department, q, from, to, \
         view, limit, cursor or id"
    )]
    Unknown(String),
}

impl Query {
    pub fn parse(query: &str) -> Result<Query, QueryError> {
        let mut q = Query::default();
        let mut ids = BTreeSet::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            let f = &mut q.filters;
            match key.as_ref() {
                "state" => {
                    f.state =
                        Some(State::parse(&value).ok_or_else(|| QueryError::State(value.into()))?)
                }
                "network" => f.network = Some(value.into_owned()),
                "account" => f.account = Some(value.into_owned()),
                "department" => f.department = Some(value.into_owned()),
                "q" => f.q = Some(value.to_lowercase()),
                "from" => f.from = Some(parse_time("from", &value, false)?),
                "to" => f.to = Some(parse_time("to", &value, true)?),
                "view" => {
                    q.view = View::parse(&value).ok_or_else(|| QueryError::View(value.into()))?
                }
                "limit" => q.limit = Some(parse_limit(&value)?),
                "cursor" => q.after = Some(parse_cursor(&value)?),
                "id" => {
                    ids.insert(value.into_owned());
                    if ids.len() > MAX_IDS {
                        return Err(QueryError::TooManyIds);
                    }
                }
                other => return Err(QueryError::Unknown(other.to_string())),
            }
        }
        q.ids = (!ids.is_empty()).then_some(ids);
        Ok(q)
    }
}

fn parse_limit(value: &str) -> Result<usize, QueryError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(QueryError::Limit(value.to_string())),
    }
}

fn parse_cursor(value: &str) -> Result<String, QueryError> {
    let hex = value.get(..KEY_HEX).unwrap_or("");
    if hex.len() == KEY_HEX && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_string())
    } else {
        Err(QueryError::Cursor)
    }
}

/// `from`/`to` take RFC 3339 or a date (a whole day, in UTC).
fn parse_time(
    field: &'static str,
    value: &str,
    end_of_day: bool,
) -> Result<DateTime<Utc>, QueryError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let t = if end_of_day {
            d.and_hms_opt(23, 59, 59)
        } else {
            d.and_hms_opt(0, 0, 0)
        };
        if let Some(t) = t {
            return Ok(t.and_utc());
        }
    }
    Err(QueryError::Time {
        field,
        value: value.to_string(),
    })
}

impl Filters {
    /// Everything but the text search (see [`Filters::text_matches`]).
    pub fn matches(&self, v: &Listing) -> bool {
        if let Some(s) = self.state {
            if v.state != s && !v.deliveries.iter().any(|d| d.state == s) {
                return false;
            }
        }
        if let Some(n) = &self.network {
            if !v.deliveries.iter().any(|d| *d.network == **n) {
                return false;
            }
        }
        if self
            .account
            .as_ref()
            .is_some_and(|a| v.account.as_deref() != Some(a))
        {
            return false;
        }
        if self
            .department
            .as_ref()
            .is_some_and(|d| v.department.as_deref() != Some(d))
        {
            return false;
        }
        let when = v.when();
        if self.from.is_some_and(|from| when.is_none_or(|t| t < from)) {
            return false;
        }
        if self.to.is_some_and(|to| when.is_none_or(|t| t > to)) {
            return false;
        }
        true
    }

    /// Whether the query searches the posts' texts (`q=`): the whole posts are needed then.
    pub fn searches_text(&self) -> bool {
        self.q.is_some()
    }

    /// The text search: the id, title, file, department or a delivery's text contains `q`.
    pub fn text_matches(&self, v: &PostView) -> bool {
        let Some(q) = &self.q else {
            return true;
        };
        let p = &v.post;
        [
            Some(&p.id),
            Some(&p.title),
            Some(&p.file),
            p.department.as_ref(),
        ]
        .into_iter()
        .flatten()
        .chain(v.deliveries.iter().map(|d| &d.text))
        .any(|s| crate::support::text_search::contains_lowercased(s, q))
    }
}

impl Query {
    pub fn filters(&self) -> &Filters {
        &self.filters
    }
}

// ---- order -------------------------------------------------------------------------------

/// Where a post sorts in a view: by `rank`, then `at`, then id; all ascending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a> {
    rank: i64,
    at: i64,
    id: &'a str,
}

/// Hex digits of the two numbers at the front of a cursor.
const KEY_HEX: usize = 32;

impl Key<'_> {
    /// Two numbers as offset-binary hex, then the id: string order is key order.
    fn cursor(&self) -> String {
        let biased = |n: i64| (n as u64) ^ (1 << 63);
        format!(
            "{:016x}{:016x}{}",
            biased(self.rank),
            biased(self.at),
            self.id
        )
    }
}

/// How urgent the post's most urgent reason for attention is (`None`: nothing to do).
fn attention_rank(v: &Listing) -> Option<i64> {
    let mut rank = v.has_errors.then_some(0);
    for d in &v.deliveries {
        if let Some(i) = ATTENTION.iter().position(|s| *s == d.state) {
            rank = Some(rank.map_or(i, |r: usize| r.min(i)));
        }
    }
    if rank.is_none() && v.edited_after_publish {
        rank = Some(ATTENTION.len());
    }
    rank.map(|r| r as i64)
}

/// The post's place in `view`, `None` when it is not in it.
fn key<'a>(view: View, network: Option<&str>, v: &'a Listing) -> Option<Key<'a>> {
    let id = &*v.id;
    let millis = |t: DateTime<Utc>| t.timestamp_millis();
    let (rank, at) = match view {
        View::All => (0, v.when().map_or(i64::MIN, millis)),
        View::Attention => (attention_rank(v)?, v.when().map_or(i64::MIN, millis)),
        View::Upcoming => (
            0,
            v.deliveries
                .iter()
                .filter(|d| UPCOMING.contains(&d.state))
                .map(|d| millis(d.due_at))
                .min()?,
        ),
        View::Published => {
            let latest = v
                .deliveries
                .iter()
                .filter(|d| d.state == State::Published)
                .filter(|d| network.is_none_or(|n| *d.network == *n))
                .map(|d| d.published_at.map_or(i64::MIN + 1, millis))
                .max()?;
            // Newest first.
            (0, -latest)
        }
    };
    // An emergency on its way is pinned on top of every view it is in.
    let rank = match v.emergency_in_flight() {
        true => i64::MIN,
        false => rank,
    };
    Some(Key { rank, at, id })
}

/// One page of a view.
pub struct Page<'a> {
    /// The posts with their cursors, in the view's order.
    pub posts: Vec<(&'a Listing, String)>,
    /// Posts in the whole view with these filters, on every page.
    pub total: usize,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the view `q` asks for. `text_hits`: with a text search, the ids of the posts
/// whose texts match (see [`Filters::text_matches`]).
pub fn page<'a>(posts: &'a [Listing], q: &Query, text_hits: Option<&HashSet<String>>) -> Page<'a> {
    let network = q.filters.network.as_deref();
    let mut total = 0;
    let mut shown: Vec<(Key<'a>, &'a Listing)> = Vec::new();
    for v in posts {
        if !q.filters.matches(v) || text_hits.is_some_and(|hits| !hits.contains(&*v.id)) {
            continue;
        }
        let Some(k) = key(q.view, network, v) else {
            continue;
        };
        total += 1;
        if q.ids.as_ref().is_some_and(|ids| !ids.contains(&*v.id)) {
            continue;
        }
        if q.after.as_ref().is_some_and(|after| k.cursor() <= *after) {
            continue;
        }
        shown.push((k, v));
    }
    let more = match q.limit {
        Some(limit) if shown.len() > limit => {
            // Only the page needs sorting in full.
            shown.select_nth_unstable_by(limit, |a, b| a.0.cmp(&b.0));
            shown.truncate(limit);
            true
        }
        _ => false,
    };
    shown.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let next_cursor = more
        .then(|| shown.last().map(|(k, _)| k.cursor()))
        .flatten();
    Page {
        posts: shown.into_iter().map(|(k, v)| (v, k.cursor())).collect(),
        total,
        next_cursor,
    }
}

// ---- summary -----------------------------------------------------------------------------

/// The counts on the dashboard's overview and menus, over every post.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub posts: usize,
    /// Ids of the emergency posts still on their way, for the dashboard's banner.
    pub emergencies: Vec<String>,
    /// Things to act on as the dashboard lists them: a post's errors, each group of its
    /// deliveries in one attention state for one reason, an edit after publishing.
    pub attention: usize,
    /// Posts with a delivery still to go, and the dashboard's timeline entries (a post and a
    /// due minute) due within the next 24 hours or overdue.
    pub upcoming: usize,
    pub upcoming_24h: usize,
    /// Deliveries published today in the repository's timezone.
    pub published_today: usize,
    /// Posts published on each network.
    pub published: BTreeMap<String, usize>,
    pub departments: Vec<String>,
    pub accounts: Vec<String>,
    pub networks: Vec<String>,
}

/// The attention items of one post, counted as the dashboard lists them.
fn attention_items(v: &Listing) -> usize {
    let groups: HashSet<(State, Option<u64>)> = v
        .deliveries
        .iter()
        .filter(|d| ATTENTION.contains(&d.state))
        .map(|d| (d.state, d.reason))
        .collect();
    usize::from(v.has_errors) + groups.len() + usize::from(v.edited_after_publish)
}

pub fn summary(posts: &[Listing], tz: Option<Tz>, now: DateTime<Utc>) -> Summary {
    let tz = tz.unwrap_or(chrono_tz::UTC);
    let today = now.with_timezone(&tz).date_naive();
    let soon = (now + chrono::Duration::hours(24)).timestamp() / 60;
    let mut s = Summary {
        posts: posts.len(),
        ..Summary::default()
    };
    let (mut departments, mut accounts, mut networks) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for v in posts {
        if v.emergency_in_flight() {
            s.emergencies.push(v.id.to_string());
        }
        s.attention += attention_items(v);
        let due_minutes: BTreeSet<i64> = v
            .deliveries
            .iter()
            .filter(|d| UPCOMING.contains(&d.state))
            .map(|d| d.due_at.timestamp().div_euclid(60))
            .collect();
        s.upcoming += usize::from(!due_minutes.is_empty());
        s.upcoming_24h += due_minutes.iter().filter(|m| **m <= soon).count();
        for d in v.deliveries.iter().filter(|d| d.state == State::Published) {
            *s.published.entry(d.network.to_string()).or_default() += 1;
            if d.published_at
                .is_some_and(|t| t.with_timezone(&tz).date_naive() == today)
            {
                s.published_today += 1;
            }
        }
        departments.extend(v.department.as_deref());
        accounts.extend(v.account.as_deref());
        networks.extend(v.deliveries.iter().map(|d| &*d.network));
    }
    let owned = |names: BTreeSet<&str>| names.into_iter().map(str::to_string).collect();
    s.departments = owned(departments);
    s.accounts = owned(accounts);
    s.networks = owned(networks);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parses_and_rejects_with_the_field_named() {
        let q = Query::parse(
            "state=published&network=x&q=%E3%81%94%E3%81%BF&from=2026-12-01&department=%E7%92%B0%E5%A2%83%E9%83%A8&view=upcoming&limit=50&id=a&id=b",
        )
        .unwrap();
        assert_eq!(q.filters.state, Some(State::Published));
        assert_eq!(q.filters.department.as_deref(), Some("環境部"));
        assert_eq!(q.filters.q.as_deref(), Some("ごみ"));
        assert_eq!(q.view, View::Upcoming);
        assert_eq!(q.limit, Some(50));
        assert_eq!(q.ids.as_ref().map(BTreeSet::len), Some(2));
        for (bad, field) in [
            ("state=done", "state:"),
            ("from=yesterday", "from:"),
            ("view=later", "view:"),
            ("limit=0", "limit:"),
            ("limit=1001", "limit:"),
            ("limit=ten", "limit:"),
            ("cursor=zz", "cursor:"),
        ] {
            let e = Query::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(field), "{bad}: {e}");
        }
        assert!(Query::parse("colour=red")
            .unwrap_err()
            .to_string()
            .contains("colour"));
        let many: Vec<String> = (0..=MAX_IDS).map(|i| format!("id={i}")).collect();
        assert!(Query::parse(&many.join("&"))
            .unwrap_err()
            .to_string()
            .starts_with("id:"));
        assert_eq!(Query::parse("").unwrap(), Query::default());
    }

    #[test]
    fn cursors_sort_as_their_keys() {
        let keys = [
            Key {
                rank: 0,
                at: i64::MIN,
                id: "z",
            },
            Key {
                rank: 0,
                at: -5,
                id: "a",
            },
            Key {
                rank: 0,
                at: 0,
                id: "a",
            },
            Key {
                rank: 0,
                at: 0,
                id: "b",
            },
            Key {
                rank: 0,
                at: 1_800_000_000_000,
                id: "a",
            },
            Key {
                rank: 1,
                at: i64::MIN,
                id: "a",
            },
        ];
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].cursor() < pair[1].cursor(), "{pair:?}");
        }
        assert!(parse_cursor(&keys[3].cursor()).is_ok());
    }
}
