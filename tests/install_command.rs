//! `caracal-deploy install` as an operator runs it, against the bed: the real chart, the real
//! helm 3, the real API server with kwok nodes; helm's own history is the oracle for "no new
//! revision" and for the rollback.

mod support;

use std::path::Path;
use std::process::Command;

use caracal_deploy::core::answers::Answers;
use serde_json::Value;
use support::{bed_answers, caracal_with, helm, text};

fn write(answers: &Answers, path: &Path) {
    std::fs::write(path, answers.to_yaml()).unwrap();
}

/// `helm history` of the release, newest last: (revision, status, description).
fn history(answers: &Answers) -> Vec<(u64, String, String)> {
    let out = Command::new(helm())
        .args(["history", "--output=json", "--namespace"])
        .arg(&answers.namespace)
        .arg("--kube-context")
        .arg(answers.kube_context.as_deref().unwrap())
        .arg(&answers.release)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    h.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
                r["description"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A namespace of its own (made as `apply` would), so the release is this test's alone.
fn fresh(dir: &Path, tag: &str) -> (Answers, std::path::PathBuf) {
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique(tag);
    let path = dir.join("answers.yaml");
    write(&answers, &path);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let cluster =
            caracal_deploy::adapters::kube::Cluster::connect(answers.kube_context.as_deref())
                .await
                .unwrap();
        let namespace = &caracal_deploy::core::render::render(&answers).objects[0];
        assert_eq!(namespace["kind"], "Namespace");
        cluster.apply(namespace, false).await.unwrap();
    });
    (answers, path)
}

#[test]
fn install_deploys_and_a_rerun_makes_no_new_revision() {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), "inst");
    let out = caracal_with(&["install", "--dry-run"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("would install the release"));

    let out = caracal_with(
        &["install", "--yes", "-o", "json", "--timeout", "300s"],
        &path,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "deployed", "{json}");
    assert!(
        text(&out.stderr).contains("ready"),
        "progress from the cluster: {}",
        text(&out.stderr)
    );
    assert_eq!(history(&answers).len(), 1);

    let out = caracal_with(&["install", "--yes", "-o", "json"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "up to date", "{json}");
    assert_eq!(history(&answers).len(), 1, "no new revision");

    // A changed answer: the dry run names the value, and changes nothing.
    answers.ingress.hosts.web = "console2.caracal.test".into();
    write(&answers, &path);
    let out = caracal_with(&["install", "--dry-run", "-o", "json"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "would change");
    let fields: Vec<&str> = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        fields.iter().any(|f| f.contains("host")) && fields.iter().all(|f| !f.is_empty()),
        "{json}"
    );
    assert_eq!(history(&answers).len(), 1, "a dry run makes no revision");
}

#[test]
fn a_failed_upgrade_says_why_and_rolls_back_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), "rb");
    let out = caracal_with(&["install", "--yes", "--timeout", "300s"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The StatefulSets' claim templates cannot change: the API server refuses the upgrade.
    answers.storage_class = Some("premium-rwo".into());
    write(&answers, &path);
    let out = caracal_with(
        &[
            "install",
            "--yes",
            "--rollback-on-failure",
            "--timeout",
            "120s",
        ],
        &path,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("failed") && stdout.contains("StatefulSet"),
        "the reason, not helm's last words alone: {stdout}"
    );
    assert!(stdout.contains("Rolled back to revision 1"), "{stdout}");
    let h = history(&answers);
    let last = h.last().unwrap();
    assert_eq!(last.1, "deployed", "{h:?}");
    assert!(last.2.contains("Rollback to 1"), "{h:?}");
}

#[test]
fn a_first_install_that_cannot_schedule_names_the_pods_and_is_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), "pend");
    answers.storage_class = Some("no-such-class".into());
    write(&answers, &path);
    let out = caracal_with(
        &[
            "install",
            "--yes",
            "--rollback-on-failure",
            "--timeout",
            "45s",
            "-o",
            "json",
        ],
        &path,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "failed", "{json}");
    let pods: Vec<&str> = json["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        pods.iter()
            .any(|p| p.contains("Pending") && p.contains("PersistentVolumeClaim")),
        "the scheduler's reason per pod: {json}\n{}",
        text(&out.stderr)
    );
    assert!(
        json["rolledBackTo"].is_null(),
        "a first install is not removed: {json}"
    );
    assert_eq!(history(&answers).len(), 1);
}

#[test]
fn install_before_apply_says_to_apply_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique("noapply");
    let path = dir.path().join("answers.yaml");
    write(&answers, &path);
    let out = caracal_with(&["install", "--yes"], &path);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("does not exist") && stderr.contains("caracal-deploy apply"),
        "{stderr}"
    );
}

#[test]
fn install_without_yes_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (answers, path) = fresh(dir.path(), "noyes");
    let out = caracal_with(&["install"], &path);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--yes"));
    let out = Command::new(helm())
        .args(["status", "--namespace"])
        .arg(&answers.namespace)
        .arg(&answers.release)
        .output()
        .unwrap();
    assert!(!out.status.success(), "no release was made");
}
