//! `caracal-deploy preflight` as an operator runs it, against the bed: the real API server,
//! the real CRDs, the secret-manager emulators through the real SDKs, the real helm. The JSON
//! output is read as the contract's shape; the cluster and the secret manager are read back to
//! prove that nothing was changed.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use caracal_deploy::adapters::kube::Cluster;
use caracal_deploy::core::answers::Answers;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use support::bed_answers;

fn preflight(answers: &Path, env: &[(&str, &str)]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["preflight", "-o", "json", "-f"])
        .arg(answers)
        .arg("--log-file")
        .arg(answers.with_extension("log"))
        .envs(env.iter().copied())
        .output()
        .expect("run caracal-deploy preflight");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

/// Every check of the report by id: (result, detail, hint).
fn checks(report: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for category in report["categories"].as_array().expect("categories") {
        assert!(category["name"].is_string());
        for c in category["checks"].as_array().expect("checks") {
            assert!(c["description"].is_string(), "{c}");
            out.push((
                c["id"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
                c["hint"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn check<'a>(
    all: &'a [(String, String, String, String)],
    id: &str,
) -> &'a (String, String, String, String) {
    all.iter()
        .find(|c| c.0 == id)
        .unwrap_or_else(|| panic!("no check {id} in {all:?}"))
}

fn write(dir: &Path, name: &str, answers: &Answers) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, answers.to_yaml()).unwrap();
    path
}

/// A ClusterIssuer with the Ready condition cert-manager sets (written through the status
/// subresource, so the check does not wait for the bed's cert-manager controller, which then
/// sets the same condition on this selfSigned issuer).
/// Deletes a ClusterIssuer a test made when it ends, passed or not: the wizard's tests list
/// the bed's issuers by name.
struct IssuerGone(String);

impl Drop for IssuerGone {
    fn drop(&mut self) {
        let _ =
            Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
                .args(["delete", "clusterissuer", "--ignore-not-found", &self.0])
                .output();
    }
}

async fn ready_issuer(answers: &Answers, name: &str) {
    let cluster = Cluster::connect(answers.kube_context.as_deref())
        .await
        .unwrap();
    let obj = json!({
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": { "name": name },
        "spec": { "selfSigned": {} },
    });
    cluster.apply(&obj, false).await.unwrap();
    let gvk = GroupVersionKind::gvk("cert-manager.io", "v1", "ClusterIssuer");
    let (resource, _) = kube::discovery::pinned_kind(cluster.client(), &gvk)
        .await
        .unwrap();
    let api: Api<DynamicObject> = Api::all_with(cluster.client().clone(), &resource);
    let status = json!({ "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "status": { "conditions": [{ "type": "Ready", "status": "True", "reason": "IsReady",
            "message": "", "lastTransitionTime": "2026-11-29T00:00:00Z" }] } });
    api.patch_status(
        name,
        &PatchParams::apply("preflight-test").force(),
        &Patch::Apply(&status),
    )
    .await
    .unwrap();
}

fn seed(path: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(path)
        .arg("--log-file")
        .arg(path.with_extension("seed.log"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tests that change the bed's controller Deployments take turns with the one that needs
/// them running.
static CONTROLLERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn kubectl(args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("kubectl of the bed on PATH (eval \"$(scripts/testbed env)\")");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "kubectl {args:?}");
}

/// Puts the bed's controller Deployments back as `up` made them, even when a test fails.
struct RestoreControllers;

impl Drop for RestoreControllers {
    fn drop(&mut self) {
        let manifest = support::repo().join("testbed/k8s/manifests/controllers.yaml");
        kubectl(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=caracal-testbed",
                "-f",
                manifest.to_str().unwrap(),
            ],
            None,
        );
        kubectl(
            &[
                "-n",
                "cert-manager",
                "rollout",
                "status",
                "deployment/cert-manager",
                "--timeout=60s",
            ],
            None,
        );
    }
}

#[tokio::test]
async fn preflight_sees_whether_a_controller_runs() {
    let _turn = CONTROLLERS.lock().await;
    let _restore = RestoreControllers;
    let dir = tempfile::tempdir().unwrap();
    let answers = bed_answers("aws");
    let path = write(dir.path(), "answers.yaml", &answers);
    let controller = |path: &Path| {
        let (_, report) = preflight(path, &[]);
        check(&checks(&report), "controller-cert-manager").clone()
    };
    // Scaled to zero: installed, not running.
    kubectl(
        &[
            "-n",
            "cert-manager",
            "scale",
            "deployment/cert-manager",
            "--replicas=0",
        ],
        None,
    );
    let mut seen = controller(&path);
    for _ in 0..50 {
        if seen.1 == "error" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        seen = controller(&path);
    }
    assert_eq!(seen.1, "error", "{seen:?}");
    assert_eq!(
        seen.2,
        "Deployment cert-manager/cert-manager has 0/0 ready replicas"
    );
    assert!(
        seen.3
            .contains("kubectl -n cert-manager describe deployment cert-manager")
    );
    // Gone: a warning that says where it looked and how to install it.
    kubectl(
        &[
            "-n",
            "cert-manager",
            "delete",
            "deployment/cert-manager",
            "--wait=true",
        ],
        None,
    );
    let seen = controller(&path);
    assert_eq!(seen.1, "warning", "{seen:?}");
    assert!(
        seen.2.contains("app.kubernetes.io/name=cert-manager")
            && seen.2.contains("cert-manager-controller")
            && seen.3.contains("install cert-manager"),
        "{seen:?}"
    );
    // A controller running elsewhere that holds its leader Lease counts as running.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let renewed = k8s_openapi::jiff::Timestamp::from_second(now as i64).unwrap();
    let lease = format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: cert-manager-controller\n  namespace: kube-system\nspec:\n  holderIdentity: preflight-test\n  leaseDurationSeconds: 60\n  renewTime: \"{}\"\n",
        renewed.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    );
    kubectl(&["apply", "-f", "-"], Some(&lease));
    let seen = controller(&path);
    kubectl(
        &[
            "-n",
            "kube-system",
            "delete",
            "lease/cert-manager-controller",
        ],
        None,
    );
    assert_eq!(seen.1, "success", "{seen:?}");
    assert!(
        seen.2
            .starts_with("leader lease kube-system/cert-manager-controller held by preflight-test"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn preflight_passes_on_a_ready_cluster() {
    let _turn = CONTROLLERS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.secret_manager.prefix = support::unique("pf");
    answers.ingress.cluster_issuer = support::unique("issuer");
    let _gone = IssuerGone(answers.ingress.cluster_issuer.clone());
    ready_issuer(&answers, &answers.ingress.cluster_issuer).await;
    let path = write(dir.path(), "answers.yaml", &answers);
    seed(&path);
    let (out, report) = preflight(&path, &[]);
    let all = checks(&report);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{all:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["success"], true);
    for id in [
        "kube-context",
        "kube-api",
        "kube-version",
        "crd-external-secrets",
        "crd-cert-manager",
        "crd-prometheus-operator",
        "controller-external-secrets",
        "controller-cert-manager",
        "controller-prometheus-operator",
        "permissions",
        "storage-class",
        "ingress-class",
        "cluster-issuer",
        "secrets-seeded",
        "helm",
    ] {
        assert_eq!(check(&all, id).1, "success", "{id}: {all:#?}");
    }
    assert!(check(&all, "kube-context").2.contains("caracal-testbed"));
    assert!(check(&all, "kube-api").2.starts_with("v1.34"));
    assert_eq!(check(&all, "secrets-seeded").2, "all 13 present");
    assert_eq!(
        check(&all, "controller-cert-manager").2,
        "Deployment cert-manager/cert-manager 1/1 ready"
    );
}

#[tokio::test]
async fn preflight_names_what_is_missing_and_changes_nothing() {
    use caracal_deploy::core::catalog::SecretCatalog;
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("gcp");
    answers.secret_manager.prefix = support::unique("pfm");
    answers.storage_class = Some("no-such-class".into());
    answers.ingress.cluster_issuer = support::unique("absent");
    let path = write(dir.path(), "answers.yaml", &answers);
    let (out, report) = preflight(&path, &[]);
    let all = checks(&report);
    assert_eq!(out.status.code(), Some(3), "{all:#?}");
    assert_eq!(report["success"], false);
    let storage = check(&all, "storage-class");
    assert_eq!(storage.1, "error");
    assert!(
        storage.2.contains("no-such-class") && storage.3.contains("storageClass"),
        "{storage:?}"
    );
    let issuer = check(&all, "cluster-issuer");
    assert_eq!(issuer.1, "error");
    assert!(issuer.3.contains("ingress.clusterIssuer"), "{issuer:?}");
    let seeded = check(&all, "secrets-seeded");
    assert_eq!(seeded.1, "error");
    assert!(
        seeded
            .2
            .contains(&format!("{}-postgres", answers.secret_manager.prefix))
            && seeded.3.contains("caracal-deploy seed"),
        "{seeded:?}"
    );
    assert_eq!(check(&all, "kube-api").1, "success");
    // GKE's `gce` has no IngressClass object (nor has the bed, as on GKE): nothing to look for.
    let no_object = Command::new("kubectl")
        .args(["get", "ingressclass", "gce"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&no_object.stderr).contains("NotFound"),
        "the bed must have no IngressClass gce, as GKE: {no_object:?}"
    );
    let class = check(&all, "ingress-class");
    assert_eq!(class.1, "success", "{class:?}");
    assert!(
        class
            .2
            .contains("`kubernetes.io/ingress.class: gce` annotation"),
        "{class:?}"
    );
    // Nothing was created: the secret manager has none of the names, read through the SDK.
    let sm = caracal_deploy::adapters::connect_secret_manager(&answers)
        .await
        .unwrap();
    for s in SecretCatalog::for_chart("1.0.0").unwrap().seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        assert_eq!(sm.version_count(&name).await.unwrap(), 0, "{name}");
    }
    // Text output: a glyph and a word per check, the fix under a failure.
    let text = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["preflight", "-f"])
        .arg(&path)
        .arg("--log-file")
        .arg(dir.path().join("t.log"))
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(
            "× error storage class no-such-class exists [storage-class]: no StorageClass named no-such-class\n    fix: "
        ),
        "{stdout}"
    );
}

#[tokio::test]
async fn preflight_lists_the_permissions_a_user_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let answers = bed_answers("aws");
    let out = Command::new(support::repo().join("scripts/testbed"))
        .args(["kubeconfig", "dave-no-rights"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kubeconfig = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let path = write(dir.path(), "answers.yaml", &answers);
    let (out, report) = preflight(&path, &[("KUBECONFIG", kubeconfig.as_str())]);
    assert_eq!(out.status.code(), Some(3));
    let all = checks(&report);
    let perms = check(&all, "permissions");
    assert_eq!(perms.1, "error", "{perms:?}");
    assert!(
        perms.2.contains("create namespaces")
            && perms
                .2
                .contains("patch clustersecretstores.external-secrets.io")
            && perms.2.contains(&format!(
                "patch externalsecrets.external-secrets.io in {}",
                answers.namespace
            )),
        "{perms:?}"
    );
    assert!(perms.3.contains("Role"), "{perms:?}");
}

#[tokio::test]
async fn preflight_with_an_unknown_context_says_which_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("azure");
    answers.kube_context = Some("prod-aks-typo".into());
    let path = write(dir.path(), "answers.yaml", &answers);
    let (out, report) = preflight(&path, &[]);
    assert_eq!(out.status.code(), Some(3));
    let all = checks(&report);
    let ctx = check(&all, "kube-context");
    assert_eq!(ctx.1, "error");
    assert!(
        ctx.2.contains("prod-aks-typo") && ctx.3.contains("kubectl config get-contexts"),
        "{ctx:?}"
    );
    for id in [
        "kube-api",
        "crd-external-secrets",
        "permissions",
        "storage-class",
    ] {
        assert_eq!(check(&all, id).1, "skipped", "{id}");
    }
    // The checks that need no cluster still ran.
    assert_eq!(check(&all, "helm").1, "success");
}
