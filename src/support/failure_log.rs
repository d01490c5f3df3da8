//! Deciding when a failure that repeats is worth a log line.
//!
//! The same sync or fetch error, logged on every try, fills a disk without telling anyone
//! more. [`FailureLog`] says to log a failure when it first happens or its message
//! changes, then a reminder after the 2nd, 4th, 8th, … identical failure, and once that it
//! recovered and after how many failures. The caller writes the lines, so each loop words
//! them its own way.

use chrono::{DateTime, Utc};

/// What the caller should log now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The first failure after a success (or ever).
    Started,
    /// A failure whose message differs from the one before.
    Changed,
    /// The same failure again: `repeats` times in a row since `since`.
    Reminder { repeats: u64, since: DateTime<Utc> },
    /// A success after `failures` failures in a row.
    Recovered { failures: u64 },
}

#[derive(Debug, Clone, Default)]
pub struct FailureLog {
    /// The message of the failure going on, and when it was first seen.
    current: Option<(String, DateTime<Utc>)>,
    /// How often `current` failed in a row.
    repeats: u64,
    /// Failures in a row, whatever their messages.
    failures: u64,
}

impl FailureLog {
    pub fn new() -> FailureLog {
        FailureLog::default()
    }

    /// Records a failure with `message` at `now`; returns what to log, if anything.
    pub fn failed(&mut self, message: &str, now: DateTime<Utc>) -> Option<Note> {
        self.failures += 1;
        match &self.current {
            Some((same, _)) if same == message => {
                self.repeats += 1;
                let since = self.current.as_ref().map_or(now, |(_, at)| *at);
                self.repeats.is_power_of_two().then_some(Note::Reminder {
                    repeats: self.repeats,
                    since,
                })
            }
            previous => {
                let note = if previous.is_some() {
                    Note::Changed
                } else {
                    Note::Started
                };
                self.current = Some((message.to_string(), now));
                self.repeats = 1;
                Some(note)
            }
        }
    }

    /// Records a success; returns the note to log when it ends a run of failures.
    pub fn succeeded(&mut self) -> Option<Note> {
        let failures = std::mem::take(&mut self.failures);
        self.current = None;
        self.repeats = 0;
        (failures > 0).then_some(Note::Recovered { failures })
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_failure_is_logged_once_then_reminded_at_growing_intervals() {
        let mut log = FailureLog::new();
        let start = Utc::now();
        let notes: Vec<Option<Note>> = (0..20).map(|_| log.failed("bad", start)).collect();
        assert_eq!(notes[0], Some(Note::Started));
        let reminders: Vec<u64> = notes
            .iter()
            .filter_map(|n| match n {
                Some(Note::Reminder { repeats, since }) => {
                    assert_eq!(*since, start);
                    Some(*repeats)
                }
                _ => None,
            })
            .collect();
        assert_eq!(reminders, [2, 4, 8, 16]);
        assert_eq!(notes.iter().filter(|n| n.is_some()).count(), 5);
        assert_eq!(log.succeeded(), Some(Note::Recovered { failures: 20 }));
        assert_eq!(log.succeeded(), None, "a success after a success is quiet");
    }

    #[test]
    fn a_new_message_is_logged_at_once_and_the_run_still_counts() {
        let mut log = FailureLog::new();
        let now = Utc::now();
        assert_eq!(log.failed("a", now), Some(Note::Started));
        assert_eq!(log.failed("b", now), Some(Note::Changed));
        assert_eq!(log.failed("b", now).map(|_| ()), Some(()), "second b");
        assert_eq!(log.failed("b", now), None);
        assert_eq!(log.failures(), 4);
        assert_eq!(log.succeeded(), Some(Note::Recovered { failures: 4 }));
        assert_eq!(log.failed("b", now), Some(Note::Started));
    }
}
