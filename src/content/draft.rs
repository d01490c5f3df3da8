//! A post as the desk's form holds it (the front-matter's keys plus `body` and `images`),
//! and the file a person would write for it by hand: `posts/<date>-<slug>.md` with its
//! images under `posts/images/`. Pure: the desk previews this file with the same check a
//! pull request gets, and proposes exactly this file.
//!
//! Everything here comes from a form and is untrusted. Nothing a draft says can name a
//! path: the file name is made from the title or `id` with only `a-z`, `0-9` and `-`, and
//! an image name must be a plain file name with an image extension.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::content::post::{Post, PublishAt};
use sha2::{Digest, Sha256};

/// Where the desk writes posts, from the content directory.
pub const POSTS_DIR: &str = "posts";
/// Where it writes their images, from the content directory.
pub const IMAGES_DIR: &str = "posts/images";
/// Largest image a draft may carry, decoded (every network's limit is lower or equal).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// At most this many images (no network takes more than four).
const MAX_IMAGES: usize = 4;
/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in bytes (a post file is at most 1 MiB).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest slug in a file name.
const MAX_SLUG: usize = 60;
const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "gif", "webp"];

/// The desk's JSON draft.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub title: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub department: Option<String>,
    /// A time as the front-matter takes it; absent: as soon as approved.
    #[serde(default)]
    pub publish_at: Option<String>,
    /// Per-network texts, by network name.
    #[serde(default)]
    pub text: BTreeMap<String, String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub images: Vec<DraftImage>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DraftImage {
    pub name: String,
    #[serde(default)]
    pub alt: String,
    /// The file's bytes in base64.
    pub data: String,
}

/// The files a draft becomes, paths from the content directory.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftFile {
    pub path: String,
    pub text: String,
    pub images: Vec<(String, Vec<u8>)>,
}

/// A field of the draft that cannot become a file; named as the JSON names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct DraftError {
    pub field: String,
    pub why: String,
}

fn bad(field: impl Into<String>, why: impl Into<String>) -> DraftError {
    DraftError {
        field: field.into(),
        why: why.into(),
    }
}

impl Draft {
    /// The post file and its images, as a person would write them on `today`.
    pub fn to_file(&self, today: NaiveDate) -> Result<DraftFile, DraftError> {
        self.check_fields()?;
        let slug = self.slug()?;
        self.to_file_at(format!(
            "{POSTS_DIR}/{}-{slug}.md",
            today.format("%Y-%m-%d")
        ))
    }

    /// The file at a path already chosen: a proposal reopened keeps its file (and so its
    /// post id) whatever its title becomes.
    pub fn to_file_at(&self, path: String) -> Result<DraftFile, DraftError> {
        self.check_fields()?;
        let mut images = Vec::new();
        let mut refs = Vec::new();
        for (i, image) in self.images.iter().enumerate() {
            let (name, bytes) = image.decoded(i)?;
            // Case-blind, as the file systems of many of the office's machines are.
            if images
                .iter()
                .any(|(n, _): &(String, Vec<u8>)| n.eq_ignore_ascii_case(&name))
            {
                return Err(bad(format!("images[{i}].name"), "used twice"));
            }
            if image.alt.trim().is_empty() {
                return Err(bad(
                    format!("images[{i}].alt"),
                    "describe the image for people who cannot see it",
                ));
            }
            refs.push((relative_ref(&path, &name), image.alt.trim().to_string()));
            images.push((name, bytes));
        }
        let text = format!(
            "---\n{}---\n{}",
            self.front_matter(&refs),
            body_text(&self.body)
        );
        Ok(DraftFile { path, text, images })
    }

    /// The draft a post file opens as in the desk, with its images (`name`, `alt`, bytes)
    /// already read. A file that retracts a post, or an emergency post (which the desk's
    /// form cannot mark, so an edit there would drop the mark), is edited in the
    /// repository, not here.
    pub fn from_post(
        post: &Post,
        images: Vec<(String, String, Vec<u8>)>,
    ) -> Result<Draft, DraftError> {
        if post.retract {
            return Err(bad(
                "retract",
                "this file retracts a post; change it in the repository",
            ));
        }
        if !post.card {
            return Err(bad(
                "card",
                "this post turns its link card off; change it in the repository",
            ));
        }
        if post.emergency {
            return Err(bad(
                "emergency",
                "this is an emergency post; change it in the repository",
            ));
        }
        // The desk's form has a body (whose `+++` lines it keeps), not per-network threads.
        if !post.thread.is_empty() {
            return Err(bad(
                "thread",
                "this post gives a network its own thread; change it in the repository",
            ));
        }
        let publish_at = match &post.publish_at {
            PublishAt::Asap => None,
            PublishAt::Exact(t) => Some(t.to_rfc3339()),
            // As the desk's form writes it, seconds only when there are some.
            PublishAt::Local(t) if t.and_utc().timestamp() % 60 == 0 => {
                Some(t.format("%Y-%m-%d %H:%M").to_string())
            }
            PublishAt::Local(t) => Some(t.format("%Y-%m-%d %H:%M:%S").to_string()),
            PublishAt::Slot(None) => Some(crate::content::post::NEXT_SLOT.to_string()),
            // The desk's form has no `slot:`; an edit there would lose it.
            PublishAt::Slot(Some(_)) => {
                return Err(bad(
                    "slot",
                    "this post takes a named slot; change it in the repository",
                ))
            }
        };
        let default_id = crate::content::post::default_id(&post.path);
        Ok(Draft {
            title: post.title.clone(),
            account: post.account.clone(),
            networks: post.networks.clone(),
            department: post.department.clone(),
            publish_at,
            text: post.text.clone(),
            id: (post.id != default_id).then(|| post.id.clone()),
            body: post.body.clone(),
            images: images
                .into_iter()
                .map(|(name, alt, bytes)| DraftImage {
                    name,
                    alt,
                    data: base64::engine::general_purpose::STANDARD.encode(bytes),
                })
                .collect(),
        })
    }

    fn check_fields(&self) -> Result<(), DraftError> {
        let title = self.title.trim();
        if title.is_empty() {
            return Err(bad("title", "empty"));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(bad(
                "title",
                format!("longer than {MAX_TITLE_CHARS} characters"),
            ));
        }
        for (field, value) in [
            ("title", Some(title)),
            ("account", self.account.as_deref()),
            ("department", self.department.as_deref()),
            ("publish_at", self.publish_at.as_deref()),
            ("id", self.id.as_deref()),
        ] {
            if value.is_some_and(|v| v.chars().any(char::is_control)) {
                return Err(bad(field, "holds a line break or a control character"));
            }
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(bad(
                "body",
                format!("longer than {} KB", MAX_BODY_BYTES / 1024),
            ));
        }
        if self.body.contains('\0') || self.text.values().any(|t| t.contains('\0')) {
            return Err(bad("body", "holds a NUL character"));
        }
        if self.images.len() > MAX_IMAGES {
            return Err(bad("images", format!("at most {MAX_IMAGES}")));
        }
        Ok(())
    }

    /// The file name's part after the date: from `id` when given (its last segment), else
    /// from the title's Latin letters and digits, else a short digest of the title.
    fn slug(&self) -> Result<String, DraftError> {
        if let Some(id) = self.id.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
            let segment_ok = |seg: &str| {
                !seg.is_empty()
                    && seg.len() <= MAX_SLUG
                    && !seg.starts_with('-')
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            };
            // Segments of a-z, 0-9 and - only: no `..`, no leading `/`, nothing empty.
            if id.len() > 200 || !id.split('/').all(segment_ok) {
                return Err(bad(
                    "id",
                    "use a-z, 0-9 and - (and / between parts), such as posts/gomi-nenmatsu",
                ));
            }
            return Ok(id.rsplit('/').next().unwrap_or(id).to_string());
        }
        let mut slug = String::new();
        for c in self.title.trim().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.len() >= MAX_SLUG {
                break;
            }
        }
        let slug = slug.trim_matches('-').to_string();
        if slug.len() >= 3 {
            return Ok(slug);
        }
        let digest = Sha256::digest(self.title.trim().as_bytes());
        Ok(format!("post-{}", hex::encode(&digest[..4])))
    }

    /// The front-matter's YAML, keys in the order staff write them.
    fn front_matter(&self, images: &[(String, String)]) -> String {
        use serde_yaml::{Mapping, Value};
        let s = |v: &str| Value::String(v.trim().to_string());
        let mut m = Mapping::new();
        m.insert(s("title"), s(&self.title));
        if let Some(at) = self.publish_at.as_deref().filter(|a| !a.trim().is_empty()) {
            m.insert(s("publish_at"), s(at));
        }
        if let Some(a) = self.account.as_deref().filter(|a| !a.trim().is_empty()) {
            m.insert(s("account"), s(a));
        }
        let networks: Vec<Value> = self.networks.iter().map(|n| s(n)).collect();
        m.insert(s("networks"), Value::Sequence(networks));
        if let Some(d) = self.department.as_deref().filter(|d| !d.trim().is_empty()) {
            m.insert(s("department"), s(d));
        }
        let texts: Mapping = self
            .text
            .iter()
            .filter(|(_, t)| !t.trim().is_empty())
            .map(|(n, t)| (s(n), Value::String(body_text(t))))
            .collect();
        if !texts.is_empty() {
            m.insert(s("text"), Value::Mapping(texts));
        }
        if !images.is_empty() {
            let list = images
                .iter()
                .map(|(path, alt)| {
                    let mut i = Mapping::new();
                    i.insert(s("path"), s(path));
                    if !alt.is_empty() {
                        i.insert(s("alt"), s(alt));
                    }
                    Value::Mapping(i)
                })
                .collect();
            m.insert(s("images"), Value::Sequence(list));
        }
        if let Some(id) = self.id.as_deref().filter(|i| !i.trim().is_empty()) {
            m.insert(s("id"), s(id));
        }
        serde_yaml::to_string(&Value::Mapping(m)).unwrap_or_default()
    }
}

impl DraftImage {
    /// The image's path from the content directory and its bytes.
    fn decoded(&self, i: usize) -> Result<(String, Vec<u8>), DraftError> {
        let name = self.name.trim();
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let plain = !name.is_empty()
            && name.len() <= 100
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
        if !plain
            || is_reserved(name)
            || !ext
                .as_deref()
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e))
        {
            return Err(bad(
                format!("images[{i}].name"),
                "use a plain file name of a-z, 0-9, ., - and _ ending in .png, .jpg, .gif or .webp \
                 (not a name Windows reserves, such as CON or NUL)",
            ));
        }
        // Base64 of the limit is 4/3 of it: refuse a huge value before decoding it.
        if self.data.len() > MAX_IMAGE_BYTES / 3 * 4 + 8 {
            return Err(bad(format!("images[{i}].data"), too_large()));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.data.trim())
            .map_err(|_| bad(format!("images[{i}].data"), "not base64"))?;
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(bad(format!("images[{i}].data"), too_large()));
        }
        Ok((format!("{IMAGES_DIR}/{name}"), bytes))
    }
}

fn too_large() -> String {
    format!("larger than {} MB", MAX_IMAGE_BYTES / 1024 / 1024)
}

/// A name Windows keeps for a device whatever its extension (`CON.png`, `nul.jpg`): a
/// clone of the repository on a staff member's PC could not hold the file.
fn is_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).to_ascii_lowercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit() && n != "0")
    };
    matches!(stem.as_str(), "con" | "prn" | "aux" | "nul") || numbered("com") || numbered("lpt")
}

/// How the post at `post` (from the content directory) names the image at `image`:
/// relative to the post's own folder, as the post format resolves it.
fn relative_ref(post: &str, image: &str) -> String {
    let depth = post.matches('/').count();
    let up = depth.saturating_sub(POSTS_DIR.matches('/').count() + 1);
    let below_posts = image
        .strip_prefix(&format!("{POSTS_DIR}/"))
        .unwrap_or(image);
    format!("{}{below_posts}", "../".repeat(up))
}

/// Line ends as a file has them: `\n`, and one at the end.
fn body_text(text: &str) -> String {
    let mut t = text.replace("\r\n", "\n").replace('\r', "\n");
    if !t.is_empty() && !t.ends_with('\n') {
        t.push('\n');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::post::{parse, Parsed};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    fn draft() -> Draft {
        Draft {
            title: "年末年始のごみ収集 Gomi 2026".into(),
            networks: vec!["x".into(), "facebook".into()],
            department: Some("環境部 清掃課".into()),
            publish_at: Some("2026-12-20 19:00".into()),
            text: BTreeMap::from([("x".into(), "短い版 #足立区".into())]),
            body:
                "12月29日から1月3日まで休みます。\r\n詳しくは https://www.city.example.jp/gomi/ へ"
                    .into(),
            images: vec![DraftImage {
                name: "calendar.png".into(),
                alt: "収集日のカレンダー".into(),
                data: base64::engine::general_purpose::STANDARD.encode(b"\x89PNG...."),
            }],
            ..Draft::default()
        }
    }

    #[test]
    fn a_draft_becomes_the_file_a_person_would_write() {
        let f = draft().to_file(today()).unwrap();
        assert_eq!(f.path, "posts/2026-12-03-gomi-2026.md");
        assert_eq!(f.images[0].0, "posts/images/calendar.png");
        let Parsed::Post(post) = parse(&f.path, f.text.as_bytes()) else {
            panic!("not a post: {}", f.text);
        };
        assert_eq!(post.title, "年末年始のごみ収集 Gomi 2026");
        assert_eq!(post.networks, vec!["x".to_string(), "facebook".to_string()]);
        assert_eq!(post.department.as_deref(), Some("環境部 清掃課"));
        assert_eq!(
            post.body,
            "12月29日から1月3日まで休みます。\n詳しくは https://www.city.example.jp/gomi/ へ\n"
        );
        assert_eq!(
            post.text.get("x").map(String::as_str),
            Some("短い版 #足立区\n")
        );
        assert_eq!(post.images[0].path, "images/calendar.png");
        assert_eq!(post.images[0].alt.as_deref(), Some("収集日のカレンダー"));
    }

    #[test]
    fn a_hand_written_post_opens_as_a_draft_that_writes_the_same_post() {
        let by_hand = "---\ntitle: \"防災訓練: 12/6\"\npublish_at: 2026-12-05T18:30:00+09:00\n\
            networks: [x, facebook]\naccount: city\ndepartment: 危機管理課\nid: bousai/kunren\n\
            text:\n  x: |\n    短い版 #防災\nimages:\n  - path: ../img/map.png\n    alt: 会場の地図\n---\n\
            訓練は午前9時からです。\n\n- 持ち物: 水\n";
        let Parsed::Post(post) = parse("posts/kunren.md", by_hand.as_bytes()) else {
            panic!("not a post");
        };
        let draft = Draft::from_post(
            &post,
            vec![("map.png".into(), "会場の地図".into(), b"PNG".to_vec())],
        )
        .unwrap();
        assert_eq!(
            draft.publish_at.as_deref(),
            Some("2026-12-05T18:30:00+09:00")
        );
        assert_eq!(draft.id.as_deref(), Some("bousai/kunren"));
        let again = draft.to_file_at("posts/kunren.md".into()).unwrap();
        let Parsed::Post(back) = parse("posts/kunren.md", again.text.as_bytes()) else {
            panic!("not a post: {}", again.text);
        };
        let same = |p: &Post| {
            (
                p.title.clone(),
                p.publish_at.clone(),
                p.networks.clone(),
                p.account.clone(),
                p.department.clone(),
                p.id.clone(),
                p.text.clone(),
                p.body.clone(),
            )
        };
        assert_eq!(same(&back), same(&post));
        // The image keeps its bytes and alt; it now lives where the desk keeps images.
        assert_eq!(
            again.images,
            vec![("posts/images/map.png".to_string(), b"PNG".to_vec())]
        );
        assert_eq!(back.images[0].alt.as_deref(), Some("会場の地図"));

        let mut retract = (*post).clone();
        retract.retract = true;
        assert_eq!(
            Draft::from_post(&retract, vec![]).unwrap_err().field,
            "retract"
        );
        let mut emergency = (*post).clone();
        emergency.emergency = true;
        assert_eq!(
            Draft::from_post(&emergency, vec![]).unwrap_err().field,
            "emergency"
        );
        let mut thread = (*post).clone();
        thread
            .thread
            .insert("x".into(), vec!["一".into(), "二".into()]);
        assert_eq!(
            Draft::from_post(&thread, vec![]).unwrap_err().field,
            "thread"
        );
    }

    #[test]
    fn yaml_in_a_field_stays_text() {
        let mut d = draft();
        d.title = "a: b\n---\nretract: true".replace('\n', " ");
        d.department = Some("[x, y] # not a list".into());
        let f = d.to_file(today()).unwrap();
        let Parsed::Post(post) = parse(&f.path, f.text.as_bytes()) else {
            panic!("not a post: {}", f.text);
        };
        assert_eq!(post.title, "a: b --- retract: true");
        assert_eq!(post.department.as_deref(), Some("[x, y] # not a list"));
        assert!(!post.retract);
    }

    #[test]
    fn nothing_in_a_draft_can_name_a_path() {
        for (change, field) in [
            (
                Box::new(|d: &mut Draft| d.id = Some("../../etc/passwd".into()))
                    as Box<dyn Fn(&mut Draft)>,
                "id",
            ),
            (Box::new(|d: &mut Draft| d.id = Some("a/b/".into())), "id"),
            (
                Box::new(|d: &mut Draft| d.images[0].name = "../x.png".into()),
                "images[0].name",
            ),
            (
                Box::new(|d: &mut Draft| d.images[0].name = "x.png\0.sh".into()),
                "images[0].name",
            ),
            (
                Box::new(|d: &mut Draft| d.images[0].name = ".htaccess".into()),
                "images[0].name",
            ),
            (
                Box::new(|d: &mut Draft| d.images[0].name = "x.svg".into()),
                "images[0].name",
            ),
            (
                Box::new(|d: &mut Draft| d.images[0].data = "!!".into()),
                "images[0].data",
            ),
            (Box::new(|d: &mut Draft| d.title = "a\nb".into()), "title"),
            (Box::new(|d: &mut Draft| d.title = " ".into()), "title"),
            (Box::new(|d: &mut Draft| d.body = "\0".into()), "body"),
        ] {
            let mut d = draft();
            change(&mut d);
            let e = d.to_file(today()).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        // A Japanese-only title gets a digest, never the title's characters.
        let mut d = draft();
        d.title = "../年末年始".into();
        let f = d.to_file(today()).unwrap();
        assert!(f.path.starts_with("posts/2026-12-03-post-"), "{}", f.path);
        assert!(!f.path[6..].contains('/') && !f.path.contains(".."));
    }

    #[test]
    fn reserved_names_a_second_image_of_the_same_name_and_a_missing_alt_are_refused() {
        for name in ["CON.png", "nul.jpg", "Aux.gif", "com1.webp", "LPT9.png"] {
            let mut d = draft();
            d.images[0].name = name.into();
            let e = d.to_file(today()).unwrap_err();
            assert_eq!(e.field, "images[0].name", "{name}: {e}");
        }
        let mut d = draft();
        d.images[0].name = "com0.png".into();
        assert!(d.to_file(today()).is_ok(), "com0 is not reserved");
        let mut d = draft();
        let mut again = d.images[0].clone();
        again.name = "Calendar.PNG".into();
        d.images.push(again);
        assert_eq!(d.to_file(today()).unwrap_err().field, "images[1].name");
        let mut d = draft();
        d.images[0].alt = "  ".into();
        assert_eq!(d.to_file(today()).unwrap_err().field, "images[0].alt");
    }

    #[test]
    fn a_post_in_a_sub_folder_names_its_images_from_its_own_folder() {
        let f = draft().to_file_at("posts/2026/12/gomi.md".into()).unwrap();
        assert_eq!(f.images[0].0, "posts/images/calendar.png");
        assert!(
            f.text.contains("path: ../../images/calendar.png"),
            "{}",
            f.text
        );
        let f = draft().to_file_at("posts/gomi.md".into()).unwrap();
        assert!(f.text.contains("path: images/calendar.png"), "{}", f.text);
    }
}
