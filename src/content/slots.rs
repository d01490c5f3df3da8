//! `slots:` — an account's golden times, the hours residents read most, which the PR
//! section keeps for the day's most important post. A post written with
//! `publish_at: next-slot` (or `slot: <name>`) takes the first free slot at or after the time
//! it is approved; `sync::slots` records the choice once.
//!
//! ```yaml
//! slots:
//!   - { name: noon, at: "12:15", days: weekdays, holidays: skip }
//!   - { name: evening, at: "19:00", max: 2 }
//! ```

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono::{Weekday, Weekday::*};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::content::brief::quote;

/// How far ahead a free slot is looked for: a year of slots, all taken, is a full calendar.
const LOOK_AHEAD_DAYS: i64 = 400;

/// One slot as `oshirase.yaml` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlot {
    name: String,
    at: String,
    days: Option<RawDays>,
    holidays: Option<String>,
    max: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDays {
    Named(String),
    List(Vec<String>),
}

/// One golden time of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    /// The wall-clock time in the repository's time zone.
    pub at: NaiveTime,
    /// Which days of the week it runs, Monday first.
    pub days: [bool; 7],
    /// `holidays: skip`: a Japanese public holiday counts as a weekend day.
    pub holidays_are_weekends: bool,
    /// How many posts may share one occurrence (`max:`, default 1).
    pub max: u32,
}

/// A field of `slots:` that is wrong: (field path, message).
pub(crate) type FieldError = (String, String);

/// Validates an account's `slots:`; `field` is `accounts.<name>.slots`.
pub(crate) fn validate(
    field: &str,
    raw: Vec<RawSlot>,
    tz: Option<Tz>,
) -> Result<Vec<Slot>, FieldError> {
    if raw.is_empty() {
        return Err((
            field.into(),
            "list at least one slot, or remove the key".into(),
        ));
    }
    if tz.is_none() {
        return Err((
            field.into(),
            "slots are wall-clock times: set `timezone:` (for example Asia/Tokyo)".into(),
        ));
    }
    let mut names = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("{field}[{i}]");
            let name = r.name.trim().to_string();
            let ok_name = !name.is_empty()
                && name.len() <= 32
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name {
                return Err((
                    format!("{field}.name"),
                    format!(
                        "{} must be 1–32 ASCII letters, digits, `-` or `_`",
                        quote(&name)
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err((
                    format!("{field}.name"),
                    format!("{} is listed twice", quote(&name)),
                ));
            }
            let at = NaiveTime::parse_from_str(r.at.trim(), "%H:%M").map_err(|_| {
                (
                    format!("{field}.at"),
                    format!(
                        "{} is not a time such as \"12:15\" or \"19:00\"",
                        quote(&r.at)
                    ),
                )
            })?;
            let days = match r.days {
                None => [true; 7],
                Some(d) => days(&format!("{field}.days"), d)?,
            };
            let holidays_are_weekends = match r.holidays.as_deref().map(str::trim) {
                None | Some("keep") => false,
                Some("skip") => true,
                Some(other) => {
                    return Err((
                        format!("{field}.holidays"),
                        format!(
                            "{} is not `skip` (a public holiday counts as a weekend day) or `keep`",
                            quote(other)
                        ),
                    ))
                }
            };
            let max = r.max.unwrap_or(1);
            if max == 0 {
                return Err((
                    format!("{field}.max"),
                    "a slot takes at least one post".into(),
                ));
            }
            Ok(Slot {
                name,
                at,
                days,
                holidays_are_weekends,
                max,
            })
        })
        .collect()
}

fn days(field: &str, raw: RawDays) -> Result<[bool; 7], FieldError> {
    let named = |name: &str| -> Option<[bool; 7]> {
        match name.trim() {
            "every-day" => Some([true; 7]),
            "weekdays" => Some([true, true, true, true, true, false, false]),
            "weekends" => Some([false, false, false, false, false, true, true]),
            _ => None,
        }
    };
    match raw {
        RawDays::Named(name) => named(&name).ok_or_else(|| {
            (
                field.to_string(),
                format!(
                    "{} is not `every-day`, `weekdays`, `weekends` or a list of mon … sun",
                    quote(&name)
                ),
            )
        }),
        RawDays::List(list) => {
            let mut days = [false; 7];
            for d in &list {
                let day = weekday(d).ok_or_else(|| {
                    (
                        field.to_string(),
                        format!(
                            "{} is not one of mon, tue, wed, thu, fri, sat, sun",
                            quote(d)
                        ),
                    )
                })?;
                days[day.num_days_from_monday() as usize] = true;
            }
            if days.iter().all(|d| !d) {
                return Err((field.to_string(), "list at least one day".into()));
            }
            Ok(days)
        }
    }
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text.trim().to_lowercase().as_str() {
        "mon" => Mon,
        "tue" => Tue,
        "wed" => Wed,
        "thu" => Thu,
        "fri" => Fri,
        "sat" => Sat,
        "sun" => Sun,
        _ => return None,
    })
}

/// Whether `date` is a Japanese public holiday (substitute and citizens' holidays
/// included), by the `jpholiday` crate's rules.
pub fn is_holiday(date: NaiveDate) -> bool {
    jpholiday::jpholiday::JPHoliday::new().is_holiday(&date)
}

impl Slot {
    /// Whether the slot runs on `date` (a day in the repository's time zone).
    pub fn runs_on(&self, date: NaiveDate) -> bool {
        if self.holidays_are_weekends && is_holiday(date) {
            // A holiday is a weekend day: weekday slots rest, weekend slots run.
            return self.days[5] || self.days[6];
        }
        self.days[date.weekday().num_days_from_monday() as usize]
    }

    /// The slot's instant on `date` in `tz` (`None` when a daylight-saving change skips
    /// that wall-clock time; a repeated one is the earlier instant).
    fn on(&self, date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
        match tz.from_local_datetime(&date.and_time(self.at)) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }
}

/// Every occurrence of `slots` (only the one named `name`, when given) at or after
/// `after`, soonest first, for about a year.
pub fn occurrences<'s>(
    slots: &'s [Slot],
    name: Option<&'s str>,
    after: DateTime<Utc>,
    tz: Tz,
) -> impl Iterator<Item = (&'s Slot, DateTime<Utc>)> + 's {
    let first_day = after.with_timezone(&tz).date_naive();
    (0..LOOK_AHEAD_DAYS).flat_map(move |offset| {
        let date = first_day + Duration::days(offset);
        let mut today: Vec<(&Slot, DateTime<Utc>)> = slots
            .iter()
            .filter(|s| name.is_none_or(|n| s.name == n))
            .filter(|s| s.runs_on(date))
            .filter_map(|s| s.on(date, tz).map(|t| (s, t)))
            .filter(|(_, t)| *t >= after)
            .collect();
        today.sort_by_key(|(s, t)| (*t, s.name.clone()));
        today
    })
}

/// The first occurrence at or after `after` that `taken` (how many posts already hold an
/// occurrence: slot name and instant) leaves room in.
pub fn first_free(
    slots: &[Slot],
    name: Option<&str>,
    after: DateTime<Utc>,
    tz: Tz,
    taken: impl Fn(&str, DateTime<Utc>) -> u32,
) -> Option<(String, DateTime<Utc>)> {
    occurrences(slots, name, after, tz)
        .find(|(s, t)| taken(&s.name, *t) < s.max)
        .map(|(s, t)| (s.name.clone(), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(yaml: &str) -> Vec<Slot> {
        let raw: Vec<RawSlot> = serde_yaml::from_str(yaml).unwrap();
        validate("accounts.city.slots", raw, Some(chrono_tz::Asia::Tokyo)).unwrap()
    }

    fn jst(text: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Asia::Tokyo
            .from_local_datetime(&naive)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(slots: &[Slot], name: Option<&str>, after: &str) -> (String, DateTime<Utc>) {
        first_free(slots, name, jst(after), chrono_tz::Asia::Tokyo, |_, _| 0).unwrap()
    }

    const OFFICE: &str =
        "[{name: noon, at: '12:15', days: weekdays, holidays: skip}, {name: evening, at: '19:00'}]";

    #[test]
    fn the_next_slot_skips_the_weekend_for_weekday_slots() {
        let s = slots(OFFICE);
        // Friday 2026-12-04 after noon: the evening slot that day.
        assert_eq!(
            next(&s, None, "2026-12-04 13:00"),
            ("evening".into(), jst("2026-12-04 19:00"))
        );
        // Friday night: noon is Monday's, but the evening runs every day.
        assert_eq!(
            next(&s, Some("noon"), "2026-12-04 20:00"),
            ("noon".into(), jst("2026-12-07 12:15"))
        );
        assert_eq!(
            next(&s, None, "2026-12-04 20:00"),
            ("evening".into(), jst("2026-12-05 19:00"))
        );
        // At the slot's minute is still that slot.
        assert_eq!(
            next(&s, None, "2026-12-07 12:15"),
            ("noon".into(), jst("2026-12-07 12:15"))
        );
    }

    #[test]
    fn a_public_holiday_counts_as_a_weekend_day_with_holidays_skip() {
        let s = slots(OFFICE);
        // Monday 2027-01-11 is Coming-of-Age Day: noon rests until Tuesday.
        assert!(is_holiday(NaiveDate::from_ymd_opt(2027, 1, 11).unwrap()));
        assert_eq!(
            next(&s, Some("noon"), "2027-01-09 10:00"),
            ("noon".into(), jst("2027-01-12 12:15"))
        );
        // New Year's Day 2027 is a Friday, and 2027-01-04 a Monday that is not a holiday.
        assert_eq!(
            next(&s, Some("noon"), "2026-12-31 13:00"),
            ("noon".into(), jst("2027-01-04 12:15"))
        );
        // Without `holidays: skip` a holiday Monday is a Monday.
        let keep = slots("[{name: noon, at: '12:15', days: weekdays}]");
        assert_eq!(
            next(&keep, None, "2027-01-09 10:00"),
            ("noon".into(), jst("2027-01-11 12:15"))
        );
        // A weekend slot with `holidays: skip` runs on a holiday too.
        let weekend = slots("[{name: sat, at: '10:00', days: weekends, holidays: skip}]");
        assert_eq!(
            next(&weekend, None, "2027-01-11 08:00"),
            ("sat".into(), jst("2027-01-11 10:00"))
        );
    }

    #[test]
    fn a_taken_slot_is_passed_over_unless_it_allows_more() {
        let s = slots("[{name: evening, at: '19:00', max: 2}]");
        let first = jst("2026-12-04 19:00");
        let one = |_: &str, t: DateTime<Utc>| u32::from(t == first);
        let two = |_: &str, t: DateTime<Utc>| 2 * u32::from(t == first);
        let tz = chrono_tz::Asia::Tokyo;
        assert_eq!(
            first_free(&s, None, jst("2026-12-04 09:00"), tz, one)
                .unwrap()
                .1,
            first
        );
        assert_eq!(
            first_free(&s, None, jst("2026-12-04 09:00"), tz, two)
                .unwrap()
                .1,
            jst("2026-12-05 19:00")
        );
    }

    #[test]
    fn lists_of_days_and_bad_slots_name_the_field() {
        let s = slots("[{name: market, at: '08:30', days: [tue, SAT]}]");
        assert_eq!(
            next(&s, None, "2026-12-04 09:00").1,
            jst("2026-12-05 08:30")
        );
        let bad = |yaml: &str| {
            let raw: Vec<RawSlot> = serde_yaml::from_str(yaml).unwrap();
            validate("accounts.city.slots", raw, Some(chrono_tz::Asia::Tokyo)).unwrap_err()
        };
        assert_eq!(
            bad("[{name: a, at: '25:00'}]").0,
            "accounts.city.slots[0].at"
        );
        assert_eq!(
            bad("[{name: a, at: '12:00', days: someday}]").0,
            "accounts.city.slots[0].days"
        );
        assert_eq!(
            bad("[{name: a, at: '12:00', days: [mon, funday]}]").0,
            "accounts.city.slots[0].days"
        );
        assert_eq!(
            bad("[{name: a, at: '12:00'}, {name: a, at: '13:00'}]").0,
            "accounts.city.slots[1].name"
        );
        assert_eq!(
            bad("[{name: a, at: '12:00', holidays: maybe}]").0,
            "accounts.city.slots[0].holidays"
        );
        assert_eq!(
            bad("[{name: a, at: '12:00', max: 0}]").0,
            "accounts.city.slots[0].max"
        );
        let raw: Vec<RawSlot> = serde_yaml::from_str("[{name: a, at: '12:00'}]").unwrap();
        assert_eq!(
            validate("accounts.city.slots", raw, None).unwrap_err().0,
            "accounts.city.slots"
        );
    }
}
