//! The `outbox` network: one JSON line per delivery in
//! `<data>/outbox/<account>/<network>.jsonl`, never the same key twice.
//!
//! It needs no credentials, so it serves rehearsals (`--dry-run`), the demo, and offices that
//! feed another system from a file. Its key check makes it idempotent, so a delivery cut
//! short by a crash is simply sent again.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{NetError, Network, Published, Settlement};
use crate::model::records::DeliveryRecord;

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    key: String,
    post_id: String,
    account: String,
    network: String,
    text: String,
    images: Vec<LineImage>,
    at: String,
    /// A thread's later part: the key (the outbox's id) of the part it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    /// LINE's further messages of the same broadcast, when the outbox rehearses LINE.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    messages: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LineImage {
    path: String,
    alt: Option<String>,
    #[serde(rename = "type")]
    mime: String,
    bytes: u64,
}

#[derive(Debug, Deserialize)]
struct KeyOnly {
    key: String,
}

pub struct OutboxFile {
    path: PathBuf,
    /// Keys already in the file, read on first use.
    keys: Mutex<Option<HashSet<String>>>,
}

impl OutboxFile {
    pub fn new(path: PathBuf) -> OutboxFile {
        OutboxFile {
            path,
            keys: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    fn read_keys(path: &PathBuf) -> std::io::Result<HashSet<String>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(e),
        };
        // A line torn by a crash mid-write does not parse and counts as not written.
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<KeyOnly>(l).ok())
            .map(|k| k.key)
            .collect())
    }

    fn append(path: &PathBuf, line: &str) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        // After a torn write the file may not end with a newline; start a fresh line.
        let len = file.metadata()?.len();
        let mut out = String::with_capacity(line.len() + 2);
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        file.write_all(out.as_bytes())?;
        file.sync_data()
    }

    async fn with_keys<T>(
        &self,
        f: impl FnOnce(&mut HashSet<String>) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, NetError>
    where
        T: Send + 'static,
    {
        let mut guard = self.keys.lock().await;
        let keys = match guard.take() {
            Some(k) => k,
            None => {
                let path = self.path.clone();
                tokio::task::spawn_blocking(move || Self::read_keys(&path))
                    .await
                    .map_err(|e| NetError::transient(e.to_string()))?
                    .map_err(|e| io_error(&self.path, e))?
            }
        };
        let (keys, result) = tokio::task::spawn_blocking(move || {
            let mut keys = keys;
            let r = f(&mut keys);
            (keys, r)
        })
        .await
        .map_err(|e| NetError::transient(e.to_string()))?;
        *guard = Some(keys);
        result.map_err(|e| io_error(&self.path, e))
    }
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> NetError {
    NetError::transient(format!("outbox {}: {e}", path.display()))
}

#[async_trait]
impl Network for OutboxFile {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        let line = Line {
            key: d.key.clone(),
            post_id: d.post_id.clone(),
            account: d.account.clone(),
            network: d.network.clone(),
            text: d.text.clone(),
            images: d
                .images
                .iter()
                .map(|i| LineImage {
                    path: i.path.clone(),
                    alt: i.alt.clone(),
                    mime: i.mime.clone(),
                    bytes: i.size,
                })
                .collect(),
            at: Utc::now().to_rfc3339(),
            reply_to: d.reply_to.as_ref().map(|to| to.parent.id.clone()),
            messages: d.messages.clone(),
        };
        let json = serde_json::to_string(&line).map_err(|e| NetError::permanent(e.to_string()))?;
        let path = self.path.clone();
        let key = d.key.clone();
        self.with_keys(move |keys| {
            if !keys.contains(&key) {
                OutboxFile::append(&path, &json)?;
                keys.insert(key.clone());
            }
            Ok(())
        })
        .await?;
        Ok(Published {
            remote_id: Some(d.key.clone()),
            remote_url: None,
        })
    }

    async fn retract(&self, d: &DeliveryRecord) -> Result<(), NetError> {
        // A retraction is a line of its own with a key of its own, so the file stays
        // append-only and a repeated retract writes nothing.
        let key = format!("{}:retract", d.key);
        let line = serde_json::json!({
            "key": key,
            "retracts": d.key,
            "post_id": d.post_id,
            "account": d.account,
            "network": d.network,
            "at": Utc::now().to_rfc3339(),
        })
        .to_string();
        let path = self.path.clone();
        self.with_keys(move |keys| {
            if !keys.contains(&key) {
                OutboxFile::append(&path, &line)?;
                keys.insert(key);
            }
            Ok(())
        })
        .await
    }

    async fn settle(&self, d: &DeliveryRecord) -> Result<Settlement, NetError> {
        let key = d.key.clone();
        let written = self.with_keys(move |keys| Ok(keys.contains(&key))).await?;
        Ok(if written {
            Settlement::Published(Published {
                remote_id: Some(d.key.clone()),
                remote_url: None,
            })
        } else {
            // The key check makes a second attempt harmless.
            Settlement::SafeToRetry
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::records::State;

    fn delivery(key: &str) -> DeliveryRecord {
        DeliveryRecord {
            state: State::Publishing,
            key: key.into(),
            attempts: 1,
            ..DeliveryRecord::new("adachi", "portal", "posts/a", "本文\n二行目", Utc::now())
        }
    }

    #[tokio::test]
    async fn writes_each_key_once_across_instances_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adachi/portal.jsonl");
        let outbox = OutboxFile::new(path.clone());
        assert_eq!(
            outbox.settle(&delivery("k1")).await.unwrap(),
            Settlement::SafeToRetry
        );
        outbox.publish(&delivery("k1")).await.unwrap();
        outbox.publish(&delivery("k1")).await.unwrap();
        // A crash mid-write leaves a torn line; a new process must not trip over it.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"key\":\"k2\",\"te")
            .unwrap();
        let again = OutboxFile::new(path.clone());
        assert!(matches!(
            again.settle(&delivery("k1")).await.unwrap(),
            Settlement::Published(_)
        ));
        assert_eq!(
            again.settle(&delivery("k2")).await.unwrap(),
            Settlement::SafeToRetry
        );
        again.publish(&delivery("k2")).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["key"], "k1");
        assert_eq!(lines[0]["text"], "本文\n二行目");
        assert_eq!(lines[1]["key"], "k2");
        for field in [
            "key", "post_id", "account", "network", "text", "images", "at",
        ] {
            assert!(lines[0].get(field).is_some(), "missing {field}");
        }
    }
}
