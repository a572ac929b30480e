//! Azure Key Vault (secrets) through the official SDK (`azure_security_keyvault_secrets`).
//!
//! Credentials are chosen like a workstation's or a CI job's: a service principal with a client
//! secret when `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and `AZURE_CLIENT_SECRET` are set; workload
//! identity when `AZURE_FEDERATED_TOKEN_FILE` is set (with `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`);
//! otherwise the developer tools (`az login`, then `azd auth login`). `AZURE_AUTHORITY_HOST`
//! selects another Entra endpoint, as in every Azure SDK.
//!
//! `secretManager.caBundle` adds CAs to trust (private endpoints, TLS-inspecting proxies) for the
//! connections to the vault (or `secretManager.endpoint`) only. The Entra ID token requests, which
//! carry the client secret, go through their own `reqwest` client with the platform's roots; the
//! bundle reaches them only when `AZURE_AUTHORITY_HOST` is the very origin (scheme, host, port) the
//! bundle was given for.
//!
//! The vault's 401 challenge names the token's audience. It must be the Key Vault audience of the
//! vault host's own cloud (`*.vault.azure.net` and `*.privatelink.vaultcore.azure.net` →
//! `https://vault.azure.net`, the sovereign clouds' likewise); any Key Vault audience is accepted
//! only for an endpoint the operator configured explicitly: `secretManager.endpoint`, or a vault
//! URL on the loopback interface (a tunnel or emulator on this machine).
//!
//! Retries are the engine's (jittered, `Retry-After` aware), not the SDK's.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, Headers, RETRY_AFTER};
use azure_core::http::policies::get_retry_after;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport, Url};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    DeveloperToolsCredential, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroize;

use super::tls;
use crate::core::secret_manager::{Detail, Labels, RemoteState, SecretManager, SecretManagerError};

/// The data action a secret's delete needs (the "Key Vault Secrets Officer" role has it).
const DELETE_DATA_ACTION: &str = "Microsoft.KeyVault/vaults/secrets/delete";

/// The content type put on every version the wizard writes.
const CONTENT_TYPE: &str = "text/plain";

const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Who the wizard authenticates as, for error messages.
#[derive(Debug, Clone)]
enum SignIn {
    ServicePrincipal {
        client_id: String,
        tenant_id: String,
    },
    WorkloadIdentity {
        client_id: String,
    },
    DeveloperTools,
}

impl SignIn {
    fn describe(&self) -> String {
        match self {
            SignIn::ServicePrincipal { client_id, .. } => {
                format!("the service principal {client_id} (AZURE_CLIENT_ID)")
            }
            SignIn::WorkloadIdentity { client_id } => {
                format!("the workload identity {client_id} (AZURE_CLIENT_ID)")
            }
            SignIn::DeveloperTools => "the user signed in to the Azure CLI".into(),
        }
    }

    /// What `az role assignment create --assignee` takes for this identity.
    fn assignee(&self) -> String {
        match self {
            SignIn::ServicePrincipal { client_id, .. } | SignIn::WorkloadIdentity { client_id } => {
                client_id.clone()
            }
            SignIn::DeveloperTools => "$(az ad signed-in-user show --query id -o tsv)".into(),
        }
    }

    fn sign_in_fix(&self) -> String {
        match self {
            SignIn::ServicePrincipal { client_id, tenant_id } => format!(
                "check AZURE_CLIENT_ID ({client_id}), AZURE_TENANT_ID ({tenant_id}) and AZURE_CLIENT_SECRET (a client secret's value, not its ID, and not expired: `az ad app credential list --id {client_id}`), or unset them to use `az login`"
            ),
            SignIn::WorkloadIdentity { .. } => "check the federated credential of AZURE_CLIENT_ID (its issuer and subject must match the service account token in AZURE_FEDERATED_TOKEN_FILE), or unset AZURE_FEDERATED_TOKEN_FILE to use `az login`".into(),
            SignIn::DeveloperTools => "sign in with the Azure CLI, `az login` (for the vault's tenant: `az login --tenant TENANT`; install it first if `az` is not found), or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal".into(),
        }
    }
}

/// Key Vault domains (vault host suffixes, private endpoints included) and the token audience
/// host of each.
const KEY_VAULT_DOMAINS: &[(&str, &str)] = &[
    ("vault.azure.net", "vault.azure.net"),
    ("privatelink.vaultcore.azure.net", "vault.azure.net"),
    ("vault.azure.cn", "vault.azure.cn"),
    ("privatelink.vaultcore.azure.cn", "vault.azure.cn"),
    ("vault.usgovcloudapi.net", "vault.usgovcloudapi.net"),
    (
        "privatelink.vaultcore.usgovcloudapi.net",
        "vault.usgovcloudapi.net",
    ),
    ("vault.microsoftazure.de", "vault.microsoftazure.de"),
    ("managedhsm.azure.net", "managedhsm.azure.net"),
    ("privatelink.managedhsm.azure.net", "managedhsm.azure.net"),
    ("managedhsm.azure.cn", "managedhsm.azure.cn"),
    (
        "managedhsm.usgovcloudapi.net",
        "managedhsm.usgovcloudapi.net",
    ),
];

/// The Key Vault audience host of a vault host in a Key Vault domain.
fn audience_of(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    KEY_VAULT_DOMAINS
        .iter()
        .find(|(domain, _)| host.ends_with(&format!(".{domain}")))
        .map(|(_, audience)| *audience)
}

/// Ends every refusal of the challenge check (and marks it in an error chain).
const CHALLENGE_REFUSED: &str = "no token was sent to it";

/// Which audiences the vault's challenge may ask a token for.
#[derive(Debug, Clone, PartialEq)]
enum ChallengeCheck {
    /// A real vault host: exactly its cloud's Key Vault audience.
    Exact(&'static str),
    /// An endpoint the operator configured explicitly: any Key Vault audience.
    AnyKeyVault,
    /// Neither a Key Vault host nor an explicit endpoint: no token at all.
    Refuse { host: String },
}

impl ChallengeCheck {
    fn for_host(host: &str, explicit: bool) -> ChallengeCheck {
        if explicit {
            ChallengeCheck::AnyKeyVault
        } else if let Some(audience) = audience_of(host) {
            ChallengeCheck::Exact(audience)
        } else {
            ChallengeCheck::Refuse {
                host: host.to_string(),
            }
        }
    }

    /// Whether a token for `scopes` may be handed to the vault.
    fn allows(&self, scopes: &[&str]) -> bool {
        let audience = |scope: &&str| {
            scope
                .strip_prefix("https://")
                .and_then(|s| s.strip_suffix("/.default"))
                .map(str::to_ascii_lowercase)
        };
        !scopes.is_empty()
            && scopes.iter().all(|scope| match (self, audience(scope)) {
                (ChallengeCheck::Exact(expected), Some(a)) => a == *expected,
                (ChallengeCheck::AnyKeyVault, Some(a)) => {
                    KEY_VAULT_DOMAINS.iter().any(|(_, aud)| *aud == a)
                }
                _ => false,
            })
    }
}

/// Whether a URL's host is this machine (127.0.0.0/8, ::1, localhost).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Hands the vault a token only for the audience its challenge may name (`ChallengeCheck`): a
/// look-alike host cannot obtain a token for another API (e.g. Azure Resource Manager) or for
/// another cloud's vaults with the operator's identity.
///
/// The SDK asks it for a token once the vault's challenge named the audience: that opens the
/// [`ChallengeGate`].
#[derive(Debug)]
struct KeyVaultTokensOnly(Arc<dyn TokenCredential>, ChallengeCheck, Arc<ChallengeGate>);

#[async_trait]
impl TokenCredential for KeyVaultTokensOnly {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if !self.1.allows(scopes) {
            let why = match &self.1 {
                ChallengeCheck::Exact(expected) => format!(
                    "the vault asked for a token for {scopes:?}, not for its own Key Vault audience https://{expected}; {CHALLENGE_REFUSED}"
                ),
                ChallengeCheck::AnyKeyVault => format!(
                    "the vault asked for a token for {scopes:?}, which is not a Key Vault audience; {CHALLENGE_REFUSED}"
                ),
                ChallengeCheck::Refuse { host } => format!(
                    "{host} is not a Key Vault host (*.vault.azure.net, a sovereign cloud's or *.privatelink.vaultcore.azure.net); {CHALLENGE_REFUSED}"
                ),
            };
            return Err(azure_core::Error::with_message(ErrorKind::Credential, why));
        }
        self.2.open();
        self.0.get_token(scopes, options).await
    }
}

pub struct AzureKeyVault {
    client: SecretClient,
    vault_url: String,
    prefix: String,
    identity: SignIn,
    authority: String,
    /// See [`AzureKeyVault::alone_until_challenged`].
    challenge: Arc<ChallengeGate>,
}

/// Lets the client's first request meet the vault's challenge alone: the others wait until the
/// challenge has named the token's audience (the SDK then asks [`KeyVaultTokensOnly`] for a
/// token) or the first request has ended.
#[derive(Debug, Default)]
struct ChallengeGate {
    met: AtomicBool,
    probing: AtomicBool,
    opened: tokio::sync::Notify,
}

/// Opens the gate when the first request ends, returned or dropped.
struct OpensOnDrop<'a>(&'a ChallengeGate);

impl Drop for OpensOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl ChallengeGate {
    fn open(&self) {
        self.met.store(true, Ordering::Release);
        self.opened.notify_waiters();
    }

    async fn until_open(&self) {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            if self.met.load(Ordering::Acquire) {
                return;
            }
            opened.await;
        }
    }
}

impl std::fmt::Debug for AzureKeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureKeyVault")
            .field("vault_url", &self.vault_url)
            .field("prefix", &self.prefix)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The parts of a secret bundle the adapter reads. `value` borrows from the response body when
/// it has no escapes, so no copy of it is left behind.
#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
    #[serde(default, rename = "contentType")]
    content_type: Option<String>,
    #[serde(default)]
    tags: Option<HashMap<String, String>>,
}

/// Zeroes a buffer the SDK handed over (request or response body) once nothing else holds it.
fn wipe(bytes: azure_core::Bytes) {
    if let Ok(mut b) = bytes.try_into_mut() {
        b.as_mut().zeroize();
    }
}

impl AzureKeyVault {
    /// A client for the vault at `vault_url` (`https://NAME.vault.azure.net`). No request is made
    /// yet: a wrong URL, an untrusted certificate or missing credentials surface on the first call.
    /// A client for the vault at `vault_url` (`https://NAME.vault.azure.net`), reached at
    /// `endpoint` when the operator configured one (`secretManager.endpoint`: a gateway or
    /// private endpoint in front of the vault). No request is made yet: a wrong URL, an untrusted
    /// certificate or missing credentials surface on the first call.
    pub async fn connect(
        vault_url: &str,
        endpoint: Option<&str>,
        ca_bundle: Option<&Path>,
        prefix: &str,
    ) -> Result<AzureKeyVault, SecretManagerError> {
        let vault = parse_vault_url("the vault URL", vault_url)?;
        let (target, url) = match endpoint {
            Some(e) => (e, parse_vault_url("secretManager.endpoint", e)?),
            None => (vault_url, vault),
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let explicit = endpoint.is_some() || is_loopback(&url);
        let check = ChallengeCheck::for_host(&host, explicit);

        let extra_cas = ca_bundle.map(read_ca_bundle).transpose()?;
        // The bundle's CAs are added to the platform's roots, not instead of them.
        let build = |cas: Option<&[u8]>| {
            let setup_failed = |e: String| {
                SecretManagerError::Other(format!("cannot set up the HTTPS client: {e}").into())
            };
            let tls = tls::client_config(cas).map_err(|e| setup_failed(e.to_string()))?;
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                .tls_backend_preconfigured(tls)
                .build()
                .map_err(|e| setup_failed(e.to_string()))
        };
        let vault_transport = Transport::new(Arc::new(build(extra_cas.as_deref())?));

        let authority = std::env::var("AZURE_AUTHORITY_HOST")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "https://login.microsoftonline.com".into());
        // The token requests carry the client secret: the bundle given for the vault's
        // connection reaches them only when the authority is that very origin.
        let same_origin = Url::parse(&authority).is_ok_and(|a| a.origin() == url.origin());
        let token_transport = if same_origin {
            vault_transport.clone()
        } else {
            Transport::new(Arc::new(build(None)?))
        };

        let (credential, identity) = credential(&token_transport)?;
        // The first request only learns the token's audience from the vault's 401 challenge;
        // the credential is warmed meanwhile for the audience the host names, so the token is
        // usually cached by the time the challenge asks for it. A failure here is reported by
        // that request.
        let warm_audience = match &check {
            ChallengeCheck::Exact(a) => Some(*a),
            ChallengeCheck::AnyKeyVault => Some(audience_of(&host).unwrap_or("vault.azure.net")),
            ChallengeCheck::Refuse { .. } => None,
        };
        if let Some(audience) = warm_audience {
            let warm = credential.clone();
            tokio::spawn(async move {
                let scope = format!("https://{audience}/.default");
                let _ = warm.get_token(&[scope.as_str()], None).await;
            });
        }

        // The SDK's own check (the challenge's resource must be a parent domain of the host)
        // knows no private-endpoint or explicit hosts; `KeyVaultTokensOnly` checks instead.
        let options = SecretClientOptions {
            client_options: ClientOptions {
                transport: Some(vault_transport),
                retry: RetryOptions::none(),
                ..Default::default()
            },
            verify_challenge_resource: Some(false),
            ..Default::default()
        };
        let challenge = Arc::new(ChallengeGate::default());
        let client = SecretClient::new(
            target,
            Arc::new(KeyVaultTokensOnly(credential, check, challenge.clone())),
            Some(options),
        )
        .map_err(|e| {
            SecretManagerError::Invalid(format!("the vault URL `{target}`: {e}").into())
        })?;
        Ok(AzureKeyVault {
            client,
            vault_url: target.trim_end_matches('/').to_string(),
            prefix: prefix.to_string(),
            identity,
            authority,
            challenge,
        })
    }

    /// Runs `call`, one SDK request. The client sends its first request without a token, to
    /// learn the token's audience from the vault's 401 challenge; requests started together
    /// would each be refused and each open a connection of its own. So the first runs alone
    /// and the others start once its challenge is met (or it has ended, failed or not): they
    /// share the client's connection (HTTP/2 when the vault offers it) and its token. A first
    /// request dropped on the way (an interrupted step; the connection is kept for the next)
    /// opens the gate as well.
    async fn alone_until_challenged<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let gate = &self.challenge;
        if gate.met.load(Ordering::Acquire) {
            return call.await;
        }
        if gate.probing.swap(true, Ordering::AcqRel) {
            gate.until_open().await;
            return call.await;
        }
        let _opens = OpensOnDrop(gate);
        call.await
    }

    fn check_name(&self, name: &str) -> Result<(), SecretManagerError> {
        if name.is_empty()
            || name.len() > 127
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(SecretManagerError::Invalid(Detail::with_fix(
                format!(
                    "`{name}` is not a valid Key Vault secret name: 1 to 127 letters, digits and dashes"
                ),
                format!(
                    "choose a secretManager.prefix (now `{}`) of letters, digits and dashes",
                    self.prefix
                ),
            )));
        }
        Ok(())
    }

    /// The vault's name, for `az` commands.
    fn vault_name(&self, detail: &str) -> String {
        // Key Vault's 403 messages end with "Vault: NAME;location=...".
        if let Some(rest) = detail.split("Vault: ").nth(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() {
                return name;
            }
        }
        Url::parse(&self.vault_url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.split('.').next().unwrap_or(h).to_string())
            })
            .unwrap_or_else(|| "VAULT".into())
    }

    fn map(&self, e: azure_core::Error, action: &str, name: &str) -> SecretManagerError {
        if let ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } = e.kind()
        {
            let status = u16::from(*status);
            let (code, inner, message) = raw_response
                .as_ref()
                .and_then(|r| service_error(r.body()))
                .unwrap_or_default();
            let code = code.or_else(|| error_code.clone()).unwrap_or_default();
            // Never the SDK's message: for a body that is not the service's JSON error (a
            // proxy's or gateway's page) it carries that body verbatim.
            let message = if message.is_empty() {
                let bytes = raw_response.as_ref().map_or(0, |r| r.body().len());
                format!(
                    "HTTP {status} with a body that is not a Key Vault error ({bytes} bytes, not shown)"
                )
            } else {
                message
            };
            let first_line = message.lines().next().unwrap_or("").trim().to_string();
            return match status {
                400 => SecretManagerError::Invalid(
                    format!("Key Vault refused to {action} `{name}`: {first_line}").into(),
                ),
                401 => SecretManagerError::Unauthenticated(Detail::with_fix(
                    format!(
                        "{} refused the token of {}: {first_line}",
                        self.vault_url,
                        self.identity.describe(),
                    ),
                    self.identity.sign_in_fix(),
                )),
                403 => self.forbidden(action, name, &code, inner.as_deref(), &message),
                404 if code.is_empty() || code == "SecretNotFound" => {
                    SecretManagerError::NotFound(first_line.into())
                }
                // Not Key Vault's "no such secret": the URL does not lead to a vault.
                404 => SecretManagerError::Other(Detail::with_fix(
                    format!("{} answered 404 {code} ({first_line})", self.vault_url),
                    "check the vault URL (secretManager.vaultUrl, `az keyvault show --name NAME --query properties.vaultUri`)",
                )),
                409 if message.contains("deleted but recoverable")
                    || message.contains("recoverable state") =>
                {
                    SecretManagerError::soft_deleted(name)
                }
                409 => SecretManagerError::Other(
                    format!("Key Vault refused to {action} `{name}` (conflict): {first_line}")
                        .into(),
                ),
                429 => SecretManagerError::Throttled {
                    retry_after: raw_response.as_ref().and_then(|r| retry_after(r.headers())),
                },
                500..=599 => SecretManagerError::Unavailable(
                    format!("{} answered {status} {code}: {first_line}", self.vault_url).into(),
                ),
                _ => SecretManagerError::Other(
                    format!("{action} `{name}`: HTTP {status} {code}: {first_line}").into(),
                ),
            };
        }
        let chain = error_chain(&e);
        if matches!(e.kind(), ErrorKind::Credential)
            || chain.iter().any(|c| c.contains(CHALLENGE_REFUSED))
        {
            return self.credential_error(&e, &chain);
        }
        self.transport_error(&chain, &self.vault_url, false)
    }

    fn forbidden(
        &self,
        action: &str,
        name: &str,
        code: &str,
        inner: Option<&str>,
        message: &str,
    ) -> SecretManagerError {
        let first_line = message.lines().next().unwrap_or("").trim();
        let vault = self.vault_name(message);
        // Key Vault names the caller's object ID in RBAC denials: the most precise assignee.
        let assignee = message
            .split("oid=")
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                    .collect::<String>()
            })
            .filter(|oid| !oid.is_empty())
            .unwrap_or_else(|| self.identity.assignee());
        let role_fix = format!(
            "grant {} the \"Key Vault Secrets Officer\" role on the vault: `az role assignment create --role \"Key Vault Secrets Officer\" --assignee {assignee} --scope $(az keyvault show --name {vault} --query id -o tsv)` (a new assignment takes a few minutes to apply)",
            self.identity.describe()
        );
        // A delete needs a permission of its own: named, and asked for in the fix.
        let (action_text, permissions) = if action == "delete" {
            (
                format!(
                    "delete `{name}` in {} ({DELETE_DATA_ACTION}): {first_line}",
                    self.vault_url
                ),
                "get list set delete",
            )
        } else {
            (
                format!("{action} `{name}` in {}: {first_line}", self.vault_url),
                "get list set",
            )
        };
        match inner.unwrap_or(code) {
            "SecretDisabled" => SecretManagerError::Invalid(Detail::with_fix(
                format!("the latest version of `{name}` is disabled"),
                format!(
                    "enable it (`az keyvault secret set-attributes --vault-name {vault} --name {name} --enabled true`) or add a new version, then run again"
                ),
            )),
            "ForbiddenByFirewall" | "ForbiddenByConnection" => {
                SecretManagerError::PermissionDenied {
                    action: action_text,
                    fix: format!(
                        "the vault's firewall refuses this network: add your address (`az keyvault network-rule add --name {vault} --ip-address ADDRESS`) or run from a network that reaches its private endpoint"
                    ),
                }
            }
            "AccessDenied" => SecretManagerError::PermissionDenied {
                action: action_text,
                fix: format!(
                    "the vault uses access policies: `az keyvault set-policy --name {vault} --secret-permissions {permissions} --object-id {assignee}`; or, with Azure RBAC, {role_fix}"
                ),
            },
            _ => SecretManagerError::PermissionDenied {
                action: action_text,
                fix: role_fix,
            },
        }
    }

    fn credential_error(&self, e: &azure_core::Error, chain: &[String]) -> SecretManagerError {
        // The challenge check refused the vault a token: nothing about signing in.
        if let Some(why) = chain.iter().find(|c| c.contains(CHALLENGE_REFUSED)) {
            return SecretManagerError::Invalid(Detail::with_fix(
                why.clone(),
                "give the vault's own URI (https://NAME.vault.azure.net, a sovereign cloud's, or NAME.privatelink.vaultcore.azure.net); for a gateway or private endpoint you trust, set secretManager.endpoint to its URL",
            ));
        }
        // A token endpoint that is throttling or down is worth a retry; a refusal is not.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(ae) = err.downcast_ref::<azure_core::Error>()
                && let ErrorKind::HttpResponse {
                    status,
                    raw_response,
                    ..
                } = ae.kind()
            {
                let status = u16::from(*status);
                if status == 429 {
                    return SecretManagerError::Throttled {
                        retry_after: raw_response.as_ref().and_then(|r| retry_after(r.headers())),
                    };
                }
                if status >= 500 {
                    return SecretManagerError::Unavailable(
                        format!(
                            "the Entra ID token endpoint ({}) answered {status}",
                            self.authority
                        )
                        .into(),
                    );
                }
            }
            source = err.source();
        }
        let text = chain.join(": ");
        if matches!(
            self.identity,
            SignIn::ServicePrincipal { .. } | SignIn::WorkloadIdentity { .. }
        ) && is_transport_failure(&text)
        {
            return self.transport_error(chain, &self.authority, true);
        }
        SecretManagerError::Unauthenticated(Detail::with_fix(
            format!(
                "{} could not get a Key Vault token: {}",
                self.identity.describe(),
                chain.first().map(String::as_str).unwrap_or("unknown error"),
            ),
            self.identity.sign_in_fix(),
        ))
    }

    /// DNS, TCP and TLS failures, named by the URL that could not be reached: the vault's, or
    /// the Entra ID token endpoint's (`token_endpoint`).
    fn transport_error(
        &self,
        chain: &[String],
        url: &str,
        token_endpoint: bool,
    ) -> SecretManagerError {
        let text = chain.join(": ");
        let lower = text.to_lowercase();
        let check = if token_endpoint {
            "check AZURE_AUTHORITY_HOST (when unset: https://login.microsoftonline.com) and any proxy in between"
        } else {
            "check the vault URL and port (secretManager.vaultUrl, `az keyvault show --name NAME --query properties.vaultUri`) and any proxy in between"
        };
        let url = if token_endpoint {
            format!("the Entra ID token endpoint {url}")
        } else {
            url.to_string()
        };
        if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("unknownissuer")
        {
            return SecretManagerError::Other(Detail::with_fix(
                format!(
                    "TLS: the certificate of {url} is not trusted ({})",
                    tls_reason(&text)
                ),
                "if a private CA or a TLS-inspecting proxy signs it, give its CA certificates (PEM) in secretManager.caBundle",
            ));
        }
        if lower.contains("dns error")
            || lower.contains("failed to lookup address")
            || lower.contains("name or service not known")
            || lower.contains("no such host")
        {
            return SecretManagerError::Other(Detail::with_fix(
                format!("cannot resolve the host of {url} (DNS)"),
                format!(
                    "{check}; a vault behind a private endpoint resolves only from networks linked to its private DNS zone"
                ),
            ));
        }
        if lower.contains("connection refused") {
            return SecretManagerError::Unavailable(Detail::with_fix(
                format!("{url} refused the connection"),
                check,
            ));
        }
        if lower.contains("timed out") || lower.contains("timeout") {
            return SecretManagerError::Unavailable(
                format!("{url} did not answer in time: {text}").into(),
            );
        }
        SecretManagerError::Unavailable(format!("cannot reach {url}: {text}").into())
    }

    /// Whether `name` is deleted but recoverable. A failure to tell (e.g. no permission to read
    /// deleted secrets) is "no": `create` then meets the 409 and says the same.
    async fn is_soft_deleted(&self, name: &str) -> bool {
        self.alone_until_challenged(self.client.get_deleted_secret(name, None))
            .await
            .is_ok()
    }

    /// The tags and content type of the latest version (values are wiped), or None when missing.
    async fn latest_properties(
        &self,
        name: &str,
    ) -> Result<Option<(Option<HashMap<String, String>>, Option<String>)>, SecretManagerError> {
        match self
            .alone_until_challenged(self.client.get_secret(name, None))
            .await
        {
            Ok(rsp) => {
                let body = azure_core::Bytes::from(rsp.into_body());
                let parsed = serde_json::from_slice::<Bundle<'_>>(&body).map(|mut b| {
                    if let Some(Cow::Owned(mut v)) = b.value.take() {
                        v.zeroize();
                    }
                    (b.tags, b.content_type)
                });
                wipe(body);
                parsed.map(Some).map_err(|e| {
                    SecretManagerError::Other(
                        format!("unexpected answer from {}: {e}", self.vault_url).into(),
                    )
                })
            }
            Err(e) => match self.map(e, "read", name) {
                SecretManagerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// One `PUT /secrets/{name}`: a new secret, or a new version of an existing one. The request
    /// and response bodies (both hold the value) are wiped afterwards.
    async fn set(
        &self,
        name: &str,
        value: &SecretString,
        tags: Option<HashMap<String, String>>,
        content_type: Option<String>,
        action: &str,
    ) -> Result<(), SecretManagerError> {
        let mut params = SetSecretParameters {
            value: Some(value.expose_secret().to_string()),
            tags,
            content_type,
            ..Default::default()
        };
        let mut json = Vec::with_capacity(value.expose_secret().len() * 2 + 1024);
        let serialized = serde_json::to_writer(&mut json, &params);
        if let Some(v) = params.value.as_mut() {
            v.zeroize();
        }
        if let Err(e) = serialized {
            json.zeroize();
            return Err(SecretManagerError::Other(
                format!("cannot encode the request: {e}").into(),
            ));
        }
        let body = azure_core::Bytes::from(json);
        let result = self
            .alone_until_challenged(self.client.set_secret(name, body.clone().into(), None))
            .await;
        wipe(body);
        match result {
            Ok(rsp) => {
                wipe(rsp.into_body().into());
                Ok(())
            }
            Err(e) => Err(self.map(e, action, name)),
        }
    }
}

/// A vault URI (or `secretManager.endpoint`): https, a host, no path or query.
fn parse_vault_url(what: &str, value: &str) -> Result<Url, SecretManagerError> {
    let url = Url::parse(value).map_err(|e| {
        SecretManagerError::Invalid(Detail::with_fix(
            format!("{what} `{value}` is not a URL ({e})"),
            "write the vault URI, e.g. https://NAME.vault.azure.net",
        ))
    })?;
    if url.scheme() != "https" {
        return Err(SecretManagerError::Invalid(Detail::new(format!(
            "{what} `{value}` must use https (Key Vault tokens are never sent over plain http)"
        ))));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(SecretManagerError::Invalid(
            format!("{what} `{value}` has no host").into(),
        ));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(SecretManagerError::Invalid(Detail::new(format!(
            "{what} `{value}` has a path or query: give the vault URI only, e.g. https://NAME.vault.azure.net"
        ))));
    }
    Ok(url)
}

/// The PEM bundle of `secretManager.caBundle`, checked to hold certificates.
fn read_ca_bundle(path: &Path) -> Result<Vec<u8>, SecretManagerError> {
    let pem = std::fs::read(path).map_err(|e| {
        SecretManagerError::Invalid(
            format!(
                "secretManager.caBundle: cannot read {}: {e}",
                path.display()
            )
            .into(),
        )
    })?;
    match tls::parse_bundle(&pem) {
        Ok(_) => Ok(pem),
        Err(e) => Err(SecretManagerError::Invalid(
            format!("secretManager.caBundle: {}: {e}", path.display()).into(),
        )),
    }
}

/// The credential chain, each credential sending its token requests through `transport`.
fn credential(
    transport: &Transport,
) -> Result<(Arc<dyn TokenCredential>, SignIn), SecretManagerError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let options = || ClientOptions {
        transport: Some(transport.clone()),
        // A few quick retries of the token endpoint, not the SDK's default minute.
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 3,
            max_total_elapsed: azure_core::time::Duration::seconds(15),
            ..Default::default()
        }),
        ..Default::default()
    };
    let failed = |which: &str, e: azure_core::Error| {
        SecretManagerError::Unauthenticated(Detail::with_fix(
            format!("{which}: {e}"),
            "check AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE), or unset them to use `az login`",
        ))
    };
    let (client_id, tenant_id) = (var("AZURE_CLIENT_ID"), var("AZURE_TENANT_ID"));
    if let (Some(client_id), Some(tenant_id), Some(secret)) =
        (&client_id, &tenant_id, var("AZURE_CLIENT_SECRET"))
    {
        let cred = ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            Secret::new(secret),
            Some(ClientSecretCredentialOptions {
                client_options: options(),
            }),
        )
        .map_err(|e| {
            failed(
                "the service principal in AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET",
                e,
            )
        })?;
        return Ok((
            cred,
            SignIn::ServicePrincipal {
                client_id: client_id.clone(),
                tenant_id: tenant_id.clone(),
            },
        ));
    }
    if let (Some(client_id), Some(_), Some(_)) =
        (&client_id, &tenant_id, var("AZURE_FEDERATED_TOKEN_FILE"))
    {
        let cred = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: options(),
            },
            ..Default::default()
        }))
        .map_err(|e| failed("workload identity (AZURE_FEDERATED_TOKEN_FILE)", e))?;
        return Ok((
            cred,
            SignIn::WorkloadIdentity {
                client_id: client_id.clone(),
            },
        ));
    }
    let cred =
        DeveloperToolsCredential::new(None).map_err(|e| failed("the Azure CLI credential", e))?;
    Ok((cred, SignIn::DeveloperTools))
}

/// (code, inner code, message) of a Key Vault error body; None when the body is not the
/// service's JSON error (it is then never shown: it may be anything a proxy sent).
fn service_error(body: &[u8]) -> Option<(Option<String>, Option<String>, String)> {
    #[derive(Deserialize)]
    struct Body {
        error: Option<ErrorDetail>,
    }
    #[derive(Deserialize)]
    struct ErrorDetail {
        code: Option<String>,
        message: Option<String>,
        innererror: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        code: Option<String>,
    }
    let d = serde_json::from_slice::<Body>(body).ok()?.error?;
    Some((
        d.code,
        d.innererror.and_then(|i| i.code),
        d.message.unwrap_or_default(),
    ))
}

/// How long the service asks to wait: `x-ms-retry-after-ms`/`retry-after-ms`, else
/// `Retry-After` in (possibly fractional) seconds or as an HTTP date.
fn retry_after(headers: &Headers) -> Option<Duration> {
    for h in [&X_MS_RETRY_AFTER_MS, &RETRY_AFTER_MS] {
        if let Some(ms) = headers
            .get_optional_str(h)
            .and_then(|v| v.trim().parse::<f64>().ok())
            && ms.is_finite()
            && ms >= 0.0
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let raw = headers.get_optional_str(&RETRY_AFTER)?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    get_retry_after(headers, OffsetDateTime::now_utc, &[RETRY_AFTER])
        .and_then(|d| Duration::try_from(d).ok())
}

/// The messages of an error and its sources, outermost first, without repeats.
fn error_chain(e: &azure_core::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if !text.is_empty() && !out.iter().any(|o| o.contains(&text)) {
            out.push(text);
        }
        source = err.source();
    }
    out
}

fn is_transport_failure(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "dns error",
        "failed to lookup address",
        "connection refused",
        "timed out",
        "error sending request",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The most specific part of a TLS failure (e.g. "invalid peer certificate: UnknownIssuer").
fn tls_reason(text: &str) -> String {
    text.rsplit(": ")
        .find(|part| {
            let l = part.to_lowercase();
            l.contains("certificate")
                || l.contains("issuer")
                || l.contains("tls")
                || l.contains("handshake")
        })
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| text.to_string())
}

#[async_trait]
impl SecretManager for AzureKeyVault {
    fn describe(&self) -> String {
        format!("Azure Key Vault ({})", self.vault_url)
    }

    async fn read(&self, name: &str) -> Result<RemoteState, SecretManagerError> {
        self.check_name(name)?;
        match self
            .alone_until_challenged(self.client.get_secret(name, None))
            .await
        {
            Ok(rsp) => {
                let body = azure_core::Bytes::from(rsp.into_body());
                let state =
                    serde_json::from_slice::<Bundle<'_>>(&body).map(|mut b| match b.value.take() {
                        Some(v) => {
                            let secret = SecretString::from(v.as_ref());
                            if let Cow::Owned(mut owned) = v {
                                owned.zeroize();
                            }
                            RemoteState::Present(secret)
                        }
                        None => RemoteState::Empty,
                    });
                wipe(body);
                state.map_err(|e| {
                    SecretManagerError::Other(
                        format!("unexpected answer from {}: {e}", self.vault_url).into(),
                    )
                })
            }
            Err(e) => match self.map(e, "read", name) {
                // Soft-delete keeps the name: reporting it as missing would plan a create that
                // Key Vault refuses, after other secrets were already written.
                SecretManagerError::NotFound(_) if self.is_soft_deleted(name).await => {
                    Err(SecretManagerError::soft_deleted(name))
                }
                SecretManagerError::NotFound(_) => Ok(RemoteState::Missing),
                other => Err(other),
            },
        }
    }

    /// Key Vault has no create-only call (a PUT on an existing name adds a version), so the name
    /// is checked first. A concurrent creator between the check and the PUT would see its secret
    /// get a second version; the wizard is the only writer of these names.
    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        labels: &Labels,
    ) -> Result<(), SecretManagerError> {
        // Only whether the name is taken: a soft-deleted name makes the PUT answer 409, which
        // maps to the same soft-delete error the plan's read reports.
        self.check_name(name)?;
        match self
            .alone_until_challenged(self.client.get_secret(name, None))
            .await
        {
            Ok(rsp) => {
                // The body holds the value: wiped, never looked at.
                wipe(azure_core::Bytes::from(rsp.into_body()));
                return Err(SecretManagerError::AlreadyExists);
            }
            Err(e) => match self.map(e, "read", name) {
                SecretManagerError::NotFound(_) => {}
                other => return Err(other),
            },
        }
        let tags: HashMap<String, String> =
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.set(name, value, Some(tags), Some(CONTENT_TYPE.into()), "create")
            .await
    }

    /// Key Vault keeps tags per version: the new version carries the latest one's tags over, so
    /// the labels the wizard put on the secret stay visible.
    async fn add_version(
        &self,
        name: &str,
        value: &SecretString,
    ) -> Result<(), SecretManagerError> {
        self.check_name(name)?;
        let Some((tags, content_type)) = self.latest_properties(name).await? else {
            return Err(SecretManagerError::NotFound(
                format!(
                    "`{name}` does not exist in {}, so no version can be added to it",
                    self.vault_url
                )
                .into(),
            ));
        };
        self.set(
            name,
            value,
            tags,
            content_type.or_else(|| Some(CONTENT_TYPE.into())),
            "add a version to",
        )
        .await
    }

    /// Soft delete (never purged): the name stays recoverable for the vault's retention
    /// period. A missing name, or one already deleted, answers 404: Ok.
    async fn delete(&self, name: &str) -> Result<(), SecretManagerError> {
        self.check_name(name)?;
        match self
            .alone_until_challenged(self.client.delete_secret(name, None))
            .await
        {
            Ok(rsp) => {
                // The deleted bundle may carry the value: wiped, never looked at.
                wipe(azure_core::Bytes::from(rsp.into_body()));
                Ok(())
            }
            Err(e) => match self.map(e, "delete", name) {
                SecretManagerError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn version_count(&self, name: &str) -> Result<usize, SecretManagerError> {
        self.check_name(name)?;
        let mut pager = self
            .client
            .list_secret_properties_versions(name, None)
            .map_err(|e| self.map(e, "list the versions of", name))?;
        let mut count = 0;
        loop {
            match self.alone_until_challenged(pager.try_next()).await {
                Ok(Some(_)) => count += 1,
                Ok(None) => return Ok(count),
                Err(e) => {
                    return match self.map(e, "list the versions of", name) {
                        SecretManagerError::NotFound(_) => Ok(0),
                        other => Err(other),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::{RawResponse, StatusCode};

    const URL: &str = "https://caracal-test.vault.azure.net";

    /// An adapter whose client is never called: the mappings only read its names.
    fn vault() -> AzureKeyVault {
        let credential: Arc<dyn TokenCredential> =
            DeveloperToolsCredential::new(None).expect("no request is made");
        AzureKeyVault {
            client: SecretClient::new(URL, credential, None).expect("a client"),
            vault_url: URL.into(),
            prefix: "caracal".into(),
            identity: SignIn::DeveloperTools,
            authority: "https://login.microsoftonline.com".into(),
            challenge: Arc::default(),
        }
    }

    /// Key Vault's answer `status` with the error body `{"error": {code, message, innererror}}`.
    fn answer(status: u16, code: &str, inner: Option<&str>, message: &str) -> azure_core::Error {
        let status = StatusCode::from(status);
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let Some(inner) = inner {
            error["innererror"] = serde_json::json!({ "code": inner });
        }
        let body = serde_json::json!({ "error": error }).to_string();
        let raw = RawResponse::from_bytes(status, Headers::new(), body.into_bytes());
        azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: Some(code.into()),
                raw_response: Some(Box::new(raw)),
            },
            message.to_string(),
        )
    }

    #[test]
    fn a_refused_token_is_unauthenticated_with_the_sign_in_fix_apart() {
        let kv = vault();
        let e = kv.map(
            answer(401, "Unauthorized", None, "AKV10032: Invalid issuer."),
            "read",
            "caracal-postgres",
        );
        assert_eq!(
            e.to_string(),
            format!(
                "no valid credentials: {URL} refused the token of the user signed in to the Azure CLI: AKV10032: Invalid issuer."
            )
        );
        assert_eq!(e.fix(), Some(SignIn::DeveloperTools.sign_in_fix().as_str()));
        assert!(e.fix().is_some_and(|f| f.contains("az login")));
        assert!(!e.is_transient());
    }

    #[test]
    fn a_url_that_is_not_a_vault_says_to_check_it() {
        let e = vault().map(
            answer(404, "ResourceNotFound", None, "The resource was not found."),
            "read",
            "caracal-postgres",
        );
        assert!(matches!(e, SecretManagerError::Other(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("{URL} answered 404 ResourceNotFound (The resource was not found.)")
        );
        assert_eq!(
            e.fix(),
            Some(
                "check the vault URL (secretManager.vaultUrl, `az keyvault show --name NAME --query properties.vaultUri`)"
            )
        );
        // Key Vault's own "no such secret" is NotFound, with no fix: nothing to do about it.
        let e = vault().map(
            answer(
                404,
                "SecretNotFound",
                None,
                "A secret with (name/id) x was not found.",
            ),
            "read",
            "x",
        );
        assert!(matches!(e, SecretManagerError::NotFound(_)), "{e:?}");
        assert_eq!(e.fix(), None);
    }

    #[test]
    fn a_soft_deleted_name_is_told_by_the_409() {
        let e = vault().map(
            answer(
                409,
                "Conflict",
                Some("ObjectIsDeletedButRecoverable"),
                "Secret caracal-postgres is currently in a deleted but recoverable state.",
            ),
            "create",
            "caracal-postgres",
        );
        assert_eq!(e, SecretManagerError::soft_deleted("caracal-postgres"));
        assert!(
            e.fix().is_some_and(|f| f
                .contains("az keyvault secret recover --vault-name VAULT --name caracal-postgres")),
            "{e:?}"
        );
    }

    #[test]
    fn a_disabled_version_is_invalid_with_the_command_that_enables_it() {
        let e = vault().map(
            answer(
                403,
                "Forbidden",
                Some("SecretDisabled"),
                "Operation get is not allowed on a disabled secret.",
            ),
            "read",
            "caracal-postgres",
        );
        assert!(matches!(e, SecretManagerError::Invalid(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the latest version of `caracal-postgres` is disabled"
        );
        assert_eq!(
            e.fix(),
            Some(
                "enable it (`az keyvault secret set-attributes --vault-name caracal-test --name caracal-postgres --enabled true`) or add a new version, then run again"
            )
        );
    }

    #[test]
    fn a_denial_names_the_role_in_its_fix() {
        let e = vault().map(
            answer(
                403,
                "Forbidden",
                Some("ForbiddenByRbac"),
                "Caller is not authorized to perform action on resource. Caller: oid=0000-aaaa;Vault: caracal-prod;location=westeurope",
            ),
            "read",
            "caracal-postgres",
        );
        let SecretManagerError::PermissionDenied { .. } = &e else {
            panic!("{e:?}")
        };
        assert!(
            e.to_string().starts_with(&format!(
                "permission denied: read `caracal-postgres` in {URL}: Caller is not authorized"
            )),
            "{e}"
        );
        let fix = e.fix().expect("a fix");
        assert!(
            fix.contains("--assignee 0000-aaaa --scope $(az keyvault show --name caracal-prod --query id -o tsv)"),
            "{fix}"
        );
    }

    #[test]
    fn a_denied_delete_names_its_data_action_and_permission() {
        let e = vault().map(
            answer(
                403,
                "Forbidden",
                Some("AccessDenied"),
                "The user, group or application does not have secrets delete permission on key vault 'caracal-prod'",
            ),
            "delete",
            "caracal-zone-kek",
        );
        assert!(
            e.to_string().starts_with(&format!(
                "permission denied: delete `caracal-zone-kek` in {URL} (Microsoft.KeyVault/vaults/secrets/delete): "
            )),
            "{e}"
        );
        let fix = e.fix().expect("a fix");
        assert!(
            fix.contains("--secret-permissions get list set delete"),
            "{fix}"
        );
        let read = vault().map(
            answer(403, "Forbidden", Some("AccessDenied"), "no get permission"),
            "read",
            "caracal-zone-kek",
        );
        let fix = read.fix().expect("a fix");
        assert!(
            fix.contains("--secret-permissions get list set --object-id"),
            "{fix}"
        );
    }

    #[test]
    fn transport_failures_keep_their_fix_apart() {
        let kv = vault();
        let e = kv.transport_error(
            &[
                "error sending request".into(),
                "invalid peer certificate: UnknownIssuer".into(),
            ],
            URL,
            false,
        );
        assert!(matches!(e, SecretManagerError::Other(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("TLS: the certificate of {URL} is not trusted (UnknownIssuer)")
        );
        assert!(
            e.fix()
                .is_some_and(|f| f.contains("secretManager.caBundle")),
            "{e:?}"
        );
        assert!(!e.is_transient());

        let e = kv.transport_error(
            &["dns error: failed to lookup address information".into()],
            URL,
            false,
        );
        assert_eq!(
            e.to_string(),
            format!("cannot resolve the host of {URL} (DNS)")
        );
        assert!(
            e.fix()
                .is_some_and(|f| f.starts_with("check the vault URL and port")
                    && f.ends_with("linked to its private DNS zone")),
            "{e:?}"
        );

        let e = kv.transport_error(
            &["tcp connect error: Connection refused".into()],
            "https://login.example",
            true,
        );
        assert_eq!(
            e,
            SecretManagerError::Unavailable(Detail::with_fix(
                "the Entra ID token endpoint https://login.example refused the connection",
                "check AZURE_AUTHORITY_HOST (when unset: https://login.microsoftonline.com) and any proxy in between",
            ))
        );
        assert!(e.is_transient());
    }

    #[test]
    fn the_challenge_check_stays_on_for_every_real_vault_host() {
        let vault = ["https://vault.azure.net/.default"];
        for host in [
            "caracal-prod.vault.azure.net",
            "caracal-prod.privatelink.vaultcore.azure.net",
            "CARACAL-PROD.Vault.Azure.Net",
        ] {
            let check = ChallengeCheck::for_host(host, false);
            assert_eq!(check, ChallengeCheck::Exact("vault.azure.net"), "{host}");
            assert!(check.allows(&vault), "{host}");
            // Another API, or another cloud's vaults: refused.
            assert!(
                !check.allows(&["https://management.azure.com/.default"]),
                "{host}"
            );
            assert!(
                !check.allows(&["https://vault.azure.cn/.default"]),
                "{host}"
            );
            assert!(!check.allows(&[]), "{host}");
        }
        for (host, audience) in [
            ("kv.vault.azure.cn", "vault.azure.cn"),
            ("kv.privatelink.vaultcore.azure.cn", "vault.azure.cn"),
            ("kv.vault.usgovcloudapi.net", "vault.usgovcloudapi.net"),
            (
                "kv.privatelink.vaultcore.usgovcloudapi.net",
                "vault.usgovcloudapi.net",
            ),
            ("hsm.managedhsm.azure.net", "managedhsm.azure.net"),
        ] {
            let check = ChallengeCheck::for_host(host, false);
            assert_eq!(check, ChallengeCheck::Exact(audience), "{host}");
            assert!(!check.allows(&vault), "{host}: the public cloud's audience");
        }
        // A host outside the Key Vault domains, not configured as an endpoint: no token at all.
        let check = ChallengeCheck::for_host("kv.example.internal", false);
        assert!(matches!(check, ChallengeCheck::Refuse { .. }), "{check:?}");
        assert!(!check.allows(&vault));
        // Relaxed only for an explicit endpoint, and then still only to Key Vault audiences.
        let check = ChallengeCheck::for_host("kv.example.internal", true);
        assert!(check.allows(&vault));
        assert!(check.allows(&["https://vault.usgovcloudapi.net/.default"]));
        assert!(!check.allows(&["https://management.azure.com/.default"]));
        assert!(!check.allows(&["https://vault.azure.net.evil.example/.default"]));
    }

    /// The requests after the first wait until its challenge is met (the SDK asks for a token)
    /// or, when it never is, until the first request has ended.
    #[tokio::test]
    async fn the_others_wait_for_the_challenge_or_the_end_of_the_first_request() {
        use std::sync::atomic::AtomicBool;
        async fn settle() {
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
        }
        for met_by_the_token in [true, false] {
            let kv = vault();
            let second_ran = AtomicBool::new(false);
            let (end_first, first_may_end) = tokio::sync::oneshot::channel::<()>();
            let first = kv.alone_until_challenged(async {
                let _ = first_may_end.await;
                Err::<(), &str>("the vault refused")
            });
            let second = kv.alone_until_challenged(async {
                second_ran.store(true, Ordering::SeqCst);
                Ok::<(), &str>(())
            });
            let driver = async {
                settle().await;
                assert!(
                    !second_ran.load(Ordering::SeqCst),
                    "went before the challenge"
                );
                if met_by_the_token {
                    kv.challenge.open();
                    settle().await;
                    assert!(
                        second_ran.load(Ordering::SeqCst),
                        "still held once it was met"
                    );
                }
                let _ = end_first.send(());
            };
            let all = async { tokio::join!(first, second, driver) };
            let (first, second, ()) = tokio::time::timeout(Duration::from_secs(5), all)
                .await
                .unwrap_or_else(|_| panic!("held forever (met by the token: {met_by_the_token})"));
            assert_eq!((first, second), (Err("the vault refused"), Ok(())));
        }
    }

    /// An interrupted step drops its first request; the adapter is kept for the next step,
    /// whose requests must not wait for a challenge that will never come.
    #[tokio::test]
    async fn a_dropped_first_request_opens_the_gate() {
        let kv = vault();
        let first = kv.alone_until_challenged(std::future::pending::<()>());
        assert!(
            tokio::time::timeout(Duration::from_millis(10), first)
                .await
                .is_err()
        );
        let next = kv.alone_until_challenged(async { "went" });
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), next).await,
            Ok("went")
        );
    }

    #[tokio::test]
    async fn a_refused_challenge_says_which_url_to_give_not_how_to_sign_in() {
        #[derive(Debug)]
        struct Never;
        #[async_trait]
        impl TokenCredential for Never {
            async fn get_token(
                &self,
                _: &[&str],
                _: Option<TokenRequestOptions<'_>>,
            ) -> azure_core::Result<AccessToken> {
                panic!("a refused challenge must not reach the credential")
            }
        }
        let guard = KeyVaultTokensOnly(
            Arc::new(Never),
            ChallengeCheck::for_host("kv.example.internal", false),
            Arc::default(),
        );
        let e = guard
            .get_token(&["https://vault.azure.net/.default"], None)
            .await
            .unwrap_err();
        let mapped = vault().map(e, "read", "caracal-postgres");
        assert!(
            matches!(mapped, SecretManagerError::Invalid(_)),
            "{mapped:?}"
        );
        assert!(
            mapped
                .to_string()
                .contains("kv.example.internal is not a Key Vault host"),
            "{mapped}"
        );
        assert!(
            mapped
                .fix()
                .is_some_and(|f| f.contains("secretManager.endpoint")),
            "{mapped:?}"
        );
    }

    #[test]
    fn loopback_vault_urls_count_as_explicit() {
        for url in [
            "https://127.0.0.1:8443",
            "https://127.1.2.3",
            "https://[::1]:8443",
            "https://localhost:8443",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "https://10.0.0.4",
            "https://caracal.vault.azure.net",
            "https://localhost.example.com",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn a_body_that_is_not_the_services_json_error_is_never_shown() {
        let status = StatusCode::from(502);
        let page = "<html><body>Bad gateway: upstream sent Authorization: Bearer eyJSECRETTOKEN</body></html>";
        for body in [
            page,
            "plain text from a proxy eyJSECRETTOKEN",
            "{\"not\":\"an error eyJSECRETTOKEN\"}",
        ] {
            let raw = RawResponse::from_bytes(status, Headers::new(), body.as_bytes().to_vec());
            // What the SDK builds for such a body: its message is the body.
            let e = azure_core::Error::with_message(
                ErrorKind::HttpResponse {
                    status,
                    error_code: Some("502".into()),
                    raw_response: Some(Box::new(raw)),
                },
                format!("{status}: {body}"),
            );
            let mapped = vault().map(e, "read", "caracal-postgres");
            let text = format!("{mapped} {:?}", mapped.fix());
            assert!(!text.contains("SECRETTOKEN"), "{text}");
            assert!(text.contains("502"), "{text}");
        }
        // The same for a 4xx that is not Key Vault's (a gateway's 403 page).
        let raw = RawResponse::from_bytes(
            StatusCode::from(403),
            Headers::new(),
            page.as_bytes().to_vec(),
        );
        let e = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::from(403),
                error_code: None,
                raw_response: Some(Box::new(raw)),
            },
            page.to_string(),
        );
        let mapped = vault().map(e, "read", "caracal-postgres");
        let text = format!("{mapped} {:?}", mapped.fix());
        assert!(!text.contains("SECRETTOKEN"), "{text}");
        // The service's own JSON error is still shown.
        let e = vault().map(
            answer(503, "ServiceUnavailable", None, "The service is busy."),
            "read",
            "x",
        );
        assert!(e.to_string().contains("The service is busy."), "{e}");
    }

    #[test]
    fn invalid_names_say_which_prefix_to_change() {
        let e = vault().check_name("caracal/postgres").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`caracal/postgres` is not a valid Key Vault secret name: 1 to 127 letters, digits and dashes"
        );
        assert_eq!(
            e.fix(),
            Some("choose a secretManager.prefix (now `caracal`) of letters, digits and dashes")
        );
    }

    #[tokio::test]
    async fn a_vault_url_that_is_not_a_url_is_invalid_with_the_fix_apart() {
        let e = AzureKeyVault::connect("not a url", None, None, "caracal")
            .await
            .unwrap_err();
        assert!(matches!(e, SecretManagerError::Invalid(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("the vault URL `not a url` is not a URL ("),
            "{e}"
        );
        assert_eq!(
            e.fix(),
            Some("write the vault URI, e.g. https://NAME.vault.azure.net")
        );
    }
}
