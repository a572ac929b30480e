//! GCP Secret Manager through the official SDK (`google-cloud-secretmanager-v1`, REST/JSON)
//! and Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, the gcloud ADC file,
//! workload identity / the metadata server). `secretManager.endpoint` reaches a private
//! endpoint. Secrets are global (automatic replication) under `projects/P`.

use std::time::Duration;

use async_trait::async_trait;
use google_cloud_secretmanager_v1::Error as SdkError;
use google_cloud_secretmanager_v1::client::SecretManagerService;
use google_cloud_secretmanager_v1::model::replication::Automatic;
use google_cloud_secretmanager_v1::model::{Replication, Secret, SecretPayload};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::core::secret_manager::{Detail, Labels, RemoteState, SecretManager, SecretManagerError};

/// Versions asked for per page when counting them.
const PAGE_SIZE: i32 = 250;
/// One HTTP attempt may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const ADC_FIX: &str = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file";

pub struct GcpSecretManager {
    client: SecretManagerService,
    project: String,
    prefix: String,
    /// Who the calls run as, for error messages: `serviceAccount:EMAIL` when known.
    member: Option<String>,
}

/// What a call was doing, for error messages: the IAM permission it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CreateSecret,
    AddVersion,
    Access,
    GetSecret,
    ListVersions,
    DeleteSecret,
}

impl Op {
    fn permission(self) -> &'static str {
        match self {
            Op::CreateSecret => "secretmanager.secrets.create",
            Op::AddVersion => "secretmanager.versions.add",
            Op::Access => "secretmanager.versions.access",
            Op::GetSecret => "secretmanager.secrets.get",
            Op::ListVersions => "secretmanager.versions.list",
            Op::DeleteSecret => "secretmanager.secrets.delete",
        }
    }
}

impl GcpSecretManager {
    /// A client for `project` with Application Default Credentials; `endpoint` overrides the
    /// service endpoint (e.g. a Private Service Connect endpoint).
    pub async fn connect(
        project: &str,
        endpoint: Option<&str>,
        prefix: &str,
    ) -> Result<GcpSecretManager, SecretManagerError> {
        if project.is_empty()
            || !project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.')
        {
            return Err(SecretManagerError::Invalid(Detail::with_fix(
                format!("`{project}` is not a GCP project id"),
                "set the project id (e.g. `my-project-123`, see `gcloud projects list`) in the answers",
            )));
        }
        let credentials = google_cloud_auth::credentials::Builder::default()
            .build()
            .map_err(|e| {
                SecretManagerError::Unauthenticated(Detail::with_fix(
                    format!("cannot load Application Default Credentials ({e})"),
                    ADC_FIX,
                ))
            })?;
        probe(&credentials).await?;
        // Retries are the engine's (jittered, Retry-After aware), as on AWS and Azure; the
        // SDK's own policy (reads retried on UNAVAILABLE for up to 60 s) would stack on them.
        let mut builder = SecretManagerService::builder()
            .with_credentials(credentials)
            .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry)
            .with_attempt_timeout(ATTEMPT_TIMEOUT);
        if let Some(url) = endpoint {
            builder = builder.with_endpoint(url.trim_end_matches('/'));
        }
        let client = builder.build().await.map_err(|e| {
            if e.is_default_credentials() {
                SecretManagerError::Unauthenticated(Detail::with_fix(
                    format!("cannot load Application Default Credentials ({e})"),
                    ADC_FIX,
                ))
            } else {
                SecretManagerError::Invalid(Detail::new(format!(
                    "cannot set up the GCP Secret Manager client{} ({e})",
                    endpoint
                        .map(|u| format!(" for endpoint {u}"))
                        .unwrap_or_default()
                )))
            }
        })?;
        Ok(GcpSecretManager {
            client,
            project: project.to_string(),
            prefix: prefix.to_string(),
            member: adc_member(),
        })
    }

    fn secret_path(&self, name: &str) -> Result<String, SecretManagerError> {
        validate_secret_id(name)?;
        Ok(format!("projects/{}/secrets/{name}", self.project))
    }

    fn unknown_project(&self) -> SecretManagerError {
        SecretManagerError::NotFound(Detail::with_fix(
            format!(
                "GCP project `{}` does not exist or is not visible to your credentials",
                self.project
            ),
            "check the project id in the answers (`gcloud projects list`)",
        ))
    }

    fn map(&self, e: SdkError, op: Op, resource: &str) -> SecretManagerError {
        let e = innermost(&e);
        let code = code_of(e);
        let message = e
            .status()
            .map(|s| s.message.trim_end_matches('.').to_string())
            .unwrap_or_else(|| e.to_string());
        let reason = error_reason(e);
        if e.is_authentication() || credentials_error(e).is_some() {
            return SecretManagerError::Unauthenticated(Detail::with_fix(
                format!("cannot get a token from Application Default Credentials ({e})"),
                ADC_FIX,
            ));
        }
        match code {
            Some("ALREADY_EXISTS") => SecretManagerError::AlreadyExists,
            Some("NOT_FOUND") if op == Op::CreateSecret || is_project_message(&message) => {
                self.unknown_project()
            }
            Some("NOT_FOUND") => SecretManagerError::NotFound(message.into()),
            Some("PERMISSION_DENIED") if reason.as_deref() == Some("CONSUMER_INVALID") => {
                self.unknown_project()
            }
            Some("PERMISSION_DENIED") if reason.as_deref() == Some("SERVICE_DISABLED") => {
                SecretManagerError::PermissionDenied {
                    action: format!(
                        "the Secret Manager API is not enabled in project {}: {message}",
                        self.project
                    ),
                    fix: format!(
                        "`gcloud services enable secretmanager.googleapis.com --project {}`, wait a minute, then run again",
                        self.project
                    ),
                }
            }
            Some("PERMISSION_DENIED") => {
                let who = self.member.clone().unwrap_or_else(|| {
                    "the identity of your Application Default Credentials".into()
                });
                let member = self
                    .member
                    .clone()
                    .unwrap_or_else(|| "user:YOU@EXAMPLE.COM".into());
                SecretManagerError::PermissionDenied {
                    action: if message.contains(op.permission()) {
                        message
                    } else {
                        format!("{} on {resource}: {message}", op.permission())
                    },
                    fix: format!(
                        "grant roles/secretmanager.admin (or at least {}) on project {} to {who} (`gcloud projects add-iam-policy-binding {} --member={member} --role=roles/secretmanager.admin`); the secrets are named {}-*",
                        op.permission(),
                        self.project,
                        self.project,
                        self.prefix
                    ),
                }
            }
            Some("UNAUTHENTICATED") => {
                SecretManagerError::Unauthenticated(Detail::with_fix(message, ADC_FIX))
            }
            Some("RESOURCE_EXHAUSTED") => SecretManagerError::Throttled {
                retry_after: retry_after(e),
            },
            Some(
                code @ ("UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "ABORTED" | "UNKNOWN"),
            ) => SecretManagerError::Unavailable(
                format!(
                    "GCP Secret Manager answered {code} to {}: {message}",
                    op.permission()
                )
                .into(),
            ),
            Some("INVALID_ARGUMENT" | "OUT_OF_RANGE" | "FAILED_PRECONDITION") => {
                SecretManagerError::Invalid(format!("{resource}: {message}").into())
            }
            Some(other) => SecretManagerError::Other(format!("{other}: {message}").into()),
            None if e.is_timeout() || e.is_io() || e.is_connect() || e.is_transport() => {
                SecretManagerError::Unavailable(
                    format!("cannot reach GCP Secret Manager: {e}").into(),
                )
            }
            None if e.is_binding() || e.is_serialization() => {
                SecretManagerError::Invalid(format!("{resource}: {e}").into())
            }
            None => SecretManagerError::Other(e.to_string().into()),
        }
    }

    async fn add(&self, path: &str, value: &SecretString) -> Result<(), SecretManagerError> {
        let data = Zeroizing::new(value.expose_secret().as_bytes().to_vec());
        let crc = crc32c(&data);
        // The SDK takes ownership of a `Bytes`; that copy (and its JSON encoding) is the SDK's.
        let payload = SecretPayload::new()
            .set_data(data.to_vec())
            .set_data_crc32c(i64::from(crc));
        self.client
            .add_secret_version()
            .set_parent(path)
            .set_payload(payload)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.map(e, Op::AddVersion, path))
    }
}

#[async_trait]
impl SecretManager for GcpSecretManager {
    fn describe(&self) -> String {
        format!("GCP Secret Manager (project {})", self.project)
    }

    async fn read(&self, name: &str) -> Result<RemoteState, SecretManagerError> {
        let path = self.secret_path(name)?;
        let latest = format!("{path}/versions/latest");
        match self
            .client
            .access_secret_version()
            .set_name(&latest)
            .send()
            .await
        {
            Ok(out) => {
                let Some(payload) = out.payload else {
                    return Ok(RemoteState::Empty);
                };
                let data = Zeroizing::new(payload.data.to_vec());
                wipe_bytes(payload.data);
                if let Some(want) = payload.data_crc32c
                    && want != i64::from(crc32c(&data))
                {
                    return Err(SecretManagerError::Unavailable(
                        format!(
                            "{latest}: the value failed its CRC32C check (corrupted in transit)"
                        )
                        .into(),
                    ));
                }
                let text = std::str::from_utf8(&data).map_err(|_| {
                    SecretManagerError::Invalid(
                        format!(
                            "{latest}: the value is not UTF-8 text; caracal-deploy did not write it"
                        )
                        .into(),
                    )
                })?;
                Ok(RemoteState::Present(SecretString::from(text)))
            }
            // The latest version is disabled or destroyed: the secret exists, nothing readable.
            Err(e) if code_of(innermost(&e)) == Some("FAILED_PRECONDITION") => {
                Ok(RemoteState::Empty)
            }
            // Either no such secret, or a secret without versions: ask for the secret.
            Err(e) if is_secret_not_found(&e) => {
                match self.client.get_secret().set_name(&path).send().await {
                    Ok(_) => Ok(RemoteState::Empty),
                    Err(e) if is_secret_not_found(&e) => Ok(RemoteState::Missing),
                    Err(e) => Err(self.map(e, Op::GetSecret, &path)),
                }
            }
            Err(e) => Err(self.map(e, Op::Access, &latest)),
        }
    }

    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        labels: &Labels,
    ) -> Result<(), SecretManagerError> {
        let path = self.secret_path(name)?;
        let parent = format!("projects/{}", self.project);
        let secret = Secret::new()
            .set_replication(Replication::new().set_automatic(Automatic::new()))
            .set_labels(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.client
            .create_secret()
            .set_parent(&parent)
            .set_secret_id(name)
            .set_secret(secret)
            .send()
            .await
            .map_err(|e| self.map(e, Op::CreateSecret, &path))?;
        // A second call: if it fails, the secret exists without a version (read: Empty) and
        // the engine adds the first version on the next attempt.
        self.add(&path, value).await
    }

    async fn add_version(
        &self,
        name: &str,
        value: &SecretString,
    ) -> Result<(), SecretManagerError> {
        let path = self.secret_path(name)?;
        self.add(&path, value).await
    }

    /// `DeleteSecret`: the secret and every version of it (GCP keeps no deleted secret to
    /// recover; a version's value can only be destroyed with it).
    async fn delete(&self, name: &str) -> Result<(), SecretManagerError> {
        let path = self.secret_path(name)?;
        match self.client.delete_secret().set_name(&path).send().await {
            Ok(()) => Ok(()),
            Err(e) if is_secret_not_found(&e) => Ok(()),
            Err(e) => Err(self.map(e, Op::DeleteSecret, &path)),
        }
    }

    async fn version_count(&self, name: &str) -> Result<usize, SecretManagerError> {
        let path = self.secret_path(name)?;
        let mut count = 0;
        let mut token = String::new();
        loop {
            let page = match self
                .client
                .list_secret_versions()
                .set_parent(&path)
                .set_page_size(PAGE_SIZE)
                .set_page_token(token)
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if is_secret_not_found(&e) => return Ok(0),
                Err(e) => return Err(self.map(e, Op::ListVersions, &path)),
            };
            count += page.versions.len();
            if page.next_page_token.is_empty() {
                return Ok(count);
            }
            token = page.next_page_token;
        }
    }
}

/// GCP secret ids: 1-255 ASCII letters, digits, '_' and '-'.
fn validate_secret_id(name: &str) -> Result<(), SecretManagerError> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(SecretManagerError::Invalid(Detail::with_fix(
            format!(
                "`{name}` is not a valid GCP secret name: use 1-255 letters, digits, '_' or '-' (no '/' or '.')"
            ),
            "change secretManager.prefix in the answers",
        )));
    }
    Ok(())
}

/// The error that decided the outcome: the SDK wraps the last attempt's error when its own
/// retry policy gives up.
fn innermost(e: &SdkError) -> &SdkError {
    let mut current = e;
    while current.is_exhausted() {
        match std::error::Error::source(current).and_then(|s| s.downcast_ref::<SdkError>()) {
            Some(inner) => current = inner,
            None => break,
        }
    }
    current
}

/// A credentials problem anywhere in the error's chain.
fn credentials_error(e: &SdkError) -> Option<&google_cloud_auth::errors::CredentialsError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<google_cloud_auth::errors::CredentialsError>() {
            return Some(c);
        }
        source = s.source();
    }
    None
}

/// NOT_FOUND about the secret (not the project): the secret does not exist.
fn is_secret_not_found(e: &SdkError) -> bool {
    let e = innermost(e);
    code_of(e) == Some("NOT_FOUND")
        && !is_project_message(e.status().map(|s| s.message.as_str()).unwrap_or_default())
}

/// Gets one token (or signs one JWT) so that missing or broken credentials are reported at
/// once, not after the SDK's retries. Transient failures (e.g. the metadata server starting)
/// are tried three times.
async fn probe(
    credentials: &google_cloud_auth::credentials::Credentials,
) -> Result<(), SecretManagerError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error = match tokio::time::timeout(
            Duration::from_secs(10),
            credentials.headers(Default::default()),
        )
        .await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.is_transient() && attempt < 3 => e.to_string(),
            Ok(Err(e)) => {
                return Err(SecretManagerError::Unauthenticated(Detail::with_fix(
                    format!(
                        "Application Default Credentials give no token{} ({e})",
                        adc_source_hint()
                    ),
                    ADC_FIX,
                )));
            }
            Err(_) if attempt < 3 => "timed out".to_string(),
            Err(_) => {
                return Err(SecretManagerError::Unauthenticated(Detail::with_fix(
                    "getting a token from Application Default Credentials timed out",
                    ADC_FIX,
                )));
            }
        };
        tracing::debug!(attempt, %error, "credentials probe failed, retrying");
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
    }
}

/// Where ADC came from when it is not obvious: with no key file and no gcloud ADC file, the
/// SDK asks the GCE/GKE metadata server.
fn adc_source_hint() -> &'static str {
    if std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some() {
        return "";
    }
    let root = if cfg!(windows) {
        std::env::var_os("APPDATA").map(|r| std::path::PathBuf::from(r).join("gcloud"))
    } else {
        std::env::var_os("HOME").map(|r| std::path::PathBuf::from(r).join(".config/gcloud"))
    };
    match root {
        Some(dir) if dir.join("application_default_credentials.json").is_file() => "",
        _ => {
            ": GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud ADC file, and no GCE/GKE metadata server answered"
        }
    }
}

/// The canonical status code (e.g. "NOT_FOUND"), from the error body or else the HTTP status.
fn code_of(e: &SdkError) -> Option<&'static str> {
    if let Some(status) = e.status() {
        let name = status.code.name();
        // Some front ends answer "UNKNOWN" with a meaningful HTTP status.
        if name != "UNKNOWN" {
            return Some(name);
        }
    }
    e.http_status_code().map(|http| match http {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "UNAVAILABLE",
        _ => "UNKNOWN",
    })
}

/// A NOT_FOUND about the project rather than the secret ("Project 'x' not found or deleted").
fn is_project_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    !lower.contains("secret") && lower.contains("project")
}

/// The details of a status, as the JSON the service sent.
fn details(e: &SdkError) -> Vec<serde_json::Value> {
    e.status()
        .and_then(|s| serde_json::to_value(&s.details).ok())
        .and_then(|v| match v {
            serde_json::Value::Array(items) => Some(items),
            _ => None,
        })
        .unwrap_or_default()
}

/// `ErrorInfo.reason`, e.g. "SERVICE_DISABLED", "CONSUMER_INVALID", "RATE_LIMIT_EXCEEDED".
fn error_reason(e: &SdkError) -> Option<String> {
    details(e)
        .iter()
        .find(|d| {
            d.get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
        })
        .and_then(|d| d.get("reason").and_then(|r| r.as_str()).map(str::to_string))
}

/// How long the service asked us to wait: a `Retry-After` header (seconds), else `RetryInfo`.
fn retry_after(e: &SdkError) -> Option<Duration> {
    let header = e
        .http_headers()
        .and_then(|h| h.get("retry-after"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let info = details(e)
        .iter()
        .find(|d| {
            d.get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .and_then(|d| {
            d.get("retryDelay")
                .and_then(|r| r.as_str())
                .and_then(|s| s.strip_suffix('s')?.parse::<f64>().ok())
        });
    header
        .or(info)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// `serviceAccount:EMAIL` when ADC is a service-account key file named by
/// GOOGLE_APPLICATION_CREDENTIALS; only the email is read from it.
fn adc_member() -> Option<String> {
    #[derive(serde::Deserialize)]
    struct KeyFile {
        #[serde(rename = "type")]
        kind: Option<String>,
        client_email: Option<String>,
    }
    let path = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")?;
    let text = Zeroizing::new(std::fs::read_to_string(path).ok()?);
    let key: KeyFile = serde_json::from_str(&text).ok()?;
    match (key.kind.as_deref(), key.client_email) {
        (Some("service_account"), Some(email)) => Some(format!("serviceAccount:{email}")),
        _ => None,
    }
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC32C (Castagnoli), as Secret Manager checks `payload.data_crc32c`.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// Wipes the SDK's copy of a value when nothing else holds it (a shared buffer cannot be
/// reached, and the README says so).
fn wipe_bytes(b: bytes::Bytes) {
    if let Ok(mut owned) = b.try_into_mut() {
        zeroize::Zeroize::zeroize(&mut owned[..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_gax::error::rpc::{Code, Status};

    #[test]
    fn crc32c_known_values() {
        // RFC 3720 B.4 and the usual check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn secret_ids() {
        assert!(validate_secret_id("caracal-postgres_1").is_ok());
        for bad in ["", "caracal/postgres", "a.b", "é", &"x".repeat(256)] {
            assert!(
                matches!(validate_secret_id(bad), Err(SecretManagerError::Invalid(_))),
                "{bad}"
            );
        }
        let e = validate_secret_id("caracal/postgres").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`caracal/postgres` is not a valid GCP secret name: use 1-255 letters, digits, '_' or '-' (no '/' or '.')"
        );
        assert_eq!(e.fix(), Some("change secretManager.prefix in the answers"));
    }

    /// An adapter for `my-project` whose client is never called: `map` only reads its names.
    async fn adapter(member: Option<&str>) -> GcpSecretManager {
        let client = SecretManagerService::builder()
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
            .build()
            .await
            .expect("building a client makes no request");
        GcpSecretManager {
            client,
            project: "my-project".into(),
            prefix: "caracal".into(),
            member: member.map(str::to_string),
        }
    }

    fn status(code: Code, message: &str) -> SdkError {
        SdkError::service(Status::default().set_code(code).set_message(message))
    }

    #[tokio::test]
    async fn unauthenticated_answers_carry_the_adc_fix_apart() {
        let sm = adapter(None).await;
        let e = sm.map(
            status(
                Code::Unauthenticated,
                "Request had invalid authentication credentials.",
            ),
            Op::Access,
            "projects/my-project/secrets/caracal-postgres/versions/latest",
        );
        assert_eq!(
            e,
            SecretManagerError::Unauthenticated(Detail::with_fix(
                "Request had invalid authentication credentials",
                ADC_FIX
            ))
        );
        assert_eq!(
            e.to_string(),
            "no valid credentials: Request had invalid authentication credentials"
        );
    }

    #[tokio::test]
    async fn denials_name_the_role_and_the_member_in_the_fix() {
        let sm = adapter(Some(
            "serviceAccount:seeder@my-project.iam.gserviceaccount.com",
        ))
        .await;
        let e = sm.map(
            status(Code::PermissionDenied, "Permission denied on resource."),
            Op::CreateSecret,
            "projects/my-project/secrets/caracal-postgres",
        );
        assert_eq!(
            e.to_string(),
            "permission denied: secretmanager.secrets.create on projects/my-project/secrets/caracal-postgres: Permission denied on resource"
        );
        let fix = e.fix().expect("a fix");
        for needle in [
            "roles/secretmanager.admin",
            "secretmanager.secrets.create",
            "gcloud projects add-iam-policy-binding my-project",
            "--member=serviceAccount:seeder@my-project.iam.gserviceaccount.com",
            "caracal-*",
        ] {
            assert!(fix.contains(needle), "`{needle}` missing from: {fix}");
        }
    }

    #[tokio::test]
    async fn an_unknown_project_is_not_found_with_the_fix_apart() {
        let sm = adapter(None).await;
        let e = sm.map(
            status(
                Code::NotFound,
                "Project 'projects/my-project' not found or deleted.",
            ),
            Op::Access,
            "projects/my-project/secrets/caracal-postgres/versions/latest",
        );
        assert_eq!(
            e.to_string(),
            "GCP project `my-project` does not exist or is not visible to your credentials"
        );
        assert_eq!(
            e.fix(),
            Some("check the project id in the answers (`gcloud projects list`)")
        );
        // A missing secret is no operator error: no fix.
        let e = sm.map(
            status(
                Code::NotFound,
                "Secret [projects/1/secrets/x] not found or has no versions.",
            ),
            Op::GetSecret,
            "projects/my-project/secrets/x",
        );
        assert!(matches!(e, SecretManagerError::NotFound(_)), "{e:?}");
        assert_eq!(e.fix(), None);
    }

    #[tokio::test]
    async fn a_bad_project_id_is_refused_with_the_fix_apart() {
        let Err(e) = GcpSecretManager::connect("my project", None, "caracal").await else {
            panic!("a project id with a space was accepted");
        };
        assert_eq!(e.to_string(), "`my project` is not a GCP project id");
        assert!(matches!(e, SecretManagerError::Invalid(_)), "{e:?}");
        assert_eq!(
            e.fix(),
            Some(
                "set the project id (e.g. `my-project-123`, see `gcloud projects list`) in the answers"
            )
        );
    }

    #[test]
    fn project_messages() {
        assert!(is_project_message(
            "Project 'projects/nope' not found or deleted."
        ));
        assert!(!is_project_message(
            "Secret [projects/123/secrets/x] not found or has no versions."
        ));
    }
}
