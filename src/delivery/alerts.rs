//! Alerts: tell people when something needs them, without anyone watching the dashboard.
//!
//! Every committed event whose kind needs a person (an emergency post is going out, a
//! delivery failed, became `unknown`, was `missed` or `held`, a network refused its
//! credentials, a retract failed) is sent to
//! the webhook in `OSHIRASE_ALERT_WEBHOOK_URL` (Slack, Teams, Discord or any JSON endpoint)
//! and/or by e-mail through the SMTP server in `OSHIRASE_ALERT_SMTP_URL` to
//! `OSHIRASE_ALERT_EMAIL_TO`. A failed alert is logged and dropped: alerts never hold up
//! publishing.
//!
//! Alerts are read from the audit log itself, in order of sequence number, and the last one
//! dealt with is kept in the store (`alerts_sent_through`): a burst of thousands of events
//! cannot push one out, and what was not sent when the service stopped is sent after it
//! starts again. An alert sent just before a crash may be sent twice, never lost.

use std::sync::Arc;

use lettre::message::{Mailbox, Mailboxes};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::model::event::EventKind;
use crate::model::records::Event;
use crate::networks::http;
use crate::store::{blocking, meta, Store, StoreError};
use crate::support::secrets::Secrets;

/// The secret holding the alert webhook's URL.
pub const ALERT_WEBHOOK: &str = "OSHIRASE_ALERT_WEBHOOK_URL";
/// The SMTP server for e-mail alerts: `smtps://user:password@host:465`,
/// `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtp://host:25` (plain,
/// for a relay on the same network).
pub const ALERT_SMTP: &str = "OSHIRASE_ALERT_SMTP_URL";
/// Who receives e-mail alerts: addresses separated by commas.
pub const ALERT_EMAIL_TO: &str = "OSHIRASE_ALERT_EMAIL_TO";
/// The sender of e-mail alerts (default `oshirase <oshirase@localhost>`).
pub const ALERT_EMAIL_FROM: &str = "OSHIRASE_ALERT_EMAIL_FROM";

/// Where alerts go, validated once at start-up.
#[derive(Clone)]
pub struct AlertTargets {
    pub webhook: Option<String>,
    pub email: Option<EmailTarget>,
}

#[derive(Clone)]
pub struct EmailTarget {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Mailboxes,
}

/// A wrong alert setting, naming the variable (never its value: the SMTP URL may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum AlertConfigError {
    #[error("{ALERT_EMAIL_TO} is set but {ALERT_SMTP} is not: e-mail alerts need an SMTP server")]
    NoSmtp,
    #[error("{ALERT_SMTP} is set but {ALERT_EMAIL_TO} is not")]
    NoRecipients,
    #[error(
        "{ALERT_SMTP} is not an SMTP URL such as smtps://user:password@host:465 or smtp://host:25"
    )]
    BadSmtpUrl,
    #[error("{variable}: `{value}` is not {what}")]
    BadAddress {
        variable: &'static str,
        value: String,
        what: &'static str,
        source: lettre::address::AddressError,
    },
}

/// Why one alert e-mail did not go out: logged, and the alert is not tried again.
#[derive(Debug, thiserror::Error)]
enum EmailError {
    #[error("building the alert e-mail: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("sending the alert e-mail: {0}")]
    Send(#[from] lettre::transport::smtp::Error),
}

impl AlertTargets {
    /// The configured targets, `None` when no alert is configured, or an error naming the
    /// variable that is wrong (never its value: the SMTP URL may hold a password).
    pub fn from_secrets(secrets: &Secrets) -> Result<Option<AlertTargets>, AlertConfigError> {
        let webhook = secrets.get(ALERT_WEBHOOK);
        let email = match secrets.get(ALERT_SMTP) {
            None => None,
            Some(url) => Some(EmailTarget::new(&url, secrets)?),
        };
        if email.is_none() && secrets.get(ALERT_EMAIL_TO).is_some() {
            return Err(AlertConfigError::NoSmtp);
        }
        Ok((webhook.is_some() || email.is_some()).then_some(AlertTargets { webhook, email }))
    }
}

impl EmailTarget {
    fn new(url: &str, secrets: &Secrets) -> Result<EmailTarget, AlertConfigError> {
        // The URL's error is not kept: it could repeat the URL, password and all.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| AlertConfigError::BadSmtpUrl)?
            .build();
        let to_text = secrets
            .get(ALERT_EMAIL_TO)
            .ok_or(AlertConfigError::NoRecipients)?;
        let to: Mailboxes = to_text
            .parse()
            .map_err(|source| AlertConfigError::BadAddress {
                variable: ALERT_EMAIL_TO,
                value: to_text.clone(),
                what: "a list of addresses",
                source,
            })?;
        let from_text = secrets
            .get(ALERT_EMAIL_FROM)
            .unwrap_or_else(|| "oshirase <oshirase@localhost>".into());
        let from: Mailbox = from_text
            .parse()
            .map_err(|source| AlertConfigError::BadAddress {
                variable: ALERT_EMAIL_FROM,
                value: from_text.clone(),
                what: "an address",
                source,
            })?;
        Ok(EmailTarget {
            transport,
            from,
            to,
        })
    }

    async fn send(&self, subject: &str, body: &str) -> Result<(), EmailError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in self.to.iter() {
            builder = builder.to(to.clone());
        }
        let message = builder.body(body.to_string())?;
        self.transport.send(message).await?;
        Ok(())
    }

    /// Sends to the people an event names (an address that does not parse is skipped: it
    /// came from the repository's `approvers:` or a commit's author).
    async fn send_to(
        &self,
        people: &[String],
        subject: &str,
        body: &str,
    ) -> Result<(), EmailError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        let mut any = false;
        for person in people {
            match person.parse::<Mailbox>() {
                Ok(to) => {
                    builder = builder.to(to);
                    any = true;
                }
                Err(_) => tracing::warn!("alerts: {person:?} is not an e-mail address"),
            }
        }
        if !any {
            return Ok(());
        }
        let message = builder.body(body.to_string())?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// Event kinds that need a person. The office's channel (the webhook and
/// `OSHIRASE_ALERT_EMAIL_TO`) hears of all of them; the desk's kinds (a proposal waiting,
/// approved, sent back) and an emergency post let through (to every approver of its
/// account) also go by e-mail to the people the event names, and a post's
/// proposer is told by e-mail when it is published.
pub const ALERT_KINDS: [EventKind; 11] = [
    EventKind::Emergency,
    EventKind::Failed,
    EventKind::Unknown,
    EventKind::Missed,
    EventKind::Held,
    EventKind::Credentials,
    EventKind::RetractFailed,
    EventKind::RetractHeld,
    EventKind::ProposalWaiting,
    EventKind::ProposalApproved,
    EventKind::ProposalReturned,
];

/// The text of an alert, in Japanese and English (the office reads the first line).
pub fn message(e: &Event, title: &str) -> String {
    let ja = match e.kind {
        EventKind::Emergency => "緊急投稿を直ちに送信します",
        EventKind::Failed => "送信に失敗しました",
        EventKind::Unknown => "送信されたか不明です（要確認）",
        EventKind::Missed => "予定時刻を過ぎたため送信しませんでした",
        EventKind::Held => "承認待ちで保留中です",
        EventKind::Credentials => "認証情報が拒否されました",
        EventKind::RetractFailed => "削除に失敗しました",
        EventKind::RetractHeld => "削除が承認待ちです",
        EventKind::ProposalWaiting => "承認待ちの提案があります",
        EventKind::ProposalApproved => "提案が承認されました",
        EventKind::ProposalReturned => "提案が差し戻されました",
        EventKind::Published => "送信しました",
        _ => "要対応",
    };
    let network = e
        .network
        .as_deref()
        .map(|n| format!(" → {n}"))
        .unwrap_or_default();
    format!(
        "[oshirase] {ja}: 「{title}」{network}\n{} ({}){network}: {}",
        e.kind, e.post_id, e.detail
    )
}

/// Alerts read from the audit log at a time.
const PAGE: usize = 256;
/// How often the audit log is looked at when no commit announced new events.
const IDLE_LOOK: std::time::Duration = std::time::Duration::from_secs(30);

/// Where the alerts start, set before the first sync of a start. With alerts configured
/// for the first time, they start at the newest event (the history before is not
/// announced); without any configured, the mark is removed, so that configuring them later
/// does not announce everything since.
pub fn prepare(store: &Store, configured: bool) -> Result<(), StoreError> {
    let kept = store.meta(meta::ALERTS_SENT_THROUGH)?.unwrap_or_default();
    match (configured, kept.is_empty()) {
        (true, true) => {
            let last = store.last_event_seq()?.to_string();
            store.set_meta(&[(meta::ALERTS_SENT_THROUGH, &last)])
        }
        (false, false) => store.set_meta(&[(meta::ALERTS_SENT_THROUGH, "")]),
        _ => Ok(()),
    }
}

/// Sends an alert for each event that needs a person, after the last one dealt with, until
/// `shutdown`. `wake` only says that events were committed (missing some of its messages
/// while busy loses nothing: the events are read from the store).
pub async fn run(
    store: Arc<Store>,
    mut wake: broadcast::Receiver<Event>,
    targets: AlertTargets,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if send_pending(&store, &targets, &mut shutdown).await.is_err() {
            return; // Shutting down.
        }
        tokio::select! {
            woken = wake.recv() => {
                if matches!(woken, Err(RecvError::Closed)) {
                    return;
                }
            }
            () = tokio::time::sleep(IDLE_LOOK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends every alert not sent yet, oldest first; `Err` when shutdown interrupted it (the
/// alert being sent then is sent again after the next start).
async fn send_pending(
    store: &Arc<Store>,
    targets: &AlertTargets,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ()> {
    loop {
        let page = match blocking(store, |s| {
            let after = s
                .meta(meta::ALERTS_SENT_THROUGH)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            s.events_after(after, PAGE)
        })
        .await
        {
            Ok(page) if page.is_empty() => return Ok(()),
            Ok(page) => page,
            Err(e) => {
                tracing::warn!("alerts: cannot read the audit log: {e}");
                return Ok(());
            }
        };
        let mut last = 0;
        for e in page {
            if ALERT_KINDS.contains(&e.kind) || e.kind == EventKind::Published {
                if last != 0 {
                    mark_sent(store, last).await;
                }
                tokio::select! {
                    () = send(store, targets, &e) => {}
                    _ = shutdown.changed() => return Err(()),
                }
            }
            last = e.seq;
        }
        mark_sent(store, last).await;
    }
}

async fn mark_sent(store: &Arc<Store>, seq: u64) {
    let seq = seq.to_string();
    if let Err(e) = blocking(store, move |s| {
        s.set_meta(&[(meta::ALERTS_SENT_THROUGH, &seq)])
    })
    .await
    {
        tracing::warn!("alerts: cannot record what was sent: {e}");
    }
}

/// Sends one event's alert to every target; a failure is logged. A publication is told to
/// the post's proposer only: the office's channel would drown in them.
async fn send(store: &Arc<Store>, targets: &AlertTargets, e: &Event) {
    let post = {
        let (store, id) = (store.clone(), e.post_id.clone());
        tokio::task::spawn_blocking(move || store.post(&id).ok().flatten())
            .await
            .ok()
            .flatten()
    };
    let title = post
        .as_ref()
        .map_or_else(|| e.post_id.clone(), |v| v.post.title.clone());
    let text = message(e, &title);
    let mut people = e.notify.clone();
    if e.kind == EventKind::Published {
        if let Some(proposer) = post.as_ref().and_then(|v| v.post.proposer.as_ref()) {
            people.push(proposer.email.clone());
        }
    }
    let office = ALERT_KINDS.contains(&e.kind);
    if let (Some(url), true) = (&targets.webhook, office) {
        let body = json!({
            "text": text,
            "content": text,
            "oshirase": { "kind": e.kind, "post_id": e.post_id, "network": e.network, "detail": e.detail, "at": e.at, "to": people },
        });
        match http::client().post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!("alert webhook answered HTTP {}", r.status()),
            Err(err) => tracing::warn!("alert webhook: {}", err.without_url()),
        }
    }
    if let Some(email) = &targets.email {
        // The subject is the message's first line; the body has the detail.
        let subject = text.lines().next().unwrap_or("[oshirase]");
        let body = format!("{text}\n\n{} {}\n", e.at.to_rfc3339(), e.kind);
        if office {
            if let Err(err) = email.send(subject, &body).await {
                tracing::warn!("{err}");
            }
        }
        if !people.is_empty() {
            if let Err(err) = email.send_to(&people, subject, &body).await {
                tracing::warn!("{err}");
            }
        }
    }
}
