//! What an audit event says happened: one name per kind, as the API, the audit log, the
//! alerts and the dashboard have always spelt it (`retract-failed`, `edited-after-publish`).

use serde::{Deserialize, Serialize};

/// The kind of one audit event. Serialised with the names the audit log already holds, so
/// records written before the kinds were typed read back as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    // A post's file on the branch.
    /// A new post file landed on the branch.
    Landed,
    /// A post file came back after it had been removed.
    Restored,
    /// A post file changed.
    Edited,
    /// A post file left the branch.
    Removed,
    /// The post (or one network's text) cannot be published as written.
    Invalid,
    /// A published post's file changed; the networks keep what they got.
    EditedAfterPublish,

    // A delivery, from planning to its outcome.
    /// A delivery is planned for its publish time.
    Scheduled,
    /// A planned delivery's time or text changed.
    Rescheduled,
    /// A delivery waits for an approval.
    Held,
    /// An `emergency: true` post was let through to go at once, ahead of the queue.
    Emergency,
    /// A delivery will not go out (its post or network left the plan).
    Cancelled,
    /// The post's time passed by more than `max_lateness` before it could go out.
    Missed,
    /// The intent is committed: an attempt is about to reach the network.
    Publishing,
    /// One part of a thread is out; the next part follows as its reply.
    PartPublished,
    /// The network has the post.
    Published,
    /// An attempt failed for a passing reason and will be tried again.
    Retrying,
    /// The network refused the credentials; the network is paused until they are fixed.
    Credentials,
    /// The network is not configured (any more); the delivery waits for it.
    Waiting,
    /// The delivery failed for good.
    Failed,
    /// After a crash nobody could tell whether the network has the post.
    Unknown,
    /// An operator settled a delivery by hand (`oshirase resolve`).
    Resolved,

    // Taking a published post down again (`retract: true`).
    /// An approved `retract: true` asks for the published post to be deleted.
    RetractRequested,
    /// The retract waits for an approval.
    RetractHeld,
    /// A delete request is about to reach the network.
    Retracting,
    /// A delete failed for a passing reason and will be tried again.
    RetractRetrying,
    /// The network deleted the post.
    Retracted,
    /// The delete failed for good: a person must delete the post on the network.
    RetractFailed,

    // A person's decision on the desk (`post_id` names the post a proposal holds).
    /// A proposal was made on the desk and waits for an approver.
    ProposalWaiting,
    /// An approver merged a proposal on the desk.
    ProposalApproved,
    /// An approver sent a proposal back to its proposer, with a reason.
    ProposalReturned,
    /// The proposer withdrew their proposal.
    ProposalWithdrawn,
    /// A dashboard account was added or changed (`post_id` is empty: no post).
    PersonChanged,

    /// A kind this version does not know (written by a later one): read, never written.
    #[serde(other)]
    Other,
}

impl EventKind {
    /// The name the audit log and the API use.
    pub fn as_str(self) -> &'static str {
        use EventKind::*;
        match self {
            Landed => "landed",
            Restored => "restored",
            Edited => "edited",
            Removed => "removed",
            Invalid => "invalid",
            EditedAfterPublish => "edited-after-publish",
            Scheduled => "scheduled",
            Rescheduled => "rescheduled",
            Held => "held",
            Emergency => "emergency",
            Cancelled => "cancelled",
            Missed => "missed",
            Publishing => "publishing",
            PartPublished => "part-published",
            Published => "published",
            Retrying => "retrying",
            Credentials => "credentials",
            Waiting => "waiting",
            Failed => "failed",
            Unknown => "unknown",
            Resolved => "resolved",
            RetractRequested => "retract-requested",
            RetractHeld => "retract-held",
            Retracting => "retracting",
            RetractRetrying => "retract-retrying",
            Retracted => "retracted",
            RetractFailed => "retract-failed",
            ProposalWaiting => "proposal-waiting",
            ProposalApproved => "proposal-approved",
            ProposalReturned => "proposal-returned",
            ProposalWithdrawn => "proposal-withdrawn",
            PersonChanged => "person-changed",
            Other => "other",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scripts and tests compare kinds with the names they read in the API.
impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn kinds_serialise_with_the_names_the_audit_log_holds() {
        for kind in [
            EventKind::EditedAfterPublish,
            EventKind::RetractFailed,
            EventKind::Landed,
            EventKind::Unknown,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
        }
        // A later version's kind does not make the audit log unreadable.
        let later: EventKind = serde_json::from_str("\"archived\"").unwrap();
        assert_eq!(later, EventKind::Other);
    }
}
