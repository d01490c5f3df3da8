//! The conformance tier: oshirase checked against test data nobody here wrote, read as it
//! is: the official twitter-text suite, the Bluesky lexicons and the forges' real webhook
//! payloads. The data lives beside the repository, in `../shared/conformance/` (or where
//! `OSHIRASE_CONFORMANCE_DIR` points), so these tests are ignored by a plain `cargo test`
//! and run by `.ci/run`:
//!
//!     cargo test --test conformance -- --ignored

mod common;

use std::path::PathBuf;

use common::webhooks::{headers, sign};
use oshirase::content::count::{self, x_count_with, FacetFeature};
use oshirase::content::links::{self, Protocol};
use oshirase::web::hooks::{decide, Decision, HookDialect};
use serde::Deserialize;

const SECRET: &str = "s3cret-for-tests";

/// The folder of the conformance data, or a panic that says where it was looked for.
fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("OSHIRASE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"));
    assert!(
        dir.join("README.md").is_file(),
        "the conformance data is not at {}: put the shared conformance folder beside the \
         repository (../shared/conformance) or set OSHIRASE_CONFORMANCE_DIR to it",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> Vec<u8> {
    let path = conformance_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
struct Suite {
    tests: std::collections::BTreeMap<String, Vec<Case>>,
}

#[derive(Deserialize)]
struct Case {
    description: String,
    text: String,
    expected: serde_yaml::Value,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Expected {
    weighted_length: usize,
    valid: bool,
    permillage: i32,
    display_range_start: i32,
    display_range_end: i32,
    valid_range_start: i32,
    valid_range_end: i32,
}

fn config(version: &str) -> twitter_text_config::Configuration {
    serde_json::from_slice(&read(&format!("twitter-text/config/{version}.json")))
        .expect("twitter-text configuration")
}

/// Every case of one section, every field: weightedLength, valid, permillage and ranges.
fn run_section(suite: &Suite, section: &str, version: &str) -> usize {
    let config = config(version);
    let cases = suite
        .tests
        .get(section)
        .unwrap_or_else(|| panic!("section {section} in validate.yml"));
    let mut failures = Vec::new();
    for case in cases {
        let expected: Expected =
            serde_yaml::from_value(case.expected.clone()).expect("expected fields");
        let got = x_count_with(&case.text, &config);
        let got = Expected {
            weighted_length: got.weighted_length,
            valid: got.valid,
            permillage: got.permillage,
            display_range_start: got.display_range.0,
            display_range_end: got.display_range.1,
            valid_range_start: got.valid_range.0,
            valid_range_end: got.valid_range.1,
        };
        if got != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {got:?}",
                case.description
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{section}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

fn suite() -> Suite {
    serde_yaml::from_slice(&read("twitter-text/validate.yml")).expect("validate.yml")
}

#[test]
#[ignore = "needs ../shared/conformance (or OSHIRASE_CONFORMANCE_DIR); run by .ci/run"]
fn x_weighted_length_passes_the_official_twitter_text_suite() {
    let suite = suite();
    // The suite's README: the first section is written for configuration v2, the others v3.
    let n = run_section(&suite, "WeightedTweetsCounterTest", "v2")
        + run_section(&suite, "WeightedTweetsWithDiscountedEmojiCounterTest", "v3")
        + run_section(&suite, "UnicodeDirectionalMarkerCounterTest", "v3");
    assert_eq!(n, 44, "all 44 cases of the three sections ran");
}

/// extract.yml's URL cases: `urls` expects the URLs' texts, the other two sections each
/// URL's text and its `[start, end)` in characters.
#[derive(Deserialize)]
struct ExtractSuite {
    tests: ExtractSections,
}

#[derive(Deserialize)]
struct ExtractSections {
    urls: Vec<ExtractCase<String>>,
    urls_with_indices: Vec<ExtractCase<UrlAt>>,
    urls_with_directional_markers: Vec<ExtractCase<UrlAt>>,
}

#[derive(Deserialize)]
struct ExtractCase<T> {
    description: String,
    text: String,
    expected: Vec<T>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct UrlAt {
    url: String,
    indices: [usize; 2],
}

/// The URLs X finds in `text` (oshirase::content::links), with their ranges in characters.
fn urls_at(text: &str) -> Vec<UrlAt> {
    let chars = |byte: usize| text[..byte].chars().count();
    links::find(text, Protocol::Optional)
        .into_iter()
        .map(|r| UrlAt {
            url: text[r.clone()].to_string(),
            indices: [chars(r.start), chars(r.end)],
        })
        .collect()
}

/// X weighs every URL it finds as 23, whatever its length: the text weighs what it weighs
/// with each URL replaced by 23 ASCII letters.
fn assert_urls_weigh_23(text: &str, description: &str, failures: &mut Vec<String>) {
    let mut replaced = String::new();
    let mut last = 0;
    for r in links::find(text, Protocol::Optional) {
        replaced.push_str(&text[last..r.start]);
        replaced.push_str(&"u".repeat(23));
        last = r.end;
    }
    replaced.push_str(&text[last..]);
    let (got, want) = (
        count::x_count(text).weighted_length,
        count::x_count(&replaced).weighted_length,
    );
    if got != want {
        failures.push(format!("{description}: {text:?} weighs {got}, want {want}"));
    }
}

#[test]
#[ignore = "needs ../shared/conformance (or OSHIRASE_CONFORMANCE_DIR); run by .ci/run"]
fn x_finds_and_weighs_every_url_of_the_twitter_text_extract_suite() {
    let suite: ExtractSuite =
        serde_yaml::from_slice(&read("twitter-text/extract.yml")).expect("extract.yml");
    let sections = suite.tests;
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in &sections.urls {
        let got: Vec<String> = urls_at(&case.text).into_iter().map(|u| u.url).collect();
        if got != case.expected {
            failures.push(format!(
                "urls: {}: got {got:?}, want {:?}",
                case.description, case.expected
            ));
        }
        assert_urls_weigh_23(&case.text, &case.description, &mut failures);
        cases += 1;
    }
    let with_indices = sections
        .urls_with_indices
        .iter()
        .chain(&sections.urls_with_directional_markers);
    for case in with_indices {
        let got = urls_at(&case.text);
        if got != case.expected {
            failures.push(format!(
                "{}: got {got:?}, want {:?}",
                case.description, case.expected
            ));
        }
        assert_urls_weigh_23(&case.text, &case.description, &mut failures);
        cases += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        cases,
        91 + 10 + 2,
        "every case of the three URL sections ran"
    );
}

#[derive(Deserialize)]
struct HashtagSuite {
    tests: HashtagSections,
}

#[derive(Deserialize)]
struct HashtagSections {
    hashtags: Vec<ExtractCase<String>>,
    hashtags_from_astral: Vec<ExtractCase<String>>,
    hashtags_with_indices: Vec<ExtractCase<TagAt>>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct TagAt {
    hashtag: String,
    indices: [usize; 2],
}

/// The tags of the Bluesky facets of `text`, with their ranges in characters.
fn tags_at(text: &str) -> Vec<TagAt> {
    let chars = |byte: usize| text[..byte].chars().count();
    count::bluesky_facets(text)
        .into_iter()
        .filter_map(|f| match f.feature {
            FacetFeature::Tag { tag } => Some(TagAt {
                hashtag: tag,
                indices: [chars(f.byte_start), chars(f.byte_end)],
            }),
            FacetFeature::Link { .. } => None,
        })
        .collect()
}

#[test]
#[ignore = "needs ../shared/conformance (or OSHIRASE_CONFORMANCE_DIR); run by .ci/run"]
fn bluesky_tag_facets_are_the_hashtags_of_the_twitter_text_extract_suite() {
    let suite: HashtagSuite =
        serde_yaml::from_slice(&read("twitter-text/extract.yml")).expect("extract.yml");
    let sections = suite.tests;
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in sections
        .hashtags
        .iter()
        .chain(&sections.hashtags_from_astral)
    {
        let got: Vec<String> = tags_at(&case.text).into_iter().map(|t| t.hashtag).collect();
        if got != case.expected {
            failures.push(format!(
                "{}: got {got:?}, want {:?}",
                case.description, case.expected
            ));
        }
        cases += 1;
    }
    for case in &sections.hashtags_with_indices {
        let got = tags_at(&case.text);
        if got != case.expected {
            failures.push(format!(
                "{}: got {got:?}, want {:?}",
                case.description, case.expected
            ));
        }
        cases += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let total = sections.hashtags.len()
        + sections.hashtags_from_astral.len()
        + sections.hashtags_with_indices.len();
    assert_eq!(cases, total);
}

#[test]
#[ignore = "needs ../shared/conformance (or OSHIRASE_CONFORMANCE_DIR); run by .ci/run"]
fn bluesky_facets_match_the_lexicon() {
    let lexicon: serde_json::Value =
        serde_json::from_slice(&read("bluesky-lexicons/app.bsky.richtext.facet.json")).unwrap();
    let (id, defs) = (lexicon["id"].as_str().unwrap(), &lexicon["defs"]);
    let text = "#足立区 の防災訓練 👨‍👩‍👧 詳しくは https://www.city.adachi.tokyo.jp/bousai/kunren.html と https://example.jp/a?b=c#d をご覧ください ＃防災";
    let facets = count::bluesky_facets(text);
    let mut kinds = Vec::new();
    for f in &facets {
        let json = f.to_json();
        // Every required property of the lexicon's main and byteSlice objects.
        for key in defs["main"]["required"].as_array().unwrap() {
            assert!(json.get(key.as_str().unwrap()).is_some(), "facet has {key}");
        }
        for key in defs["byteSlice"]["required"].as_array().unwrap() {
            let v = &json["index"][key.as_str().unwrap()];
            assert!(
                v.as_u64().is_some(),
                "index.{key} is a non-negative integer"
            );
        }
        let (start, end) = (
            json["index"]["byteStart"].as_u64().unwrap() as usize,
            json["index"]["byteEnd"].as_u64().unwrap() as usize,
        );
        // The feature is one the union allows, with every property its definition requires.
        let feature = &json["features"][0];
        let kind = feature["$type"]
            .as_str()
            .unwrap()
            .strip_prefix(&format!("{id}#"))
            .unwrap();
        assert!(defs["main"]["properties"]["features"]["items"]["refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == &format!("#{kind}")));
        for key in defs[kind]["required"].as_array().unwrap() {
            assert!(
                feature[key.as_str().unwrap()].is_string(),
                "{kind} has {key}"
            );
        }
        // byteStart/byteEnd count UTF-8 bytes and cut out exactly the URL, or the tag with
        // its mark.
        let cut = text
            .get(start..end)
            .expect("the range falls on character boundaries");
        match kind {
            "link" => assert_eq!(cut, feature["uri"].as_str().unwrap()),
            "tag" => {
                let tag = feature["tag"].as_str().unwrap();
                let limits = &defs["tag"]["properties"]["tag"];
                assert!(tag.len() as u64 <= limits["maxLength"].as_u64().unwrap());
                assert_eq!(cut.strip_prefix(['#', '＃']), Some(tag));
            }
            other => panic!("unexpected facet {other}"),
        }
        kinds.push(kind.to_string());
    }
    assert_eq!(
        kinds,
        ["tag", "link", "link", "tag"],
        "the URL's #d fragment is no tag"
    );
}

#[test]
#[ignore = "needs ../shared/conformance (or OSHIRASE_CONFORMANCE_DIR); run by .ci/run"]
fn real_forge_payloads_are_understood() {
    // GitHub: a push creating a branch, and a tag deletion (after = zeros) that must be ignored.
    let body = read("webhooks/github-octokit/push-with-new-branch.payload.json");
    let h = headers(&[
        (
            "x-hub-signature-256",
            &format!("sha256={}", sign(&body, SECRET)),
        ),
        ("x-github-event", "push"),
    ]);
    assert_eq!(
        decide(HookDialect::GitHub, Some(SECRET), "master", &h, &body),
        Decision::Fetch
    );
    assert!(matches!(
        decide(HookDialect::GitHub, Some(SECRET), "main", &h, &body),
        Decision::Ignore(_)
    ));
    let tag = read("webhooks/github-octokit/push-payload.json");
    let h = headers(&[
        (
            "x-hub-signature-256",
            &format!("sha256={}", sign(&tag, SECRET)),
        ),
        ("x-github-event", "push"),
    ]);
    assert!(matches!(
        decide(HookDialect::GitHub, Some(SECRET), "master", &h, &tag),
        Decision::Ignore(_)
    ));
    // A signature for other bytes, a missing one, or no secret on the server: refused.
    let h = headers(&[
        (
            "x-hub-signature-256",
            &format!("sha256={}", sign(b"other", SECRET)),
        ),
        ("x-github-event", "push"),
    ]);
    assert!(matches!(
        decide(HookDialect::GitHub, Some(SECRET), "master", &h, &body),
        Decision::Unauthorized(_)
    ));
    let h = headers(&[("x-github-event", "push")]);
    assert!(matches!(
        decide(HookDialect::GitHub, Some(SECRET), "master", &h, &body),
        Decision::Unauthorized(_)
    ));
    assert!(matches!(
        decide(HookDialect::GitHub, None, "master", &h, &body),
        Decision::Unauthorized(_)
    ));

    // GitLab: the token header.
    let body = read("webhooks/gitlab/push-hook.payload.json");
    let h = headers(&[("x-gitlab-token", SECRET), ("x-gitlab-event", "Push Hook")]);
    assert_eq!(
        decide(HookDialect::GitLab, Some(SECRET), "master", &h, &body),
        Decision::Fetch
    );
    let h = headers(&[("x-gitlab-token", "guess"), ("x-gitlab-event", "Push Hook")]);
    assert!(matches!(
        decide(HookDialect::GitLab, Some(SECRET), "master", &h, &body),
        Decision::Unauthorized(_)
    ));

    // Gitea: the bare hex signature.
    let body = read("webhooks/gitea/push.payload.json");
    let h = headers(&[
        ("x-gitea-signature", &sign(&body, SECRET)),
        ("x-gitea-event", "push"),
    ]);
    assert_eq!(
        decide(HookDialect::Gitea, Some(SECRET), "develop", &h, &body),
        Decision::Fetch
    );
    let h = headers(&[
        ("x-gitea-signature", &sign(&body, "wrong")),
        ("x-gitea-event", "push"),
    ]);
    assert!(matches!(
        decide(HookDialect::Gitea, Some(SECRET), "develop", &h, &body),
        Decision::Unauthorized(_)
    ));
}
