//! `policy:` — the rules a public office posts by, kept in git beside the posts: words it
//! does not use and words that need care, links residents can trust (no shorteners), the
//! fields it requires, and no repeated texts. Read where every post is resolved, so `check`,
//! the desk's preview and `serve` find the same things.

pub mod duplicates;
mod fold;
mod review;
mod settings;

pub use self::fold::{fold, Folded};
pub use self::review::Findings;
pub use self::settings::{
    Policy, RawPolicy, Required, Word, DEFAULT_DUPLICATE_WINDOW, DEFAULT_SHORTENERS,
};

#[cfg(test)]
mod tests {
    use crate::content::config::RepoConfig;
    use crate::content::post::{self, Parsed};
    use crate::content::problem::Problem;
    use crate::content::source::{ContentSource, FileInfo, NotContent};

    struct NoFiles;
    impl ContentSource for NoFiles {
        fn stat(&self, _: &str) -> Result<FileInfo, NotContent> {
            Err(NotContent::Missing)
        }
    }

    const CONFIG: &str = "\
timezone: Asia/Tokyo
policy:
  forbidden: [サンプル, 絶対に儲かる]
  caution: [日本一]
  link_domains: [city.example.jp, metro.tokyo.lg.jp]
  require: [department]
accounts:
  city:
    policy: { caution: [最高] }
    networks:
      x: { type: outbox }
  other:
    networks:
      x: { type: outbox }
";

    /// The errors and warnings of `body` posted to `account`.
    fn findings(account: &str, department: &str, body: &str) -> (Vec<Problem>, Vec<Problem>) {
        let config = RepoConfig::parse("oshirase.yaml", CONFIG).unwrap();
        let text = format!(
            "---\ntitle: t\naccount: {account}\n{department}publish_at: 2026-12-24 10:00\nnetworks: [x]\n---\n{body}\n"
        );
        let Parsed::Post(p) = post::parse("posts/a.md", text.as_bytes()) else {
            panic!("not a post")
        };
        match p.resolve(&config, &NoFiles) {
            Ok(r) => (vec![], r.warnings),
            Err(errors) => (errors, vec![]),
        }
    }

    fn codes(list: &[Problem]) -> Vec<(&str, usize)> {
        list.iter().map(|p| (p.code.as_str(), p.line)).collect()
    }

    #[test]
    fn a_forbidden_word_in_any_width_or_kana_is_an_error_quoted_as_written() {
        let dept = "department: 広報課\n";
        for written in ["サンプル", "ｻﾝﾌﾟﾙ", "さんぷる"] {
            let (errors, _) = findings("city", dept, &format!("一行目\n{written}を配ります"));
            assert_eq!(codes(&errors), [("policy-forbidden", 9)], "{written}");
            assert!(
                errors[0].message.contains(&format!("`{written}`")),
                "{}",
                errors[0]
            );
            assert!(errors[0].message.contains("`サンプル`"), "{}", errors[0]);
            assert!(errors[0].message_ja.contains("言い換えて"));
        }
    }

    #[test]
    fn caution_words_add_up_per_account_and_links_are_judged_by_host() {
        let dept = "department: 広報課\n";
        let body = "区が日本一の最高の公園です https://www.city.example.jp/park http://metro.tokyo.lg.jp/a example.com/x";
        let (errors, warnings) = findings("city", dept, body);
        assert!(errors.is_empty(), "{errors:?}");
        let mut got: Vec<&str> = warnings.iter().map(|p| p.code.as_str()).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "policy-caution",
                "policy-caution",
                "policy-http",
                "policy-link-domain"
            ],
            "{warnings:?}"
        );
        // The other account has the repository's caution words only.
        let (_, warnings) = findings("other", dept, "区が日本一の最高の公園です");
        assert_eq!(codes(&warnings), [("policy-caution", 8)]);
    }

    #[test]
    fn shortened_links_and_missing_required_fields_are_errors() {
        let (errors, _) = findings(
            "city",
            "",
            "詳しくは bit.ly/3abc と https://tinyurl.com/x をご覧ください",
        );
        let mut got: Vec<&str> = errors.iter().map(|p| p.code.as_str()).collect();
        got.sort();
        assert_eq!(
            got,
            ["policy-required", "policy-shortener", "policy-shortener"]
        );
    }

    #[test]
    fn without_a_policy_nothing_changes() {
        let config = RepoConfig::parse(
            "oshirase.yaml",
            "accounts:\n  city:\n    networks:\n      x: { type: outbox }\n",
        )
        .unwrap();
        assert_eq!(config.accounts["city"].policy, None);
    }

    #[test]
    fn a_bad_policy_names_its_field() {
        for (bad, field) in [
            ("policy: { forbidden: [\"  \"] }", "policy.forbidden"),
            (
                "policy: { shorteners: [\"https://bit.ly/\"] }",
                "policy.shorteners",
            ),
            ("policy: { duplicates: soon }", "policy.duplicates"),
            ("policy: { require: [title] }", "policy.require"),
            ("policy: { link_domains: [] }", "policy.link_domains"),
            ("policy: { forbid: [a] }", "forbid"),
        ] {
            let text =
                format!("{bad}\naccounts:\n  city:\n    networks:\n      x: {{ type: outbox }}\n");
            let e = RepoConfig::parse("oshirase.yaml", &text).unwrap_err();
            assert!(e.to_string().contains(field), "{bad}: {e}");
            assert_eq!(e.line, Some(1), "{bad}: {e}");
        }
    }
}
