//! A parsed post checked against `oshirase.yaml` and the repository's files: which account,
//! when, and the exact text and images each network receives.
//!
//! Problems with the post as a whole (an unknown account or network, an unusable time, a
//! missing image, a word the account's `policy:` forbids) are errors; a text or image that
//! one network cannot take only marks that network's delivery, so the others still go out.

use chrono::{DateTime, Utc};

use crate::content::brief::{self, quote};
use crate::content::config::{Account, AccountError, NetworkConfig, NetworkKind, RepoConfig};
use crate::content::count::{self, ImageType};
use crate::content::post::{Image, ImageRef, Post, PublishAt};
use crate::content::problem::Problem;
use crate::content::render;
use crate::content::source::{self, ContentSource, NotContent};

/// A post checked against the repository configuration: the account it belongs to, when
/// it is due, and the exact text and images each network receives.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPost {
    pub post: Post,
    pub account: String,
    pub publish_at: Option<DateTime<Utc>>,
    /// `publish_at: next-slot` or `slot:`: the post waits for a slot (`Some(None)`: any of
    /// the account's, `Some(Some(name))`: that one); `publish_at` is then `None`.
    pub slot: Option<Option<String>>,
    pub images: Vec<Image>,
    pub deliveries: Vec<PlannedDelivery>,
    /// Things worth a look that do not stop the post (an image without alt text).
    pub warnings: Vec<Problem>,
}

/// One network's share of a post.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDelivery {
    pub network: String,
    pub kind: NetworkKind,
    pub text: String,
    /// The line the text is written on: its `text.<network>` line, or the body's first.
    pub line: usize,
    /// The text's length as the network counts it, and the network's limit.
    pub length: usize,
    pub limit: usize,
    /// Why this network cannot take the post; nothing is sent when set.
    pub problem: Option<Problem>,
}

impl Post {
    /// Checks the post against `oshirase.yaml` and its images against `files`.
    pub fn resolve(
        self,
        config: &RepoConfig,
        files: &dyn ContentSource,
    ) -> Result<ResolvedPost, Vec<Problem>> {
        let mut problems = Vec::new();
        let account = self.account_in(config).map_err(|p| problems.push(p)).ok();
        let publish_at = match self.publish_at.resolve(config.timezone) {
            Ok(t) => t,
            Err((en, ja)) => {
                problems.push(self.problem("publish_at", "publish-at", en, ja));
                None
            }
        };
        problems.extend(self.stray_texts());
        let mut images = Vec::new();
        let mut warnings = Vec::new();
        for image in &self.images {
            match self.check_image(image, files) {
                Ok((found, warning)) => {
                    images.push(found);
                    warnings.extend(warning);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let slot = match &self.publish_at {
            PublishAt::Slot(name) => Some(name.clone()),
            _ => None,
        };
        if let (Some(account), Some(name)) = (account, &slot) {
            problems.extend(self.slot_problem(account, name.as_deref()));
        }
        let mut deliveries = Vec::new();
        if let Some(account) = account {
            for name in &self.networks {
                match account.networks.get(name) {
                    Some(net) => deliveries.push(self.plan_network(net, &images)),
                    None => problems.push(self.unknown_network(account, name)),
                }
            }
            if let Some(policy) = &account.policy {
                let findings = policy.review(&self);
                problems.extend(findings.errors);
                warnings.extend(findings.warnings);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ResolvedPost {
            account: account.map(|a| a.name.clone()).unwrap_or_default(),
            post: self,
            publish_at,
            slot,
            images,
            deliveries,
            warnings,
        })
    }

    /// The account the post names, or the only one.
    fn account_in<'c>(&self, config: &'c RepoConfig) -> Result<&'c Account, Problem> {
        config.account(self.account.as_deref()).map_err(|e| {
            let names = join_names(config.accounts.keys());
            let ja = match &e {
                AccountError::Unknown { name, .. } => format!(
                    "アカウント {} は oshirase.yaml にありません（あるのは {names}）",
                    quote(name)
                ),
                AccountError::NotNamed { .. } => format!(
                    "アカウントが複数あります。`account:` で {names} のどれかを指定してください"
                ),
            };
            self.problem("account", "unknown-account", e.to_string(), ja)
        })
    }

    /// A slot asked of an account that has none, or by a name it does not have.
    fn slot_problem(&self, account: &Account, name: Option<&str>) -> Option<Problem> {
        let key = if self.line_of("slot") > 1 || name.is_some() {
            "slot"
        } else {
            "publish_at"
        };
        if account.slots.is_empty() {
            return Some(self.problem(
                key,
                "unknown-slot",
                format!(
                    "account {} has no `slots:` in oshirase.yaml, so there is no slot to take; \
                     give `publish_at` a time",
                    quote(&account.name)
                ),
                format!(
                    "アカウント {} には oshirase.yaml の `slots:` がないため、枠を選べません。\
                     `publish_at` に日時を書いてください",
                    quote(&account.name)
                ),
            ));
        }
        let name = name?;
        if account.slots.iter().any(|s| s.name == name) {
            return None;
        }
        let names = join_names(account.slots.iter().map(|s| &s.name));
        Some(self.problem(
            "slot",
            "unknown-slot",
            format!(
                "{} is not a slot of account {} (its slots: {names})",
                quote(name),
                quote(&account.name)
            ),
            format!(
                "{} はアカウント {} の枠ではありません（枠は {names}）",
                quote(name),
                quote(&account.name)
            ),
        ))
    }

    fn unknown_network(&self, account: &Account, name: &str) -> Problem {
        let names = join_names(account.networks.keys());
        self.problem(
            "networks",
            "unknown-network",
            format!(
                "account `{}` has no network {}; oshirase.yaml defines: {names}",
                account.name,
                quote(name)
            ),
            format!(
                "アカウント `{}` に投稿先 {} はありません。使えるのは {names} です",
                account.name,
                quote(name)
            ),
        )
    }

    /// A `text:` entry for a network the post does not go to is a mistake, not a spare.
    fn stray_texts(&self) -> Vec<Problem> {
        let stray = self.text.keys().filter(|key| !self.networks.contains(key));
        stray
            .map(|key| {
                self.problem(
                    "text",
                    "text-network",
                    format!(
                        "`text` has an entry for {} but it is not in this post's networks",
                        quote(key)
                    ),
                    format!(
                        "`text` に {} がありますが、networks にありません",
                        quote(key)
                    ),
                )
            })
            .collect()
    }

    /// Looks an image up: a missing, unsafe or unknown file is an error of the whole post;
    /// a missing `alt` a warning.
    fn check_image(
        &self,
        image: &ImageRef,
        files: &dyn ContentSource,
    ) -> Result<(Image, Option<Problem>), Problem> {
        // The path as the post wrote it, shown briefly in every problem below.
        let p = &quote(&image.path);
        let problem = |code: &str, en: String, ja: String| self.problem("images", code, en, ja);
        let path = source::resolve_relative(&self.path, &image.path).map_err(|why| {
            problem(
                "image-path",
                format!("image {why}"),
                format!("画像 {p} のパスが使えません。投稿ファイルからの相対パスで、リポジトリの中を指してください"),
            )
        })?;
        let info = files.stat(&path).map_err(|e| match e {
            NotContent::Missing => problem(
                "image-missing",
                format!(
                    "image {p} does not exist (looked for {}); add it to the pull request",
                    quote(&path)
                ),
                format!(
                    "画像 {p} が見つかりません（{}）。プルリクエストに画像を追加してください",
                    quote(&path)
                ),
            ),
            NotContent::NotARegularFile => problem(
                "image-path",
                format!("image {p} is not a regular file (a folder, symlink or submodule)"),
                format!(
                    "画像 {p} は通常のファイルではありません（フォルダ・シンボリックリンクなど）"
                ),
            ),
            NotContent::Unreadable(e) => problem(
                "image-unreadable",
                format!("image {p} cannot be read: {e}"),
                format!("画像 {p} を読めません: {e}"),
            ),
        })?;
        if info.head.is_empty() && info.size > 0 {
            return Err(problem(
                "image-size",
                format!(
                    "image {p} is {} bytes, far larger than any network takes",
                    info.size
                ),
                format!(
                    "画像 {p} は {} バイトあり、どのネットワークにも大きすぎます",
                    info.size
                ),
            ));
        }
        let kind = ImageType::sniff(&info.head).ok_or_else(|| {
            problem(
                "image-type",
                format!("image {p} is not a PNG, JPEG, GIF or WebP file (judged by its content)"),
                format!("画像 {p} は PNG・JPEG・GIF・WebP のどれでもありません（中身で判定）"),
            )
        })?;
        let alt = image.alt.clone().filter(|a| !a.trim().is_empty());
        let warning = alt.is_none().then(|| {
            problem(
                "image-alt",
                format!("image {p} has no `alt` text; describe it for people who cannot see it"),
                format!("画像 {p} に `alt`（代替テキスト）がありません。目の見えない方のために内容を書いてください"),
            )
        });
        let found = Image {
            path,
            alt,
            mime: kind.mime().to_string(),
            size: info.size,
            blob: info.blob,
        };
        Ok((found, warning))
    }

    fn plan_network(&self, net: &NetworkConfig, images: &[Image]) -> PlannedDelivery {
        let (text, from_override) = match self.text.get(&net.name) {
            Some(t) => (t.trim_end().to_string(), true),
            None => (render::plain_text(&self.body), false),
        };
        let limit = count::limit(net);
        let length = count::length(net.counted_kind(), &text);
        let name = &net.name;
        let problem = if text.trim().is_empty() {
            Some(self.problem(
                "text",
                "empty-text",
                format!("the text for `{name}` is empty"),
                format!("`{name}` に送る本文が空です"),
            ))
        } else if length > limit {
            Some(self.too_long(name, length, limit, from_override))
        } else {
            self.image_problem(net, images)
        };
        PlannedDelivery {
            network: net.name.clone(),
            kind: net.kind(),
            line: match from_override {
                true => self.text_line(name),
                false => self.body_line,
            },
            text,
            length,
            limit,
            problem,
        }
    }

    /// A text over the network's limit: the `text.<network>` line when the post gave one,
    /// else the body's first line, with the fix that applies.
    fn too_long(&self, name: &str, length: usize, limit: usize, from_override: bool) -> Problem {
        if from_override {
            let mut p = self.problem(
                "text",
                "too-long",
                format!("`text.{name}` is {length} long; `{name}` allows {limit}: shorten it"),
                format!("`text.{name}` は {length} で、`{name}` の上限 {limit} を超えています。短くしてください"),
            );
            p.line = self.text_line(name);
            return p;
        }
        let mut p = self.problem(
            "networks",
            "too-long",
            format!("the body is {length} long for `{name}`, which allows {limit}: add a shorter `text.{name}`"),
            format!("本文は `{name}` では {length} で、上限 {limit} を超えています。短い `text.{name}` を追加してください"),
        );
        p.line = self.body_line;
        p
    }

    /// Whether the network takes these images (count, size, type).
    fn image_problem(&self, net: &NetworkConfig, images: &[Image]) -> Option<Problem> {
        let limits = count::image_limits(net.counted_kind());
        let name = &net.name;
        if images.len() > limits.max_count {
            return Some(self.problem(
                "images",
                "image-count",
                format!(
                    "`{name}` takes at most {} images; this post has {}",
                    limits.max_count,
                    images.len()
                ),
                format!(
                    "`{name}` に添付できる画像は {} 枚までです（この投稿は {} 枚）",
                    limits.max_count,
                    images.len()
                ),
            ));
        }
        for image in images {
            let accepted = limits.types.iter().any(|t| t.mime() == image.mime);
            if !accepted {
                return Some(self.problem(
                    "images",
                    "image-type",
                    format!(
                        "`{name}` does not take {} images ({})",
                        image.mime, image.path
                    ),
                    format!(
                        "`{name}` は {} の画像を受け付けません（{}）",
                        image.mime, image.path
                    ),
                ));
            }
            if image.size > limits.max_bytes as u64 {
                return Some(self.problem(
                    "images",
                    "image-size",
                    format!(
                        "{} is {} bytes; `{name}` takes images up to {} bytes",
                        image.path, image.size, limits.max_bytes
                    ),
                    format!(
                        "{} は {} バイトあり、`{name}` の上限 {} バイトを超えています",
                        image.path, image.size, limits.max_bytes
                    ),
                ));
            }
        }
        None
    }
}

/// Names of a configuration map for a message, cut short: the file is untrusted input.
fn join_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    brief::cap_message(&names.cloned().collect::<Vec<_>>().join(", "))
}
