//! The wizard's upgrade: a release of these answers already exists, so the flow moves it
//! forward. What the upgrade changes is read first (the review's cluster diff: the engine's
//! upgrade plan), a downgrade needs the target version typed, and the cluster steps then run
//! as an upgrade: the store's objects are taken over from whoever applied them, StatefulSets
//! whose spec cannot change in place are recreated with their pods and volumes kept, and a
//! failed helm run offers a rollback only beside the forward-only warning. After a green
//! verify, the earlier names the secrets were copied from may be deleted, when asked.

use crate::core::answers::Answers;
use crate::core::catalog::VersionStep;
use crate::core::checks::Report;
use crate::core::seed::SeedPlan;
use crate::engine::seed::EarlierOutcome;
use crate::engine::upgrade::UpgradePlan;
use crate::exit::Exit;

/// The upgrade's state. Empty until a release is found.
#[derive(Clone, Debug, Default)]
pub struct UpgradeView {
    /// The plan, once read, and the answers it was read for (a plan of other answers is stale).
    pub plan: Option<(Box<UpgradePlan>, Box<Answers>)>,
    /// The wizard was moved to the review by the release found at the start: when the plan
    /// shows nothing to change, it goes on to step 4 as before.
    pub resuming: bool,
    /// The downgrade box is open: what has been typed (the target version, to confirm).
    pub downgrade_typed: Option<String>,
    /// The target version the operator typed to confirm a downgrade to it.
    pub downgrade_confirmed: Option<String>,
    /// StatefulSets deleted before helm (pods and volumes kept), once done.
    pub orphaned: Option<Vec<String>>,
    /// The review's diff found no release (one found at the start is gone): not an upgrade.
    pub no_release: bool,
    /// The earlier secret names, after a green verify.
    pub earlier: EarlierStep,
}

/// Deleting the earlier chart's secret names (`formerly`), only when the operator asks, only
/// after verify ended with every check green.
#[derive(Clone, Debug, Default)]
pub enum EarlierStep {
    #[default]
    NotAsked,
    /// `x` pressed: the next `y` deletes.
    Asking,
    Deleting,
    Done(Box<EarlierOutcome>),
    /// The request failed (the lines say why, with the fix).
    Failed(Vec<String>),
}

impl UpgradeView {
    /// The plan, when it was read for these answers.
    pub fn current(&self, answers: Option<&Answers>) -> Option<&UpgradePlan> {
        match (&self.plan, answers) {
            (Some((plan, planned_for)), Some(answers)) if **planned_for == *answers => Some(plan),
            _ => None,
        }
    }
}

/// Moving to `plan.target` is not known to be forward: its images may not work with the
/// schema the deployed chart's migrations left.
pub fn is_downgrade(plan: &UpgradePlan) -> bool {
    matches!(plan.step, VersionStep::Backward | VersionStep::Unknown)
}

/// Why the plan cannot be carried out as it is (secrets of a shape the target cannot use, a
/// key the target mounts that the ExternalSecret would not produce), if it cannot.
pub fn blocked(plan: &UpgradePlan) -> Option<String> {
    let errors = plan.seed.errors();
    if !errors.is_empty() {
        return Some(format!(
            "{} secret(s) cannot be used as they are ({}): see the cluster diff; nothing was changed",
            errors.len(),
            errors
                .iter()
                .map(|i| i.remote_name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    plan.new_keys
        .iter()
        .find(|k| !k.produced && !k.optional)
        .map(|k| {
            format!(
                "chart {} mounts {} from caracal-runtime, which the ExternalSecret would not produce; nothing was changed",
                plan.target, k.key
            )
        })
}

/// The plan changes nothing: the same chart, the same objects and values, no secret to write.
pub fn changes_nothing(plan: &UpgradePlan) -> bool {
    plan.step == VersionStep::Same
        && plan.objects.is_empty()
        && plan.values.is_empty()
        && plan.seed.writes() == 0
}

/// The header bar's few words: the deployed chart against the target.
pub fn badge(plan: &UpgradePlan) -> String {
    format!(
        "⇡ {} → {}{}",
        plan.deployed.chart_version,
        plan.target,
        match plan.step {
            VersionStep::Backward => " DOWNGRADE",
            VersionStep::Unknown => " (order not known)",
            VersionStep::Same | VersionStep::Forward => "",
        }
    )
}

/// The deployed chart and app against the target's, in words.
pub fn header(plan: &UpgradePlan) -> String {
    let d = &plan.deployed;
    format!(
        "upgrade {}: chart {} (app {}) → {}{}",
        plan.release,
        d.chart_version,
        d.app_version,
        plan.target_text(),
        match plan.step {
            VersionStep::Backward => " · a DOWNGRADE",
            VersionStep::Unknown => " · order not known",
            VersionStep::Same | VersionStep::Forward => "",
        }
    )
}

/// Every check green: the only verify after which earlier names may be deleted (a warning is
/// not green; `upgrade --delete-earlier` holds the same line).
pub fn all_green(report: &Report) -> bool {
    report.exit(false) == Exit::Success
}

/// The earlier names whose value is under the current name once `plan` is written (the
/// engine reads the secret manager again before deleting any).
pub fn deletable(plan: &SeedPlan) -> Vec<(String, String)> {
    plan.earlier_after_writes()
        .into_iter()
        .filter(|e| plan.keep_reason(e).is_none())
        .map(|e| (e.remote, e.current))
        .collect()
}
