//! The Azure Key Vault adapter against the test bed's Key Vault emulator, through the real SDK
//! (HTTPS with the bed's CA, the 401 challenge, Entra-like client-secret token requests).
//!
//! Needs the bed: `scripts/testbed up && eval "$(scripts/testbed env)"`. The emulator is shared
//! (other tests, ESO), so every test uses its own names; fault injection is global, so tests that
//! inject faults run alone within this binary and limit each fault to a count and an operation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caracal_deploy::adapters::azure::AzureKeyVault;
use caracal_deploy::core::secret_manager::{
    RemoteState, SecretManager, SecretManagerError, managed_labels,
};
use caracal_deploy::engine::seed::with_retry;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// Tests that inject faults hold it for writing, the others for reading.
static FAULTS: RwLock<()> = RwLock::const_new(());

const PREFIX: &str = "caracal-test";

struct Bed {
    url: String,
    ca: PathBuf,
    tenant: String,
    client_id: String,
    client_secret: String,
}

fn bed() -> Bed {
    let var = |k: &str| {
        std::env::var(k).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!(
                "{k} is not set: these tests need the test bed's Key Vault emulator. Run:\n  \
                 cd /work/main && scripts/testbed up && eval \"$(scripts/testbed env)\"\n\
                 then run the tests again in that shell (CARACAL_TESTBED_AZURE_VAULT_URL, \
                 CARACAL_TESTBED_CA_BUNDLE, AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                 AZURE_CLIENT_SECRET must be set)"
            )
        })
    };
    let _ = var("AZURE_AUTHORITY_HOST");
    let bed = Bed {
        url: var("CARACAL_TESTBED_AZURE_VAULT_URL"),
        ca: PathBuf::from(var("CARACAL_TESTBED_CA_BUNDLE")),
        tenant: var("AZURE_TENANT_ID"),
        client_id: var("AZURE_CLIENT_ID"),
        client_secret: var("AZURE_CLIENT_SECRET"),
    };
    assert!(
        bed.ca.is_file(),
        "CARACAL_TESTBED_CA_BUNDLE={} does not exist: is the bed up? (`scripts/testbed status`)",
        bed.ca.display()
    );
    bed
}

async fn vault(bed: &Bed) -> AzureKeyVault {
    AzureKeyVault::connect(&bed.url, None, Some(&bed.ca), PREFIX)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", bed.url))
}

/// A name no other test (or run) uses.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{PREFIX}-{tag}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn http(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .build()
        .unwrap()
}

/// A request to the emulator; `token` adds a bearer token from its token endpoint.
async fn call(
    bed: &Bed,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: bool,
) -> (u16, Value) {
    let client = http(&bed.ca);
    let mut req = client.request(method, format!("{}{path}", bed.url));
    if token {
        req = req.header("Authorization", format!("Bearer {}", bearer(bed).await));
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let rsp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = rsp.status().as_u16();
    let bytes = rsp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn bearer(bed: &Bed) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
        enc(&bed.client_id),
        enc(&bed.client_secret),
        enc("https://vault.azure.net/.default")
    );
    let rsp = http(&bed.ca)
        .post(format!("{}/{}/oauth2/v2.0/token", bed.url, bed.tenant))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&rsp.bytes().await.unwrap()).unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_string()
}

/// The latest version of `name` as the REST API returns it.
async fn rest_get(bed: &Bed, name: &str) -> Value {
    let (status, body) = call(
        bed,
        reqwest::Method::GET,
        &format!("/secrets/{name}?api-version=7.5"),
        None,
        true,
    )
    .await;
    assert_eq!(status, 200, "GET {name}: {body}");
    body
}

/// Requests to the emulator whose path mentions `name`.
async fn requests_for(bed: &Bed, name: &str) -> Vec<Value> {
    let (_, body) = call(
        bed,
        reqwest::Method::GET,
        "/_emulator/requests",
        None,
        false,
    )
    .await;
    body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").contains(name))
        .cloned()
        .collect()
}

async fn set_faults(bed: &Bed, spec: Value) {
    let (status, body) = call(
        bed,
        reqwest::Method::POST,
        "/_emulator/faults",
        Some(spec),
        false,
    )
    .await;
    assert_eq!(status, 200, "faults: {body}");
}

/// Injects `spec` and runs `op` until the fault reaches it (`hit`): faults are global to the
/// shared emulator, so another of its clients may take a counted fault first.
async fn under_fault<T, F, Fut>(bed: &Bed, spec: Value, mut op: F, hit: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    for _ in 0..5 {
        set_faults(bed, spec.clone()).await;
        let out = op().await;
        if hit(&out) {
            return out;
        }
    }
    panic!(
        "the fault {spec} never reached this test's requests: another client of the emulator took it each time"
    );
}

/// Clears the faults even when the test panics.
struct ClearFaults<'a>(&'a Bed);

impl Drop for ClearFaults<'_> {
    fn drop(&mut self) {
        let url = format!("{}/_emulator/faults", self.0.url);
        let ca = self.0.ca.clone();
        // Drop cannot await: a blocking request on a thread of its own.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let _ = http(&ca).delete(url).send().await;
                })
        })
        .join()
        .unwrap();
    }
}

fn present(state: RemoteState) -> String {
    match state {
        RemoteState::Present(v) => v.expose_secret().to_string(),
        other => panic!("expected a value, got {other:?}"),
    }
}

#[tokio::test]
async fn create_then_read_returns_the_value_with_labels_and_content_type() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    assert!(kv.describe().contains(&bed.url), "{}", kv.describe());
    let name = unique("create");
    kv.create(
        &name,
        &secret("s3cr3t-värde \"quoted\" \\ end"),
        &managed_labels("1.2.3"),
    )
    .await
    .unwrap();
    assert_eq!(
        present(kv.read(&name).await.unwrap()),
        "s3cr3t-värde \"quoted\" \\ end"
    );
    assert_eq!(kv.version_count(&name).await.unwrap(), 1);

    let stored = rest_get(&bed, &name).await;
    assert_eq!(
        stored["tags"],
        json!({"managed-by": "caracal-deploy", "chart-version": "1-2-3"})
    );
    assert_eq!(stored["contentType"], "text/plain");
}

#[tokio::test]
async fn a_missing_name_reads_missing_with_no_versions() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("missing");
    assert!(matches!(
        kv.read(&name).await.unwrap(),
        RemoteState::Missing
    ));
    assert_eq!(kv.version_count(&name).await.unwrap(), 0);
    match kv.add_version(&name, &secret("x")).await {
        Err(SecretManagerError::NotFound(m)) => assert!(m.message.contains(&name), "{m:?}"),
        other => panic!("add_version on a missing name: {other:?}"),
    }
    // add_version must not have created it.
    assert!(matches!(
        kv.read(&name).await.unwrap(),
        RemoteState::Missing
    ));
}

#[tokio::test]
async fn add_version_becomes_latest_keeps_the_labels_and_every_page_is_counted() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("versions");
    kv.create(&name, &secret("first"), &managed_labels("1.0.0"))
        .await
        .unwrap();
    kv.add_version(&name, &secret("second")).await.unwrap();
    assert_eq!(present(kv.read(&name).await.unwrap()), "second");
    assert_eq!(kv.version_count(&name).await.unwrap(), 2);
    let stored = rest_get(&bed, &name).await;
    assert_eq!(stored["tags"]["managed-by"], "caracal-deploy", "{stored}");
    assert_eq!(stored["contentType"], "text/plain");

    // The emulator pages versions by 25, as Key Vault does: more than one page, via nextLink.
    for i in 0..28 {
        kv.add_version(&name, &secret(&format!("v{i}")))
            .await
            .unwrap();
    }
    assert_eq!(kv.version_count(&name).await.unwrap(), 30);
    assert_eq!(present(kv.read(&name).await.unwrap()), "v27");
    // One list for 2 versions, two (first page, then nextLink) for 30.
    let lists = requests_for(&bed, &name)
        .await
        .into_iter()
        .filter(|r| r["op"] == "list_versions" && r["status"] == 200)
        .count();
    assert_eq!(lists, 3, "the versions were not read page by page");
}

#[tokio::test]
async fn create_on_an_existing_name_is_already_exists_and_writes_nothing() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("exists");
    kv.create(&name, &secret("one"), &managed_labels("1.0.0"))
        .await
        .unwrap();
    assert_eq!(
        kv.create(&name, &secret("two"), &managed_labels("1.0.0"))
            .await,
        Err(SecretManagerError::AlreadyExists)
    );
    assert_eq!(present(kv.read(&name).await.unwrap()), "one");
    assert_eq!(kv.version_count(&name).await.unwrap(), 1);
    let puts = requests_for(&bed, &name)
        .await
        .into_iter()
        .filter(|r| r["method"] == "PUT" && r["status"] == 200)
        .count();
    assert_eq!(puts, 1);
}

#[tokio::test]
async fn invalid_names_are_refused_before_any_request() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    for name in ["caracal/postgres", "caracal_postgres", "", &"a".repeat(128)] {
        match kv.read(name).await {
            Err(SecretManagerError::Invalid(m)) => {
                assert!(m.message.contains("letters, digits and dashes"), "{m:?}");
                assert!(
                    m.fix
                        .as_deref()
                        .is_some_and(|f| f.contains("secretManager.prefix")),
                    "{m:?}"
                );
            }
            other => panic!("{name:?}: {other:?}"),
        }
        assert!(matches!(
            kv.create(name, &secret("x"), &managed_labels("1")).await,
            Err(SecretManagerError::Invalid(_))
        ));
    }
}

/// Creates `name`, then deletes it through the vault's REST API: soft-deleted, name still taken.
async fn create_then_soft_delete(bed: &Bed, kv: &AzureKeyVault, name: &str) {
    kv.create(name, &secret("v"), &managed_labels("1.0.0"))
        .await
        .unwrap();
    let (status, body) = call(
        bed,
        reqwest::Method::DELETE,
        &format!("/secrets/{name}?api-version=7.5"),
        None,
        true,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_soft_deleted_name_is_reported_with_recover_and_purge() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("softdel");
    create_then_soft_delete(&bed, &kv, &name).await;

    let expected = SecretManagerError::soft_deleted(name.clone());
    assert_eq!(kv.read(&name).await.unwrap_err(), expected);
    let err = kv
        .create(&name, &secret("again"), &managed_labels("1.0.0"))
        .await
        .unwrap_err();
    assert_eq!(err, expected);
    let text = err.to_string();
    assert!(
        text.contains(&name) && text.contains("deleted but recoverable"),
        "{text}"
    );
    let fix = err.fix().expect("recover or purge");
    assert!(
        fix.contains(&format!(
            "az keyvault secret recover --vault-name VAULT --name {name}"
        )),
        "{fix}"
    );
    assert!(fix.contains("az keyvault secret purge"), "{fix}");
}

#[tokio::test]
async fn soft_delete_is_still_caught_from_the_409_when_deleted_secrets_cannot_be_read() {
    let _exclusive = FAULTS.write().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("softdel409");
    create_then_soft_delete(&bed, &kv, &name).await;

    let _clear = ClearFaults(&bed);
    // An identity without deletedSecrets/read: the read cannot tell, the PUT's 409 does.
    set_faults(&bed, json!({"deny": {"ops": ["get_deleted"]}})).await;
    assert!(matches!(
        kv.read(&name).await.unwrap(),
        RemoteState::Missing
    ));
    assert_eq!(
        kv.create(&name, &secret("again"), &managed_labels("1.0.0"))
            .await,
        Err(SecretManagerError::soft_deleted(name.clone()))
    );
}

#[tokio::test]
async fn a_denied_call_names_the_role_to_grant() {
    let _exclusive = FAULTS.write().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("denied");
    kv.create(&name, &secret("v"), &managed_labels("1.0.0"))
        .await
        .unwrap();
    let _clear = ClearFaults(&bed);

    let result = under_fault(
        &bed,
        json!({"deny": {"ops": ["get"], "count": 1}}),
        || kv.read(&name),
        |r| r.is_err(),
    )
    .await;
    let err = result.unwrap_err();
    let SecretManagerError::PermissionDenied { action, fix } = &err else {
        panic!("{err:?}")
    };
    assert!(
        action.contains(&name) && action.contains(&bed.url),
        "{action}"
    );
    assert!(fix.contains("\"Key Vault Secrets Officer\""), "{fix}");
    assert!(
        fix.contains("az role assignment create --role \"Key Vault Secrets Officer\" --assignee "),
        "{fix}"
    );
    // The emulator names its vault `caracal-testbed` in the denial, as Key Vault does.
    assert!(
        fix.contains("--scope $(az keyvault show --name caracal-testbed --query id -o tsv)"),
        "{fix}"
    );
    assert!(!err.is_transient());

    let v2 = secret("v2");
    let result = under_fault(
        &bed,
        json!({"deny": {"ops": ["add_version"], "count": 1}}),
        || kv.add_version(&name, &v2),
        |r| r.is_err(),
    )
    .await;
    assert!(
        matches!(result, Err(SecretManagerError::PermissionDenied { .. })),
        "{result:?}"
    );
    assert_eq!(kv.version_count(&name).await.unwrap(), 1);
}

#[tokio::test]
async fn throttling_reports_retry_after_and_with_retry_recovers() {
    let _exclusive = FAULTS.write().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("throttled");
    kv.create(&name, &secret("patient"), &managed_labels("1.0.0"))
        .await
        .unwrap();
    let _clear = ClearFaults(&bed);

    let result = under_fault(
        &bed,
        json!({"throttle": {"ops": ["get"], "count": 1, "retry_after": 2}}),
        || kv.read(&name),
        |r| r.is_err(),
    )
    .await;
    assert_eq!(
        result.unwrap_err(),
        SecretManagerError::Throttled {
            retry_after: Some(Duration::from_secs(2))
        }
    );

    // Two 429s with Retry-After: 1, then the value; the waits are the service's.
    let throttled = || async {
        requests_for(&bed, &name)
            .await
            .into_iter()
            .filter(|r| r["status"] == 429)
            .count()
    };
    for _ in 0..5 {
        let before = throttled().await;
        set_faults(
            &bed,
            json!({"throttle": {"ops": ["get"], "count": 2, "retry_after": 1}}),
        )
        .await;
        let started = Instant::now();
        let value = with_retry(|| kv.read(&name)).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(present(value), "patient");
        let ours = (throttled().await - before) as u32;
        if ours == 0 {
            continue; // another client of the emulator took both
        }
        assert!(
            elapsed >= Duration::from_secs(ours.into()),
            "{ours} Retry-After of 1 s, yet {elapsed:?}"
        );
        return;
    }
    panic!("the throttling never reached this test's requests");
}

#[tokio::test]
async fn server_errors_are_unavailable_and_transient() {
    let _exclusive = FAULTS.write().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let name = unique("outage");
    kv.create(&name, &secret("v"), &managed_labels("1.0.0"))
        .await
        .unwrap();
    let _clear = ClearFaults(&bed);

    let result = under_fault(
        &bed,
        json!({"errors_5xx": {"ops": ["list_versions"], "count": 1, "status": 503}}),
        || kv.version_count(&name),
        |r| r.is_err(),
    )
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, SecretManagerError::Unavailable(m) if m.message.contains("503")),
        "{err:?}"
    );
    assert!(err.is_transient());
    set_faults(
        &bed,
        json!({"errors_5xx": {"ops": ["list_versions"], "count": 2, "status": 500}}),
    )
    .await;
    assert_eq!(with_retry(|| kv.version_count(&name)).await.unwrap(), 1);
}

#[tokio::test]
async fn a_refused_client_secret_is_unauthenticated_with_the_fix() {
    let _exclusive = FAULTS.write().await;
    let bed = bed();
    let _clear = ClearFaults(&bed);
    let name = unique("unauth");
    let mut result = Ok(RemoteState::Missing);
    for _ in 0..5 {
        // A fresh client each time: its credential has no token cached yet. The fault is set
        // before connecting and covers two token requests: `connect` warms the credential
        // with one of its own, which would otherwise take a single-use fault away from the read.
        set_faults(&bed, json!({"deny": {"ops": ["token"], "count": 2}})).await;
        let kv = vault(&bed).await;
        result = kv.read(&name).await;
        if result.is_err() {
            break;
        }
    }
    let err = result.unwrap_err();
    let SecretManagerError::Unauthenticated(m) = &err else {
        panic!("{err:?}")
    };
    assert!(m.message.contains(&bed.client_id), "{m:?}");
    let fix = err.fix().expect("the fix");
    assert!(
        fix.contains("AZURE_CLIENT_SECRET") && fix.contains("az login"),
        "{fix}"
    );
    assert!(fix.contains(&bed.client_id), "{fix}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn without_the_ca_bundle_the_tls_failure_is_explained() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = AzureKeyVault::connect(&bed.url, None, None, PREFIX)
        .await
        .expect("connect makes no request");
    let err = kv.read(&unique("tls")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SecretManagerError::Other(_)), "{err:?}");
    assert!(text.contains("TLS") && text.contains(&bed.url), "{text}");
    assert!(
        err.fix()
            .is_some_and(|f| f.contains("secretManager.caBundle")),
        "{err:?}"
    );
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(!err.is_transient(), "a TLS failure is not worth retrying");
}

#[tokio::test]
async fn unreachable_vaults_are_named() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let url = "https://caracal-no-such-vault.invalid";
    let kv = AzureKeyVault::connect(url, None, Some(&bed.ca), PREFIX)
        .await
        .unwrap();
    let err = kv.read("caracal-postgres").await.unwrap_err();
    assert!(
        err.to_string().contains(url) && err.to_string().contains("DNS"),
        "{err}"
    );
    assert!(
        err.fix()
            .is_some_and(|f| f.contains("secretManager.vaultUrl") && f.contains("private DNS zone")),
        "{err:?}"
    );

    // A closed port on the bed's host.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("https://127.0.0.1:{closed}");
    let kv = AzureKeyVault::connect(&url, None, Some(&bed.ca), PREFIX)
        .await
        .unwrap();
    let err = kv.read("caracal-postgres").await.unwrap_err();
    assert!(
        matches!(&err, SecretManagerError::Unavailable(m) if m.message.contains(&url)),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_vault_urls_and_ca_bundles_are_refused_at_connect() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let plain = bed.url.replace("https://", "http://");
    assert!(
        matches!(AzureKeyVault::connect(&plain, None, Some(&bed.ca), PREFIX).await, Err(SecretManagerError::Invalid(m)) if m.message.contains("https"))
    );
    assert!(matches!(
        AzureKeyVault::connect("not a url", None, None, PREFIX).await,
        Err(SecretManagerError::Invalid(_))
    ));
    let with_path = format!("{}/secrets", bed.url);
    assert!(matches!(
        AzureKeyVault::connect(&with_path, None, Some(&bed.ca), PREFIX).await,
        Err(SecretManagerError::Invalid(m)) if m.message.contains("vault URI only")
    ));
    // The vault URI as the portal shows it, with its trailing slash, is fine.
    let kv = AzureKeyVault::connect(&format!("{}/", bed.url), None, Some(&bed.ca), PREFIX)
        .await
        .unwrap();
    assert!(matches!(
        kv.read(&unique("slash")).await.unwrap(),
        RemoteState::Missing
    ));
    let missing = Path::new("/nonexistent/ca.pem");
    assert!(
        matches!(AzureKeyVault::connect(&bed.url, None, Some(missing), PREFIX).await, Err(SecretManagerError::Invalid(m)) if m.message.contains("caBundle"))
    );
    let not_pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_pem.path(), "hello").unwrap();
    assert!(
        matches!(AzureKeyVault::connect(&bed.url, None, Some(not_pem.path()), PREFIX).await, Err(SecretManagerError::Invalid(m)) if m.message.contains("caBundle"))
    );
}

/// An endpoint the operator configured explicitly (`secretManager.endpoint`) is where the
/// requests go, and the only non-Key-Vault host the challenge may send a Key Vault token to.
#[tokio::test]
async fn an_explicit_endpoint_reaches_the_vault_behind_it() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let kv = AzureKeyVault::connect(
        "https://caracal-prod.vault.azure.net",
        Some(&bed.url),
        Some(&bed.ca),
        PREFIX,
    )
    .await
    .unwrap();
    assert!(kv.describe().contains(&bed.url), "{}", kv.describe());
    assert!(matches!(
        kv.read(&unique("endpoint")).await.unwrap(),
        RemoteState::Missing
    ));
    // The endpoint must be a vault URI too.
    let plain = bed.url.replace("https://", "http://");
    assert!(matches!(
        AzureKeyVault::connect("https://caracal-prod.vault.azure.net", Some(&plain), Some(&bed.ca), PREFIX).await,
        Err(SecretManagerError::Invalid(m)) if m.message.contains("secretManager.endpoint")
    ));
}

/// `secretManager.caBundle` is given for the vault's connection: the Entra ID token endpoint,
/// which receives the client secret, trusts it only when it is that very origin. The bed's
/// authority is the vault's origin (https://127.0.0.1:PORT/); the same server named
/// `localhost` is another origin, so its certificate (signed by the bed's CA only) is refused.
#[tokio::test]
async fn the_ca_bundle_does_not_reach_another_token_endpoint() {
    let _shared = FAULTS.read().await;
    let bed = bed();
    let answers = std::env::var("CARACAL_DEPLOY_ANSWERS_AZURE")
        .expect("CARACAL_DEPLOY_ANSWERS_AZURE: the bed's environment");
    let port = bed.url.rsplit(':').next().unwrap().to_string();
    let other_origin = format!("https://localhost:{port}/");
    let run = |authority: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(["seed", "--dry-run", "-f", &answers])
            .env("AZURE_AUTHORITY_HOST", authority)
            .output()
            .unwrap()
    };
    let out = run(&other_origin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(0),
        "the token request trusted the vault's CA: {stderr}"
    );
    assert!(
        stderr.contains("Entra ID token endpoint") && stderr.contains("not trusted"),
        "{stderr}"
    );
    // The vault's own origin as the authority: the bundle applies, the plan is read.
    let out = run(&format!("{}/", bed.url));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads `names` (none of them exists) all started together.
async fn read_all_missing(kv: &AzureKeyVault, names: &[String]) {
    let states = futures::future::join_all(names.iter().map(|n| kv.read(n))).await;
    for state in states {
        assert!(matches!(state, Ok(RemoteState::Missing)), "{state:?}");
    }
}

/// Reads started together: the first meets the vault's 401 challenge alone and the others go
/// with its token, all on HTTP/2 (the emulator's request log says which protocol Go's server
/// saw each request on).
#[tokio::test]
async fn reads_started_together_meet_the_challenge_once_over_http2() {
    let _reading = FAULTS.read().await;
    let bed = bed();
    let kv = vault(&bed).await;
    let tag = unique("together");
    let names: Vec<String> = (0..8).map(|i| format!("{tag}-{i}")).collect();
    read_all_missing(&kv, &names).await;
    let log = requests_for(&bed, &tag).await;
    let challenges = log.iter().filter(|r| r["status"] == 401).count();
    assert_eq!(challenges, 1, "one 401 challenge for the client: {log:#?}");
    // Each missing name: its read (404) and the soft-delete probe (404); one read met the 401.
    assert_eq!(log.len(), names.len() * 2 + 1, "{log:#?}");
    assert!(
        log.iter().all(|r| r["proto"] == "HTTP/2.0"),
        "every request on HTTP/2: {log:#?}"
    );
}

/// The others start the moment the first request's challenge names the token's audience, not
/// once that request has its answer: with 100 ms of injected latency, their reads reach the
/// vault together with the first's authenticated one (the emulator's clock), not 100 ms later.
#[tokio::test]
async fn the_others_start_when_the_challenge_is_met_not_after_the_first_answer() {
    let _alone = FAULTS.write().await;
    let bed = bed();
    let _clear = ClearFaults(&bed);
    set_faults(&bed, json!({ "latency_ms": 100 })).await;
    let kv = vault(&bed).await;
    let tag = unique("early");
    let names: Vec<String> = (0..4).map(|i| format!("{tag}-{i}")).collect();
    read_all_missing(&kv, &names).await;
    let log = requests_for(&bed, &tag).await;
    let reads: Vec<f64> = log
        .iter()
        .filter(|r| r["op"] == "get" && r["status"] == 404)
        .map(|r| r["time"].as_f64().unwrap())
        .collect();
    assert_eq!(reads.len(), names.len(), "{log:#?}");
    let spread = reads.iter().cloned().fold(f64::MIN, f64::max)
        - reads.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        spread < 0.05,
        "the reads were answered {:.0} ms apart: {log:#?}",
        spread * 1000.0
    );
}
