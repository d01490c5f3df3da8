//! Size, nesting and alias limits on YAML from the repository, checked before serde_yaml.
//!
//! serde_yaml (libyaml underneath) loads a whole document before it deserialises any of it,
//! and some shapes cost far more than their size: libyaml's scanner looks at every open
//! flow level for each token, so 100,000 nested `[` took 18 s, and serde_yaml replays an
//! alias's events each time it is used, so a 6 KB file became 90,000 networks. [`check`]
//! reads the text once as a stream of events (saphyr-parser, a safe pure-Rust YAML 1.2
//! parser) and stops at the first limit it passes, so any file is accepted or refused in
//! time linear in its size; only text that passed is handed to serde_yaml.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// What one kind of YAML input may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of YAML text.
    pub max_bytes: usize,
    /// Collections inside collections (the document's own mapping is level 1).
    pub max_depth: usize,
    /// Nodes that aliases may add once expanded (each `*name` adds every node of its anchor).
    pub max_alias_nodes: u64,
}

/// `oshirase.yaml`: a city with dozens of accounts writes a few tens of kilobytes and five
/// levels (accounts → account → networks → network → rate).
pub const CONFIG: Limits = Limits {
    max_bytes: 256 * 1024,
    max_depth: 32,
    max_alias_nodes: 10_000,
};

/// A post's front-matter: a title, a time, a few networks, texts and images.
pub const FRONT_MATTER: Limits = Limits {
    max_bytes: 64 * 1024,
    max_depth: 32,
    max_alias_nodes: 10_000,
};

/// Why a YAML text was refused before parsing; `line` is 1-based within the text checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the YAML is {} bytes; at most {} are read", thousands(*size), thousands(*max))]
    TooLarge { size: usize, max: usize },
    #[error("the YAML nests deeper than {max} levels")]
    TooDeep { line: usize, max: usize },
    #[error("the YAML's aliases would expand to more than {} nodes", thousands(*max as usize))]
    TooManyAliasNodes { line: usize, max: u64 },
    #[error("the text is not valid YAML: {message}")]
    Syntax { line: usize, message: String },
}

impl LimitError {
    /// The line the problem was found on, when there is one (a size has none).
    pub fn line(&self) -> Option<usize> {
        match self {
            LimitError::TooLarge { .. } => None,
            LimitError::TooDeep { line, .. }
            | LimitError::TooManyAliasNodes { line, .. }
            | LimitError::Syntax { line, .. } => Some(*line),
        }
    }
}

fn thousands(n: usize) -> String {
    crate::content::brief::thousands(n)
}

/// Checks `text` against `limits` in one pass over its events.
pub fn check(text: &str, limits: &Limits) -> Result<(), LimitError> {
    if text.len() > limits.max_bytes {
        return Err(LimitError::TooLarge {
            size: text.len(),
            max: limits.max_bytes,
        });
    }
    let mut count = NodeCount::new(limits);
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| scan_error(&e, limits))?;
        count.event(&event, span.start.line().max(1))?;
    }
    Ok(())
}

/// The parser's own error as a refusal.
fn scan_error(e: &saphyr_parser::ScanError, limits: &Limits) -> LimitError {
    let line = e.marker().line().max(1);
    // The scanner reads ahead of the events (up to 1,024 characters, to tell whether a
    // `[` starts a key), so 256 `[` on one line meet its own limit of 255 flow levels before
    // the 33rd level is an event: that, too, is nesting deeper than ours.
    if e.info() == "recursion limit exceeded" {
        return LimitError::TooDeep {
            line,
            max: limits.max_depth,
        };
    }
    LimitError::Syntax {
        line,
        message: crate::content::brief::cap_message(e.info()),
    }
}

/// Open collections and the expanded size of every anchored node seen so far.
struct NodeCount<'l> {
    limits: &'l Limits,
    /// For each open collection: its anchor id (0 for none) and its nodes so far.
    open: Vec<(usize, u64)>,
    /// Anchor id → nodes its node has once expanded (aliases inside it included).
    anchored: HashMap<usize, u64>,
    alias_nodes: u64,
}

impl<'l> NodeCount<'l> {
    fn new(limits: &'l Limits) -> NodeCount<'l> {
        NodeCount {
            limits,
            open: Vec::new(),
            anchored: HashMap::new(),
            alias_nodes: 0,
        }
    }

    fn event(&mut self, event: &Event<'_>, line: usize) -> Result<(), LimitError> {
        match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((*anchor, 1));
                if self.open.len() > self.limits.max_depth {
                    return Err(LimitError::TooDeep {
                        line,
                        max: self.limits.max_depth,
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, nodes)) = self.open.pop() {
                    self.finish(anchor, nodes);
                }
            }
            Event::Scalar(_, _, anchor, _) => self.finish(*anchor, 1),
            Event::Alias(anchor) => {
                // An anchor still open (a recursive alias) is an error serde_yaml reports.
                let nodes = self.anchored.get(anchor).copied().unwrap_or(1);
                self.alias_nodes = self.alias_nodes.saturating_add(nodes);
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(LimitError::TooManyAliasNodes {
                        line,
                        max: self.limits.max_alias_nodes,
                    });
                }
                self.finish(0, nodes);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// A node of `nodes` nodes is complete: remember it under its anchor, add it to its parent.
    fn finish(&mut self, anchor: usize, nodes: u64) {
        if anchor != 0 {
            self.anchored.insert(anchor, nodes);
        }
        if let Some((_, parent)) = self.open.last_mut() {
            *parent = parent.saturating_add(nodes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn laughs(levels: usize, width: usize) -> String {
        let mut text = String::from("a0: &a0 lol\n");
        for level in 1..=levels {
            let refs = vec![format!("*a{}", level - 1); width].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        text
    }

    #[test]
    fn an_ordinary_config_passes() {
        let text = "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: { mode: merge, approvers: [a@b.jp] }\n    networks:\n      x: { type: x, credentials: X_CITY, rate: { requests: 1, per: 1s } }\n";
        assert_eq!(check(text, &CONFIG), Ok(()));
    }

    #[test]
    fn a_few_aliases_are_fine() {
        let text = "base: &net { type: outbox, rate: { requests: 1, per: 1s } }\na: *net\nb: *net\nc: *net\n";
        assert_eq!(check(text, &CONFIG), Ok(()));
    }

    #[test]
    fn too_large_is_refused_by_its_size_alone() {
        let text = format!("timezone: {}\n", "x".repeat(CONFIG.max_bytes));
        assert!(matches!(
            check(&text, &CONFIG),
            Err(LimitError::TooLarge { max, .. }) if max == CONFIG.max_bytes
        ));
    }

    #[test]
    fn deep_flow_nesting_is_refused_on_its_line_at_once() {
        let text = format!(
            "title: t\nnested: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let started = Instant::now();
        let e = check(
            &text,
            &Limits {
                max_bytes: usize::MAX,
                ..CONFIG
            },
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e, LimitError::TooDeep { line: 2, max: 32 });
        assert!(e.to_string().contains("32 levels"), "{e}");
    }

    #[test]
    fn deep_flow_nesting_over_many_lines_is_refused_where_it_passes_the_limit() {
        let text = format!("{}{}", "[\n".repeat(100_000), "]\n".repeat(100_000));
        let started = Instant::now();
        let e = check(
            &text,
            &Limits {
                max_bytes: usize::MAX,
                ..CONFIG
            },
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // The scanner's read-ahead may meet its own limit (255 levels) first.
        let LimitError::TooDeep { line, max: 32 } = e else {
            panic!("{e:?}")
        };
        assert!((33..=256).contains(&line), "{line}");
    }

    #[test]
    fn deep_block_nesting_is_refused() {
        let mut text = String::new();
        for level in 0..40 {
            text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        text.push_str(&format!("{}end: 1\n", "  ".repeat(40)));
        let e = check(&text, &CONFIG).unwrap_err();
        // Level 33 is the mapping that starts on line 33.
        assert!(matches!(e, LimitError::TooDeep { line: 33, .. }), "{e:?}");
    }

    #[test]
    fn thirty_two_levels_pass() {
        let text = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert_eq!(check(&text, &CONFIG), Ok(()));
    }

    #[test]
    fn a_billion_laughs_is_refused_where_it_passes_the_limit() {
        let text = laughs(9, 10);
        let started = Instant::now();
        let e = check(&text, &CONFIG).unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(100));
        // Lines 2–4 add 10, 110 and 1,110 nodes; line 5 passes 10,000.
        assert_eq!(
            e,
            LimitError::TooManyAliasNodes {
                line: 5,
                max: 10_000
            }
        );
    }

    #[test]
    fn the_expansion_counts_nested_collections_and_aliases_inside_anchors() {
        // `*a` adds a's 3 nodes; each `*b` adds b's sequence and its three copies of a.
        let text = "a: &a [1, 2]\nb: &b [*a, *a, *a]\nc: [*b, *b]\n";
        let limits = Limits {
            max_alias_nodes: 3 * 3 + 2 * (1 + 3 * 3),
            ..CONFIG
        };
        assert_eq!(check(text, &limits), Ok(()));
        let one_less = Limits {
            max_alias_nodes: limits.max_alias_nodes - 1,
            ..CONFIG
        };
        assert!(matches!(
            check(text, &one_less),
            Err(LimitError::TooManyAliasNodes { line: 3, .. })
        ));
    }

    #[test]
    fn a_syntax_error_is_refused_with_its_line_and_a_short_message() {
        let text = format!("title: t\nnetworks: [x\n# {}", "y".repeat(1000));
        let e = check(&text, &FRONT_MATTER).unwrap_err();
        let LimitError::Syntax { line, message } = &e else {
            panic!("{e:?}")
        };
        assert!(*line >= 2, "{e:?}");
        assert!(message.len() < 400, "{message}");
    }

    #[test]
    fn an_unknown_alias_is_a_syntax_error() {
        assert!(matches!(
            check("a: *nowhere\n", &CONFIG),
            Err(LimitError::Syntax { line: 1, .. })
        ));
    }
}
