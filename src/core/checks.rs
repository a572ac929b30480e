//! Checks as data, modelled on `linkerd check`: each has an id, a description, a result, a
//! detail and a hint. `preflight` and `verify` build them. The JSON shape is the contract's:
//! `{success, categories: [{name, checks: [{id, description, result, detail, hint}]}]}`.
//!
//! The hint of a failing check is its fix followed by a pointer to the check's
//! troubleshooting entry (`core::troubleshooting`), so every front end shows both.

use serde::Serialize;
use serde_json::{Value, json};

use super::troubleshooting::{POINTER_SEPARATOR, pointer};
use crate::exit::Exit;

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Warning,
    Error,
    /// Not run: something it needs failed first (the detail says what).
    Skipped,
}

impl Outcome {
    /// A glyph and a word for every status: never colour alone.
    pub fn glyph(self) -> &'static str {
        match self {
            Outcome::Success => "√",
            Outcome::Warning => "‼",
            Outcome::Error => "×",
            Outcome::Skipped => "-",
        }
    }

    /// The word that says the same as the glyph.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Success => "ok",
            Outcome::Warning => "warning",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: String,
    pub description: String,
    pub result: Outcome,
    pub detail: String,
    pub hint: String,
}

impl Check {
    pub fn new(id: &str, description: &str) -> Check {
        Check {
            id: id.into(),
            description: description.into(),
            result: Outcome::Skipped,
            detail: String::new(),
            hint: String::new(),
        }
    }

    pub fn success(mut self, detail: impl Into<String>) -> Check {
        self.result = Outcome::Success;
        self.detail = detail.into();
        self
    }

    /// A warning; `fix` says what to do, and the hint adds where the check's entry is.
    pub fn warning(mut self, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        self.result = Outcome::Warning;
        self.detail = detail.into();
        self.hint = self.hint_of(fix.into());
        self
    }

    /// An error; `fix` says what to do, and the hint adds where the check's entry is.
    pub fn error(mut self, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        self.result = Outcome::Error;
        self.detail = detail.into();
        self.hint = self.hint_of(fix.into());
        self
    }

    fn hint_of(&self, fix: String) -> String {
        let see = pointer(&self.id);
        if fix.is_empty() {
            see
        } else {
            format!("{fix}{POINTER_SEPARATOR}{see}")
        }
    }

    /// The hint without its pointer: what to do.
    pub fn fix(&self) -> &str {
        let see = pointer(&self.id);
        match self.hint.strip_suffix(see.as_str()) {
            Some(fix) => fix.strip_suffix(POINTER_SEPARATOR).unwrap_or(fix),
            None => &self.hint,
        }
    }

    /// The hint's pointer to the check's troubleshooting entry; empty when it has none.
    pub fn see(&self) -> &str {
        let fix = self.fix().len();
        self.hint[fix..]
            .strip_prefix(POINTER_SEPARATOR)
            .unwrap_or(&self.hint[fix..])
    }

    pub fn skipped(mut self, detail: impl Into<String>) -> Check {
        self.result = Outcome::Skipped;
        self.detail = detail.into();
        self
    }
}

/// Checks grouped by category, in the order they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub categories: Vec<(String, Vec<Check>)>,
}

impl Report {
    pub fn push(&mut self, category: &str, check: Check) {
        match self
            .categories
            .iter_mut()
            .find(|(name, _)| name == category)
        {
            Some((_, checks)) => checks.push(check),
            None => self.categories.push((category.into(), vec![check])),
        }
    }

    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.categories.iter().flat_map(|(_, c)| c.iter())
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.checks().filter(|c| c.result == outcome).count()
    }

    /// No check failed (warnings and skipped checks aside).
    pub fn success(&self) -> bool {
        self.count(Outcome::Error) == 0
    }

    /// The exit code of the contract: 3 on an error, 4 on warnings only (3 with
    /// `--fail-on-warning`).
    pub fn exit(&self, fail_on_warning: bool) -> Exit {
        Exit::from_findings(
            self.count(Outcome::Error),
            self.count(Outcome::Warning),
            fail_on_warning,
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "success": self.success(),
            "categories": self.categories.iter().map(|(name, checks)| json!({
                "name": name,
                "checks": checks,
            })).collect::<Vec<_>>(),
        })
    }

    /// The text form: a heading per category, a glyph per check, the detail and the hint
    /// indented below it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, checks) in &self.categories {
            out.push_str(&format!("{name}\n{}\n", "-".repeat(name.chars().count())));
            for c in checks {
                out.push_str(&format!(
                    "{} {} {} [{}]",
                    c.result.glyph(),
                    c.result.word(),
                    c.description,
                    c.id
                ));
                if !c.detail.is_empty() {
                    out.push_str(&format!(": {}", c.detail));
                }
                out.push('\n');
                if matches!(c.result, Outcome::Error | Outcome::Warning) {
                    if !c.fix().is_empty() {
                        out.push_str(&format!("    fix: {}\n", c.fix()));
                    }
                    if !c.see().is_empty() {
                        out.push_str(&format!("    {}\n", c.see()));
                    }
                }
            }
            out.push('\n');
        }
        let (e, w) = (self.count(Outcome::Error), self.count(Outcome::Warning));
        out.push_str(&match (e, w) {
            (0, 0) => "Status check results are √\n".to_string(),
            (0, w) => format!("Status check results are ‼ ({w} warning(s))\n"),
            (e, _) => format!("Status check results are × ({e} error(s), {w} warning(s))\n"),
        });
        out
    }
}

/// Parses `v1.34.12` (or `v1.30.0-eks-…`) into (major, minor).
pub fn kube_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.trim_start_matches('v');
    let mut parts = v.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_and_json_follow_the_contract() {
        let mut r = Report::default();
        r.push(
            "kubernetes",
            Check::new("kube-api", "API reachable").success("v1.34.12"),
        );
        assert_eq!(r.exit(false), Exit::Success);
        r.push(
            "tools",
            Check::new("helm", "helm found").warning("3.12", "upgrade helm"),
        );
        assert_eq!(r.exit(false), Exit::Warnings);
        assert_eq!(r.exit(true), Exit::CheckFailed);
        r.push(
            "kubernetes",
            Check::new("crds", "CRDs").error("missing", "install ESO"),
        );
        assert_eq!(r.exit(false), Exit::CheckFailed);
        let j = r.to_json();
        assert_eq!(j["success"], false);
        assert_eq!(j["categories"][0]["name"], "kubernetes");
        assert_eq!(j["categories"][0]["checks"][1]["result"], "error");
        assert_eq!(
            j["categories"][1]["checks"][0]["hint"],
            format!("upgrade helm; {}", pointer("helm"))
        );
        assert!(
            r.to_text().contains(&format!(
                "× error CRDs [crds]: missing\n    fix: install ESO\n    {}\n",
                pointer("crds")
            )),
            "{}",
            r.to_text()
        );
    }

    #[test]
    fn a_failing_check_points_at_its_entry_after_its_fix() {
        let c = Check::new("kube-api", "API server reachable").error("refused", "check the VPN");
        assert_eq!(c.fix(), "check the VPN");
        assert_eq!(
            c.see(),
            format!(
                "see `caracal-deploy explain kube-api` or https://github.com/Garudex-Labs/caracal-deploy/blob/v{}/docs/troubleshooting.md#kube-api",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(c.hint, format!("{}; {}", c.fix(), c.see()));
        // Without a fix, the pointer alone; a hint made by hand keeps what it says.
        let c = Check::new("helm", "helm found").warning("?", "");
        assert_eq!((c.fix(), c.see()), ("", pointer("helm").as_str()));
        let c = Check {
            hint: "by hand".into(),
            ..Check::new("helm", "helm found")
        };
        assert_eq!((c.fix(), c.see()), ("by hand", ""));
        // A success has no hint.
        assert!(
            Check::new("helm", "helm found")
                .success("v3.22.0")
                .hint
                .is_empty()
        );
    }

    #[test]
    fn kube_versions() {
        assert_eq!(kube_minor("v1.34.12"), Some((1, 34)));
        assert_eq!(kube_minor("v1.30.4-eks-a737599"), Some((1, 30)));
        assert_eq!(kube_minor("v1.31+"), Some((1, 31)));
        assert_eq!(kube_minor("nonsense"), None);
    }
}
