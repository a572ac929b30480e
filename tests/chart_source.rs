//! Where the chart comes from (testbed/lib/chart.sh, the one resolver of the bed and the tests),
//! proved on a copy of the bed's scripts "cloned" into a temporary directory with no shared
//! fixtures beside it, a fake home and cache: nothing here starts the bed.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use caracal_deploy::core::answers::Answers;
use support::repo;

const OCI: &str = "oci://ghcr.io/garudex-labs/charts/caracal";

/// The files `scripts/testbed chart`, `env` and the answers templates need, copied under `dir`.
fn clone_into(dir: &Path) -> PathBuf {
    let clone = dir.join("caracal-deploy");
    let mut files = vec![PathBuf::from("scripts/testbed")];
    for sub in ["testbed/lib", "testbed/answers"] {
        for entry in std::fs::read_dir(repo().join(sub)).unwrap() {
            files.push(Path::new(sub).join(entry.unwrap().file_name()));
        }
    }
    for module in ["helm", "helm4", "k8s", "etcd", "kwok"] {
        files.push(Path::new("testbed").join(module).join("go.mod"));
    }
    for f in files {
        let to = clone.join(&f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(&f), &to).unwrap();
    }
    clone
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The real chart, copied to `to`.
fn chart_copy(to: &Path) -> PathBuf {
    copy_dir(&support::chart_dir(), to);
    to.canonicalize().unwrap()
}

/// PATH without any directory that holds a helm, so only what a test hands over is found.
fn path_without_helm() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.join("helm").exists())
        .collect();
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// bash with the bed's chart settings cleared, a fake HOME (so the default cache is under it)
/// and no helm unless `env` hands one over.
fn bash(home: &Path, env: &[(&str, &Path)]) -> Command {
    let mut cmd = Command::new("bash");
    for var in [
        "CARACAL_CHART_DIR",
        "CARACAL_TESTBED_CHART",
        "CARACAL_HELM",
        "CARACAL_TESTBED_CACHE",
        "CARACAL_TESTBED_STATE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home).env("PATH", path_without_helm());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn testbed(clone: &Path, home: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    bash(home, env)
        .arg(clone.join("scripts/testbed"))
        .args(args)
        .output()
        .unwrap()
}

/// The answers files as `scripts/testbed up` writes them, without starting anything.
fn write_answers(clone: &Path, home: &Path, env: &[(&str, &Path)]) -> Output {
    bash(home, env)
        .env("TB_REPO", clone)
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(
            r#"source "$TB_REPO/testbed/lib/common.sh"
               source "$TB_REPO/testbed/lib/chart.sh"
               source "$TB_REPO/testbed/lib/cluster.sh"
               state_dirs
               write_answers"#,
        )
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_names_the_three_fixes(stderr: &str) {
    for fix in [
        "export CARACAL_CHART_DIR=",
        "shared/fixtures/caracal-chart-1.0.0",
        OCI,
    ] {
        assert!(
            stderr.contains(fix),
            "the fix `{fix}` is not named: {stderr}"
        );
    }
}

#[test]
fn chart_dir_in_the_environment_serves_a_clone_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(&tmp.path().join("elsewhere"));
    let home = tmp.path().join("home");
    let chart = chart_copy(&tmp.path().join("charts/my caracal"));
    let env = [("CARACAL_CHART_DIR", chart.as_path())];

    let out = testbed(&clone, &home, &env, &["chart"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), chart.display().to_string());

    // What `eval "$(scripts/testbed env)"` leaves for the tests.
    let out = bash(&home, &env)
        .env("TB_SCRIPT", clone.join("scripts/testbed"))
        .arg("-c")
        .arg(r#"unset CARACAL_CHART_DIR; eval "$(CARACAL_CHART_DIR="$0" "$TB_SCRIPT" env)"; printf %s "$CARACAL_CHART_DIR""#)
        .arg(&chart)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), chart.display().to_string());

    let out = write_answers(&clone, &home, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let aws = std::fs::read_to_string(clone.join(".testbed/answers/aws.yaml")).unwrap();
    let answers = Answers::from_yaml(&aws).unwrap();
    assert_eq!(answers.chart.reference, chart.display().to_string());
    assert!(!aws.contains("shared/fixtures"), "{aws}");
}

#[test]
fn a_clone_anywhere_renders_against_the_chart_it_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(&tmp.path().join("elsewhere"));
    let home = tmp.path().join("home");
    let chart = chart_copy(&tmp.path().join("chart"));
    let out = write_answers(&clone, &home, &[("CARACAL_CHART_DIR", chart.as_path())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args([
            "render",
            "-f",
            ".testbed/answers/aws.yaml",
            "--out",
            "bundle",
        ])
        .current_dir(&clone)
        .env("CARACAL_HELM", support::helm())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("✓ chart renders in stable mode"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_wrong_chart_dir_is_an_error_never_a_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    // Shared fixtures beside the clone: a wrong CARACAL_CHART_DIR must not fall back to them.
    let clone = clone_into(tmp.path());
    std::os::unix::fs::symlink(support::chart_dir(), {
        let d = tmp.path().join("shared/fixtures");
        std::fs::create_dir_all(&d).unwrap();
        d.join("caracal-chart-1.0.0")
    })
    .unwrap();
    let home = tmp.path().join("home");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = testbed(&clone, &home, &[("CARACAL_CHART_DIR", &empty)], &["chart"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not a chart directory (no Chart.yaml)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("CARACAL_CHART_DIR={}", empty.display())),
        "{stderr}"
    );
    assert_names_the_three_fixes(&stderr);

    let other = chart_copy(&tmp.path().join("other"));
    let chart_yaml = other.join("Chart.yaml");
    let meta = std::fs::read_to_string(&chart_yaml)
        .unwrap()
        .replace("version: 1.0.0", "version: 1.2.0");
    std::fs::write(&chart_yaml, meta).unwrap();
    let out = testbed(&clone, &home, &[("CARACAL_CHART_DIR", &other)], &["chart"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("holds chart version 1.2.0, not 1.0.0"),
        "{}",
        text(&out.stderr)
    );

    // `env` still prints the rest, without a chart the tests would trust.
    let out = testbed(&clone, &home, &[("CARACAL_CHART_DIR", &empty)], &["env"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("CARACAL_CHART_DIR"));
    assert!(text(&out.stdout).contains("export KUBECONFIG="));

    // The answers files are never written with a chart that is not there.
    let out = write_answers(&clone, &home, &[("CARACAL_CHART_DIR", &empty)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!clone.join(".testbed/answers/aws.yaml").exists());
}

#[test]
fn the_fixture_beside_the_repository_comes_next() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(tmp.path());
    let fixture = tmp.path().join("shared/fixtures/caracal-chart-1.0.0");
    copy_dir(&support::chart_dir(), &fixture);
    let out = testbed(&clone, &tmp.path().join("home"), &[], &["chart"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        fixture.canonicalize().unwrap().display().to_string()
    );
}

/// A helm that "pulls" by copying the real chart (slowly, so that two callers overlap), and
/// logs each call.
fn fake_helm(dir: &Path, fail: bool) -> PathBuf {
    let helm = dir.join("fake-helm");
    let body = if fail {
        "echo 'Error: failed to do request: no network' >&2\nexit 1\n".to_string()
    } else {
        format!(
            "while [ $# -gt 0 ]; do [ \"$1\" = --untardir ] && dest=$2; shift; done\nsleep 1\ncp -R '{}' \"$dest/caracal\"\n",
            support::chart_dir().display()
        )
    };
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n{body}",
            dir.join("helm-calls").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    helm
}

#[test]
fn otherwise_it_is_pulled_once_into_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(tmp.path());
    let home = tmp.path().join("home");
    let helm = fake_helm(tmp.path(), false);
    let cache = home.join(".cache/caracal-deploy/charts/caracal-1.0.0");
    for _ in 0..2 {
        let out = testbed(&clone, &home, &[("CARACAL_HELM", &helm)], &["chart"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), cache.display().to_string());
    }
    assert!(cache.join("templates/deployments.yaml").is_file());
    let calls = std::fs::read_to_string(tmp.path().join("helm-calls")).unwrap();
    assert_eq!(calls.lines().count(), 1, "pulled more than once: {calls}");
    assert!(
        calls.starts_with(&format!("pull {OCI} --version 1.0.0 --untar --untardir ")),
        "{calls}"
    );
}

#[test]
fn two_callers_at_once_pull_once() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(tmp.path());
    let home = tmp.path().join("home");
    let helm = fake_helm(tmp.path(), false);
    let callers: Vec<_> = (0..2)
        .map(|_| {
            bash(&home, &[("CARACAL_HELM", &helm)])
                .arg(clone.join("scripts/testbed"))
                .arg("chart")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for caller in callers {
        let out = caller.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let calls = std::fs::read_to_string(tmp.path().join("helm-calls")).unwrap();
    assert_eq!(calls.lines().count(), 1, "pulled more than once: {calls}");
}

#[test]
fn a_cache_holding_another_version_is_pulled_again() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(tmp.path());
    let home = tmp.path().join("home");
    let cache = home.join(".cache/caracal-deploy/charts/caracal-1.0.0");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("Chart.yaml"), "name: caracal\nversion: 0.9.0\n").unwrap();
    let helm = fake_helm(tmp.path(), false);
    let out = testbed(&clone, &home, &[("CARACAL_HELM", &helm)], &["chart"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), cache.display().to_string());
    assert!(
        std::fs::read_to_string(cache.join("Chart.yaml"))
            .unwrap()
            .contains("version: 1.0.0")
    );
}

#[test]
fn with_no_source_the_error_names_the_three_options() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone_into(tmp.path());
    let home = tmp.path().join("home");

    let out = testbed(&clone, &home, &[], &["chart"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no helm to pull"), "{stderr}");
    assert!(stderr.contains("no Caracal chart 1.0.0"), "{stderr}");
    assert_names_the_three_fixes(&stderr);

    // A failed pull leaves nothing half-written in the cache.
    let helm = fake_helm(tmp.path(), true);
    let out = testbed(&clone, &home, &[("CARACAL_HELM", &helm)], &["chart"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no network"),
        "helm's reason is shown: {stderr}"
    );
    assert_names_the_three_fixes(&stderr);
    let charts = home.join(".cache/caracal-deploy/charts");
    let left: Vec<String> = std::fs::read_dir(&charts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
