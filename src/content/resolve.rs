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
use crate::content::thread::{self, Style};

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
    /// How the network takes a thread (`content::thread`).
    pub style: Style,
    /// A thread's parts in order, the first being `text`, each counted on its own. Empty
    /// for a post of one part, and for a network that takes a thread as one text.
    pub parts: Vec<PlannedPart>,
}

/// One part of a thread as its network receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPart {
    pub text: String,
    /// The file line the part is written on.
    pub line: usize,
    pub length: usize,
}

/// Where a network's text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The body, cut into parts at its `+++` lines.
    Body,
    /// `text.<network>`: one text.
    Text,
    /// `thread.<network>`: parts given one by one.
    Thread,
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
        let stray = |key: &'static str, names: Vec<&String>| -> Vec<Problem> {
            names
                .into_iter()
                .filter(|name| !self.networks.contains(name))
                .map(move |name| {
                    let mut p = self.problem(
                        key,
                        "text-network",
                        format!(
                            "`{key}` has an entry for {} but it is not in this post's networks",
                            quote(name)
                        ),
                        format!(
                            "`{key}` に {} がありますが、networks にありません",
                            quote(name)
                        ),
                    );
                    p.line = match key {
                        "thread" => self.thread_line(name),
                        _ => self.text_line(name),
                    };
                    p
                })
                .collect()
        };
        let both = self
            .thread
            .keys()
            .filter(|name| self.text.contains_key(*name));
        let both = both.map(|name| {
            self.problem(
                "thread",
                "text-network",
                format!("{} has both `text` and `thread`: keep one", quote(name)),
                format!(
                    "{} に `text` と `thread` の両方があります。どちらか一つにしてください",
                    quote(name)
                ),
            )
        });
        let mut out = stray("text", self.text.keys().collect());
        out.extend(stray("thread", self.thread.keys().collect()));
        out.extend(both);
        out
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
        let (source, written) = self.written_parts(&net.name);
        let style = thread::style(net.counted_kind());
        let limit = count::limit(net);
        let counted = |(text, line): (String, usize)| PlannedPart {
            length: count::length(net.counted_kind(), &text),
            text,
            line,
        };
        let mut parts: Vec<PlannedPart> = match style {
            Style::Joined if written.len() > 1 => {
                let texts: Vec<String> = written.iter().map(|(t, _)| t.clone()).collect();
                vec![counted((thread::joined(&texts), written[0].1))]
            }
            _ => written.into_iter().map(counted).collect(),
        };
        let problem = self
            .parts_problem(&net.name, source, &parts, limit)
            .or_else(|| match net.counted_kind() {
                NetworkKind::X => self.repeated_part(&net.name, &parts),
                _ => None,
            })
            .or_else(|| match style {
                Style::Messages(max) => self.messages_problem(&net.name, parts.len(), images, max),
                _ => None,
            })
            .or_else(|| self.image_problem(net, images));
        let first = parts.first().cloned().unwrap_or(PlannedPart {
            text: String::new(),
            line: self.body_line,
            length: 0,
        });
        if parts.len() == 1 {
            parts.clear();
        }
        PlannedDelivery {
            network: net.name.clone(),
            kind: net.kind(),
            text: first.text,
            line: first.line,
            length: first.length,
            limit,
            problem,
            style,
            parts,
        }
    }

    /// The network's parts as written, each with its file line: `text.<network>` (one),
    /// `thread.<network>`, or the body cut at its `+++` lines.
    fn written_parts(&self, network: &str) -> (Source, Vec<(String, usize)>) {
        if let Some(text) = self.text.get(network) {
            let line = self.text_line(network);
            return (Source::Text, vec![(text.trim_end().to_string(), line)]);
        }
        if let Some(parts) = self.thread.get(network) {
            let line = self.thread_line(network);
            let parts = parts.iter().map(|t| (t.trim_end().to_string(), line));
            return (Source::Thread, parts.collect());
        }
        let parts = thread::split_body(&self.body, self.body_line)
            .into_iter()
            .map(|p| (render::plain_text(&p.markdown), p.line));
        (Source::Body, parts.collect())
    }

    /// The first part that is empty or over the network's limit, as a problem at its line.
    fn parts_problem(
        &self,
        name: &str,
        source: Source,
        parts: &[PlannedPart],
        limit: usize,
    ) -> Option<Problem> {
        if parts.is_empty() {
            let mut p = self.problem(
                "thread",
                "empty-text",
                format!("`thread.{name}` has no parts"),
                format!("`thread.{name}` に投稿がありません"),
            );
            p.line = self.thread_line(name);
            return Some(p);
        }
        let total = parts.len();
        let (k, part) = parts
            .iter()
            .enumerate()
            .find(|(_, p)| p.text.trim().is_empty() || p.length > limit)?;
        let mut problem = if part.text.trim().is_empty() {
            match total {
                1 => self.problem(
                    "text",
                    "empty-text",
                    format!("the text for `{name}` is empty"),
                    format!("`{name}` に送る本文が空です"),
                ),
                _ => self.problem(
                    "text",
                    "empty-text",
                    format!(
                        "part {} of {total} of the thread for `{name}` is empty: remove the \
                         extra `+++` line or write the part",
                        k + 1
                    ),
                    format!(
                        "`{name}` のスレッド（{total}件）の{}件目が空です。余分な `+++` の行を消すか、本文を書いてください",
                        k + 1
                    ),
                ),
            }
        } else if total == 1 {
            self.too_long(name, part.length, limit, source == Source::Text)
        } else {
            self.part_too_long(name, source, k + 1, total, part.length, limit)
        };
        problem.line = part.line;
        Some(problem)
    }

    /// X refuses a post whose text repeats a recent one, so a thread's parts must differ
    /// there (and a part found by its text after a crash is then the right one).
    fn repeated_part(&self, name: &str, parts: &[PlannedPart]) -> Option<Problem> {
        let (k, part) = parts
            .iter()
            .enumerate()
            .find(|(k, p)| parts[..*k].iter().any(|q| q.text == p.text))?;
        let mut problem = self.problem(
            "text",
            "repeated-part",
            format!(
                "part {} of the thread for `{name}` repeats an earlier part word for word, which X refuses: make it differ",
                k + 1
            ),
            format!(
                "`{name}` のスレッドの{}件目は前の投稿とまったく同じ文で、X では投稿できません。文を変えてください",
                k + 1
            ),
        );
        problem.line = part.line;
        Some(problem)
    }

    /// One part of a thread over the network's limit.
    fn part_too_long(
        &self,
        name: &str,
        source: Source,
        k: usize,
        total: usize,
        length: usize,
        limit: usize,
    ) -> Problem {
        let (key, en_what, ja_what) = match source {
            Source::Thread => (
                "thread",
                format!("part {k} of {total} of `thread.{name}`"),
                format!("`thread.{name}`（{total}件）の{k}件目"),
            ),
            _ => (
                "networks",
                format!("part {k} of {total} of the thread"),
                format!("スレッド（{total}件）の{k}件目"),
            ),
        };
        self.problem(
            key,
            "too-long",
            format!("{en_what} is {length} long for `{name}`, which allows {limit}: shorten it or cut it in two with a `+++` line"),
            format!("{ja_what}は `{name}` では {length} で、上限 {limit} を超えています。短くするか、`+++` の行で二つに分けてください"),
        )
    }

    /// A LINE broadcast holds at most `max` messages: the thread's parts and the images.
    fn messages_problem(
        &self,
        name: &str,
        parts: usize,
        images: &[Image],
        max: usize,
    ) -> Option<Problem> {
        let total = parts + images.len();
        (total > max).then(|| {
            self.problem(
                "networks",
                "too-many-messages",
                format!(
                    "`{name}` sends a thread as one broadcast of at most {max} messages; this \
                     post has {parts} parts and {} images: cut the thread or give `thread.{name}` fewer parts",
                    images.len()
                ),
                format!(
                    "`{name}` はスレッドを最大 {max} 件のメッセージの一斉配信で送ります。この投稿は {parts} 件と画像 {} 枚です。スレッドを短くするか、件数の少ない `thread.{name}` を追加してください",
                    images.len()
                ),
            )
        })
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
            format!("the body is {length} long for `{name}`, which allows {limit}: add a shorter `text.{name}`, or cut the body into a thread with `+++` lines"),
            format!("本文は `{name}` では {length} で、上限 {limit} を超えています。短い `text.{name}` を追加するか、`+++` の行で本文をスレッドに分けてください"),
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
