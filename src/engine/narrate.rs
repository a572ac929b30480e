//! What the headless commands and the plain wizard (`--plain`) print for the engine's events:
//! one narration, so the two front ends say the same thing about the same step. Pure text.

use std::collections::BTreeMap;
use std::path::Path;

use crate::core::checks::{Check, Outcome, Report};
use crate::core::seed::SeedPlan;
use crate::engine::apply::{Applied, ApplyAction, ApplyOutcome, Condition};
use crate::engine::install::InstallOutcome;
use crate::engine::seed::{EarlierOutcome, Progress};
use crate::engine::{EngineError, Event};

/// Where a line of the headless command goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// Results: the plan and the summary.
    Out(String),
    /// Progress.
    Err(String),
}

/// The lines `seed` (and the plain wizard) print for one engine event of seeding. Pure: the wizard draws the
/// same events, and a test compares the two front ends over one run.
pub fn seed_lines(event: &Event, answers_path: &Path) -> Vec<Line> {
    match event {
        Event::SeedReading { target, secrets } => {
            vec![Line::Err(format!(
                "Reading {secrets} secrets from {target}…"
            ))]
        }
        Event::SeedPlanned { target, plan } => {
            let mut lines = vec![Line::Out(format!(
                "Plan for {target} ({} to write):",
                plan.writes()
            ))];
            lines.extend(
                plan.lines()
                    .into_iter()
                    .map(|l| Line::Out(format!("  {l}"))),
            );
            lines
        }
        Event::SeedProgress(p) => match p {
            Progress::Started { .. } => vec![],
            Progress::Done {
                remote,
                verb,
                digest,
            } => vec![Line::Err(format!("  ✓ {remote}: {verb} ({digest})"))],
            Progress::Failed { remote, error } => {
                let mut lines = vec![Line::Err(format!("  ✗ {remote}: {error}"))];
                if let Some(fix) = error.fix() {
                    lines.push(Line::Err(format!("    fix: {fix}")));
                }
                lines
            }
            Progress::NotStarted { remote } => {
                vec![Line::Err(format!("  · {remote}: not started"))]
            }
        },
        Event::SeedFinished(outcome) => {
            let mut lines = vec![Line::Out(format!("{}.", outcome.summary))];
            if outcome.kek_rotated {
                lines.push(Line::Out(format!(
                    "The KEK was rotated and the previous key kept. Set `kekRotation: true` in {} and re-apply \
                     and install, so the services read both keys until the re-seal sweep completes.",
                    answers_path.display()
                )));
            }
            if outcome.interrupted {
                lines.push(Line::Out(
                    "Interrupted: every secret is either untouched or complete. Run the same command again to finish."
                        .into(),
                ));
            }
            lines
        }
        // Not events of seeding.
        Event::PreflightDone(_)
        | Event::Applied(_)
        | Event::StoreCondition(_)
        | Event::ApplyDone(_)
        | Event::InstallProgress(_)
        | Event::InstallDone(_)
        | Event::RolledBack { .. }
        | Event::Uninstalled { .. }
        | Event::VerifyProgress(_)
        | Event::VerifyDone(_)
        | Event::Detected(_)
        | Event::ClusterChoices(_)
        | Event::UpgradePlanned(_)
        | Event::Orphaned { .. }
        | Event::EarlierDeleted(_) => vec![],
        Event::Failed(EngineError::Interrupted) => {
            vec![Line::Out(
                "Interrupted before any write: nothing was changed.".into(),
            )]
        }
        Event::Failed(e) => {
            let mut lines: Vec<Line> = error_lines(e).into_iter().map(Line::Err).collect();
            if matches!(e, EngineError::Source(_)) {
                lines.push(Line::Err("nothing was written.".into()));
            }
            lines
        }
    }
}

/// How helm ended, for the operator.
pub fn install_text(outcome: &InstallOutcome, release: &str) -> String {
    match outcome {
        InstallOutcome::UpToDate { revision } => format!(
            "{release} is up to date (revision {revision}: same chart version, same values); nothing was changed."
        ),
        InstallOutcome::Deployed { revision } => {
            format!("{release} deployed: revision {revision}.")
        }
        InstallOutcome::WouldChange { from, fields } => {
            let mut t = match from {
                Some(r) => format!("Dry run: helm would make a new revision after {r}"),
                None => "Dry run: helm would install the release".to_string(),
            };
            if fields.is_empty() {
                t.push_str("; nothing was changed.");
            } else {
                t.push_str(&format!(
                    "; values that differ:\n  {}\nnothing was changed.",
                    fields.join("\n  ")
                ));
            }
            t
        }
        InstallOutcome::Failed {
            reason,
            helm,
            pods,
            jobs: _,
            rolled_back_to,
            uninstalled,
        } => {
            let mut t = format!("{release} failed: {reason}");
            if !helm.is_empty() && helm != reason {
                t.push_str(&format!("\nhelm: {helm}"));
            }
            for p in pods {
                t.push_str(&format!("\n  {p}"));
            }
            match (rolled_back_to, uninstalled) {
                (Some(r), _) => t.push_str(&format!("\nRolled back to revision {r}.")),
                (None, true) => t.push_str(&format!(
                    "\nUninstalled {release}: it never deployed (--uninstall-on-failure)."
                )),
                (None, false) => t.push_str(
                    "\nNot undone: --rollback-on-failure returns to the last deployed revision; a release that never deployed is removed only with --uninstall-on-failure.",
                ),
            }
            t
        }
    }
}

/// An engine error: the message, then its fix on a line of its own (each answers problem on
/// its own line).
pub fn error_lines(error: &EngineError) -> Vec<String> {
    match error {
        EngineError::Invalid(problems) => problems.iter().map(|p| format!("error: {p}")).collect(),
        other => {
            let mut lines = vec![format!("error: {other}")];
            if let Some(fix) = other.fix() {
                lines.push(format!("  fix: {fix}"));
            }
            lines
        }
    }
}

/// One object of step 2 as the apply (or its dry run) found it, with the fields that change.
pub fn applied_lines(a: &Applied) -> Vec<String> {
    let mut lines = vec![format!("  {} {}: {}", a.kind, a.name, a.action.verb())];
    lines.extend(a.action.fields().iter().map(|f| format!("      {f}")));
    lines
}

/// A change of the store's or the ExternalSecret's Ready condition.
pub fn condition_line(c: &Condition) -> String {
    format!(
        "  {} {} {}: {}{}",
        if c.ready { "✓" } else { "…" },
        c.kind,
        c.name,
        c.reason,
        if c.message.is_empty() {
            String::new()
        } else {
            format!(": {}", c.message)
        }
    )
}

/// How step 2 ended, in one sentence.
pub fn apply_summary(o: &ApplyOutcome) -> String {
    let count = |f: fn(&ApplyAction) -> bool| o.objects.iter().filter(|a| f(&a.action)).count();
    let changed = count(|a| matches!(a, ApplyAction::Created | ApplyAction::Configured(_)));
    let would = count(|a| matches!(a, ApplyAction::WouldCreate | ApplyAction::WouldChange(_)));
    let unchanged = count(|a| *a == ApplyAction::Unchanged);
    if o.dry_run {
        format!("Dry run: {would} would change, {unchanged} unchanged; nothing was changed.")
    } else if o.interrupted {
        format!(
            "Interrupted: {changed} applied, {unchanged} unchanged, the rest not applied. Run the same command again to finish."
        )
    } else {
        format!(
            "{changed} applied, {unchanged} unchanged; the store is Ready and the ExternalSecret synced."
        )
    }
}

/// One check: glyph, word, id, detail.
pub fn check_line(c: &Check) -> String {
    let mut text = format!("  {} {} {}", c.result.glyph(), c.result.word(), c.id);
    if !c.detail.is_empty() {
        text.push_str(&format!(": {}", c.detail));
    }
    text
}

/// The ids of the checks in error or warning.
pub fn not_green(r: &Report) -> Vec<&str> {
    r.checks()
        .filter(|c| matches!(c.result, Outcome::Error | Outcome::Warning))
        .map(|c| c.id.as_str())
        .collect()
}

/// A waiting verify's reports, told as changes: a count at first, then each check whose result
/// or detail moved.
#[derive(Debug, Default)]
pub struct CheckChanges {
    seen: Option<BTreeMap<String, (Outcome, String)>>,
}

impl CheckChanges {
    pub fn lines(&mut self, report: &Report) -> Vec<String> {
        let now: BTreeMap<String, (Outcome, String)> = report
            .checks()
            .map(|c| (c.id.clone(), (c.result, c.detail.clone())))
            .collect();
        let lines = match &self.seen {
            None => {
                let red = not_green(report);
                vec![format!(
                    "{} checks; {} not green yet{}",
                    now.len(),
                    red.len(),
                    if red.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", red.join(", "))
                    }
                )]
            }
            Some(before) => report
                .checks()
                .filter(|c| before.get(&c.id) != now.get(&c.id))
                .map(check_line)
                .collect(),
        };
        self.seen = Some(now);
        lines
    }
}

/// What to run after a verified install, with what each does.
pub fn next_steps(answers: &Path) -> [(String, &'static str); 3] {
    let answers = answers.display();
    [
        (
            format!("caracal-deploy verify -f {answers} --wait 10m"),
            "prove it again, headless",
        ),
        (
            format!("caracal-deploy dashboard -f {answers}"),
            "watch it live",
        ),
        (
            format!("caracal-deploy seed -f {answers} --rotate NAME"),
            "rotate a secret",
        ),
    ]
}

/// What an upgrade would do, before it does anything: the versions and how they relate, the
/// secret layout carried over, the objects and values helm would change (no secret value), and
/// the keys the target chart newly mounts.
pub fn upgrade_lines(plan: &crate::engine::upgrade::UpgradePlan) -> Vec<String> {
    use crate::core::catalog::VersionStep;
    let d = &plan.deployed;
    let mut lines = vec![format!(
        "Release {} in {}: revision {} ({}), chart {} (app {}) → chart {}{}",
        plan.release,
        plan.namespace,
        d.revision,
        d.status,
        d.chart_version,
        d.app_version,
        plan.target_text(),
        match plan.step {
            VersionStep::Same => ": the same chart, the answers' changes only",
            VersionStep::Forward => ": forward",
            VersionStep::Backward => ": BACKWARD (a downgrade)",
            VersionStep::Unknown => ": the order of these versions is not known",
        }
    )];
    let writes = plan.seed.writes();
    lines.push(format!("Secrets ({writes} to write; nothing is deleted):"));
    lines.extend(plan.seed.lines().into_iter().map(|l| format!("  {l}")));
    let objects = crate::core::upgrade_diff::lines(&plan.objects);
    lines.push(if objects.is_empty() {
        "Objects: none would change.".into()
    } else {
        format!(
            "Objects ({} would change; Secret data is never shown):",
            plan.objects.len()
        )
    });
    lines.extend(objects.into_iter().map(|l| format!("  {l}")));
    let values = crate::core::upgrade_diff::value_lines(&plan.values);
    lines.push(if values.is_empty() {
        "Values: unchanged.".into()
    } else {
        format!("Values ({} fields differ):", plan.values.len())
    });
    lines.extend(values.into_iter().map(|l| format!("  {l}")));
    for (name, paths) in &plan.recreate {
        lines.push(format!(
            "StatefulSet {name} is recreated, its pods and volumes kept: Kubernetes does not change {} in place",
            paths.join(", ")
        ));
    }
    if !plan.new_keys.is_empty() {
        lines.push("Keys the target chart newly mounts from caracal-runtime:".into());
        for k in &plan.new_keys {
            lines.push(format!(
                "  {} {}{}",
                if k.produced { "✓" } else { "✗" },
                k.key,
                match (k.produced, k.optional) {
                    (true, _) => " (the ExternalSecret produces it)",
                    (false, true) => " (optional; the ExternalSecret does not produce it)",
                    (false, false) =>
                        " (NOT produced by the ExternalSecret: its pods would not start)",
                }
            ));
        }
    }
    lines
}

/// What deleting the earlier names did: each deleted name, each kept one with why.
pub fn earlier_lines(outcome: &EarlierOutcome) -> Vec<String> {
    if outcome.deleted.is_empty() && outcome.kept.is_empty() {
        return vec!["No earlier names are left in the secret manager: nothing to delete.".into()];
    }
    let mut lines = vec![format!(
        "Earlier names: {} deleted, {} kept{}",
        outcome.deleted.len(),
        outcome.kept.len(),
        if outcome.failed > 0 {
            format!(" ({} failed to delete)", outcome.failed)
        } else {
            String::new()
        }
    )];
    lines.extend(
        outcome
            .deleted
            .iter()
            .map(|name| format!("  ✓ {name}: deleted (its current name holds the same value)")),
    );
    lines.extend(
        outcome
            .kept
            .iter()
            .map(|(name, why)| format!("  · {name}: kept: {why}")),
    );
    lines
}

/// What `--delete-earlier` would do, for a dry run: each earlier name that would be deleted once
/// the plan is written and verify ends green, each that would be kept with why.
pub fn earlier_plan_lines(plan: &SeedPlan) -> Vec<String> {
    let after = plan.earlier_after_writes();
    if after.is_empty() {
        return vec![
            "--delete-earlier: no earlier names in the secret manager: nothing to delete.".into(),
        ];
    }
    let mut lines = vec![
        "--delete-earlier, once verify ends with every check green (a dry run deletes nothing):"
            .to_string(),
    ];
    lines.extend(after.iter().map(|e| match plan.keep_reason(e) {
        None => format!(
            "  would delete {} (its value is under {})",
            e.remote, e.current
        ),
        Some(why) => format!("  would keep {}: {why}", e.remote),
    }));
    lines
}

/// Said when an upgrade fails or a downgrade is asked for: migrations only run forward.
pub const FORWARD_ONLY: &str = "Caracal's database migrations are forward-only: the migration Jobs \
may already have moved the schema. Rolling the release back is safe only while the older images \
stay schema-compatible; otherwise fix forward (the reason above) and run the upgrade again.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::seed::Earlier;

    #[test]
    fn earlier_lines_name_each_deleted_and_kept_name_with_why() {
        let outcome = EarlierOutcome {
            deleted: vec!["caracal/zone-kek".into()],
            kept: vec![(
                "caracal/old".into(),
                "the delete failed: permission denied: DeleteSecret; fix: allow it".into(),
            )],
            failed: 1,
        };
        assert_eq!(
            earlier_lines(&outcome),
            [
                "Earlier names: 1 deleted, 1 kept (1 failed to delete)",
                "  ✓ caracal/zone-kek: deleted (its current name holds the same value)",
                "  · caracal/old: kept: the delete failed: permission denied: DeleteSecret; fix: allow it",
            ]
        );
        assert_eq!(
            earlier_lines(&EarlierOutcome::default()),
            ["No earlier names are left in the secret manager: nothing to delete."]
        );
    }

    #[test]
    fn a_dry_run_says_which_earlier_names_would_go_and_which_stay() {
        let earlier = |name: &str, same_value| Earlier {
            remote: format!("caracal/{name}"),
            secret: "secret-store-kek".into(),
            current: "caracal/secret-store-kek".into(),
            digest: Some("hmac-sha256:0123456789abcdef".into()),
            same_value,
        };
        let plan = SeedPlan {
            items: vec![],
            earlier: vec![earlier("zone-kek", true), earlier("older-kek", false)],
        };
        assert_eq!(
            earlier_plan_lines(&plan),
            [
                "--delete-earlier, once verify ends with every check green (a dry run deletes nothing):",
                "  would delete caracal/zone-kek (its value is under caracal/secret-store-kek)",
                "  would keep caracal/older-kek: the current name is missing",
            ]
        );
        assert_eq!(
            earlier_plan_lines(&SeedPlan::default()),
            ["--delete-earlier: no earlier names in the secret manager: nothing to delete."]
        );
    }
}
