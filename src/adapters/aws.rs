//! AWS Secrets Manager through the official SDK and the standard credential chain
//! (environment, profile, SSO, web identity). `AWS_ENDPOINT_URL` and `secretManager.endpoint`
//! reach a private endpoint.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::Region;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::Tag;
use secrecy::{ExposeSecret, SecretString};

use crate::core::secret_manager::{Labels, RemoteState, SecretManager, SecretManagerError};

/// The `<Message>` of an XML error body, if any (never a secret: error bodies carry none).
fn xml_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(m, _)| m.to_string())
        .unwrap_or_default()
}

pub struct AwsSecretsManager {
    client: Client,
    region: String,
    prefix: String,
}

impl AwsSecretsManager {
    pub async fn connect(region: &str, endpoint: Option<&str>, prefix: &str) -> AwsSecretsManager {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            // Retries are the engine's (jittered, Retry-After aware), not the SDK's.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        AwsSecretsManager {
            client: Client::new(&config),
            region: region.to_string(),
            prefix: prefix.to_string(),
        }
    }

    fn map<E>(&self, e: SdkError<E, HttpResponse>, action: &str) -> SecretManagerError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let detail = DisplayErrorContext(&e).to_string();
        match &e {
            SdkError::ServiceError(se) => {
                // An IAM denial from a proxy or an older endpoint may come back in the query
                // protocol's XML, which the JSON parser leaves without a code: the status says it.
                let code = match (se.err().code(), se.raw().status().as_u16()) {
                    (Some(c), _) => c,
                    (None, 403) => "AccessDeniedException",
                    (None, 429) => "ThrottlingException",
                    (None, s) if s >= 500 => "InternalServiceError",
                    (None, _) => "",
                };
                let message = match se.err().message() {
                    Some(m) => m.to_string(),
                    None => xml_message(se.raw().body().bytes().unwrap_or_default()),
                };
                match code {
                    "ResourceNotFoundException" => SecretManagerError::NotFound(message),
                    "ResourceExistsException" => SecretManagerError::AlreadyExists,
                    "AccessDeniedException" | "AccessDenied" => {
                        SecretManagerError::PermissionDenied {
                            action: format!("{action} on {}/*: {message}", self.prefix),
                            fix: format!(
                                "allow secretsmanager:{action} on arn:aws:secretsmanager:{}:ACCOUNT:secret:{}/* for the identity you run as (`aws sts get-caller-identity`)",
                                self.region, self.prefix
                            ),
                        }
                    }
                    "ThrottlingException"
                    | "TooManyRequestsException"
                    | "LimitExceededException" => {
                        SecretManagerError::Throttled { retry_after: None }
                    }
                    "InternalServiceError" | "ServiceUnavailable" => {
                        SecretManagerError::Unavailable(message)
                    }
                    "UnrecognizedClientException"
                    | "InvalidClientTokenId"
                    | "ExpiredTokenException"
                    | "InvalidSignatureException" => SecretManagerError::Unauthenticated(format!(
                        "{message}. Fix: refresh your AWS credentials (`aws sso login`, or the AWS_* variables)"
                    )),
                    "InvalidRequestException" if message.contains("marked for deletion") => {
                        SecretManagerError::Invalid(format!(
                            "{message}. Fix: restore it (`aws secretsmanager restore-secret --secret-id NAME`) and run again"
                        ))
                    }
                    _ => SecretManagerError::Other(format!("{code}: {message}")),
                }
            }
            _ if detail.contains("no credentials found in chain") => SecretManagerError::Unauthenticated(
                "no AWS credentials were found (tried: environment, profile, web identity, ECS, EC2 instance metadata). \
                 Fix: `aws sso login` with AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .into(),
            ),
            _ if detail.contains("credentials") || detail.contains("Credentials") => SecretManagerError::Unauthenticated(format!(
                "the AWS credentials could not be loaded: {}. Fix: `aws sso login` (expired session), AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                detail.lines().next().unwrap_or_default()
            )),
            _ => SecretManagerError::Other(detail),
        }
    }
}

#[async_trait]
impl SecretManager for AwsSecretsManager {
    fn describe(&self) -> String {
        format!("AWS Secrets Manager ({})", self.region)
    }

    async fn read(&self, name: &str) -> Result<RemoteState, SecretManagerError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => Ok(match out.secret_string() {
                Some(s) => RemoteState::Present(SecretString::from(s)),
                None => RemoteState::Empty,
            }),
            Err(e) => match self.map(e, "GetSecretValue") {
                // A secret created without a value has no AWSCURRENT version to read.
                SecretManagerError::NotFound(m)
                    if m.contains("VersionStage") || m.contains("version") =>
                {
                    Ok(RemoteState::Empty)
                }
                SecretManagerError::NotFound(_) => Ok(RemoteState::Missing),
                other => Err(other),
            },
        }
    }

    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        labels: &Labels,
    ) -> Result<(), SecretManagerError> {
        let tags: Vec<Tag> = labels
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.client
            .create_secret()
            .name(name)
            .secret_string(value.expose_secret())
            .set_tags(Some(tags))
            .description("Caracal runtime secret, seeded by caracal-deploy")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.map(e, "CreateSecret"))
    }

    async fn add_version(
        &self,
        name: &str,
        value: &SecretString,
    ) -> Result<(), SecretManagerError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value.expose_secret())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.map(e, "PutSecretValue"))
    }

    async fn version_count(&self, name: &str) -> Result<usize, SecretManagerError> {
        // Existence first: listing the versions of a missing secret is not answered alike by
        // every implementation (moto returns a 500).
        if let Err(e) = self.client.describe_secret().secret_id(name).send().await {
            return match self.map(e, "DescribeSecret") {
                SecretManagerError::NotFound(_) => Ok(0),
                other => Err(other),
            };
        }
        let mut count = 0;
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_secret_version_ids()
                .secret_id(name)
                .include_deprecated(true)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.map(e, "ListSecretVersionIds"))?;
            count += out.versions().len();
            // An empty token also ends the listing.
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
                _ => return Ok(count),
            }
        }
    }
}
