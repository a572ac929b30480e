//! The interface every cloud's secret manager is reached through, and its errors.
//! Implementations live in `adapters/` (AWS, GCP, Azure); this module does no I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use thiserror::Error;

/// What the latest version of a remote secret holds.
pub enum RemoteState {
    /// No secret of that name.
    Missing,
    /// The secret exists but has no readable version (e.g. a create interrupted before its
    /// first version, on GCP where the two are separate calls).
    Empty,
    /// The latest value.
    Present(SecretString),
}

impl std::fmt::Debug for RemoteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteState::Missing => "Missing",
            RemoteState::Empty => "Empty",
            RemoteState::Present(_) => "Present([redacted])",
        })
    }
}

/// Errors, by what the operator can do about them.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretManagerError {
    #[error("permission denied: {action}. Fix: {fix}")]
    PermissionDenied { action: String, fix: String },
    #[error("no valid credentials: {0}")]
    Unauthenticated(String),
    #[error("throttled by the service")]
    Throttled { retry_after: Option<Duration> },
    #[error("the service is unavailable: {0}")]
    Unavailable(String),
    #[error("the secret already exists")]
    AlreadyExists,
    #[error(
        "`{name}` is deleted but recoverable (soft-delete keeps the name). Fix: recover it (`az keyvault secret recover --vault-name VAULT --name {name}`) or purge it (`az keyvault secret purge --vault-name VAULT --name {name}`), then run again"
    )]
    SoftDeleted { name: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Other(String),
}

impl SecretManagerError {
    /// What the operator can do about it, when the error knows.
    pub fn fix(&self) -> Option<&str> {
        match self {
            SecretManagerError::PermissionDenied { fix, .. } => Some(fix),
            _ => None,
        }
    }

    /// Worth another try after a pause.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SecretManagerError::Throttled { .. } | SecretManagerError::Unavailable(_)
        )
    }
}

/// Labels (AWS tags, GCP labels, Key Vault tags) put on every secret the wizard creates.
pub type Labels = BTreeMap<String, String>;

pub fn managed_labels(chart_version: &str) -> Labels {
    let mut l = Labels::new();
    l.insert("managed-by".into(), "caracal-deploy".into());
    // GCP label values allow lowercase letters, digits, '-' and '_' only.
    l.insert("chart-version".into(), chart_version.replace('.', "-"));
    l
}

/// One cloud's secret manager.
#[async_trait]
pub trait SecretManager: Send + Sync {
    /// e.g. "AWS Secrets Manager (us-east-1)".
    fn describe(&self) -> String;

    /// The state of the latest version of `name`.
    async fn read(&self, name: &str) -> Result<RemoteState, SecretManagerError>;

    /// Creates `name` with its first version. `AlreadyExists` if the name is taken.
    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        labels: &Labels,
    ) -> Result<(), SecretManagerError>;

    /// Adds a version to an existing secret; it becomes the latest.
    async fn add_version(&self, name: &str, value: &SecretString)
    -> Result<(), SecretManagerError>;

    /// How many versions `name` has (0 when missing).
    async fn version_count(&self, name: &str) -> Result<usize, SecretManagerError>;
}
