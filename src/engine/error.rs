//! Why an engine request ended without doing its work, with the fix as its own field, and the
//! one mapping from errors to the contract's exit codes.

use crate::core::problem::Problem;
use crate::core::secret_manager::SecretManagerError;
use crate::engine::source::SourceError;
use crate::exit::Exit;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The answers or the flags are invalid: every problem, each naming its field.
    #[error("{}", problems_text(.0))]
    Invalid(Vec<Problem>),
    /// The secret manager refused or failed.
    #[error("{0}")]
    SecretManager(SecretManagerError),
    /// A value the operator provides (env:, file:, prompt) could not be read.
    #[error("{0}")]
    Source(SourceError),
    /// The cluster refused or failed (the Kubernetes adapter's message and fix).
    #[error("{message}")]
    Cluster {
        message: String,
        fix: Option<String>,
    },
    /// The release is stuck in pending-* (a helm run was stopped before it finished); an
    /// install with `recover` clears it first.
    #[error(
        "release {release} is stuck in {state}: a helm run was stopped before it finished, and helm refuses another until it is cleared"
    )]
    PendingRelease {
        release: String,
        namespace: String,
        state: String,
    },
    /// An upgrade was asked of a release helm does not know.
    #[error("there is no release {release} in namespace {namespace}: nothing to upgrade")]
    NoRelease { release: String, namespace: String },
    /// Stopped by the operator after something was started (the message says what, the fix
    /// how to finish).
    #[error("{message}")]
    Stopped { message: String, fix: String },
    /// Stopped by the operator before anything was changed.
    #[error("interrupted before any change: nothing was changed")]
    Interrupted,
    /// A bug: the task panicked. Nothing half-done is left (each write is one API call).
    #[error("internal error: {0}")]
    Internal(String),
}

fn problems_text(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl EngineError {
    /// What the operator can do about it.
    pub fn fix(&self) -> Option<String> {
        match self {
            EngineError::Invalid(problems) => Some(
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.path, p.fix))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            EngineError::SecretManager(e) => e.fix().map(str::to_string),
            EngineError::Cluster { fix, .. } => fix.clone(),
            EngineError::PendingRelease {
                release,
                namespace,
                state,
            } => {
                let undo = if state == "pending-install" {
                    "uninstalls it (it never deployed)"
                } else {
                    "rolls back to the last deployed revision"
                };
                Some(format!(
                    "run install again with --recover (the wizard: f): it {undo}, then installs (by hand: `helm rollback {release} --namespace {namespace}`, or for a first install `helm uninstall {release} --namespace {namespace}`)"
                ))
            }
            EngineError::Source(e) => e.fix(),
            EngineError::NoRelease { .. } => Some(
                "`caracal-deploy install` installs it (after seed and apply); the wizard does all three".into(),
            ),
            EngineError::Interrupted => Some("run the same command again".into()),
            EngineError::Stopped { fix, .. } => Some(fix.clone()),
            EngineError::Internal(_) => Some(
                "see the log file; every secret is either untouched or complete, run again".into(),
            ),
        }
    }

    /// The message and, when known, its fix, on one line (for a check's detail).
    pub fn with_fix(&self) -> String {
        match self.fix() {
            Some(fix) => format!("{self} (fix: {fix})"),
            None => self.to_string(),
        }
    }

    /// The exit code this error ends a command with. The only place errors become codes.
    pub fn exit(&self) -> Exit {
        match self {
            EngineError::Invalid(_) | EngineError::Source(_) => Exit::InvalidInput,
            EngineError::SecretManager(SecretManagerError::Invalid(_)) => Exit::InvalidInput,
            EngineError::SecretManager(_)
            | EngineError::Cluster { .. }
            | EngineError::PendingRelease { .. }
            | EngineError::NoRelease { .. } => Exit::CheckFailed,
            EngineError::Interrupted | EngineError::Stopped { .. } | EngineError::Internal(_) => {
                Exit::Other
            }
        }
    }
}

impl From<SecretManagerError> for EngineError {
    fn from(e: SecretManagerError) -> Self {
        EngineError::SecretManager(e)
    }
}

impl From<crate::adapters::kube::KubeError> for EngineError {
    fn from(e: crate::adapters::kube::KubeError) -> Self {
        EngineError::Cluster {
            fix: e.fix(),
            message: e.to_string(),
        }
    }
}

impl From<SourceError> for EngineError {
    fn from(e: SourceError) -> Self {
        EngineError::Source(e)
    }
}

impl From<Vec<Problem>> for EngineError {
    fn from(problems: Vec<Problem>) -> Self {
        EngineError::Invalid(problems)
    }
}
