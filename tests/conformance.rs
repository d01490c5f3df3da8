//! Counting checked against test data nobody here wrote: the official twitter-text suite
//! and the Bluesky lexicons in `../shared/conformance/`, read as they are.

use std::path::PathBuf;

use oshirase::count::{self, x_count_with};
use serde::Deserialize;

fn conformance(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance")
        .join(rel)
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
    let path = conformance(&format!("twitter-text/config/{version}.json"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&json).expect("twitter-text configuration")
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
    let path = conformance("twitter-text/validate.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).expect("validate.yml")
}

#[test]
fn x_weighted_length_passes_the_official_twitter_text_suite() {
    let suite = suite();
    // The suite's README: the first section is written for configuration v2, the others v3.
    let n = run_section(&suite, "WeightedTweetsCounterTest", "v2")
        + run_section(&suite, "WeightedTweetsWithDiscountedEmojiCounterTest", "v3")
        + run_section(&suite, "UnicodeDirectionalMarkerCounterTest", "v3");
    assert_eq!(n, 44, "all 44 cases of the three sections ran");
}

#[test]
fn bluesky_link_facets_match_the_lexicon() {
    let path = conformance("bluesky-lexicons/app.bsky.richtext.facet.json");
    let lexicon: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let defs = &lexicon["defs"];
    let text = "足立区の防災訓練 👨‍👩‍👧 詳しくは https://www.city.adachi.tokyo.jp/bousai/kunren.html と https://example.jp/a?b=c#d をご覧ください";
    let facets = count::bluesky_link_facets(text);
    assert_eq!(facets.len(), 2);
    for f in &facets {
        let json = f.to_json();
        // Every required property of the lexicon's main, byteSlice and link objects.
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
        let feature = &json["features"][0];
        assert_eq!(
            feature["$type"],
            format!("{}#link", lexicon["id"].as_str().unwrap())
        );
        assert!(defs["main"]["properties"]["features"]["items"]["refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "#link"));
        for key in defs["link"]["required"].as_array().unwrap() {
            assert!(feature[key.as_str().unwrap()].is_string(), "link has {key}");
        }
        // byteStart/byteEnd count UTF-8 bytes and cut out exactly the URL.
        let (start, end) = (
            json["index"]["byteStart"].as_u64().unwrap() as usize,
            json["index"]["byteEnd"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            &text.as_bytes()[start..end],
            feature["uri"].as_str().unwrap().as_bytes()
        );
    }
}
