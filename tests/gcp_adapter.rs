//! The GCP adapter against the test bed's Secret Manager emulator, through the real SDK and
//! real Application Default Credentials (the emulator's service-account key file).
//!
//! Needs the test bed: `scripts/testbed up && eval "$(scripts/testbed env)"`. A missing
//! variable fails the test with instructions; nothing is skipped.
//!
//! The emulator is shared, so every secret name is unique per run, and the tests of this file
//! run one at a time (fault injection is global to the emulator).

use std::process::Command;
use std::time::Duration;

use caracal_deploy::adapters::gcp::GcpSecretManager;
use caracal_deploy::core::secret_manager::{
    Labels, RemoteState, SecretManager, SecretManagerError, managed_labels,
};
use caracal_deploy::engine::seed::with_retry;
use futures::StreamExt;
use google_cloud_secretmanager_v1::client::SecretManagerService;
use google_cloud_secretmanager_v1::model::replication::Automatic;
use google_cloud_secretmanager_v1::model::{Replication, Secret};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

const PREFIX: &str = "caracal";
/// Runs the child scenarios of the tests that need a different environment.
const CHILD_VAR: &str = "CARACAL_GCP_ADAPTER_TEST_CHILD";

static SERIAL: Mutex<()> = Mutex::const_new(());

struct Bed {
    endpoint: String,
    project: String,
}

fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: this test needs the test bed's GCP Secret Manager emulator. \
             Run `scripts/testbed up` then `eval \"$(scripts/testbed env)\"` in /work/main (or use scripts/test), \
             which set CARACAL_TESTBED_GCP_ENDPOINT, CARACAL_TESTBED_GCP_PROJECT and GOOGLE_APPLICATION_CREDENTIALS"
        ),
    }
}

fn bed() -> Bed {
    let creds = required("GOOGLE_APPLICATION_CREDENTIALS");
    assert!(
        std::path::Path::new(&creds).is_file(),
        "GOOGLE_APPLICATION_CREDENTIALS={creds} is not a file: run `scripts/testbed up` (it writes the emulator's key file) and `eval \"$(scripts/testbed env)\"`"
    );
    bed_endpoint()
}

/// The emulator and project, without requiring the key file (for the child scenarios).
fn bed_endpoint() -> Bed {
    Bed {
        endpoint: required("CARACAL_TESTBED_GCP_ENDPOINT"),
        project: required("CARACAL_TESTBED_GCP_PROJECT"),
    }
}

async fn setup() -> (MutexGuard<'static, ()>, Bed, GcpSecretManager) {
    let bed = bed();
    let guard = SERIAL.lock().await;
    let sm = GcpSecretManager::connect(&bed.project, Some(&bed.endpoint), PREFIX)
        .await
        .unwrap_or_else(|e| panic!("connect to the emulator at {}: {e}", bed.endpoint));
    (guard, bed, sm)
}

/// A secret name no other test (or run) uses.
fn unique(name: &str) -> String {
    let mut bytes = [0u8; 5];
    getrandom::fill(&mut bytes).expect("random");
    format!("{PREFIX}-t{}-{name}", hex::encode(bytes))
}

fn value(text: &str) -> SecretString {
    SecretString::from(text)
}

fn labels() -> Labels {
    managed_labels("1.0.0")
}

fn expect_present(state: RemoteState, want: &str) {
    match state {
        RemoteState::Present(v) => assert!(
            v.expose_secret() == want,
            "the value read back differs from the value written"
        ),
        other => panic!("expected Present, got {other:?}"),
    }
}

async fn admin(bed: &Bed, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("{}{path}", bed.endpoint));
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("emulator admin API {path}: {e}"));
    let status = resp.status();
    let text = resp.text().await.expect("admin body");
    assert!(
        status.is_success(),
        "emulator admin API {path}: {status} {text}"
    );
    serde_json::from_str(&text).expect("admin JSON")
}

async fn set_faults(bed: &Bed, spec: Value) {
    admin(bed, reqwest::Method::POST, "/_emulator/faults", Some(spec)).await;
}

async fn clear_faults(bed: &Bed) {
    admin(bed, reqwest::Method::DELETE, "/_emulator/faults", None).await;
}

async fn injected(bed: &Bed, kind: &str) -> u64 {
    admin(bed, reqwest::Method::GET, "/_emulator/faults", None).await["injected"][kind]
        .as_u64()
        .expect("injected count")
}

/// The SDK itself, with the same credentials, for states the adapter never creates.
async fn raw_client(bed: &Bed) -> SecretManagerService {
    let creds = google_cloud_auth::credentials::Builder::default()
        .build()
        .expect("ADC");
    SecretManagerService::builder()
        .with_endpoint(&bed.endpoint)
        .with_credentials(creds)
        .build()
        .await
        .expect("SDK client")
}

async fn create_without_version(bed: &Bed, name: &str) {
    raw_client(bed)
        .await
        .create_secret()
        .set_parent(format!("projects/{}", bed.project))
        .set_secret_id(name)
        .set_secret(
            Secret::new().set_replication(Replication::new().set_automatic(Automatic::new())),
        )
        .send()
        .await
        .expect("create a secret without a version");
}

#[tokio::test]
async fn create_then_read_returns_the_same_value() {
    let (_g, bed, sm) = setup().await;
    let name = unique("create-read");
    let v = r#"{"host":"db","password":"p@ss w0rd/ü"}"#;
    sm.create(&name, &value(v), &labels())
        .await
        .expect("create");
    expect_present(sm.read(&name).await.expect("read"), v);
    assert_eq!(sm.version_count(&name).await.expect("count"), 1);
    assert!(sm.describe().contains(&bed.project));

    // Labels and automatic replication reached the service.
    let secret = raw_client(&bed)
        .await
        .get_secret()
        .set_name(format!("projects/{}/secrets/{name}", bed.project))
        .send()
        .await
        .expect("get");
    assert_eq!(
        secret.labels.get("managed-by").map(String::as_str),
        Some("caracal-deploy")
    );
    assert_eq!(
        secret.labels.get("chart-version").map(String::as_str),
        Some("1-0-0")
    );
    assert!(
        secret
            .replication
            .and_then(|r| r.automatic().cloned())
            .is_some(),
        "automatic replication"
    );
}

#[tokio::test]
async fn read_of_an_unknown_secret_is_missing() {
    let (_g, _bed, sm) = setup().await;
    let name = unique("never-created");
    assert!(matches!(
        sm.read(&name).await.expect("read"),
        RemoteState::Missing
    ));
    assert_eq!(sm.version_count(&name).await.expect("count"), 0);
}

#[tokio::test]
async fn a_secret_without_a_readable_version_is_empty() {
    let (_g, bed, sm) = setup().await;
    // Created, but the first version never added (an interrupted create).
    let name = unique("no-version");
    create_without_version(&bed, &name).await;
    assert!(matches!(
        sm.read(&name).await.expect("read"),
        RemoteState::Empty
    ));
    assert_eq!(sm.version_count(&name).await.expect("count"), 0);
    // What the engine does next: add the first version.
    sm.add_version(&name, &value("first"))
        .await
        .expect("add first version");
    expect_present(sm.read(&name).await.expect("read"), "first");

    // The latest version disabled: FAILED_PRECONDITION on access, also Empty.
    let name = unique("disabled");
    sm.create(&name, &value("v1"), &labels())
        .await
        .expect("create");
    raw_client(&bed)
        .await
        .disable_secret_version()
        .set_name(format!(
            "projects/{}/secrets/{name}/versions/1",
            bed.project
        ))
        .send()
        .await
        .expect("disable");
    assert!(matches!(
        sm.read(&name).await.expect("read"),
        RemoteState::Empty
    ));
}

#[tokio::test]
async fn add_version_becomes_latest_and_is_counted() {
    let (_g, _bed, sm) = setup().await;
    let name = unique("versions");
    sm.create(&name, &value("one"), &labels())
        .await
        .expect("create");
    sm.add_version(&name, &value("two")).await.expect("add 2");
    sm.add_version(&name, &value("three")).await.expect("add 3");
    expect_present(sm.read(&name).await.expect("read"), "three");
    assert_eq!(sm.version_count(&name).await.expect("count"), 3);

    // add_version to a secret that does not exist is NotFound.
    let missing = unique("versions-missing");
    assert!(matches!(
        sm.add_version(&missing, &value("x")).await,
        Err(SecretManagerError::NotFound(_))
    ));
}

#[tokio::test]
async fn version_count_reads_every_page() {
    let (_g, _bed, sm) = setup().await;
    let name = unique("many-versions");
    sm.create(&name, &value("v0"), &labels())
        .await
        .expect("create");
    // The adapter asks for 250 versions a page: 260 take two pages.
    let results: Vec<Result<(), SecretManagerError>> = futures::stream::iter(1..260)
        .map(|i| {
            let (sm, name) = (&sm, &name);
            async move { sm.add_version(name, &value(&format!("v{i}"))).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok), "adding versions");
    assert_eq!(sm.version_count(&name).await.expect("count"), 260);
}

#[tokio::test]
async fn create_of_an_existing_name_is_already_exists() {
    let (_g, _bed, sm) = setup().await;
    let name = unique("exists");
    sm.create(&name, &value("original"), &labels())
        .await
        .expect("create");
    assert_eq!(
        sm.create(&name, &value("other"), &labels()).await,
        Err(SecretManagerError::AlreadyExists)
    );
    expect_present(sm.read(&name).await.expect("read"), "original");
    assert_eq!(sm.version_count(&name).await.expect("count"), 1);
}

#[tokio::test]
async fn permission_denied_names_the_role_and_the_permission() {
    let (_g, bed, sm) = setup().await;
    let name = unique("denied");
    sm.create(&name, &value("v"), &labels())
        .await
        .expect("create");

    set_faults(&bed, json!({"deny": {"ops": ["access"], "count": 1}})).await;
    let err = sm.read(&name).await.expect_err("access denied");
    clear_faults(&bed).await;
    let SecretManagerError::PermissionDenied { .. } = &err else {
        panic!("expected PermissionDenied, got {err:?}")
    };
    let text = err.to_string();
    assert!(
        text.contains("secretmanager.versions.access"),
        "the permission is named: {text}"
    );
    let fix = err.fix().expect("the fix");
    for needle in [
        "roles/secretmanager.admin",
        "secretmanager.versions.access",
        &bed.project,
        "serviceAccount:",
    ] {
        assert!(fix.contains(needle), "`{needle}` missing from: {fix}");
    }

    set_faults(&bed, json!({"deny": {"ops": ["create"], "count": 1}})).await;
    let err = sm
        .create(&unique("denied-create"), &value("v"), &labels())
        .await
        .expect_err("create denied");
    clear_faults(&bed).await;
    let text = err.to_string();
    assert!(
        matches!(err, SecretManagerError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(text.contains("secretmanager.secrets.create"), "{text}");
    let fix = err.fix().expect("the fix");
    assert!(
        fix.contains("roles/secretmanager.admin") && fix.contains("secretmanager.secrets.create"),
        "{fix}"
    );

    set_faults(&bed, json!({"deny": {"ops": ["add_version"], "count": 1}})).await;
    let err = sm
        .add_version(&name, &value("v2"))
        .await
        .expect_err("add denied");
    clear_faults(&bed).await;
    assert!(
        err.to_string().contains("secretmanager.versions.add"),
        "{err}"
    );
    assert!(
        err.fix()
            .is_some_and(|f| f.contains("secretmanager.versions.add")),
        "{err:?}"
    );
}

#[tokio::test]
async fn throttling_is_reported_with_retry_after() {
    let (_g, bed, sm) = setup().await;
    let name = unique("throttled");
    sm.create(&name, &value("v"), &labels())
        .await
        .expect("create");

    set_faults(
        &bed,
        json!({"throttle": {"ops": ["access"], "count": 1, "retry_after": 2}}),
    )
    .await;
    let err = sm.read(&name).await.expect_err("throttled");
    clear_faults(&bed).await;
    assert_eq!(
        err,
        SecretManagerError::Throttled {
            retry_after: Some(Duration::from_secs(2))
        }
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn with_retry_recovers_from_two_throttles() {
    let (_g, bed, sm) = setup().await;
    let name = unique("retry");
    let before = injected(&bed, "throttle").await;
    set_faults(
        &bed,
        json!({"throttle": {"ops": ["create"], "count": 2, "retry_after": 0}}),
    )
    .await;
    let (v, l) = (value("after-throttles"), labels());
    let result = with_retry(|| sm.create(&name, &v, &l)).await;
    let after = injected(&bed, "throttle").await;
    clear_faults(&bed).await;
    result.expect("with_retry creates after two throttles");
    assert_eq!(after - before, 2, "both throttles were served");
    expect_present(sm.read(&name).await.expect("read"), "after-throttles");
    assert_eq!(sm.version_count(&name).await.expect("count"), 1);
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    let (_g, bed, sm) = setup().await;
    set_faults(
        &bed,
        json!({"errors_5xx": {"ops": ["create"], "count": 1, "status": 503}}),
    )
    .await;
    let err = sm
        .create(&unique("unavailable"), &value("v"), &labels())
        .await
        .expect_err("503");
    clear_faults(&bed).await;
    assert!(matches!(err, SecretManagerError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());

    // A read through a 500 and a 503: the value comes back (the SDK itself retries idempotent
    // reads on 503; the engine's with_retry covers the rest).
    let name = unique("unavailable-read");
    sm.create(&name, &value("v"), &labels())
        .await
        .expect("create");
    let before = injected(&bed, "errors_5xx").await;
    set_faults(
        &bed,
        json!({"errors_5xx": {"ops": ["access"], "count": 1, "status": 500}}),
    )
    .await;
    let first = sm.read(&name).await;
    set_faults(
        &bed,
        json!({"errors_5xx": {"ops": ["access"], "count": 1, "status": 503}}),
    )
    .await;
    let second = with_retry(|| sm.read(&name)).await;
    let after = injected(&bed, "errors_5xx").await;
    clear_faults(&bed).await;
    let first = first.expect_err("500");
    assert!(
        matches!(first, SecretManagerError::Unavailable(_)),
        "{first:?}"
    );
    expect_present(second.expect("read after a 503"), "v");
    assert_eq!(after - before, 2, "both errors were served");
}

#[tokio::test]
async fn invalid_names_and_labels_are_invalid() {
    let (_g, _bed, sm) = setup().await;
    let slash = format!("{PREFIX}/postgres");
    assert!(matches!(
        sm.read(&slash).await,
        Err(SecretManagerError::Invalid(_))
    ));
    assert!(matches!(
        sm.create(&slash, &value("v"), &labels()).await,
        Err(SecretManagerError::Invalid(_))
    ));
    assert!(matches!(
        sm.add_version(&slash, &value("v")).await,
        Err(SecretManagerError::Invalid(_))
    ));
    assert!(matches!(
        sm.version_count(&slash).await,
        Err(SecretManagerError::Invalid(_))
    ));

    // Rejected by the service: label keys must be lowercase.
    let mut bad = labels();
    bad.insert("Managed-By".into(), "x".into());
    let name = unique("bad-labels");
    let err = sm
        .create(&name, &value("v"), &bad)
        .await
        .expect_err("bad labels");
    assert!(matches!(err, SecretManagerError::Invalid(_)), "{err:?}");
    assert!(matches!(
        sm.read(&name).await.expect("read"),
        RemoteState::Missing
    ));
}

/// Runs `scenario` in a child process of this test binary with `env` set (an empty value
/// removes the variable).
fn run_child(test: &str, scenario: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, scenario);
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("run the child test");
    assert!(
        out.status.success(),
        "child scenario {scenario} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("scenario {scenario} ok")),
        "the child ran no scenario"
    );
}

#[tokio::test]
async fn credential_problems_are_unauthenticated() {
    let bed = bed_endpoint();
    match std::env::var(CHILD_VAR).as_deref() {
        Ok("missing-key-file") => {
            let err = GcpSecretManager::connect(&bed.project, Some(&bed.endpoint), PREFIX)
                .await
                .err()
                .expect("no credentials");
            assert!(
                matches!(err, SecretManagerError::Unauthenticated(_)),
                "{err:?}"
            );
            let fix = err.fix().expect("the fix");
            assert!(
                fix.contains("gcloud auth application-default login")
                    && fix.contains("GOOGLE_APPLICATION_CREDENTIALS"),
                "{fix}"
            );
            assert!(
                err.to_string().contains("Application Default Credentials"),
                "{err}"
            );
            println!("scenario missing-key-file ok: {err}");
        }
        Ok("no-adc") => {
            let started = std::time::Instant::now();
            let err = GcpSecretManager::connect(&bed.project, Some(&bed.endpoint), PREFIX)
                .await
                .err()
                .expect("no credentials anywhere");
            assert!(
                matches!(err, SecretManagerError::Unauthenticated(_)),
                "{err:?}"
            );
            assert!(
                err.fix()
                    .is_some_and(|f| f.contains("gcloud auth application-default login")),
                "{err:?}"
            );
            assert!(err.to_string().contains("metadata server"), "{err}");
            // Reported at connect, not after the SDK's 60 s of retries.
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "took {:?}",
                started.elapsed()
            );
            println!("scenario no-adc ok: {err}");
        }
        Ok("untrusted-key") => {
            let sm = GcpSecretManager::connect(&bed.project, Some(&bed.endpoint), PREFIX)
                .await
                .expect("connect");
            let err = sm
                .read(&unique("unauth"))
                .await
                .expect_err("a JWT the service does not trust");
            assert!(
                matches!(err, SecretManagerError::Unauthenticated(_)),
                "{err:?}"
            );
            assert!(
                err.fix()
                    .is_some_and(|f| f.contains("gcloud auth application-default login")),
                "{err:?}"
            );
            println!("scenario untrusted-key ok: {err}");
        }
        Ok(other) => panic!("unknown child scenario {other}"),
        Err(_) => {
            let _ = self::bed();
            let test = "credential_problems_are_unauthenticated";
            run_child(
                test,
                "missing-key-file",
                &[(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    "/nonexistent/caracal-gcp-key.json",
                )],
            );

            // No key file, no gcloud ADC file, and a metadata server that does not answer.
            let home = tempfile::tempdir().expect("temp dir");
            run_child(
                test,
                "no-adc",
                &[
                    ("GOOGLE_APPLICATION_CREDENTIALS", ""),
                    ("HOME", home.path().to_str().expect("utf-8 path")),
                    ("GCE_METADATA_HOST", "127.0.0.1:9"),
                ],
            );

            // The bed's key file, claiming to be another service account: its self-signed JWT is refused.
            let key_path = required("GOOGLE_APPLICATION_CREDENTIALS");
            let mut key: Value =
                serde_json::from_str(&std::fs::read_to_string(&key_path).expect("key file"))
                    .expect("key JSON");
            key["client_email"] = json!("stranger@caracal-testbed.iam.gserviceaccount.com");
            let dir = tempfile::tempdir().expect("temp dir");
            let other = dir.path().join("stranger.json");
            std::fs::write(&other, key.to_string()).expect("write key");
            run_child(
                test,
                "untrusted-key",
                &[(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    other.to_str().expect("utf-8 path"),
                )],
            );
        }
    }
}
