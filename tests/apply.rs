//! `caracal-deploy apply` as an operator runs it, against the bed: server-side apply to the
//! real API server, the real External Secrets controller syncing through workload identity
//! (AWS: IRSA against moto; GCP: GKE workload identity, gRPC Secret Manager; Azure: Entra ID
//! federation, Key Vault REST; the last two reach the emulators under the real host names
//! through the bed's CONNECT proxy), and the API server's resourceVersions as the oracle that a
//! re-run writes nothing.

mod support;

use std::path::Path;

use caracal_deploy::adapters::kube::Cluster;
use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::render::render;
use serde_json::Value;
use support::{bed_answers, caracal_with, text};

/// The tests of this file take turns: they share the bed's store and namespaces.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fresh(cloud: &str, dir: &Path) -> (Answers, std::path::PathBuf) {
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique("ap");
    let path = dir.join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    (answers, path)
}

/// The resourceVersion of every object of the bundle, as the API server has it.
async fn versions(cluster: &Cluster, answers: &Answers) -> Vec<String> {
    let mut out = Vec::new();
    for obj in render(answers).objects {
        let got = cluster
            .get(
                obj["apiVersion"].as_str().unwrap(),
                obj["kind"].as_str().unwrap(),
                obj["metadata"]["namespace"].as_str(),
                obj["metadata"]["name"].as_str().unwrap(),
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} was not applied", obj["kind"]));
        out.push(
            got["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    out
}

fn objects(json: &Value) -> Vec<(String, String, Vec<String>)> {
    json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["action"].as_str().unwrap().to_string(),
                o["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// The emulator's count of successful calls of each operation (`/_emulator/stats`): the
/// workload identity exchanges External Secrets made, seen from the cloud's side.
async fn cloud_calls(cloud: &str) -> Value {
    emulator(cloud, "/_emulator/stats").await["ok"].clone()
}

/// One of the emulator's admin answers (`/_emulator/stats`, `/_emulator/requests`).
async fn emulator(cloud: &str, path: &str) -> Value {
    let var = |v: &str| std::env::var(v).unwrap_or_else(|_| panic!("{v}: the bed's environment"));
    let (url, client) = match cloud {
        "gcp" => (
            var("CARACAL_TESTBED_GCP_ENDPOINT"),
            reqwest::Client::builder(),
        ),
        "azure" => {
            let pem = std::fs::read(var("CARACAL_TESTBED_CA_BUNDLE")).unwrap();
            (
                var("CARACAL_TESTBED_AZURE_VAULT_URL"),
                reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()),
            )
        }
        _ => return Value::Null,
    };
    let http = client.no_proxy().build().unwrap();
    let response = http.get(format!("{url}{path}")).send().await;
    response.unwrap().json().await.unwrap()
}

/// How many more times `op` succeeded in `after` than in `before`.
fn more(before: &Value, after: &Value, op: &str) -> u64 {
    after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn apply_waits_for_the_real_sync_and_a_rerun_writes_nothing() {
    syncs_and_a_rerun_writes_nothing("aws").await;
}

#[tokio::test]
async fn gcp_syncs_through_gke_workload_identity_and_a_rerun_writes_nothing() {
    syncs_and_a_rerun_writes_nothing("gcp").await;
}

#[tokio::test]
async fn azure_syncs_through_entra_federation_and_a_rerun_writes_nothing() {
    syncs_and_a_rerun_writes_nothing("azure").await;
}

/// Seed, apply, install, each through the command: the real controller syncs the store the
/// product renders, with only what that store and its service account carry (the controller
/// has no cloud identity of its own), and the real chart deploys on what it synced. A re-run of
/// apply and of install changes nothing.
async fn syncs_and_a_rerun_writes_nothing(cloud: &str) {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(cloud, dir.path());
    // A namespace of this run's own, so step 3 below makes the release's first revision.
    answers.namespace = support::unique(&format!("e2e-{cloud}-"));
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = caracal_with(&["seed"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let calls_before = cloud_calls(cloud).await;
    let out = caracal_with(
        &["apply", "--yes", "-o", "json", "--timeout", "120s"],
        &path,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let calls = cloud_calls(cloud).await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["synced"], true, "{json}");
    let kinds: Vec<String> = objects(&json).into_iter().map(|o| o.0).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterSecretStore",
            "ExternalSecret"
        ],
        "applied in the guide's order"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("SecretSynced"),
        "the sync is shown: {stderr}"
    );
    // The identity exchanges of a real cluster ran (the ServiceAccount's token traded for the
    // cloud's), and the secrets were read with what they gave.
    match cloud {
        "gcp" => {
            for op in ["identity_binding_token", "generate_access_token", "access"] {
                assert!(more(&calls_before, &calls, op) > 0, "no {op}: {calls}");
            }
        }
        "azure" => {
            for op in ["discovery", "token", "get"] {
                assert!(more(&calls_before, &calls, op) > 0, "no {op}: {calls}");
            }
        }
        _ => {}
    }

    // The oracle: the runtime Secret the real controller wrote holds the value moto has.
    let cluster = Cluster::connect(answers.kube_context.as_deref())
        .await
        .unwrap();
    let secret = cluster
        .get("v1", "Secret", Some(&answers.namespace), "caracal-runtime")
        .await
        .unwrap()
        .expect("caracal-runtime exists");
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["kind"],
        "ExternalSecret"
    );
    let sm = caracal_deploy::adapters::connect_secret_manager(&answers)
        .await
        .unwrap();
    let remote = caracal_deploy::core::catalog::remote_name(
        answers.cloud,
        &answers.secret_manager.prefix,
        "admin-token",
    );
    let caracal_deploy::core::secret_manager::RemoteState::Present(token) =
        sm.read(&remote).await.unwrap()
    else {
        panic!("admin-token was seeded")
    };
    use base64::Engine as _;
    let synced = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["caracalAdminToken"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        synced,
        secrecy::ExposeSecret::expose_secret(&token).as_bytes(),
        "the ExternalSecret synced this run's values"
    );

    // A re-run with nothing changed writes nothing: every resourceVersion stays.
    let before = versions(&cluster, &answers).await;
    let out = caracal_with(&["apply", "--yes", "-o", "json", "--timeout", "60s"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(objects(&json).iter().all(|o| o.1 == "unchanged"), "{json}");
    assert_eq!(
        versions(&cluster, &answers).await,
        before,
        "nothing was written"
    );

    // Step 3 through the command, on the Secret the controller synced: the real chart
    // deploys; a re-run makes no new revision (helm's own history is the oracle).
    let out = caracal_with(
        &["install", "--yes", "-o", "json", "--timeout", "300s"],
        &path,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "deployed", "{json}");
    let out = caracal_with(&["install", "--yes", "-o", "json"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "up to date", "{json}");
    let rows = support::helm_history(&support::helm(), &answers);
    assert_eq!(rows.len(), 1, "one revision: {rows:?}");
    assert_eq!(rows[0].1, "deployed", "{rows:?}");
}

#[tokio::test]
async fn dry_run_shows_the_fields_that_would_change_and_changes_nothing() {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh("aws", dir.path());
    let out = caracal_with(&["apply", "--yes", "--timeout", "1s"], &path);
    // Not seeded: the objects are applied, the sync cannot complete in a second.
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let cluster = Cluster::connect(answers.kube_context.as_deref())
        .await
        .unwrap();
    let before = versions(&cluster, &answers).await;
    answers.identity = caracal_deploy::core::answers::Identity::Aws {
        role_arn: "arn:aws:iam::123456789012:role/caracal-other".into(),
    };
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = caracal_with(&["apply", "--dry-run", "-o", "json"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let objs = objects(&json);
    let sa = objs.iter().find(|o| o.0 == "ServiceAccount").unwrap();
    assert_eq!(sa.1, "would change", "{json}");
    assert_eq!(
        sa.2,
        ["metadata.annotations.eks.amazonaws.com/role-arn"],
        "field by field: {json}"
    );
    assert_eq!(
        objs.iter().find(|o| o.0 == "Namespace").unwrap().1,
        "unchanged"
    );
    assert!(text(&out.stdout).contains("\"dryRun\": true"));
    assert_eq!(
        versions(&cluster, &answers).await,
        before,
        "a dry run writes nothing"
    );
}

#[tokio::test]
async fn apply_without_yes_changes_nothing_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let (answers, path) = fresh("aws", dir.path());
    let out = caracal_with(&["apply"], &path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(answers.kube_context.as_deref().unwrap())
            && stderr.contains("--yes")
            && stderr.contains("nothing was changed"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_store_that_cannot_sync_ends_with_the_controllers_reason() {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // A tenant Entra ID does not know: the controller's sign-in is refused (the emulator's
    // discovery and token endpoints answer AADSTS90002), the store stays not ready, and apply
    // ends with the controller's reason, exit 3.
    let (mut answers, path) = fresh("azure", dir.path());
    let caracal_deploy::core::answers::Identity::Azure { tenant_id, .. } = &mut answers.identity
    else {
        panic!("an Azure identity")
    };
    *tenant_id = "00000000-0000-4000-8000-0000000bad00".into();
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = caracal_with(&["apply", "--yes", "--timeout", "40s"], &path);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not synced after 40s"), "{stderr}");
    assert!(stderr.contains("fix: "), "{stderr}");
    assert!(
        stderr.contains("ClusterSecretStore caracal-azure"),
        "{stderr}"
    );
    // The controller's own condition (the AADSTS90002 detail is only in its log and events).
    assert!(
        stderr.contains("ClusterSecretStore caracal-azure: InvalidProviderConfig"),
        "the controller's own reason: {stderr}"
    );
    // And it is the tenant that was refused: Entra's side saw the controller ask for it.
    let log = emulator("azure", "/_emulator/requests").await;
    let refused: Vec<&Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").contains("0000000bad00"))
        .collect();
    assert!(!refused.is_empty(), "the controller never asked Entra ID");
    assert!(
        refused.iter().all(|r| r["status"] == 400),
        "the unknown tenant was not refused: {refused:?}"
    );

    // The operator fixes the tenant and applies again. Only the store changes; External
    // Secrets, which failed every sync while the store was not ready, is waiting out its
    // backoff (by now tens of seconds, doubling), and nothing about the ExternalSecret changed.
    // Once the store is Ready, apply asks for a sync now (the `force-sync` annotation), under
    // a field manager of its own, and the run ends synced.
    let (good, _) = fresh("azure", dir.path());
    answers.identity = good.identity;
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = caracal_with(&["seed"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cluster = Cluster::connect(answers.kube_context.as_deref())
        .await
        .unwrap();
    let force_sync = || async {
        cluster
            .get(
                "external-secrets.io/v1",
                "ExternalSecret",
                Some(&answers.namespace),
                "caracal-runtime",
            )
            .await
            .unwrap()
            .unwrap()
    };
    let before = force_sync().await["metadata"]["annotations"]["force-sync"].clone();
    let out = caracal_with(
        &["apply", "--yes", "-o", "json", "--timeout", "120s"],
        &path,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["synced"], true, "{json}");
    let changed: Vec<(String, String)> = objects(&json)
        .into_iter()
        .filter(|o| o.1 != "unchanged")
        .map(|o| (o.0, o.1))
        .collect();
    assert_eq!(
        changed,
        [("ClusterSecretStore".to_string(), "configured".to_string())],
        "{json}"
    );
    let es = force_sync().await;
    let after = &es["metadata"]["annotations"]["force-sync"];
    assert!(
        after.is_string() && *after != before,
        "apply asked for a sync ({before} before): {es}"
    );
    let managers: Vec<&str> = es["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(
        managers.contains(&caracal_deploy::adapters::kube::NUDGE_MANAGER),
        "{managers:?}"
    );
}
