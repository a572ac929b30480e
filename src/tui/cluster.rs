//! The wizard's cluster steps: preflight, the typed confirmation, step 2 (apply) and step 3
//! (install), as state and pure updates. Each screen's work is one engine request at a time;
//! the state changes in `app.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::answers::Answers;
use crate::core::checks::{Outcome, Report};
use crate::engine::apply::{Applied, ApplyOutcome, Condition};
use crate::engine::install::InstallOutcome;
use crate::engine::{EngineError, Request};

/// The request the wizard is waiting on (the engine answers one at a time here), so that a
/// `Failed` event reaches the screen that asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    Seed,
    Preflight,
    DryRun,
    Apply,
    Install,
    Rollback(u64),
    Uninstall,
    Verify,
    /// The review's cluster diff: the store's dry run, then helm's.
    ReviewDiff,
    /// After an upgrade verified green: the earlier names deleted, on the operator's `y`.
    DeleteEarlier,
}

/// How long the wizard lets step 2 wait for the sync (the `apply` command's default).
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long helm waits for hooks and workloads (the `install` command's default).
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The cluster a change goes to, as preflight found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub context: String,
    pub server: String,
    pub namespace: String,
}

/// The context and API server of the report's `kube-context` check, whose detail reads
/// "context NAME, API server URL, CLOUD".
pub fn target_of(report: &Report, namespace: &str) -> Option<Target> {
    let check = report
        .checks()
        .find(|c| c.id == "kube-context" && c.result == Outcome::Success)?;
    let rest = check.detail.strip_prefix("context ")?;
    let (context, rest) = rest.split_once(", API server ")?;
    let server = rest.rsplit_once(", ").map_or(rest, |(s, _)| s);
    Some(Target {
        context: context.to_string(),
        server: server.to_string(),
        namespace: namespace.to_string(),
    })
}

/// The preflight screen.
#[derive(Clone, Debug, Default)]
pub struct PreflightView {
    pub running: bool,
    pub report: Option<Report>,
    /// The request itself failed (invalid answers, stopped).
    pub error: Option<EngineError>,
}

impl PreflightView {
    /// Every check ran and none failed.
    pub fn passed(&self) -> bool {
        !self.running && self.error.is_none() && self.report.as_ref().is_some_and(Report::success)
    }

    /// (passed, warnings, errors, skipped)
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut n = (0, 0, 0, 0);
        for c in self.report.iter().flat_map(Report::checks) {
            match c.result {
                Outcome::Success => n.0 += 1,
                Outcome::Warning => n.1 += 1,
                Outcome::Error => n.2 += 1,
                Outcome::Skipped => n.3 += 1,
            }
        }
        n
    }
}

/// The typed confirmation before the first change to the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfirmView {
    pub typed: String,
    /// The context the operator confirmed by typing its name.
    pub confirmed: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApplyPhase {
    #[default]
    Idle,
    /// The server-side dry run: what would change.
    DryRunning,
    Previewed,
    Applying,
    Done,
}

/// Step 2's screen: the dry run's diff, then the applied objects and the conditions.
#[derive(Clone, Debug, Default)]
pub struct ApplyView {
    pub phase: ApplyPhase,
    /// What the dry run said of each object.
    pub preview: Vec<Applied>,
    /// What the apply did, as it went.
    pub applied: Vec<Applied>,
    /// Each change of the store's and the ExternalSecret's Ready condition, in order.
    pub conditions: Vec<Condition>,
    pub outcome: Option<ApplyOutcome>,
    pub error: Option<EngineError>,
}

impl ApplyView {
    pub fn running(&self) -> bool {
        matches!(self.phase, ApplyPhase::DryRunning | ApplyPhase::Applying)
    }

    /// The store is Ready and the ExternalSecret synced: step 3 can run.
    pub fn synced(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.synced)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InstallPhase {
    #[default]
    Idle,
    Running,
    Done,
    RollingBack(u64),
    Uninstalling,
}

/// What the operator chose after a failure, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    RolledBack(u64),
    Uninstalled,
    Failed(EngineError),
}

/// Step 3's screen.
#[derive(Clone, Debug, Default)]
pub struct InstallView {
    pub phase: InstallPhase,
    /// helm ran: (the revision it started after, None for a first install; its timeout).
    pub helm: Option<(Option<u64>, Duration)>,
    /// (kind, name) → (ready, desired).
    pub workloads: BTreeMap<(String, String), (i32, i32)>,
    /// Pods that cannot run → why.
    pub pods: BTreeMap<String, String>,
    /// What `--wait` waits for, in words.
    pub waits: String,
    /// Jobs, warnings, log lines and a recovery, as the command prints them.
    pub log: Vec<String>,
    pub outcome: Option<InstallOutcome>,
    pub error: Option<EngineError>,
    /// `u` was pressed: the next `y` uninstalls.
    pub confirm_uninstall: bool,
    /// `b` was pressed in an upgrade: the next `y` rolls back (beside the forward-only
    /// warning).
    pub confirm_rollback: bool,
    pub recovery: Option<Recovery>,
}

impl InstallView {
    /// The release is stuck in pending-* (a stopped helm run) and nothing runs: `f` clears it.
    pub fn pending(&self) -> Option<&str> {
        match (&self.phase, &self.error) {
            (InstallPhase::Done, Some(EngineError::PendingRelease { state, .. })) => {
                Some(state.as_str())
            }
            _ => None,
        }
    }

    /// helm ran and the step did not end deployed (it failed, or was stopped).
    pub fn failed_after_helm(&self) -> bool {
        self.phase == InstallPhase::Done
            && self.helm.is_some()
            && match &self.outcome {
                Some(InstallOutcome::Failed { rolled_back_to, .. }) => rolled_back_to.is_none(),
                Some(_) => false,
                None => self.error.is_some(),
            }
            && !matches!(
                self.recovery,
                Some(Recovery::RolledBack(_) | Recovery::Uninstalled)
            )
    }

    /// The revision a rollback returns to: the one helm started from, when there was one.
    pub fn rollback_to(&self) -> Option<u64> {
        self.helm
            .and_then(|(previous, _)| previous)
            .filter(|_| self.failed_after_helm())
    }

    /// A first install that failed: it may be uninstalled, only if the operator asks.
    pub fn may_uninstall(&self) -> bool {
        self.failed_after_helm() && matches!(self.helm, Some((None, _)))
    }

    pub fn running(&self) -> bool {
        matches!(
            self.phase,
            InstallPhase::Running | InstallPhase::RollingBack(_) | InstallPhase::Uninstalling
        )
    }
}

/// Step 3's request, built in one place.
/// With `recover`, a release stuck in pending-* is cleared first (the operator asked: `f`).
pub fn install_request(answers: &Answers, timeout: Duration, recover: bool) -> Request {
    Request::Install {
        answers: Box::new(answers.clone()),
        timeout,
        rollback_on_failure: false,
        uninstall_on_failure: false,
        recover,
        dry_run: false,
    }
}
