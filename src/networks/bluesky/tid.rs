//! Record keys of `app.bsky.feed.post`: TIDs (13 characters of base32-sortable: the top bit
//! 0, 53 bits of microseconds since the epoch, a 10-bit clock id), derived from a delivery
//! so that every attempt writes the same record.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The alphabet of TIDs ("base32-sortable"): sorting the strings sorts the numbers.
const TID_ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
const MICROS_BITS: u32 = 53;

/// The record key of a delivery's post. `app.bsky.feed.post` records are keyed by TID, so
/// this is one: the publish time in microseconds plus up to ~1 s derived from the key (so
/// two posts due at the same instant still differ), and a clock id from other key bits.
/// The same delivery always gets the same key; that is what makes a resend safe.
pub(crate) fn record_key(key: &str, publish_at: DateTime<Utc>) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let bits = u64::from_be_bytes(first);
    let offset = bits & 0xF_FFFF;
    let clock = ((bits >> 20) & 0x3FF) as u16;
    let micros = u64::try_from(publish_at.timestamp_micros()).unwrap_or(0) + offset;
    tid(micros, clock)
}

/// A TID: the top bit 0, 53 bits of microseconds since the epoch, a 10-bit clock id, as
/// 13 characters of [`TID_ALPHABET`].
fn tid(micros: u64, clock: u16) -> String {
    let mask = (1u64 << MICROS_BITS) - 1;
    let mut n = ((micros & mask) << 10) | u64::from(clock & 0x3FF);
    let mut out = [0u8; 13];
    for slot in out.iter_mut().rev() {
        *slot = TID_ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// (microseconds, clock id) of a valid TID.
#[cfg(test)]
fn parse_tid(s: &str) -> Option<(u64, u16)> {
    // 13 characters carry 65 bits; the top one and the TID's own top bit are 0, which
    // leaves the first character among the first 16 of the alphabet.
    if s.len() != 13 || !b"234567abcdefghij".contains(&s.as_bytes()[0]) {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        let v = TID_ALPHABET.iter().position(|&a| a == b)?;
        n = (n << 5) | v as u64;
    }
    Some((n >> 10, (n & 0x3FF) as u16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::records::DeliveryRecord;

    #[test]
    fn tid_matches_the_spec_example() {
        // The spec: the TID of integer zero is 2222222222222.
        assert_eq!(tid(0, 0), "2222222222222");
        // atcute's documented example: 1724171495793000 µs with clock id 512.
        assert_eq!(tid(1_724_171_495_793_000, 512), "3l25zusnsfck2");
        assert_eq!(
            parse_tid("3l25zusnsfctk"),
            Some((1_724_171_495_793_000, 816))
        );
    }

    #[test]
    fn tids_round_trip_and_use_the_alphabet() {
        for (micros, clock) in [
            (0, 0),
            (1, 1023),
            (1_767_225_600_000_000, 7),
            ((1 << 53) - 1, 1023),
        ] {
            let t = tid(micros, clock);
            assert_eq!(t.len(), 13);
            assert!(t.bytes().all(|b| TID_ALPHABET.contains(&b)), "{t}");
            assert!(b"234567abcdefghij".contains(&t.as_bytes()[0]), "{t}");
            assert_eq!(parse_tid(&t), Some((micros, clock)));
        }
    }

    #[test]
    fn record_keys_are_deterministic_distinct_and_near_the_publish_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-20T19:00:00+09:00")
            .unwrap()
            .with_timezone(&Utc);
        let a = DeliveryRecord::key_for("adachi", "bluesky", "posts/a");
        let b = DeliveryRecord::key_for("adachi", "bluesky", "posts/b");
        assert_eq!(record_key(&a, at), record_key(&a, at));
        assert_ne!(record_key(&a, at), record_key(&b, at));
        let keys: std::collections::HashSet<String> = (0..2000)
            .map(|i| {
                record_key(
                    &DeliveryRecord::key_for("a", "bluesky", &format!("p{i}")),
                    at,
                )
            })
            .collect();
        assert_eq!(
            keys.len(),
            2000,
            "2,000 posts due at one instant get 2,000 keys"
        );
        let (micros, _) = parse_tid(&record_key(&a, at)).unwrap();
        let publish = at.timestamp_micros() as u64;
        assert!(micros >= publish && micros < publish + 1_100_000);
        // Sorting by key sorts by publish time, a second apart or more.
        let later = at + chrono::Duration::seconds(2);
        assert!(record_key(&b, later) > record_key(&a, at));
    }
}
