//! Shared by the integration tests: the real chart, the real helm, the example answers.
//! A missing component fails the test with instructions; it never skips.
#![allow(dead_code)]

pub mod tmux;
pub mod verify_bed;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::catalog::SecretCatalog;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// helm: `$CARACAL_HELM` (set by `scripts/testbed env`), else `helm` on PATH.
pub fn helm() -> PathBuf {
    let program = std::env::var_os("CARACAL_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "helm".into());
    match Command::new(&program).args(["version", "--short"]).output() {
        Ok(out) if out.status.success() => program,
        other => panic!(
            "helm is required by this test and was not found at {} ({other:?}). \
             Run `scripts/testbed tools` and `eval \"$(scripts/testbed env)\"`, or use scripts/test.",
            program.display()
        ),
    }
}

/// The real Caracal chart 1.0.0, found by the same resolver as the bed's answers files
/// (`scripts/testbed chart`, testbed/lib/chart.sh): `$CARACAL_CHART_DIR`, else
/// `../shared/fixtures/caracal-chart-1.0.0` beside the repository, else pulled once from its
/// OCI reference into the bed's cache. Without any, the test fails with the resolver's reason
/// and the three fixes; it never skips.
pub fn chart_dir() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = repo().join("scripts/testbed");
        let out = Command::new(&script)
            .arg("chart")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = PathBuf::from(stdout.trim());
        if out.status.success() && dir.join("Chart.yaml").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "this test needs the Caracal chart 1.0.0 and `scripts/testbed chart` found none:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// An example answers file with the chart pointed at the real local chart.
pub fn example_answers(cloud: &str) -> Answers {
    let text = example_text(cloud);
    Answers::from_yaml(&text)
        .unwrap_or_else(|p| panic!("examples/answers-{cloud}.yaml is invalid: {p:?}"))
}

pub fn example_text(cloud: &str) -> String {
    example_text_with_chart(cloud, &chart_dir().display().to_string())
}

/// An example answers file with `chart.ref` set to `chart` (e.g. a directory that does not exist).
pub fn example_text_with_chart(cloud: &str, chart: &str) -> String {
    let path = repo().join(format!("examples/answers-{cloud}.yaml"));
    let text = std::fs::read_to_string(&path).expect("read example answers");
    text.replace("oci://ghcr.io/garudex-labs/charts/caracal", chart)
}

pub const CLOUDS: [&str; 3] = ["aws", "gcp", "azure"];

/// `helm template` of the chart with a values file, for the Kubernetes version `render`
/// assumes; panics with helm's message on failure.
pub fn helm_template(answers: &Answers, values: &Path) -> String {
    let kube_version = SecretCatalog::for_chart(&answers.chart.version)
        .expect("a known chart version")
        .render_kube_version();
    let out = Command::new(helm())
        .args(["template", &answers.release])
        .arg(chart_dir())
        .args([
            "--namespace",
            &answers.namespace,
            "--kube-version",
            kube_version,
            "--values",
        ])
        .arg(values)
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The answers file `scripts/testbed env` aims at the bed for a cloud. Panics (never skips)
/// when the bed's environment is missing.
pub fn bed_answers(cloud: &str) -> Answers {
    let var = format!("CARACAL_DEPLOY_ANSWERS_{}", cloud.to_uppercase());
    let path = std::env::var(&var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs the test bed. Run `scripts/testbed up` and \
             `eval \"$(scripts/testbed env)\"` (scripts/test does both)."
        )
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{var}={path}: {e}"));
    Answers::from_yaml(&text).unwrap_or_else(|p| panic!("{path} is invalid: {p:?}"))
}

/// Every field of `sent` is present with the same value in `stored` (server defaults may add more).
pub fn assert_subset(sent: &serde_json::Value, stored: &serde_json::Value, path: &str) {
    match (sent, stored) {
        (serde_json::Value::Null, _) => {}
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in a {
                let child = format!("{path}.{k}");
                let other = b
                    .get(k)
                    .unwrap_or_else(|| panic!("{child} was dropped by the server"));
                assert_subset(v, other, &child);
            }
        }
        (serde_json::Value::Array(a), serde_json::Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: list length changed");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_subset(x, y, &format!("{path}[{i}]"));
            }
        }
        (a, b) => assert_eq!(a, b, "{path} changed"),
    }
}

/// A name no other test run uses: the emulators and moto are shared by every test.
pub fn unique(tag: &str) -> String {
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).expect("OS random source");
    format!("{tag}{}", hex::encode(suffix))
}

/// Runs the binary as an operator would, `args` then `-f ANSWERS`, logging beside the answers.
pub fn caracal_with(args: &[&str], answers: &Path) -> std::process::Output {
    caracal_env(args, answers, &[])
}

/// `caracal_with` with more environment variables.
pub fn caracal_env(
    args: &[&str],
    answers: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(args)
        .arg("-f")
        .arg(answers)
        .arg("--log-file")
        .arg(answers.with_extension("log"))
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output()
        .expect("run caracal-deploy")
}

/// The release's namespace, made as step 2 makes it (the bundle's first object, by
/// server-side apply), so a test's release is its own.
pub async fn make_namespace(answers: &Answers) {
    let cluster = caracal_deploy::adapters::kube::Cluster::connect(answers.kube_context.as_deref())
        .await
        .unwrap();
    let namespace = &caracal_deploy::core::render::render(answers).objects[0];
    assert_eq!(namespace["kind"], "Namespace");
    cluster.apply(namespace, false).await.unwrap();
}

/// `helm history` of the answers' release by `helm`, newest last; empty when there is none.
pub fn helm_history(helm: &Path, answers: &Answers) -> Vec<(u64, String, String)> {
    let out = helm_json(helm, "history", answers);
    if !out.status.success() {
        return vec![];
    }
    history_rows(&out.stdout)
}

/// `helm COMMAND --output=json` of the answers' release (`status`, `history`).
pub fn helm_json(helm: &Path, command: &str, answers: &Answers) -> std::process::Output {
    Command::new(helm)
        .args([command, "--output=json", "--namespace"])
        .arg(&answers.namespace)
        .arg("--kube-context")
        .arg(answers.kube_context.as_deref().unwrap())
        .arg(&answers.release)
        .output()
        .unwrap()
}

/// helm's `history --output=json`, newest last: (revision, status, description).
pub fn history_rows(json: &[u8]) -> Vec<(u64, String, String)> {
    let h: serde_json::Value = serde_json::from_slice(json).expect("helm history JSON");
    h.as_array()
        .expect("a list of revisions")
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

/// The first line where a generated file and what its generator makes differ, to say what
/// drifted.
pub fn first_difference(have: &str, want: &str) -> String {
    for (i, (h, w)) in have.lines().zip(want.lines()).enumerate() {
        if h != w {
            return format!("line {}:\n  file: {h}\n  code: {w}", i + 1);
        }
    }
    format!(
        "the file has {} lines, the code makes {}",
        have.lines().count(),
        want.lines().count()
    )
}

/// Command output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `helm version --short` of a helm binary, or a panic that says how to get one.
pub fn helm_version(program: &Path) -> String {
    match Command::new(program).args(["version", "--short"]).output() {
        Ok(out) if out.status.success() => text(&out.stdout).trim().to_string(),
        other => panic!(
            "helm is required by this test and did not run at {} ({other:?}). \
             Run `scripts/testbed tools` and `eval \"$(scripts/testbed env)\"`, or use scripts/test.",
            program.display()
        ),
    }
}

/// helm 4: `$CARACAL_HELM4` (set by `scripts/testbed env`, built by `scripts/testbed tools`).
/// Required, never skipped: without it the test fails and says how to build it.
pub fn helm4() -> PathBuf {
    let program = std::env::var_os("CARACAL_HELM4")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "CARACAL_HELM4 is not set: this test runs the product with helm 4 too. Run \
             `scripts/testbed tools` (it builds helm 4 beside helm 3) and \
             `eval \"$(scripts/testbed env)\"`, or use scripts/test."
            )
        });
    let version = helm_version(&program);
    assert!(
        version.starts_with("v4."),
        "CARACAL_HELM4={} is helm {version}, not helm 4",
        program.display()
    );
    program
}

/// Runs the binary as `caracal_with` does, with `CARACAL_HELM` set to `helm`.
pub fn caracal_with_helm(args: &[&str], answers: &Path, helm: &Path) -> std::process::Output {
    caracal_env(args, answers, &[("CARACAL_HELM", helm.as_os_str())])
}

/// A copy of the real chart, in `dir`, whose values.yaml gives every Deployment and
/// StatefulSet pod the annotation `caracal.test/fail: MODE` (the bed's kwok stages make them
/// fail so: `image-pull`, `crash-loop`), and, when set, `global.tag`.
pub fn failing_chart(dir: &Path, mode: &str, tag: Option<&str>) -> PathBuf {
    let to = dir.join(format!("chart-{mode}"));
    let out = Command::new("cp")
        .arg("-r")
        .arg(chart_dir())
        .arg(&to)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let values = to.join("values.yaml");
    let original = std::fs::read_to_string(&values).unwrap();
    let mut changed = original.replacen(
        "  podAnnotations: {}\n",
        &format!("  podAnnotations:\n    caracal.test/fail: {mode}\n"),
        1,
    );
    if let Some(tag) = tag {
        changed = changed.replacen("  tag: ''\n", &format!("  tag: '{tag}'\n"), 1);
    }
    assert_ne!(
        changed, original,
        "the chart's values.yaml has global.podAnnotations"
    );
    std::fs::write(&values, changed).unwrap();
    to
}
