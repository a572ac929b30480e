//! `caracal-deploy install` when things go wrong, as an operator runs it against the bed: the
//! real chart, the real helm 3, the real API server and controllers, with kwok's failure stages
//! (testbed/kwok/stages.yaml) making pods fail the way the kubelet reports it. helm's own
//! history is the oracle for rollbacks and pending states.
//!
//! How a test makes a pod fail: a migration against a database that cannot be reached
//! (`postgres.host` ending in `.unreachable.test`: the migration Job's pod crash-loops until the
//! Job controller fails the Job), or a copy of the real chart whose values.yaml sets
//! `global.podAnnotations` `caracal.test/fail: image-pull | crash-loop` on every Deployment and
//! StatefulSet pod (the answers cannot set pod annotations; the templates are the chart's own).
//!
//! Each test has its own namespace, removed at its end (a crash loop is patched by kwok for as
//! long as its pod exists). They run in parallel; `--test-threads=6` runs them all at once.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caracal_deploy::core::answers::Answers;
use serde_json::Value;
use support::{bed_answers, caracal_with, helm, text};

fn write(answers: &Answers, path: &Path) {
    std::fs::write(path, answers.to_yaml()).unwrap();
}

/// The bed's kubectl.
fn kubectl() -> PathBuf {
    std::env::var_os("CARACAL_KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| "kubectl".into())
}

/// A namespace of its own (made as `apply` would), deleted when dropped.
struct Bed {
    answers: Answers,
    path: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new(kubectl())
            .args(["delete", "namespace", "--wait=false", "--ignore-not-found"])
            .arg(&self.answers.namespace)
            .output();
    }
}

fn fresh(tag: &str) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique(tag);
    let path = dir.path().join("answers.yaml");
    write(&answers, &path);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(support::make_namespace(&answers));
    Bed { answers, path, dir }
}

impl Bed {
    fn save(&self) {
        write(&self.answers, &self.path);
    }

    /// `caracal-deploy ARGS -f answers`.
    fn run(&self, args: &[&str]) -> std::process::Output {
        caracal_with(args, &self.path)
    }

    /// A copy of the real chart whose pods fail as `mode` (support::failing_chart).
    fn failing_chart(&self, mode: &str, tag: Option<&str>) -> PathBuf {
        support::failing_chart(self.dir.path(), mode, tag)
    }

    /// `helm history` of the release, newest last: (revision, status, description).
    fn history(&self) -> Vec<(u64, String, String)> {
        let out = self.helm(&["history", "--output=json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        support::history_rows(&out.stdout)
    }

    /// `helm status`'s state of the release (None: no release).
    fn state(&self) -> Option<String> {
        let out = self.helm(&["status", "--output=json"]);
        if !out.status.success() {
            assert!(
                text(&out.stderr).contains("not found"),
                "{}",
                text(&out.stderr)
            );
            return None;
        }
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        Some(s["info"]["status"].as_str().unwrap().to_string())
    }

    fn helm(&self, args: &[&str]) -> std::process::Output {
        Command::new(helm())
            .args(args)
            .arg("--namespace")
            .arg(&self.answers.namespace)
            .arg("--kube-context")
            .arg(self.answers.kube_context.as_deref().unwrap())
            .arg(&self.answers.release)
            .output()
            .unwrap()
    }

    /// Every Deployment and StatefulSet of the namespace has all its replicas ready.
    fn workloads_ready(&self) -> bool {
        let out = Command::new(kubectl())
            .args(["get", "deployments,statefulsets", "-o", "json", "-n"])
            .arg(&self.answers.namespace)
            .output()
            .unwrap();
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        let items = list["items"].as_array().unwrap();
        !items.is_empty()
            && items.iter().all(|w| {
                w["status"]["readyReplicas"].as_i64().unwrap_or(0)
                    == w["spec"]["replicas"].as_i64().unwrap_or(1)
            })
    }

    /// A first install that must succeed.
    fn install_ok(&self) {
        let out = self.run(&["install", "--yes", "--timeout", "120s"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    /// Starts `caracal-deploy install ARGS` in the background.
    fn spawn(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(args)
            .arg("-f")
            .arg(&self.path)
            .arg("--log-file")
            .arg(self.path.with_extension("log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits (up to 60 s) until the release is in `state`.
    fn wait_state(&self, state: &str) {
        let start = Instant::now();
        while self.state().as_deref() != Some(state) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the release never reached {state}: {:?}",
                self.history()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Bed {
    /// Starts an install whose migration crash-loops for seconds (a database that cannot be
    /// reached), waits until helm has marked the release `state`, then kills helm (SIGKILL):
    /// the install exits 3 and the release is left `state`. The answers then name a reachable
    /// database again.
    fn kill_helm_when(&mut self, state: &str) {
        self.answers.postgres.host = "db.unreachable.test".into();
        self.save();
        let child = self.spawn(&["install", "--yes", "--timeout", "60s"]);
        self.wait_state(state);
        let helms = children(child.id());
        assert_eq!(helms.len(), 1, "one helm child: {helms:?}");
        signal(helms[0], libc::SIGKILL);
        let (code, _, stderr) = output_of(child);
        assert_eq!(code, Some(3), "{stderr}");
        assert_eq!(self.state().as_deref(), Some(state));
        self.answers.postgres.host = "db2.caracal.test".into();
        self.save();
    }
}

/// The pids of `parent`'s children.
fn children(parent: u32) -> Vec<u32> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        if after.split(' ').nth(1).and_then(|p| p.parse().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn signal(pid: u32, sig: i32) {
    let r = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(r, 0, "kill {pid} {sig}");
}

fn output_of(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_failing_migration_names_the_job_and_its_pod_and_rolls_back() {
    let mut bed = fresh("fmig");
    bed.install_ok();
    // The upgrade points the migration at a database it cannot reach: its Job's pod exits 1
    // at every start until the Job controller gives up (backoffLimit).
    bed.answers.postgres.host = "db.unreachable.test".into();
    bed.save();
    let out = bed.run(&[
        "install",
        "--yes",
        "--rollback-on-failure",
        "--timeout",
        "60s",
        "-o",
        "json",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("hook Job caracal-caracal-migrate failed")
            && reason.contains("BackoffLimitExceeded")
            && reason.contains("CrashLoopBackOff")
            && reason.contains("last exit 1 Error"),
        "the Job, why it failed and its pod's failure: {json}\n{stderr}"
    );
    assert!(
        json["helm"]
            .as_str()
            .unwrap()
            .contains("job caracal-caracal-migrate failed: BackoffLimitExceeded"),
        "helm's own line too: {json}"
    );
    assert!(
        stderr.contains("hook Job caracal-caracal-migrate: started")
            && stderr.contains("✗ hook Job caracal-caracal-migrate failed")
            && stderr.contains("warning Pod/caracal-caracal-migrate-"),
        "progress names the Job and the cluster's warnings: {stderr}"
    );
    assert_eq!(json["rolledBackTo"], 1, "{json}");
    let h = bed.history();
    let last = h.last().unwrap();
    assert_eq!(last.1, "deployed", "{h:?}");
    assert!(last.2.contains("Rollback to 1"), "{h:?}");
    assert!(bed.workloads_ready(), "revision 1's pods run");
}

#[test]
fn an_unpullable_image_says_image_pull_back_off_and_rolls_back() {
    let mut bed = fresh("fpull");
    bed.install_ok();
    // An upgrade to an image tag the registry does not have (and a changed host, so the
    // values differ too).
    let chart = bed.failing_chart("image-pull", Some("9.9.9-missing"));
    bed.answers.chart.reference = chart.display().to_string();
    bed.answers.ingress.hosts.web = "console2.caracal.test".into();
    bed.save();
    let out = bed.run(&[
        "install",
        "--yes",
        "--rollback-on-failure",
        "--timeout",
        "20s",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let first = stdout.lines().next().unwrap();
    assert!(
        first.contains("failed: pod caracal-")
            && first.contains("ImagePullBackOff")
            && first.contains("9.9.9-missing"),
        "the reason names the pod, ImagePullBackOff and the image: {stdout}"
    );
    assert!(stdout.contains("Rolled back to revision 1"), "{stdout}");
    let h = bed.history();
    assert_eq!(h.last().unwrap().1, "deployed", "{h:?}");
    assert!(h.last().unwrap().2.contains("Rollback to 1"), "{h:?}");
    assert!(bed.workloads_ready(), "revision 1's pods run");
}

#[test]
fn a_crash_loop_says_why_and_a_first_install_is_removed_only_on_request() {
    let mut bed = fresh("fcrash");
    bed.answers.chart.reference = bed.failing_chart("crash-loop", None).display().to_string();
    bed.save();
    let out = bed.run(&["install", "--yes", "--timeout", "20s", "-o", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("CrashLoopBackOff") && reason.contains("last exit 1 Error"),
        "{json}"
    );
    // The previous run's log lines, read through the API server's pods/log from the bed's
    // kubelet (kwok serves the bed's previous.log for every container's previous run): each
    // message of that file is shown, under the pod that logged it.
    let served = previous_log_messages();
    assert!(
        stderr.contains("last log lines:"),
        "the crash-looping pod's logs: {stderr}"
    );
    for message in &served {
        assert!(
            stderr.contains(&format!("    | {message}")),
            "the previous run's line {message:?}: {stderr}"
        );
    }
    assert_eq!(json["uninstalled"], false, "{json}");
    assert_eq!(
        bed.state().as_deref(),
        Some("failed"),
        "never removed by default"
    );

    let out = bed.run(&[
        "install",
        "--yes",
        "--timeout",
        "15s",
        "--uninstall-on-failure",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Uninstalled caracal"), "{stdout}");
    assert_eq!(bed.state(), None, "removed on request");
}

#[test]
fn a_missing_storage_class_ends_with_the_claims_reason() {
    let mut bed = fresh("fsc");
    bed.answers.storage_class = Some("no-such-class".into());
    bed.save();
    let out = bed.run(&["install", "--yes", "--timeout", "20s", "-o", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("unbound immediate PersistentVolumeClaims")
            && reason.contains("PersistentVolumeClaim/")
            && reason.contains("\"no-such-class\" not found"),
        "the pods and their claims' reason: {json}\n{stderr}"
    );
}

#[test]
fn a_killed_helm_leaves_pending_and_recover_clears_it() {
    let mut bed = fresh("fkill");
    bed.install_ok();
    // A slow upgrade (its migration crash-loops for seconds), whose helm is killed mid-run.
    bed.kill_helm_when("pending-upgrade");
    let out = bed.run(&["install", "--yes", "--timeout", "60s"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("stuck in pending-upgrade") && stderr.contains("--recover"),
        "explained, with the fix: {stderr}"
    );

    let out = bed.run(&["install", "--yes", "--recover", "--timeout", "60s"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("was pending-upgrade: rolled back to revision 1"),
        "{stderr}"
    );
    let h = bed.history();
    let statuses: Vec<&str> = h.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(statuses.last(), Some(&"deployed"), "{h:?}");
    assert!(h.iter().any(|r| r.2.contains("Rollback to 1")), "{h:?}");
    assert!(stdout.contains(&format!("deployed: revision {}", h.last().unwrap().0)));
    // helm leaves the interrupted revision's record as it was; the release is deployed.
    assert_eq!(bed.state().as_deref(), Some("deployed"), "{h:?}");
}

#[test]
fn a_killed_first_install_is_uninstalled_by_recover() {
    let mut bed = fresh("fkill1");
    bed.kill_helm_when("pending-install");
    let out = bed.run(&["install", "--yes", "--recover", "--timeout", "60s"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("was pending-install: uninstalled it"),
        "{stderr}"
    );
    assert_eq!(bed.history().len(), 1, "installed afresh");
    assert_eq!(bed.state().as_deref(), Some("deployed"));
}

#[test]
fn ctrl_c_stops_helm_cleanly_and_a_rerun_deploys() {
    let mut bed = fresh("fint");
    bed.install_ok();
    bed.answers.postgres.host = "db.unreachable.test".into();
    bed.save();
    let child = bed.spawn(&["install", "--yes", "--timeout", "60s"]);
    bed.wait_state("pending-upgrade");
    let started = Instant::now();
    signal(child.id(), libc::SIGINT);
    let (code, stdout, stderr) = output_of(child);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "helm stopped on SIGTERM, not killed after the grace"
    );
    assert!(
        stderr.contains("helm stopped on SIGTERM")
            && stderr.contains("is failed at revision 2, not pending")
            && stderr.contains("run `caracal-deploy install` again"),
        "what was done and how to finish: {stderr}"
    );
    assert_eq!(
        bed.state().as_deref(),
        Some("failed"),
        "{:?}",
        bed.history()
    );

    bed.answers.postgres.host = "db2.caracal.test".into();
    bed.save();
    let out = bed.run(&["install", "--yes", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(bed.state().as_deref(), Some("deployed"));
    assert!(bed.workloads_ready());
}

/// The messages of the log the bed's kubelet (kwok) serves as every container's previous run,
/// from its CRI-format file (`TIMESTAMP STREAM TAG MESSAGE`).
fn previous_log_messages() -> Vec<String> {
    let state = std::env::var("CARACAL_TESTBED_STATE")
        .expect("CARACAL_TESTBED_STATE: run under `scripts/testbed env`");
    let path = Path::new(&state).join("kwok/previous.log");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (is the bed up, with kwok's logs?)", path.display()));
    let messages: Vec<String> = text
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).expect("a CRI log line").to_string())
        .collect();
    assert!(!messages.is_empty(), "{} is empty", path.display());
    messages
}
