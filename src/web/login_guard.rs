//! Slowing down wrong passwords, per client address and per user name.
//!
//! Each address and each name (whether or not such a user exists, so that the answers
//! reveal nothing) may fail [`FREE_PER_ADDRESS`] and [`FREE_PER_NAME`] times; after that
//! every further failure locks it for twice as long as the last, from [`FIRST_LOCK`] up to
//! [`MAX_LOCK`]. While locked, a sign-in is answered 429 with `Retry-After` at once,
//! without hashing anything. Checks in progress count against the allowance, so a thousand
//! guesses sent at once get no more hashes than guesses sent one by one. A name is
//! forgiven by a successful sign-in; anything is forgotten [`FORGET_AFTER`] its last
//! failure. Memory is bounded ([`MAX_ENTRIES`] per table): when a table is full of recent
//! failures, new names or addresses wait rather than push out the counts of those being
//! attacked.
//!
//! The address is the connection's peer. Behind a reverse proxy on the same machine the
//! peer is loopback, and the client is the last address of `X-Forwarded-For` (what the
//! proxy added); IPv6 addresses count by their /64, which one client usually holds whole.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use warp::http::HeaderMap;

pub const FREE_PER_NAME: u32 = 5;
/// Higher than per name: an office behind one address has many people who mistype.
pub const FREE_PER_ADDRESS: u32 = 20;
pub const FIRST_LOCK: Duration = Duration::from_secs(1);
pub const MAX_LOCK: Duration = Duration::from_secs(5 * 60);
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
pub const MAX_ENTRIES: usize = 10_000;
/// The wait given while the checks in progress use up the allowance.
const IN_PROGRESS_WAIT: Duration = Duration::from_secs(1);

/// Who is signing in, for counting: the client address (see the module documentation).
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
    let Some(peer) = peer else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    let forwarded = peer
        .ip()
        .is_loopback()
        .then(|| headers.get_all("x-forwarded-for").iter().next_back())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    match forwarded.unwrap_or(peer.ip()) {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
        v4 => v4,
    }
}

/// A user name as counted: a digest, so that a long name costs no more memory.
type Name = [u8; 16];

fn name_key(name: &[u8]) -> Name {
    let digest = Sha256::digest(name);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Failures of one address or name.
#[derive(Debug, Default)]
struct Count {
    failures: u32,
    /// Checks admitted and not settled yet.
    pending: u32,
    last_failure: Option<Instant>,
    locked_until: Option<Instant>,
}

impl Count {
    fn forget_if_old(&mut self, now: Instant) {
        let old = self
            .last_failure
            .is_some_and(|t| now.duration_since(t) >= FORGET_AFTER);
        if old && self.pending == 0 {
            *self = Count::default();
        }
    }

    /// How long to wait before another check may start, if it may not now.
    fn wait(&self, free: u32, now: Instant) -> Option<Duration> {
        if let Some(until) = self.locked_until.filter(|u| *u > now) {
            return Some(until - now);
        }
        let allowance = free.saturating_sub(self.failures).max(1);
        (self.pending >= allowance).then_some(IN_PROGRESS_WAIT)
    }

    fn failed(&mut self, free: u32, now: Instant) {
        self.pending = self.pending.saturating_sub(1);
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
        if self.failures >= free {
            self.locked_until = Some(now + lock_for(self.failures - free));
        }
    }

    fn idle(&self) -> bool {
        self.pending == 0 && self.failures == 0
    }
}

/// 1 s, 2 s, 4 s … for each failure past the free ones, at most [`MAX_LOCK`].
fn lock_for(past_free: u32) -> Duration {
    FIRST_LOCK
        .saturating_mul(1u32 << past_free.min(16))
        .min(MAX_LOCK)
}

struct Table<K> {
    counts: HashMap<K, Count>,
    free: u32,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn new(free: u32) -> Self {
        Table {
            counts: HashMap::new(),
            free,
        }
    }

    fn wait(&mut self, key: K, now: Instant) -> Option<Duration> {
        if !self.counts.contains_key(&key) && self.counts.len() >= MAX_ENTRIES {
            self.counts.retain(|_, c| {
                c.forget_if_old(now);
                !c.idle()
            });
            if self.counts.len() >= MAX_ENTRIES {
                return Some(FIRST_LOCK * 60);
            }
        }
        let count = self.counts.entry(key).or_default();
        count.forget_if_old(now);
        count.wait(self.free, now)
    }

    fn count(&mut self, key: K) -> &mut Count {
        self.counts.entry(key).or_default()
    }
}

struct Tables {
    by_address: Table<IpAddr>,
    by_name: Table<Name>,
}

/// The failure counts; one per dashboard.
pub struct LoginGuard {
    tables: Mutex<Tables>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard {
            tables: Mutex::new(Tables {
                by_address: Table::new(FREE_PER_ADDRESS),
                by_name: Table::new(FREE_PER_NAME),
            }),
        }
    }
}

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard").finish_non_exhaustive()
    }
}

/// A password check allowed to run; say how it ended with [`Attempt::failed`] or
/// [`Attempt::succeeded`]. Dropped without either (the check could not run), it counts as
/// nothing.
#[must_use]
pub struct Attempt<'a> {
    guard: &'a LoginGuard,
    address: IpAddr,
    name: Name,
    settled: bool,
}

impl LoginGuard {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a check of `name`'s password from `address` run, or says how long to wait.
    pub fn admit(&self, address: IpAddr, name: &[u8]) -> Result<Attempt<'_>, Duration> {
        let name = name_key(name);
        let now = Instant::now();
        let mut t = self.tables();
        let wait = [t.by_address.wait(address, now), t.by_name.wait(name, now)]
            .into_iter()
            .flatten()
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        t.by_address.count(address).pending += 1;
        t.by_name.count(name).pending += 1;
        Ok(Attempt {
            guard: self,
            address,
            name,
            settled: false,
        })
    }
}

impl Attempt<'_> {
    /// The password was wrong (or the name unknown).
    pub fn failed(mut self) {
        self.settled = true;
        let now = Instant::now();
        let mut t = self.guard.tables();
        let free = t.by_address.free;
        t.by_address.count(self.address).failed(free, now);
        let free = t.by_name.free;
        t.by_name.count(self.name).failed(free, now);
    }

    /// The password was right: the name's failures are forgiven.
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut t = self.guard.tables();
        let address = t.by_address.count(self.address);
        address.pending = address.pending.saturating_sub(1);
        t.by_name.counts.remove(&self.name);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut t = self.guard.tables();
        let address = t.by_address.count(self.address);
        address.pending = address.pending.saturating_sub(1);
        let name = t.by_name.count(self.name);
        name.pending = name.pending.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn a_name_is_locked_after_its_free_failures_for_longer_each_time() {
        let guard = LoginGuard::default();
        for _ in 0..FREE_PER_NAME {
            guard.admit(HOME, b"koho").unwrap().failed();
        }
        let wait = guard.admit(AWAY, b"koho").err().expect("locked");
        assert!(wait <= FIRST_LOCK && wait > FIRST_LOCK / 2, "{wait:?}");
        // Another name from the same address is still let through.
        guard.admit(HOME, b"soumu").unwrap().failed();
        // The lock doubles with each failure past the free ones, up to the maximum.
        assert_eq!(lock_for(0), FIRST_LOCK);
        assert_eq!(lock_for(3), FIRST_LOCK * 8);
        assert_eq!(lock_for(40), MAX_LOCK);
    }

    #[test]
    fn an_address_is_locked_whatever_names_it_tries() {
        let guard = LoginGuard::default();
        for i in 0..FREE_PER_ADDRESS {
            guard
                .admit(HOME, format!("guess{i}").as_bytes())
                .unwrap()
                .failed();
        }
        assert!(guard.admit(HOME, b"someone-new").is_err());
        assert!(guard.admit(AWAY, b"someone-new").is_ok());
    }

    #[test]
    fn checks_in_progress_use_up_the_allowance() {
        let guard = LoginGuard::default();
        let running: Vec<_> = (0..FREE_PER_NAME)
            .map(|_| guard.admit(HOME, b"koho").unwrap())
            .collect();
        assert_eq!(guard.admit(AWAY, b"koho").err(), Some(IN_PROGRESS_WAIT));
        // A check that could not run gives its place back without counting.
        drop(running);
        let ok = guard.admit(AWAY, b"koho").unwrap();
        ok.succeeded();
        assert!(guard.tables().by_name.counts.is_empty(), "forgiven");
    }

    #[test]
    fn a_success_forgives_the_name_but_not_the_address() {
        let guard = LoginGuard::default();
        for _ in 0..FREE_PER_NAME - 1 {
            guard.admit(HOME, b"koho").unwrap().failed();
        }
        guard.admit(HOME, b"koho").unwrap().succeeded();
        for _ in 0..FREE_PER_NAME - 1 {
            guard.admit(HOME, b"koho").unwrap().failed();
        }
        assert!(guard.admit(HOME, b"koho").is_ok());
        let t = guard.tables();
        assert_eq!(t.by_address.counts[&HOME].failures, 2 * (FREE_PER_NAME - 1));
    }

    #[test]
    fn a_full_table_keeps_its_counts_and_makes_newcomers_wait() {
        let guard = LoginGuard::default();
        {
            let mut t = guard.tables();
            for i in 0..MAX_ENTRIES {
                let c = t.by_name.count(name_key(i.to_string().as_bytes()));
                c.failures = 1;
                c.last_failure = Some(Instant::now());
            }
        }
        assert!(guard.admit(HOME, b"newcomer").is_err());
        // Old failures are forgotten and make room.
        {
            let mut t = guard.tables();
            let long_ago = Instant::now().checked_sub(FORGET_AFTER).unwrap();
            t.by_name
                .counts
                .values_mut()
                .for_each(|c| c.last_failure = Some(long_ago));
        }
        assert!(guard.admit(HOME, b"newcomer").is_ok());
    }

    #[test]
    fn the_client_is_the_peer_or_what_a_local_proxy_forwarded() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        let proxy: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        assert_eq!(
            client_ip(Some(proxy), &h),
            AWAY,
            "the proxy's own entry, last"
        );
        assert_eq!(
            client_ip(Some(remote), &h),
            HOME,
            "no proxy: the header is the client's"
        );
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new()), proxy.ip());
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        assert_eq!(
            client_ip(Some(v6), &HeaderMap::new()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(None, &h), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
}
