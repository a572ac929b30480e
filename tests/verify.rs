//! `caracal-deploy verify` as an operator runs it, against the bed: a real install (seeded into
//! moto, synced by the real External Secrets controller, installed by real helm, certificates
//! issued by the real cert-manager), the canary through the bed's proxy to the Caracal API
//! emulator, and each way of breaking the install failing the check that guards it, with its
//! hint. The oracles are the cluster (kubectl), the emulator's own request log and state, and
//! the contract's JSON schema written here from DESIGN.md.
//!
//! The tests take turns: the emulator's faults are global, and each install is a namespace of
//! its own on a shared bed.

mod support;

use std::time::Instant;

use serde_json::{Value, json};
use support::verify_bed::{
    Install, TURN, check, curl, emulator, emulator_mark, env, kubectl, kubectl_ok, kubectl_stdin,
    requests_since, results, until,
};
use support::{caracal_env, text};

/// The contract (DESIGN.md, "Interfaces"): `{success, categories: [{name, checks: [{id,
/// description, result: success|warning|error|skipped, detail, hint}]}]}`.
fn contract() -> Value {
    json!({
        "type": "object",
        "required": ["success", "categories"],
        "additionalProperties": false,
        "properties": {
            "success": { "type": "boolean" },
            "categories": { "type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["name", "checks"],
                "additionalProperties": false,
                "properties": {
                    "name": { "type": "string", "minLength": 1 },
                    "checks": { "type": "array", "minItems": 1, "items": {
                        "type": "object",
                        "required": ["id", "description", "result", "detail", "hint"],
                        "additionalProperties": false,
                        "properties": {
                            "id": { "type": "string", "pattern": "^[a-z0-9-]+$" },
                            "description": { "type": "string", "minLength": 1 },
                            "result": { "enum": ["success", "warning", "error", "skipped"] },
                            "detail": { "type": "string" },
                            "hint": { "type": "string" },
                        },
                    } },
                },
            } },
        },
    })
}

#[test]
fn a_healthy_install_verifies_and_the_canary_runs_the_documented_flow() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("ok", |_| {});
    install.up(0, &[]);
    let before = emulator_mark();
    let (code, report, stderr) = install.verify(&[]);

    let validator = jsonschema::validator_for(&contract()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
    // Every check passes but the chart's own unauthenticated ServiceMonitors: exit 4.
    let not_ok: Vec<(String, String)> = results(&report)
        .into_iter()
        .filter(|(_, r)| r != "success")
        .collect();
    assert_eq!(
        not_ok,
        [("monitoring-auth".to_string(), "warning".to_string())],
        "{report:#}\n{stderr}"
    );
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(report["success"], true);
    let categories: Vec<&str> = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in ["store", "release", "tls", "network", "monitoring", "canary"] {
        assert!(categories.contains(&c), "{categories:?}");
    }
    // The certificates cert-manager really issued.
    let tls = check(&report, "tls-certificates");
    assert_eq!(
        tls["detail"],
        "caracal-sts-tls, caracal-gateway-tls, caracal-api-tls, caracal-web-tls Ready"
    );

    // The canary, as the emulator saw it: the token exchange, the Gateway request with the
    // mandate and the resource header, then the audit read, all by host name.
    let canary = check(&report, "canary");
    let detail = canary["detail"].as_str().unwrap();
    let rid = detail
        .strip_prefix("request ")
        .and_then(|d| d.split_whitespace().next())
        .unwrap_or_else(|| panic!("{detail}"));
    let seen = requests_since(before);
    let find = |host: &str, method: &str, path: &str| {
        seen.iter()
            .find(|r| {
                r["host"].as_str().is_some_and(|h| h.starts_with(host))
                    && r["method"] == method
                    && r["path"].as_str().is_some_and(|p| p.starts_with(path))
            })
            .unwrap_or_else(|| panic!("no {method} {host}{path} in {seen:#?}"))
    };
    find("sts.caracal.test", "POST", "/oauth/2/token");
    let gw = find("gateway.caracal.test", "GET", "/");
    assert!(
        gw["headers"]
            .to_string()
            .contains("resource://caracal-deploy-canary-"),
        "X-Caracal-Resource: {gw}"
    );
    find("api.caracal.test", "GET", "/v1/zones/");
    assert!(
        seen.iter().any(|r| r["path"]
            .as_str()
            .is_some_and(|p| p.contains(&format!("/audit/by-request/{rid}")))),
        "the audit of {rid}"
    );
    // It deleted what it created: no zone is left in this installation.
    let zones = emulator_admin(&install, "/v1/zones");
    assert_eq!(zones["items"].as_array().map_or(0, Vec::len), 0, "{zones}");

    // Text: a glyph and a word per check; --fail-on-warning turns the warning into 3.
    let out = install
        .verify_command(&["--fail-on-warning"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("√ ok each ingress's Certificate Ready [tls-certificates]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("‼ warning scraping sends the metrics bearer"),
        "{stdout}"
    );

    // No secret value reached the output.
    for key in ["caracalAdminToken", "postgresPassword", "metricsBearer"] {
        let v = install.runtime_value(key);
        assert!(!stdout.contains(&v) && !stderr.contains(&v) && !report.to_string().contains(&v));
        let log = std::fs::read_to_string(install.path.with_extension("log")).unwrap_or_default();
        assert!(!log.contains(&v), "{key} in the log");
    }
}

/// Private STS, Gateway and Admin API (no ingress hosts): the canary reaches each through a
/// port-forward to one of its pods (the API server's `pods/portforward`, carried by kwok's
/// kubelet to the emulator's per-service listener). The oracle is the emulator's request log:
/// which listener each call arrived on. Without a ready pod, the canary fails and says why.
#[test]
fn without_ingress_hosts_the_canary_goes_through_port_forwards() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("pf", |a| {
        a.ingress.hosts.sts = None;
        a.ingress.hosts.gateway = None;
        a.ingress.hosts.api = None;
    });
    install.up(0, &[]);
    let before = emulator_mark();
    let (code, report, stderr) = install.verify(&[]);
    assert_eq!(code, 4, "{report:#}\n{stderr}");
    let canary = check(&report, "canary");
    assert_eq!(canary["result"], "success", "{report:#}\n{stderr}");
    let ns = &install.answers.namespace;
    let detail = canary["detail"].as_str().unwrap();
    for (label, role, port) in [
        ("Admin API", "api", 3000),
        ("STS", "sts", 8080),
        ("Gateway", "gateway", 8081),
    ] {
        // `{label} port-forward {ns}/{pod}:{port}`, the pod one of the role's.
        let pod = detail
            .split(&format!("{label} port-forward {ns}/"))
            .nth(1)
            .and_then(|rest| rest.split([',', ':']).next())
            .unwrap_or_else(|| panic!("no port-forward for the {label}: {detail}"));
        assert!(
            detail.contains(&format!("{pod}:{port}")),
            "{label}: {detail}"
        );
        let labels = kubectl_ok(&[
            "-n",
            ns,
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.metadata.labels.app\\.kubernetes\\.io/component}",
        ]);
        assert_eq!(labels.trim(), role, "{pod}");
    }

    let seen = requests_since(before);
    let listener_of = |method: &str, path: &str| {
        seen.iter()
            .find(|r| {
                r["method"] == method && r["path"].as_str().is_some_and(|p| p.starts_with(path))
            })
            .unwrap_or_else(|| panic!("no {method} {path} in {seen:#?}"))["listener"]
            .clone()
    };
    assert_eq!(listener_of("POST", "/oauth/2/token"), "plain-sts");
    assert_eq!(
        listener_of("GET", "/caracal-deploy-canary"),
        "plain-gateway"
    );
    assert_eq!(listener_of("POST", "/v1/zones"), "plain-api");
    assert!(
        seen.iter().all(|r| r["listener"] != "https"),
        "a call went through a host: {seen:#?}"
    );

    // No ready pod of the Admin API: the canary cannot reach it, and says so.
    kubectl_ok(&[
        "-n",
        ns,
        "scale",
        "deployment",
        "-l",
        "app.kubernetes.io/component=api",
        "--replicas=0",
    ]);
    until("the Admin API's pods are gone", || {
        kubectl_ok(&[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/component=api",
            "-o",
            "name",
        ])
        .trim()
        .is_empty()
    });
    let (code, report, stderr) = install.verify(&[]);
    assert_eq!(code, 3, "{report:#}\n{stderr}");
    assert_error(
        &report,
        "canary",
        "port-forward through the API server: Admin API has no ingress host and no running and ready pod behind Service caracal-",
        "pods/portforward",
    );
    let detail = check(&report, "canary")["detail"].to_string();
    assert!(
        detail.contains("-api (0 pod(s) match its selector)"),
        "{detail}"
    );
}

/// An Admin API read with the install's admin token (as the canary authenticates).
fn emulator_admin(install: &Install, path: &str) -> Value {
    curl(
        "GET",
        &format!("{}/api{path}", env("CARACAL_TESTBED_CARACAL_API_URL")),
        None,
        Some(&install.runtime_value("caracalAdminToken")),
    )
}

/// Asserts the check is an error whose detail has `detail` and whose hint has `hint`.
fn assert_error(report: &Value, id: &str, detail: &str, hint: &str) {
    let c = check(report, id);
    assert_eq!(c["result"], "error", "{id}: {c:#}");
    assert!(
        c["detail"].as_str().unwrap().contains(detail),
        "{id} detail, expected {detail:?}: {c:#}"
    );
    assert!(
        c["hint"].as_str().unwrap().contains(hint),
        "{id} hint, expected {hint:?}: {c:#}"
    );
}

#[test]
fn each_break_fails_the_check_that_guards_it_and_wait_sees_the_repair() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("brk", |_| {});
    install.up(0, &[]);
    let ns = install.answers.namespace.clone();

    // A secret value planted in a ConfigMap, inside a longer line: found, named, never shown.
    let token = install.runtime_value("caracalAdminToken");
    kubectl_ok(&[
        "-n",
        &ns,
        "create",
        "configmap",
        "planted",
        &format!("--from-literal=app.env=LOG=debug ADMIN={token}"),
    ]);
    let (code, report, stderr) = install.verify(&[]);
    assert_eq!(code, 3, "{stderr}");
    assert_error(
        &report,
        "release-no-plaintext",
        "ConfigMap/planted data.app.env holds caracal-runtime's `caracalAdminToken` (as is)",
        "rotate the secret",
    );
    assert!(!report.to_string().contains(&token) && !stderr.contains(&token));
    kubectl_ok(&["-n", &ns, "delete", "configmap", "planted"]);

    // The canary denied by the Gateway.
    emulator(
        "POST",
        "/_emulator/faults",
        Some(json!({ "deny": { "ops": ["gateway"] } })),
    );
    let (code, report, _) = install.verify(&[]);
    emulator("POST", "/_emulator/faults", Some(json!({})));
    assert_eq!(code, 3);
    assert_error(
        &report,
        "canary",
        "Gateway: request with the mandate through https://gateway.caracal.test: HTTP 403 access_denied",
        "audit events of the request id",
    );

    // A key the release mounts gone from the runtime Secret: the ExternalSecret in the cluster
    // no longer produces it (edited by hand), and the real controller rewrote the Secret.
    kubectl_ok(&[
        "-n",
        &ns,
        "patch",
        "externalsecret",
        "caracal-runtime",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/target/template/data/auditHmacKey"}]"#,
    ]);
    until("the controller drops auditHmacKey", || {
        !kubectl_ok(&["-n", &ns, "get", "secret", "caracal-runtime", "-o", "json"])
            .contains("\"auditHmacKey\"")
    });
    let (code, report, _) = install.verify(&[]);
    assert_eq!(code, 3);
    assert_error(
        &report,
        "store-runtime-secret",
        "missing keys the release mounts: auditHmacKey",
        "caracal-deploy apply",
    );
    let out = install.run(&["apply", "--yes", "--timeout", "120s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The ExternalSecret cannot sync: its remote keys are missing (a prefix never seeded).
    let mut unseeded = install.answers.clone();
    unseeded.secret_manager.prefix = support::unique("none");
    let other = install.path.with_file_name("unseeded.yaml");
    std::fs::write(&other, unseeded.to_yaml()).unwrap();
    let out = caracal_env(&["apply", "--yes", "--timeout", "20s"], &other, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (code, report, _) = install.verify(&[]);
    assert_eq!(code, 3);
    assert_error(
        &report,
        "store-synced",
        "SecretSyncedError",
        "caracal-deploy seed",
    );
    let out = install.run(&["apply", "--yes", "--timeout", "120s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A NetworkPolicy that blocks the load balancer: found; then `verify --wait` sees the
    // repair and returns at once.
    let policy = install.policy();
    install.break_policy();
    let (code, report, _) = install.verify(&[]);
    assert_eq!(code, 3);
    assert_error(
        &report,
        "network-ingress-source",
        "does not admit 10.0.0.0/16 to sts (8080), gateway (8081), api (3000), web (3002)",
        "networkPolicy.extraIngress",
    );
    let mut waiting = install.spawn_wait("120s", &[], &[]);
    let (first, _) = waiting.line_with("not green yet");
    assert!(first.contains("network-ingress-source"), "{first}");
    let repaired = Instant::now();
    install.restore_policy(&policy);
    // The repair is shown as it happens, then verify exits (warnings only).
    let (_, seen_at) = waiting.line_with("√ ok network-ingress-source");
    let latency = seen_at - repaired;
    assert_eq!(waiting.exit(), Some(4), "{:#?}", waiting.seen);
    eprintln!("verify --wait returned {latency:?} after the repair was written");
}

#[test]
fn a_failed_migration_and_a_crash_loop_are_named_with_their_reasons() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // The database cannot be reached: the migration Job crash-loops until the Job controller
    // fails it, and the install fails.
    let install = Install::new("mig", |a| a.postgres.host = "db.unreachable.test".into());
    install.up(3, &["--timeout", "60s"]);
    let (code, report, stderr) = install.verify(&[]);
    assert_eq!(code, 3, "{stderr}");
    assert_error(&report, "release-deployed", "is failed", "helm");
    assert_error(
        &report,
        "release-migrations",
        "caracal-caracal-migrate: BackoffLimitExceeded",
        "logs job/caracal-caracal-migrate",
    );

    // Every workload pod crash-loops.
    let dir = tempfile::tempdir().unwrap();
    let chart = support::failing_chart(dir.path(), "crash-loop", None);
    let install = Install::new("crash", |a| a.chart.reference = chart.display().to_string());
    install.up(3, &["--timeout", "20s"]);
    let (code, report, _) = install.verify(&[]);
    assert_eq!(code, 3);
    assert_error(
        &report,
        "release-workloads",
        "CrashLoopBackOff (back-off",
        "logs POD --previous",
    );
    let detail = check(&report, "release-workloads")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("last exit 1 Error") && detail.contains("(and 1 more pods)"),
        "one pod per workload says why: {detail}"
    );
}

#[test]
fn a_certificate_that_cannot_be_issued_is_walked_to_its_reason() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // A CA ClusterIssuer whose CA Secret does not exist: the real cert-manager never issues.
    let issuer = support::unique("broken-ca-");
    let manifest = json!({
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": { "name": issuer },
        "spec": { "ca": { "secretName": "no-such-ca-secret" } },
    });
    kubectl_stdin("apply", &manifest);
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = kubectl(&["delete", "clusterissuer", &self.0, "--ignore-not-found"]);
        }
    }
    let _cleanup = Cleanup(issuer.clone());
    let install = Install::new("tls", |a| a.ingress.cluster_issuer = issuer.clone());
    install.up(0, &[]);
    let ns = install.answers.namespace.clone();
    until("ingress-shim makes the Certificates", || {
        kubectl_ok(&["-n", &ns, "get", "certificaterequests", "-o", "name"])
            .contains("caracal-web-tls")
    });
    let (code, report, _) = install.verify(&[]);
    assert_eq!(code, 3);
    assert_error(
        &report,
        "tls-certificates",
        "Certificate/caracal-web-tls: Ready=False",
        &issuer,
    );
    let detail = check(&report, "tls-certificates")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    // The walk reaches the request and its condition, as the real controller wrote it.
    let cr = kubectl_ok(&[
        "-n",
        &ns,
        "get",
        "certificaterequests",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].message}{\"\\n\"}{end}",
    ]);
    let web = cr
        .lines()
        .find(|l| l.starts_with("caracal-web-tls-"))
        .unwrap_or_else(|| panic!("{cr}"));
    let (name, message) = web.split_once('=').unwrap();
    assert!(
        detail.contains(&format!("CertificateRequest/{name}: "))
            && detail.contains(&format!("Ready=False Pending: {message}")),
        "{name} {message:?} in {detail}"
    );
    // Preflight's issuer check says the same, first.
    assert_eq!(check(&report, "cluster-issuer")["result"], "error");
}

#[test]
fn verify_without_a_release_says_what_to_run() {
    let install = Install::new("none", |_| {});
    let (code, report, _) = install.verify(&[]);
    assert_eq!(code, 3);
    assert_error(
        &report,
        "release-deployed",
        "no release caracal in",
        "caracal-deploy install",
    );
    assert_eq!(check(&report, "canary")["result"], "skipped");
}
