//! The troubleshooting entry of every check, from `docs/troubleshooting.md` (embedded, so
//! `explain` works offline). An entry is a level-2 heading whose text is a check id, and runs
//! to the next level-2 heading; its anchor on GitHub is the id itself. The hint of a failing
//! check ends with a pointer to its entry (see `Check::error`): `caracal-deploy explain ID`
//! and the entry's URL at this version's tag, as `linkerd check` points at its docs.

use std::sync::LazyLock;

/// Where the project's documents are published: the one place the repository is named. The
/// pointer of every hint is built from it.
pub const REPOSITORY: &str = "https://github.com/Garudex-Labs/caracal-deploy";

/// The document's path in the repository.
pub const DOCUMENT_PATH: &str = "docs/troubleshooting.md";

/// The document, as this build was made with it.
pub const DOCUMENT: &str = include_str!("../../docs/troubleshooting.md");

/// The document at this version's tag, so the entry read matches the checks that pointed at it.
pub fn document_url() -> String {
    format!(
        "{REPOSITORY}/blob/v{}/{DOCUMENT_PATH}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The entry of check `id` online: a versioned anchor.
pub fn entry_url(id: &str) -> String {
    format!("{}#{id}", document_url())
}

/// The command that prints the entry of check `id`.
pub fn explain_command(id: &str) -> String {
    format!("caracal-deploy explain {id}")
}

/// What a failing check's hint ends with: where its entry is, offline and online.
pub fn pointer(id: &str) -> String {
    format!("see `{}` or {}", explain_command(id), entry_url(id))
}

/// The separator between a hint's fix and its pointer.
pub const POINTER_SEPARATOR: &str = "; ";

/// One entry of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The check id (the heading, and the anchor).
    pub id: &'static str,
    /// The first paragraph, without Markdown emphasis: which command runs it, its category and
    /// what it checks.
    pub summary: String,
    /// The whole section, heading included, as Markdown.
    pub text: &'static str,
}

/// Every entry, in the document's order.
pub fn entries() -> &'static [Entry] {
    static ENTRIES: LazyLock<Vec<Entry>> = LazyLock::new(|| parse(DOCUMENT));
    &ENTRIES
}

/// The entry of check `id`, if the document has one.
pub fn entry(id: &str) -> Option<&'static Entry> {
    entries().iter().find(|e| e.id == id)
}

/// The sections of a document: level-2 headings outside fenced code blocks.
fn parse(document: &'static str) -> Vec<Entry> {
    let mut starts = Vec::new();
    let mut fenced = false;
    let mut offset = 0;
    for line in document.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && let Some(heading) = trimmed.strip_prefix("## ") {
            starts.push((offset, heading.trim()));
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &(start, id))| {
            let end = starts.get(i + 1).map_or(document.len(), |&(next, _)| next);
            let text = document[start..end].trim_end();
            Entry {
                id,
                summary: summary(text),
                text,
            }
        })
        .collect()
}

/// The first paragraph after the heading, on one line, without `*` and backticks.
fn summary(section: &str) -> String {
    section
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['*', '`'], "")
}

/// The ids nearest to an unknown one: those that contain it (or that it contains), then those
/// within a few edits, nearest first; at most three.
pub fn nearest(unknown: &str) -> Vec<&'static str> {
    let wanted: String = unknown
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if matches!(c, '_' | '.' | ' ') { '-' } else { c })
        .collect();
    let mut ranked: Vec<(usize, &'static str)> = entries()
        .iter()
        .map(|e| {
            let rank = if wanted.len() >= 3 && (e.id.contains(&wanted) || wanted.contains(e.id)) {
                0
            } else {
                edit_distance(&wanted, e.id)
            };
            (rank, e.id)
        })
        .collect();
    ranked.sort();
    let Some(&(best, _)) = ranked.first() else {
        return Vec::new();
    };
    // Nothing within a third of the id's length is a guess, not a neighbour; the best is still
    // named, so the operator always gets somewhere to look.
    let limit = best.max(wanted.chars().count() / 3);
    ranked
        .into_iter()
        .filter(|&(rank, _)| rank <= limit)
        .take(3)
        .map(|(_, id)| id)
        .collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_says_what_it_means_why_how_to_confirm_and_the_fix() {
        assert!(!entries().is_empty());
        for e in entries() {
            assert!(
                e.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}: an id is its own anchor, so lowercase letters, digits and dashes only",
                e.id
            );
            for part in [
                "**What it means.**",
                "**Likely causes.**",
                "**Confirm.**",
                "**Fix.**",
            ] {
                assert!(e.text.contains(part), "{}: no {part}", e.id);
            }
            assert!(!e.summary.is_empty(), "{}: no summary", e.id);
            assert!(!e.text.contains('<'), "{}: no HTML in an entry", e.id);
        }
    }

    #[test]
    fn headings_inside_code_blocks_are_not_entries() {
        let doc: &'static str = "# t\n\n## a-b\n\nfirst *line*\nsecond `x`\n\nbody\n```sh\n## not-one\n```\n## c\n\ntext\n";
        let parsed = parse(doc);
        assert_eq!(
            parsed.iter().map(|e| e.id).collect::<Vec<_>>(),
            ["a-b", "c"]
        );
        assert_eq!(parsed[0].summary, "first line second x");
        assert!(parsed[0].text.ends_with("## not-one\n```"));
    }

    #[test]
    fn the_nearest_ids_of_a_typo_or_a_fragment() {
        assert_eq!(edit_distance("kube-contxt", "kube-context"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(nearest("kube-contxt")[0], "kube-context");
        assert_eq!(nearest("store.synced")[0], "store-synced");
        let network = nearest("network");
        assert_eq!(network.len(), 3, "{network:?}");
        assert!(network.iter().all(|id| id.starts_with("network-")));
        assert!(!nearest("zzzzzzzzzzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn the_pointer_is_a_versioned_anchor_and_the_command() {
        assert_eq!(
            pointer("helm"),
            format!(
                "see `caracal-deploy explain helm` or {REPOSITORY}/blob/v{}/docs/troubleshooting.md#helm",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
