//! `caracal-deploy install` as an operator runs it, against the bed: the real chart, the real
//! API server with kwok nodes, and each test twice, once with helm 3 (`CARACAL_HELM`) and once
//! with helm 4 (`CARACAL_HELM4`), whose flags differ. The same helm's own history is the
//! oracle for "no new revision" and for the rollback.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use caracal_deploy::core::answers::Answers;
use serde_json::Value;
use support::{bed_answers, caracal_with_helm, helm, helm_version, helm4, text};

/// The helm a test runs the binary with (`CARACAL_HELM`) and reads the release with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Major {
    Helm3,
    Helm4,
}

/// Each test once per helm, as `helm3::NAME` and `helm4::NAME`.
macro_rules! with_each_helm {
    ($($name:ident),* $(,)?) => {
        mod helm3 {
            $(#[test]
            fn $name() {
                super::$name(super::Major::Helm3)
            })*
        }
        mod helm4 {
            $(#[test]
            fn $name() {
                super::$name(super::Major::Helm4)
            })*
        }
    };
}

with_each_helm!(
    install_deploys_and_a_rerun_makes_no_new_revision,
    a_failed_upgrade_says_why_and_rolls_back_on_request,
    a_first_install_that_cannot_schedule_names_the_pods_and_is_not_removed,
    install_before_apply_says_to_apply_first,
    install_without_yes_changes_nothing,
);

impl Major {
    /// The binary, checked to be of this major version (helm 4 missing fails the test).
    fn program(self) -> PathBuf {
        let (program, prefix) = match self {
            Major::Helm3 => (helm(), "v3."),
            Major::Helm4 => (helm4(), "v4."),
        };
        let version = helm_version(&program);
        assert!(
            version.starts_with(prefix),
            "{self:?} is {} ({version})",
            program.display()
        );
        program
    }

    /// A prefix of the test's namespace: the two runs of a test never share a release.
    fn tag(self) -> &'static str {
        match self {
            Major::Helm3 => "h3",
            Major::Helm4 => "h4",
        }
    }

    /// `caracal-deploy ARGS -f ANSWERS` with this helm.
    fn caracal(self, args: &[&str], answers: &Path) -> std::process::Output {
        caracal_with_helm(args, answers, &self.program())
    }

    /// This helm's JSON answer about the release (`status`, `history`).
    fn json(self, command: &str, answers: &Answers) -> Value {
        let out = support::helm_json(&self.program(), command, answers);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn write(answers: &Answers, path: &Path) {
    std::fs::write(path, answers.to_yaml()).unwrap();
}

/// `helm history` of the release by `helm`, newest last: (revision, status, description).
fn history(helm: Major, answers: &Answers) -> Vec<(u64, String, String)> {
    support::history_rows(helm.json("history", answers).to_string().as_bytes())
}

/// A namespace of its own (made as `apply` would), so the release is this test's alone.
fn fresh(dir: &Path, helm: Major, tag: &str) -> (Answers, PathBuf) {
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique(&format!("{}{tag}", helm.tag()));
    let path = dir.join("answers.yaml");
    write(&answers, &path);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(support::make_namespace(&answers));
    (answers, path)
}

fn install_deploys_and_a_rerun_makes_no_new_revision(helm: Major) {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), helm, "inst");
    let out = helm.caracal(&["install", "--dry-run"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("would install the release"));

    let out = helm.caracal(
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
    assert_eq!(history(helm, &answers).len(), 1);
    assert_eq!(
        helm.json("status", &answers)["apply_method"],
        match helm {
            // helm 4 records how it applied: server-side, for a first install.
            Major::Helm4 => Value::from("ssa"),
            Major::Helm3 => Value::Null,
        },
        "the release was made by {helm:?}"
    );

    let out = helm.caracal(&["install", "--yes", "-o", "json"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "up to date", "{json}");
    assert_eq!(history(helm, &answers).len(), 1, "no new revision");

    // A changed answer: the dry run names the value, and changes nothing.
    answers.ingress.hosts.web = "console2.caracal.test".into();
    write(&answers, &path);
    let out = helm.caracal(&["install", "--dry-run", "-o", "json"], &path);
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
    assert_eq!(
        history(helm, &answers).len(),
        1,
        "a dry run makes no revision"
    );
}

fn a_failed_upgrade_says_why_and_rolls_back_on_request(helm: Major) {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), helm, "rb");
    let out = helm.caracal(&["install", "--yes", "--timeout", "300s"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The StatefulSets' claim templates cannot change: the API server refuses the upgrade.
    answers.storage_class = Some("premium-rwo".into());
    write(&answers, &path);
    let out = helm.caracal(
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
    let h = history(helm, &answers);
    let last = h.last().unwrap();
    assert_eq!(last.1, "deployed", "{h:?}");
    assert!(last.2.contains("Rollback to 1"), "{h:?}");
}

fn a_first_install_that_cannot_schedule_names_the_pods_and_is_not_removed(helm: Major) {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), helm, "pend");
    answers.storage_class = Some("no-such-class".into());
    write(&answers, &path);
    let out = helm.caracal(
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
    assert_eq!(history(helm, &answers).len(), 1);
}

/// An operator who moves from helm 3 to helm 4: the release helm 3 made is up to date for
/// helm 4 (same status and history shapes), and helm 4 upgrades it client-side as helm 3 made
/// it (`--server-side=auto`), and helm 3 still reads it.
#[test]
fn a_release_helm3_made_is_read_and_upgraded_with_helm4() {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh(dir.path(), Major::Helm3, "to4");
    let out = Major::Helm3.caracal(&["install", "--yes", "--timeout", "300s"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = Major::Helm4.caracal(&["install", "--yes", "-o", "json"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "up to date", "{json}");
    assert_eq!(history(Major::Helm4, &answers).len(), 1, "no new revision");

    answers.ingress.hosts.web = "console2.caracal.test".into();
    write(&answers, &path);
    let out = Major::Helm4.caracal(
        &["install", "--yes", "-o", "json", "--timeout", "300s"],
        &path,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "deployed", "{json}");
    assert_eq!(json["revision"], 2, "{json}");
    assert_eq!(
        Major::Helm4.json("status", &answers)["apply_method"],
        "csa",
        "helm 4 keeps the apply method helm 3 used"
    );
    let h = history(Major::Helm3, &answers);
    assert_eq!(
        h.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["superseded", "deployed"],
        "{h:?}"
    );
}

fn install_before_apply_says_to_apply_first(helm: Major) {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique(&format!("{}noapply", helm.tag()));
    let path = dir.path().join("answers.yaml");
    write(&answers, &path);
    let out = helm.caracal(&["install", "--yes"], &path);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("does not exist") && stderr.contains("caracal-deploy apply"),
        "{stderr}"
    );
}

fn install_without_yes_changes_nothing(helm: Major) {
    let dir = tempfile::tempdir().unwrap();
    let (answers, path) = fresh(dir.path(), helm, "noyes");
    let out = helm.caracal(&["install"], &path);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--yes"));
    let out = Command::new(helm.program())
        .args(["status", "--namespace"])
        .arg(&answers.namespace)
        .arg(&answers.release)
        .output()
        .unwrap();
    assert!(!out.status.success(), "no release was made");
}
