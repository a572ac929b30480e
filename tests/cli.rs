//! The `render` and `explain` commands end to end: exit codes, messages, and all-or-nothing output.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{example_text, helm};

fn caracal(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(args)
        .current_dir(dir)
        .env("CARACAL_HELM", helm())
        .output()
        .expect("run caracal-deploy")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn render_writes_the_bundle_and_prints_the_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("answers.yaml"), example_text("gcp")).unwrap();
    let out = caracal(
        &["render", "-f", "answers.yaml", "--out", "bundle"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Wrote 6 files to bundle"), "{stdout}");
    assert!(
        stdout.contains("1. caracal-deploy seed -f answers.yaml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kubectl apply --server-side -f 01-namespace.yaml"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("produces all 25 keys"),
        "{}",
        text(&out.stderr)
    );
    for f in [
        "01-namespace.yaml",
        "02-eso-serviceaccount.yaml",
        "03-clustersecretstore.yaml",
        "04-externalsecret.yaml",
        "values.yaml",
        "helm-install.sh",
    ] {
        assert!(dir.path().join("bundle").join(f).is_file(), "{f}");
    }
    // A second render replaces the bundle it wrote.
    let again = caracal(
        &["render", "-f", "answers.yaml", "--out", "bundle"],
        dir.path(),
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".caracal-deploy"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left behind: {leftovers:?}"
    );
}

#[test]
fn invalid_answers_exit_2_with_one_line_per_problem_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = example_text("aws")
        .replace("port: 5432", "port: 99999")
        .replace("region: us-east-1", "region: virginia")
        .replace(
            "web: console.example.com",
            "web: https://console.example.com",
        )
        .replace(
            "password: prompt              # or env:VAR, file:PATH, generate",
            "password: hunter2",
        );
    std::fs::write(dir.path().join("answers.yaml"), bad).unwrap();
    let out = caracal(
        &["render", "-f", "answers.yaml", "--out", "bundle"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    for field in [
        "secretManager.region",
        "postgres.port",
        "postgres.password",
        "ingress.hosts.web",
    ] {
        assert!(
            errors.iter().any(
                |l| l.starts_with(&format!("error: answers.yaml: {field}: "))
                    && l.contains("(fix: ")
            ),
            "no line for {field}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("hunter2"),
        "the rejected value looked like a secret and must not be echoed"
    );
    assert!(
        !dir.path().join("bundle").exists(),
        "a partial bundle was written"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn missing_file_and_missing_local_chart_are_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = caracal(
        &["render", "-f", "nope.yaml", "--out", "bundle"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nope.yaml: (file): cannot be read"),
        "{}",
        text(&out.stderr)
    );
    let answers = support::example_text_with_chart("aws", "/nonexistent/no-such-chart");
    std::fs::write(dir.path().join("a.yaml"), answers).unwrap();
    let out = caracal(&["render", "-f", "a.yaml", "--out", "bundle"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("chart.ref"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("bundle").exists());
}

#[test]
fn a_directory_it_did_not_write_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("answers.yaml"), example_text("azure")).unwrap();
    std::fs::create_dir(dir.path().join("bundle")).unwrap();
    std::fs::write(dir.path().join("bundle/precious.txt"), "keep me").unwrap();
    let out = caracal(
        &["render", "-f", "answers.yaml", "--out", "bundle"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("was not written by caracal-deploy"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("bundle/precious.txt")).unwrap(),
        "keep me"
    );
    assert!(!dir.path().join("bundle/values.yaml").exists());
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = caracal(&["render", "--bogus"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out = caracal(&["render", "-f", "a.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "--out is required");
}

#[test]
fn render_without_helm_still_works_offline_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("answers.yaml"), example_text("aws")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["render", "-f", "answers.yaml", "--out", "b"])
        .current_dir(dir.path())
        .env("CARACAL_HELM", dir.path().join("no-helm-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr)
            .contains("did not check the bundle against the chart: helm was not found"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.path().join("b/values.yaml").is_file());
}

/// `explain`, offline and with no answers file: the document's level-2 headings, read here.
fn documented_ids() -> Vec<String> {
    let text = std::fs::read_to_string(support::repo().join("docs/troubleshooting.md")).unwrap();
    let mut fenced = false;
    let mut ids = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && let Some(id) = line.strip_prefix("## ") {
            ids.push(id.trim().to_string());
        }
    }
    ids
}

fn explain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .arg("explain")
        .args(args)
        .env_remove("CARACAL_HELM")
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("run caracal-deploy")
}

#[test]
fn explain_alone_lists_every_check_id() {
    let out = explain(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let ids = documented_ids();
    assert!(ids.len() >= 29, "{ids:?}");
    let listed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|first| ids.iter().any(|id| id == first))
        .collect();
    assert_eq!(listed, ids, "{stdout}");
    assert!(stdout.contains("caracal-deploy explain ID"), "{stdout}");
}

#[test]
fn explain_prints_the_entry_of_a_check() {
    let out = explain(&["store-synced"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("## store-synced\n"), "{stdout}");
    for part in [
        "ExternalSecret `caracal-runtime`",
        "**What it means.**",
        "**Likely causes.**",
        "- **EKS:**",
        "**Confirm.**",
        "kubectl -n caracal describe externalsecret caracal-runtime",
        "**Fix.**",
    ] {
        assert!(stdout.contains(part), "{part:?} not in\n{stdout}");
    }
    // That entry only: the next one's heading is not printed.
    assert_eq!(stdout.matches("\n## ").count(), 0, "{stdout}");
    assert!(
        stdout.trim_end().ends_with(&format!(
            "Online: https://github.com/Garudex-Labs/caracal-deploy/blob/v{}/docs/troubleshooting.md#store-synced",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn explain_of_an_unknown_id_exits_2_naming_the_nearest() {
    let out = explain(&["kube-contxt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`kube-contxt` is not the id of a check; the nearest: kube-context\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`caracal-deploy explain` lists every id"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    // A fragment names the ids that contain it.
    let out = explain(&["network"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "the nearest: network-dns-egress, network-ingress-source, network-state-egress"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// verify's bad input: a missing answers file and an unreadable `--wait` are usage errors
/// (exit 2) that name what is wrong; nothing is read from a cluster.
#[test]
fn dashboard_refuses_bad_input_and_a_missing_terminal_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = caracal(&["dashboard", "-f", "missing.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("missing.yaml: (file): cannot be read"),
        "{}",
        text(&out.stderr)
    );
    // A valid answers file, but no terminal (the test's pipes): the headless way is named.
    std::fs::write(dir.path().join("a.yaml"), example_text("aws")).unwrap();
    let out = caracal(&["dashboard", "-f", "a.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the dashboard needs a terminal")
            && text(&out.stderr).contains("caracal-deploy verify -f ANSWERS --wait 10m"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn verify_refuses_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = caracal(&["verify", "-f", "missing.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("missing.yaml: (file): cannot be read"),
        "{}",
        text(&out.stderr)
    );
    let out = caracal(
        &["verify", "-f", "missing.yaml", "--wait", "ten minutes"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`ten minutes` is not a duration: write e.g. 90s, 5m or 1h"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

/// upgrade's bad input, before anything is read from a cluster or a secret manager: a missing
/// answers file, no --yes (and no --dry-run), a --to the answers' chart is not: exit 2, each
/// naming the fix.
#[test]
fn upgrade_refuses_bad_input_with_exit_2_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = caracal(&["upgrade", "-f", "missing.yaml", "--yes"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("missing.yaml"),
        "{}",
        text(&out.stderr)
    );
    let answers = dir.path().join("a.yaml");
    std::fs::write(&answers, support::example_text("aws")).unwrap();
    let out = caracal(&["upgrade", "-f", "a.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("pass --yes to confirm, or --dry-run"),
        "{}",
        text(&out.stderr)
    );
    let out = caracal(
        &["upgrade", "-f", "a.yaml", "--to", "9.9.9", "--dry-run"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--to 9.9.9"), "{stderr}");
    assert!(stderr.contains("fix: set chart.version: 9.9.9"), "{stderr}");
    assert!(out.stdout.is_empty());
}
