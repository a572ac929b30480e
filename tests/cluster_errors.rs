//! Cluster errors in plain language, through the binary against the bed's real API server:
//! a kubeconfig whose exec credential plugin fails, is missing, or hands out a token the
//! server refuses; and an admission webhook that does not answer. Each error names what
//! failed (the plugin's own words, the webhook) and the command that fixes it.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::{bed_answers, text};

/// The bed's admin kubeconfig with its user replaced by an exec plugin.
fn kubeconfig_with_plugin(dir: &Path, command: &str, args: &[&str]) -> PathBuf {
    let out = Command::new("kubectl")
        .args(["config", "view", "--raw", "-o", "json"])
        .output()
        .expect("kubectl of the bed on PATH (eval \"$(scripts/testbed env)\")");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut config: Value = serde_json::from_slice(&out.stdout).unwrap();
    for user in config["users"].as_array_mut().unwrap() {
        user["user"] = json!({ "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": command,
            "args": args,
            "interactiveMode": "Never",
        }});
    }
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// An executable script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn answers_file(dir: &Path) -> PathBuf {
    let path = dir.join("answers.yaml");
    std::fs::write(&path, bed_answers("aws").to_yaml()).unwrap();
    path
}

fn run(args: &[&str], answers: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Output {
    support::caracal_env(args, answers, env)
}

/// One check of `preflight -o json`: (result, detail, hint).
fn check(out: &Output, id: &str) -> (String, String, String) {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    let check = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .clone();
    (
        check["result"].as_str().unwrap().into(),
        check["detail"].as_str().unwrap().into(),
        check["hint"].as_str().unwrap().into(),
    )
}

#[test]
fn an_expired_aws_login_names_the_plugin_its_error_and_the_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let aws = script(
        dir.path(),
        "aws",
        "echo '{\"status\":{\"token\":\"half-written-token-7f3a\"}}'; echo 'An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired' >&2; exit 255",
    );
    let kubeconfig = kubeconfig_with_plugin(
        dir.path(),
        aws.to_str().unwrap(),
        &[
            "eks",
            "get-token",
            "--cluster-name",
            "prod",
            "--region",
            "us-east-1",
        ],
    );
    let answers = answers_file(dir.path());
    let env = [("KUBECONFIG", kubeconfig.as_os_str())];

    let out = run(&["preflight", "-o", "json"], &answers, &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (result, detail, hint) = check(&out, "kube-context");
    assert_eq!(result, "error");
    assert_eq!(
        detail,
        "the credential plugin `aws eks get-token` of context caracal-testbed failed: exit status 255: An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired"
    );
    assert!(
        hint.contains("aws sso login") && hint.contains("aws eks update-kubeconfig"),
        "{hint}"
    );

    // The commands that change a cluster say the same, with exit 3, and change nothing.
    let out = run(&["apply", "--yes"], &answers, &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("credential plugin `aws eks get-token`")
            && stderr.contains("aws sso login"),
        "{stderr}"
    );
    // What the plugin printed on standard output (a token, when it works) is never shown.
    let all = format!("{}{}", text(&out.stdout), stderr);
    assert!(!all.contains("half-written-token"), "{all}");
}

#[test]
fn a_missing_gke_plugin_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_with_plugin(dir.path(), "gke-gcloud-auth-plugin", &[]);
    let answers = answers_file(dir.path());
    let empty = tempfile::tempdir().unwrap();
    let env = [
        ("KUBECONFIG", kubeconfig.as_os_str()),
        ("PATH", empty.path().as_os_str()),
    ];
    let out = run(&["preflight", "-o", "json"], &answers, &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (result, detail, hint) = check(&out, "kube-context");
    assert_eq!(result, "error");
    assert!(
        detail.contains("`gke-gcloud-auth-plugin` is not installed or not on PATH"),
        "{detail}"
    );
    assert!(
        hint.contains("gcloud components install gke-gcloud-auth-plugin"),
        "{hint}"
    );
}

#[test]
fn a_token_the_server_refuses_names_the_plugin_that_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let kubelogin = script(
        dir.path(),
        "kubelogin",
        r#"echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"expired-or-foreign-token"}}'"#,
    );
    let kubeconfig = kubeconfig_with_plugin(
        dir.path(),
        kubelogin.to_str().unwrap(),
        &[
            "get-token",
            "--login",
            "azurecli",
            "--server-id",
            "6dae42f8",
        ],
    );
    let answers = answers_file(dir.path());
    let out = run(
        &["preflight", "-o", "json"],
        &answers,
        &[("KUBECONFIG", kubeconfig.as_os_str())],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (result, detail, hint) = check(&out, "kube-api");
    assert_eq!(result, "error");
    assert_eq!(
        detail,
        "the API server rejected the credentials of context caracal-testbed (401); its token comes from `kubelogin get-token`"
    );
    assert!(
        hint.contains("az login") && hint.contains("kubelogin"),
        "{hint}"
    );
    // The token is the plugin's output: it is never shown.
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("expired-or-foreign-token"), "{all}");
}

/// Removes the webhook configuration when the test ends, passed or not.
struct Webhook(String);

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .args(["delete", "validatingwebhookconfiguration", &self.0])
            .output();
    }
}

#[test]
fn a_webhook_that_does_not_answer_names_the_operator_and_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique("hook");
    answers.secret_manager.prefix = support::unique("hook");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    // External Secrets' validating webhook as its chart registers it, with its Service not
    // (yet) there, for the ExternalSecrets of this test's namespace only.
    let name = support::unique("externalsecret-validate");
    let _cleanup = Webhook(name.clone());
    let config = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": name },
        "webhooks": [{
            "name": "validate.externalsecret.external-secrets.io",
            "clientConfig": { "service": {
                "namespace": "external-secrets", "name": "external-secrets-webhook",
                "path": "/validate-external-secrets-io-v1-externalsecret" } },
            "rules": [{ "apiGroups": ["external-secrets.io"], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["externalsecrets"] }],
            "namespaceSelector": { "matchLabels": {
                "kubernetes.io/metadata.name": answers.namespace } },
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
        }],
    });
    let mut child = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        config.to_string().as_bytes(),
    )
    .unwrap();
    assert!(child.wait().unwrap().success());

    let out = run(&["apply", "--yes", "--timeout", "30s"], &path, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "the admission webhook validate.externalsecret.external-secrets.io did not answer, so the API server refused ExternalSecret"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("the webhook of External Secrets Operator is not running or not ready yet: `kubectl -n external-secrets get pods,endpoints`"),
        "{stderr}"
    );
}
