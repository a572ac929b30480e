//! The outside world behind small interfaces.

pub mod aws;
pub mod azure;
pub mod canary;
pub mod forward;
pub mod gcp;
pub mod helm;
pub mod kube;
pub mod tls;

use crate::core::answers::{Answers, SecretManagerTarget};
use crate::core::secret_manager::{SecretManager, SecretManagerError};

/// The secret manager the answers name, connected with the operator's credentials.
pub async fn connect_secret_manager(
    answers: &Answers,
) -> Result<Box<dyn SecretManager>, SecretManagerError> {
    let sm = &answers.secret_manager;
    match &sm.target {
        SecretManagerTarget::Aws { region } => Ok(Box::new(
            aws::AwsSecretsManager::connect(region, sm.endpoint.as_deref(), &sm.prefix).await?,
        )),
        SecretManagerTarget::Gcp { project } => Ok(Box::new(
            gcp::GcpSecretManager::connect(project, sm.endpoint.as_deref(), &sm.prefix).await?,
        )),
        SecretManagerTarget::Azure { vault_url } => Ok(Box::new(
            azure::AzureKeyVault::connect(
                vault_url,
                sm.endpoint.as_deref(),
                sm.ca_bundle.as_deref(),
                &sm.prefix,
            )
            .await?,
        )),
    }
}
