//! Links from the dashboard to a post's commit and file on the forge the repository lives on.
//!
//! Only forges whose address scheme is known for certain get links: github.com, gitlab.com
//! and codeberg.org. A self-hosted GitLab or Gitea cannot be told apart from any other git
//! server by its URL, so it gets none rather than wrong ones. The web address is rebuilt
//! from the host and the repository path alone, so credentials in `--repo`
//! (`https://token@…`) can never end up in a link.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    GitHub,
    GitLab,
    Codeberg,
}

impl ForgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
            ForgeKind::Codeberg => "codeberg",
        }
    }

    fn for_host(host: &str) -> Option<ForgeKind> {
        match host.to_ascii_lowercase().as_str() {
            "github.com" => Some(ForgeKind::GitHub),
            "gitlab.com" => Some(ForgeKind::GitLab),
            "codeberg.org" => Some(ForgeKind::Codeberg),
            _ => None,
        }
    }
}

/// A repository on a known forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forge {
    pub kind: ForgeKind,
    /// `https://github.com/owner/repo`, without `.git`.
    pub web: String,
}

/// Characters left as they are in one path segment of a link.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Forge {
    /// The forge of a remote as given to `--repo`: `https://[user@]host/owner/repo(.git)`,
    /// `ssh://git@host[:port]/owner/repo.git` or `git@host:owner/repo.git`.
    pub fn from_remote(remote: &str) -> Option<Forge> {
        let (host, path) = match remote.split_once("://") {
            Some((scheme, rest)) => {
                if !matches!(
                    scheme.to_ascii_lowercase().as_str(),
                    "https" | "http" | "ssh" | "git"
                ) {
                    return None;
                }
                let (authority, path) = rest.split_once('/')?;
                let host = authority.rsplit('@').next()?;
                let host = host.split(':').next()?;
                (host, path)
            }
            None => {
                // scp-like `user@host:path`.
                let (authority, path) = remote.split_once(':')?;
                let host = authority.rsplit('@').next()?;
                (host, path)
            }
        };
        let kind = ForgeKind::for_host(host)?;
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let plain = |s: &&str| {
            !s.is_empty()
                && *s != "."
                && *s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        };
        if !segments.iter().all(plain) {
            return None;
        }
        // GitLab has groups within groups; the others are always owner/repository.
        let fits = match kind {
            ForgeKind::GitLab => segments.len() >= 2,
            _ => segments.len() == 2,
        };
        if !fits {
            return None;
        }
        Some(Forge {
            kind,
            web: format!(
                "https://{}/{}",
                host.to_ascii_lowercase(),
                segments.join("/")
            ),
        })
    }

    /// The page of a commit; `None` unless `sha` is a full commit id.
    pub fn commit_url(&self, sha: &str) -> Option<String> {
        if !is_full_sha(sha) {
            return None;
        }
        Some(match self.kind {
            ForgeKind::GitLab => format!("{}/-/commit/{sha}", self.web),
            ForgeKind::GitHub | ForgeKind::Codeberg => format!("{}/commit/{sha}", self.web),
        })
    }

    /// The page of a file (path from the repository root) as it was at a commit.
    pub fn file_url(&self, sha: &str, path: &str) -> Option<String> {
        if !is_full_sha(sha) || path.is_empty() {
            return None;
        }
        let path: Vec<String> = path
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        let path = path.join("/");
        Some(match self.kind {
            ForgeKind::GitHub => format!("{}/blob/{sha}/{path}", self.web),
            ForgeKind::GitLab => format!("{}/-/blob/{sha}/{path}", self.web),
            ForgeKind::Codeberg => format!("{}/src/commit/{sha}/{path}", self.web),
        })
    }
}

/// A branch name in a link's path keeps its `/` (`proposals/…`).
const BRANCH: &AsciiSet = &SEGMENT.remove(b'/');

impl Forge {
    /// The forge's page for opening a pull request from `branch` into `base`, for when
    /// oshirase has no forge token to open it itself.
    pub fn compare_url(&self, base: &str, branch: &str) -> String {
        let enc = |s: &str| utf8_percent_encode(s, BRANCH).to_string();
        match self.kind {
            ForgeKind::GitHub => format!(
                "{}/compare/{}...{}?expand=1",
                self.web,
                enc(base),
                enc(branch)
            ),
            ForgeKind::GitLab => format!(
                "{}/-/merge_requests/new?merge_request%5Bsource_branch%5D={}&merge_request%5Btarget_branch%5D={}",
                self.web,
                utf8_percent_encode(branch, SEGMENT),
                utf8_percent_encode(base, SEGMENT)
            ),
            ForgeKind::Codeberg => {
                format!("{}/compare/{}...{}", self.web, enc(base), enc(branch))
            }
        }
    }
}

fn is_full_sha(sha: &str) -> bool {
    (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_proposal_without_a_forge_token_links_to_the_forges_own_compare_page() {
        let branch = "proposals/2026-12-04-gomi";
        let at = |remote: &str| {
            Forge::from_remote(remote)
                .unwrap()
                .compare_url("main", branch)
        };
        assert_eq!(
            at("git@github.com:city/posts.git"),
            "https://github.com/city/posts/compare/main...proposals/2026-12-04-gomi?expand=1"
        );
        assert_eq!(
            at("https://gitlab.com/city/koho/posts.git"),
            "https://gitlab.com/city/koho/posts/-/merge_requests/new?merge_request%5Bsource_branch%5D=proposals%2F2026-12-04-gomi&merge_request%5Btarget_branch%5D=main"
        );
        assert_eq!(
            at("https://codeberg.org/city/posts"),
            "https://codeberg.org/city/posts/compare/main...proposals/2026-12-04-gomi"
        );
    }

    #[test]
    fn known_forges_in_every_remote_form() {
        for remote in [
            "https://github.com/city/posts.git",
            "https://github.com/city/posts",
            "https://x-access-token:ghp_secret@github.com/city/posts.git",
            "ssh://git@github.com/city/posts.git",
            "ssh://git@github.com:22/city/posts.git",
            "git@github.com:city/posts.git",
            "HTTPS://GitHub.com/city/posts/",
        ] {
            let f = Forge::from_remote(remote).unwrap_or_else(|| panic!("{remote}"));
            assert_eq!(f.kind, ForgeKind::GitHub, "{remote}");
            assert_eq!(f.web, "https://github.com/city/posts", "{remote}");
        }
        let gl =
            Forge::from_remote("https://oauth2:glpat-x@gitlab.com/city/koho/posts.git").unwrap();
        assert_eq!(gl.web, "https://gitlab.com/city/koho/posts");
        assert_eq!(
            gl.commit_url(SHA).unwrap(),
            format!("https://gitlab.com/city/koho/posts/-/commit/{SHA}")
        );
        let cb = Forge::from_remote("git@codeberg.org:city/posts.git").unwrap();
        assert_eq!(
            cb.file_url(SHA, "posts/a.md").unwrap(),
            format!("https://codeberg.org/city/posts/src/commit/{SHA}/posts/a.md")
        );
    }

    #[test]
    fn credentials_never_reach_a_link() {
        let f = Forge::from_remote("https://user:hunter2@github.com/city/posts.git").unwrap();
        let links = [
            f.web.clone(),
            f.commit_url(SHA).unwrap(),
            f.file_url(SHA, "posts/a.md").unwrap(),
        ];
        for link in links {
            assert!(!link.contains("hunter2") && !link.contains('@'), "{link}");
        }
    }

    #[test]
    fn unknown_or_odd_remotes_get_no_links() {
        for remote in [
            "https://git.city.example.jp/koho/posts.git",
            "https://gitea.example/city/posts.git",
            "file:///srv/posts.git",
            "/srv/posts",
            "https://github.com/city",
            "https://github.com/city/posts/extra",
            "https://github.com/city/../posts",
            "https://github.com/city/po%2fsts",
            "https://github.com/city/posts?x=1",
            "javascript://github.com/city/posts",
            "https://github.com.evil.example/city/posts",
            "https://evil.example/github.com/city/posts",
        ] {
            assert_eq!(Forge::from_remote(remote), None, "{remote}");
        }
    }

    #[test]
    fn file_links_encode_paths_and_need_a_full_commit() {
        let f = Forge::from_remote("https://github.com/city/posts").unwrap();
        assert_eq!(
            f.file_url(SHA, "posts/年末 ごみ.md").unwrap(),
            format!(
                "https://github.com/city/posts/blob/{SHA}/posts/%E5%B9%B4%E6%9C%AB%20%E3%81%94%E3%81%BF.md"
            )
        );
        assert_eq!(f.commit_url("abc123"), None);
        assert_eq!(
            f.commit_url("not hex at all, but forty characters long"),
            None
        );
        assert_eq!(f.file_url(SHA, ""), None);
    }
}
