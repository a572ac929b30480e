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

/// What went wrong, in the service's or the adapter's words, and what the operator can do
/// about it when that is known. Kept apart so that the CLI prints the fix on a line of its own
/// and the wizard shows it beside the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub message: String,
    pub fix: Option<String>,
}

impl Detail {
    /// A message with no known fix.
    pub fn new(message: impl Into<String>) -> Detail {
        Detail {
            message: message.into(),
            fix: None,
        }
    }

    /// A message and what to do about it.
    pub fn with_fix(message: impl Into<String>, fix: impl Into<String>) -> Detail {
        Detail {
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

impl From<String> for Detail {
    fn from(message: String) -> Detail {
        Detail::new(message)
    }
}

impl From<&str> for Detail {
    fn from(message: &str) -> Detail {
        Detail::new(message)
    }
}

/// The message only: the fix is [`Detail::fix`].
impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Errors, by what the operator can do about them. `Display` is the message; what to do about
/// it is [`SecretManagerError::fix`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretManagerError {
    #[error("permission denied: {action}")]
    PermissionDenied { action: String, fix: String },
    #[error("no valid credentials: {0}")]
    Unauthenticated(Detail),
    #[error("throttled by the service")]
    Throttled { retry_after: Option<Duration> },
    #[error("the service is unavailable: {0}")]
    Unavailable(Detail),
    #[error("the secret already exists")]
    AlreadyExists,
    /// Built by [`SecretManagerError::soft_deleted`], which writes the fix. The fix is stored,
    /// not computed on demand, because [`SecretManagerError::fix`] lends a `&str`.
    #[error("`{name}` is deleted but recoverable (soft-delete keeps the name)")]
    SoftDeleted { name: String, fix: String },
    /// AWS: `name` is scheduled for deletion (within its recovery window). Built by
    /// [`SecretManagerError::scheduled_for_deletion`].
    #[error("`{name}` is scheduled for deletion (recoverable until its recovery window ends)")]
    ScheduledForDeletion { name: String, fix: String },
    #[error("{0}")]
    NotFound(Detail),
    #[error("{0}")]
    Invalid(Detail),
    #[error("{0}")]
    Other(Detail),
}

impl SecretManagerError {
    /// `name` is deleted but recoverable (Key Vault soft-delete): recover or purge it.
    pub fn soft_deleted(name: impl Into<String>) -> SecretManagerError {
        let name = name.into();
        let fix = format!(
            "recover it (`az keyvault secret recover --vault-name VAULT --name {name}`) or purge it (`az keyvault secret purge --vault-name VAULT --name {name}`), then run again"
        );
        SecretManagerError::SoftDeleted { name, fix }
    }

    /// `name` is scheduled for deletion (AWS Secrets Manager's recovery window): restore it.
    pub fn scheduled_for_deletion(name: impl Into<String>) -> SecretManagerError {
        let name = name.into();
        let fix = format!(
            "restore it (`aws secretsmanager restore-secret --secret-id {name}`), then run again"
        );
        SecretManagerError::ScheduledForDeletion { name, fix }
    }

    /// The name was deleted and can still be recovered (Key Vault's soft delete, AWS's
    /// recovery window): it holds no value anyone can read until it is restored.
    pub fn is_recoverably_deleted(&self) -> bool {
        matches!(
            self,
            SecretManagerError::SoftDeleted { .. }
                | SecretManagerError::ScheduledForDeletion { .. }
        )
    }

    /// What the operator can do about it, when the error knows.
    pub fn fix(&self) -> Option<&str> {
        match self {
            SecretManagerError::PermissionDenied { fix, .. }
            | SecretManagerError::SoftDeleted { fix, .. }
            | SecretManagerError::ScheduledForDeletion { fix, .. } => Some(fix),
            SecretManagerError::Unauthenticated(d)
            | SecretManagerError::Unavailable(d)
            | SecretManagerError::NotFound(d)
            | SecretManagerError::Invalid(d)
            | SecretManagerError::Other(d) => d.fix.as_deref(),
            SecretManagerError::Throttled { .. } | SecretManagerError::AlreadyExists => None,
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

    /// Deletes `name` the recoverable way the service offers (AWS: scheduled for deletion
    /// after the default recovery window; Key Vault: soft delete; GCP has no recovery). A
    /// missing name, or one already deleted, is Ok: deleting twice is the same as once.
    async fn delete(&self, name: &str) -> Result<(), SecretManagerError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message_and_fix_is_apart() {
        let e = SecretManagerError::Unauthenticated(Detail::with_fix(
            "the token expired",
            "refresh your credentials",
        ));
        assert_eq!(e.to_string(), "no valid credentials: the token expired");
        assert_eq!(e.fix(), Some("refresh your credentials"));

        let e = SecretManagerError::PermissionDenied {
            action: "CreateSecret on caracal/*".into(),
            fix: "allow secretsmanager:CreateSecret".into(),
        };
        assert_eq!(
            e.to_string(),
            "permission denied: CreateSecret on caracal/*"
        );
        assert_eq!(e.fix(), Some("allow secretsmanager:CreateSecret"));

        for e in [
            SecretManagerError::NotFound(Detail::with_fix("m", "f")),
            SecretManagerError::Invalid(Detail::with_fix("m", "f")),
            SecretManagerError::Other(Detail::with_fix("m", "f")),
        ] {
            assert_eq!(e.to_string(), "m");
            assert_eq!(e.fix(), Some("f"));
        }
        let e = SecretManagerError::Unavailable(Detail::with_fix("down", "wait"));
        assert_eq!(e.to_string(), "the service is unavailable: down");
        assert_eq!(e.fix(), Some("wait"));
    }

    #[test]
    fn errors_without_a_fix_say_so() {
        assert_eq!(SecretManagerError::AlreadyExists.fix(), None);
        assert_eq!(
            SecretManagerError::Throttled { retry_after: None }.fix(),
            None
        );
        let e = SecretManagerError::Other("no value resolved".into());
        assert_eq!(e.to_string(), "no value resolved");
        assert_eq!(e.fix(), None);
        assert_eq!(
            SecretManagerError::Invalid(format!("bad {}", 1).into()).fix(),
            None
        );
    }

    #[test]
    fn soft_deleted_names_recover_and_purge_in_its_fix() {
        let e = SecretManagerError::soft_deleted("caracal-postgres");
        assert_eq!(
            e.to_string(),
            "`caracal-postgres` is deleted but recoverable (soft-delete keeps the name)"
        );
        let fix = e.fix().expect("a fix");
        assert!(
            fix.contains("az keyvault secret recover --vault-name VAULT --name caracal-postgres"),
            "{fix}"
        );
        assert!(
            fix.contains("az keyvault secret purge --vault-name VAULT --name caracal-postgres"),
            "{fix}"
        );
        assert!(!e.to_string().contains("Fix"));
    }

    #[test]
    fn scheduled_for_deletion_names_restore_in_its_fix() {
        let e = SecretManagerError::scheduled_for_deletion("caracal/zone-kek");
        assert_eq!(
            e.to_string(),
            "`caracal/zone-kek` is scheduled for deletion (recoverable until its recovery window ends)"
        );
        assert_eq!(
            e.fix(),
            Some(
                "restore it (`aws secretsmanager restore-secret --secret-id caracal/zone-kek`), then run again"
            )
        );
        assert!(e.is_recoverably_deleted());
        assert!(SecretManagerError::soft_deleted("x").is_recoverably_deleted());
        assert!(!SecretManagerError::NotFound("x".into()).is_recoverably_deleted());
        assert!(!e.is_transient());
    }

    #[test]
    fn transient_errors() {
        assert!(SecretManagerError::Unavailable("down".into()).is_transient());
        assert!(SecretManagerError::Throttled { retry_after: None }.is_transient());
        assert!(!SecretManagerError::Other("x".into()).is_transient());
        assert!(!SecretManagerError::soft_deleted("x").is_transient());
    }
}
