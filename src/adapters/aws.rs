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

use crate::core::secret_manager::{Detail, Labels, RemoteState, SecretManager, SecretManagerError};

/// The `<Message>` of an XML error body, if any (never a secret: error bodies carry none).
fn xml_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(m, _)| m.to_string())
        .unwrap_or_default()
}

/// The environment variables through which the SDK takes an endpoint, most specific first.
const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"];

/// Refuses an endpoint from the environment that `secretManager.endpoint` would refuse.
fn check_environment_endpoint(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), SecretManagerError> {
    if var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(());
    }
    for name in ENDPOINT_VARIABLES {
        let Some(url) = var(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        if let Err((message, fix)) = crate::core::validate::endpoint_url(&url) {
            return Err(SecretManagerError::Invalid(Detail {
                message: format!("{name}: {message}"),
                fix: Some(format!("{fix}; or unset {name}")),
            }));
        }
    }
    Ok(())
}

pub struct AwsSecretsManager {
    client: Client,
    region: String,
    prefix: String,
}

impl AwsSecretsManager {
    /// Connects to Secrets Manager in `region`, through `endpoint` when the answers name one.
    /// An endpoint the SDK would take from the environment (`AWS_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`) must pass the rule of `secretManager.endpoint`:
    /// signed requests and secret values never travel over plain http off the loopback.
    pub async fn connect(
        region: &str,
        endpoint: Option<&str>,
        prefix: &str,
    ) -> Result<AwsSecretsManager, SecretManagerError> {
        if endpoint.is_none() {
            check_environment_endpoint(|name| std::env::var(name).ok())?;
        }
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
        Ok(AwsSecretsManager {
            client: Client::new(&config),
            region: region.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Whether `name` is scheduled for deletion (`DescribeSecret` answers for such a secret,
    /// with its `DeletedDate`). A failure to tell is "no": the caller reports its own error.
    async fn scheduled_for_deletion(&self, name: &str) -> bool {
        self.client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .is_ok_and(|d| d.deleted_date().is_some())
    }

    fn map<E>(&self, e: SdkError<E, HttpResponse>, action: &str) -> SecretManagerError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match &e {
            SdkError::ServiceError(se) => {
                let message = match se.err().message() {
                    Some(m) => m.to_string(),
                    None => xml_message(se.raw().body().bytes().unwrap_or_default()),
                };
                match service_error(
                    se.err().code(),
                    se.raw().status().as_u16(),
                    message,
                    action,
                    &self.region,
                    &self.prefix,
                ) {
                    SecretManagerError::Throttled { .. } => SecretManagerError::Throttled {
                        retry_after: se
                            .raw()
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .map(|s| Duration::from_secs_f64(s.min(3600.0))),
                    },
                    other => other,
                }
            }
            _ => client_error(DisplayErrorContext(&e).to_string()),
        }
    }
}

/// The error for an answer of the service: its error code (None when the parser found none),
/// HTTP status and message, for `action` on the secrets under `prefix` in `region`.
fn service_error(
    code: Option<&str>,
    status: u16,
    message: String,
    action: &str,
    region: &str,
    prefix: &str,
) -> SecretManagerError {
    // An IAM denial from a proxy or an older endpoint may come back in the query
    // protocol's XML, which the JSON parser leaves without a code: the status says it.
    let code = match (code, status) {
        (Some(c), _) => c,
        (None, 403) => "AccessDeniedException",
        (None, 429) => "ThrottlingException",
        (None, s) if s >= 500 => "InternalServiceError",
        (None, _) => "",
    };
    match code {
        "ResourceNotFoundException" => SecretManagerError::NotFound(message.into()),
        "ResourceExistsException" => SecretManagerError::AlreadyExists,
        "AccessDeniedException" | "AccessDenied" => access_denied(&message, action, region, prefix),
        "ThrottlingException" | "TooManyRequestsException" | "LimitExceededException" => {
            SecretManagerError::Throttled { retry_after: None }
        }
        "InternalServiceError" | "ServiceUnavailable" => {
            SecretManagerError::Unavailable(message.into())
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredTokenException"
        | "InvalidSignatureException" => SecretManagerError::Unauthenticated(Detail::with_fix(
            message,
            "refresh your AWS credentials (`aws sso login`, or the AWS_* variables)",
        )),
        "InvalidRequestException" if message.contains("marked for deletion") => {
            SecretManagerError::Invalid(Detail::with_fix(
                message,
                "restore it (`aws secretsmanager restore-secret --secret-id NAME`) and run again",
            ))
        }
        _ => SecretManagerError::Other(format!("{code}: {message}").into()),
    }
}

/// The service refused the call for the state of the secret (`InvalidRequestException`:
/// scheduled for deletion, among other causes).
fn is_invalid_request<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.as_service_error()
        .is_some_and(|se| se.code() == Some("InvalidRequestException"))
}

/// The IAM action a denial names ("... is not authorized to perform: secretsmanager:TagResource
/// on resource: ..."), if it names one.
fn denied_action(message: &str) -> Option<(&str, &str)> {
    let (_, rest) = message.split_once("not authorized to perform: ")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .unwrap_or(rest.len());
    rest[..end]
        .split_once(':')
        .filter(|(service, name)| !service.is_empty() && !name.is_empty())
}

/// A denial of `action` (the call made), naming the permission to grant: the one IAM names,
/// which is not always the call's own (CreateSecret with tags also needs TagResource).
fn access_denied(message: &str, action: &str, region: &str, prefix: &str) -> SecretManagerError {
    let who = "for the identity you run as (`aws sts get-caller-identity`)";
    match denied_action(message).unwrap_or(("secretsmanager", action)) {
        ("secretsmanager", name) => {
            let what = if name == action {
                action.to_string()
            } else {
                format!("{name} (needed by {action})")
            };
            SecretManagerError::PermissionDenied {
                action: format!("{what} on {prefix}/*: {message}"),
                fix: format!(
                    "allow secretsmanager:{name} on arn:aws:secretsmanager:{region}:ACCOUNT:secret:{prefix}/* {who}"
                ),
            }
        }
        (service, name) => SecretManagerError::PermissionDenied {
            action: format!("{service}:{name} (needed by {action}) on {prefix}/*: {message}"),
            fix: format!("allow {service}:{name} {who}"),
        },
    }
}

/// The error for a call the service never answered (no credentials, no connection), from the
/// SDK's description of it.
fn client_error(detail: String) -> SecretManagerError {
    if detail.contains("no credentials found in chain") {
        SecretManagerError::Unauthenticated(Detail::with_fix(
            "no AWS credentials were found (tried: environment, profile, web identity, ECS, EC2 instance metadata)",
            "`aws sso login` with AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ))
    } else if detail.contains("credentials") || detail.contains("Credentials") {
        SecretManagerError::Unauthenticated(Detail::with_fix(
            format!(
                "the AWS credentials could not be loaded: {}",
                detail.lines().next().unwrap_or_default()
            ),
            "`aws sso login` (expired session), AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ))
    } else {
        SecretManagerError::Other(detail.into())
    }
}

#[async_trait]
impl SecretManager for AwsSecretsManager {
    fn describe(&self) -> String {
        format!("AWS Secrets Manager ({})", self.region)
    }

    async fn read(&self, name: &str) -> Result<RemoteState, SecretManagerError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            // The SDK's copy is taken out and wiped once copied into the redacting type (its
            // response buffers are beyond reach).
            Ok(mut out) => Ok(
                match out.secret_string.take().map(zeroize::Zeroizing::new) {
                    Some(s) => RemoteState::Present(SecretString::from(s.as_str())),
                    None => RemoteState::Empty,
                },
            ),
            Err(e) => {
                let invalid_request = is_invalid_request(&e);
                match self.map(e, "GetSecretValue") {
                    // A secret created without a value has no AWSCURRENT version to read.
                    SecretManagerError::NotFound(m)
                        if m.message.contains("VersionStage") || m.message.contains("version") =>
                    {
                        Ok(RemoteState::Empty)
                    }
                    SecretManagerError::NotFound(_) => Ok(RemoteState::Missing),
                    // The service words this refusal in more than one way: the secret's own
                    // record says whether it is scheduled for deletion.
                    _ if invalid_request && self.scheduled_for_deletion(name).await => {
                        Err(SecretManagerError::scheduled_for_deletion(name))
                    }
                    other => Err(other),
                }
            }
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

    /// `DeleteSecret` with the default recovery window (30 days; never forced): the secret
    /// can be restored until it ends.
    async fn delete(&self, name: &str) -> Result<(), SecretManagerError> {
        match self.client.delete_secret().secret_id(name).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let invalid_request = is_invalid_request(&e);
                match self.map(e, "DeleteSecret") {
                    SecretManagerError::NotFound(_) => Ok(()),
                    // Deleted before: already scheduled for deletion.
                    _ if invalid_request && self.scheduled_for_deletion(name).await => Ok(()),
                    other => Err(other),
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_endpoints_follow_the_endpoint_rule() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(check_environment_endpoint(env(&[])).is_ok());
        assert!(
            check_environment_endpoint(env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")]))
                .is_ok()
        );
        assert!(
            check_environment_endpoint(env(&[("AWS_ENDPOINT_URL", "https://vpce.example.com")]))
                .is_ok()
        );
        let e = check_environment_endpoint(env(&[("AWS_ENDPOINT_URL", "http://10.0.0.5:4566")]))
            .unwrap_err();
        assert!(matches!(e, SecretManagerError::Invalid(_)));
        assert!(e.to_string().starts_with("AWS_ENDPOINT_URL: "), "{e}");
        assert!(
            check_environment_endpoint(env(&[(
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                "http://sm.example.com"
            )]))
            .is_err()
        );
        assert!(
            check_environment_endpoint(env(&[
                ("AWS_ENDPOINT_URL", "http://10.0.0.5"),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
            ]))
            .is_ok()
        );
    }

    fn denied(action: &str) -> SecretManagerError {
        service_error(
            Some("AccessDeniedException"),
            400,
            format!(
                "User: arn:aws:iam::1:user/u is not authorized to perform: secretsmanager:{action}"
            ),
            action,
            "us-east-1",
            "caracal",
        )
    }

    #[test]
    fn a_denial_names_the_permission_to_allow_in_its_fix() {
        let e = denied("CreateSecret");
        let text = e.to_string();
        assert!(
            text.starts_with("permission denied: CreateSecret on caracal/*: User:"),
            "{text}"
        );
        assert!(!text.contains("allow secretsmanager"), "{text}");
        assert_eq!(
            e.fix(),
            Some(
                "allow secretsmanager:CreateSecret on arn:aws:secretsmanager:us-east-1:ACCOUNT:secret:caracal/* for the identity you run as (`aws sts get-caller-identity`)"
            )
        );
        // A delete names its own permission.
        assert!(
            denied("DeleteSecret")
                .fix()
                .is_some_and(|f| f.starts_with("allow secretsmanager:DeleteSecret on ")),
            "{:?}",
            denied("DeleteSecret").fix()
        );
        // XML denials (no code the JSON parser reads) are told by their status.
        let e = service_error(
            None,
            403,
            "denied".into(),
            "PutSecretValue",
            "eu-west-1",
            "p",
        );
        assert!(
            matches!(e, SecretManagerError::PermissionDenied { .. }),
            "{e:?}"
        );
    }

    #[test]
    fn a_denial_of_another_action_than_the_call_names_that_action() {
        let e = service_error(
            Some("AccessDeniedException"),
            400,
            "User: arn:aws:sts::1:assumed-role/ops/me is not authorized to perform: secretsmanager:TagResource on resource: caracal/postgres because no identity-based policy allows the secretsmanager:TagResource action".into(),
            "CreateSecret",
            "us-east-1",
            "caracal",
        );
        let text = e.to_string();
        assert!(
            text.starts_with(
                "permission denied: TagResource (needed by CreateSecret) on caracal/*: User:"
            ),
            "{text}"
        );
        assert_eq!(
            e.fix(),
            Some(
                "allow secretsmanager:TagResource on arn:aws:secretsmanager:us-east-1:ACCOUNT:secret:caracal/* for the identity you run as (`aws sts get-caller-identity`)"
            )
        );
        // Another service's permission (a customer managed KMS key) is named as it is.
        let e = service_error(
            Some("AccessDeniedException"),
            400,
            "User: arn:aws:iam::1:user/u is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:1:key/k".into(),
            "CreateSecret",
            "us-east-1",
            "caracal",
        );
        assert!(
            e.to_string().starts_with(
                "permission denied: kms:GenerateDataKey (needed by CreateSecret) on caracal/*: "
            ),
            "{e}"
        );
        assert_eq!(
            e.fix(),
            Some(
                "allow kms:GenerateDataKey for the identity you run as (`aws sts get-caller-identity`)"
            )
        );
        assert_eq!(denied_action("Access denied"), None);
        assert_eq!(
            denied_action("is not authorized to perform: secretsmanager:GetSecretValue"),
            Some(("secretsmanager", "GetSecretValue"))
        );
    }

    #[test]
    fn expired_tokens_are_unauthenticated_with_the_fix_apart() {
        let e = service_error(
            Some("ExpiredTokenException"),
            400,
            "The security token included in the request is expired".into(),
            "GetSecretValue",
            "us-east-1",
            "caracal",
        );
        assert_eq!(
            e,
            SecretManagerError::Unauthenticated(Detail::with_fix(
                "The security token included in the request is expired",
                "refresh your AWS credentials (`aws sso login`, or the AWS_* variables)",
            ))
        );
        assert_eq!(
            e.to_string(),
            "no valid credentials: The security token included in the request is expired"
        );
    }

    #[test]
    fn a_secret_marked_for_deletion_is_invalid_with_restore_as_the_fix() {
        let e = service_error(
            Some("InvalidRequestException"),
            400,
            "You can't create this secret because a secret with this name is already scheduled for deletion (marked for deletion)".into(),
            "CreateSecret",
            "us-east-1",
            "caracal",
        );
        assert!(matches!(e, SecretManagerError::Invalid(_)), "{e:?}");
        assert!(e.to_string().ends_with("(marked for deletion)"), "{e}");
        assert_eq!(
            e.fix(),
            Some("restore it (`aws secretsmanager restore-secret --secret-id NAME`) and run again")
        );
    }

    #[test]
    fn other_answers_keep_their_code_and_have_no_fix() {
        let e = service_error(None, 503, "down".into(), "GetSecretValue", "r", "p");
        assert_eq!(e, SecretManagerError::Unavailable("down".into()));
        assert!(e.is_transient());
        let e = service_error(Some("Weird"), 400, "odd".into(), "GetSecretValue", "r", "p");
        assert_eq!(e.to_string(), "Weird: odd");
        assert_eq!(e.fix(), None);
    }

    #[test]
    fn missing_credentials_are_named_with_the_fix_apart() {
        let e = client_error(
            "dispatch failure: other: no credentials found in chain (NoCredentials)".into(),
        );
        assert_eq!(
            e.to_string(),
            "no valid credentials: no AWS credentials were found (tried: environment, profile, web identity, ECS, EC2 instance metadata)"
        );
        assert_eq!(
            e.fix(),
            Some(
                "`aws sso login` with AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        );
        let e = client_error("failed to load Credentials: the SSO session expired\nmore".into());
        assert_eq!(
            e.to_string(),
            "no valid credentials: the AWS credentials could not be loaded: failed to load Credentials: the SSO session expired"
        );
        assert!(e.fix().is_some_and(|f| f.contains("aws sso login")));
        let e = client_error("io error: connection reset".into());
        assert_eq!(
            e,
            SecretManagerError::Other("io error: connection reset".into())
        );
    }
}
