//! The checks on YAML fixtures, without a cluster: a healthy install passes every check, and
//! each way of breaking it fails the check that guards it, with its hint.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::*;
use crate::core::checks::Outcome;
use crate::core::release::{Hook, Release};

const RELEASE: &str = include_str!("../../../tests/fixtures/verify/release.yaml");
const HOOK: &str = include_str!("../../../tests/fixtures/verify/hook-migrate.yaml");
const POLICY: &str = include_str!("../../../tests/fixtures/verify/networkpolicy.yaml");

/// A secret value as seeding generates one (32 bytes, hex).
const ADMIN_TOKEN: &str = "4f1c2a9be0d3476a8c5e1f20b7d94c3a6e8f0a1b2c3d4e5f60718293a4b5c6d7";

fn answers() -> Answers {
    Answers::from_yaml(include_str!("../../../examples/answers-aws.yaml")).unwrap()
}

fn yaml(text: &str) -> Value {
    crate::core::yaml::from_documents(text)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({ "conditions": [ { "type": "Ready", "status": status, "reason": reason, "message": message } ] })
}

fn release() -> Release {
    Release {
        name: "caracal".into(),
        version: 1,
        status: "deployed".into(),
        description: "Install complete".into(),
        chart_version: "1.0.0".into(),
        app_version: "1.0.0".into(),
        manifests: crate::core::yaml::from_documents(RELEASE).unwrap(),
        hooks: vec![Hook {
            kind: "Job".into(),
            name: "caracal-caracal-migrate".into(),
            phase: "Succeeded".into(),
            manifest: yaml(HOOK),
        }],
        values: json!({ "global": { "mode": "stable" } }),
    }
}

fn runtime() -> RuntimeSecret {
    let mut keys = BTreeMap::new();
    for (k, v) in [
        ("adminToken", ADMIN_TOKEN),
        (
            "metricsBearer",
            "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
        ),
        ("postgresPassword", "p@ss word/with:symbols&more"),
        ("redisDatabase", "0"),
    ] {
        keys.insert(k.to_string(), Zeroizing::new(v.as_bytes().to_vec()));
    }
    RuntimeSecret {
        owners: vec![(
            "ExternalSecret".into(),
            RUNTIME_SECRET.into(),
            "es-uid".into(),
        )],
        keys,
    }
}

/// Every check green.
fn healthy() -> Observed {
    Observed {
        store: Some(
            json!({ "metadata": { "name": "caracal-aws" }, "status": ready("True", "Valid", "store validated") }),
        ),
        external_secret: Some(json!({
            "metadata": { "name": RUNTIME_SECRET, "uid": "es-uid" },
            "status": ready("True", "SecretSynced", "secret synced"),
        })),
        runtime: Some(runtime()),
        release: Some(release()),
        deployments: vec![json!({
            "metadata": { "name": "caracal-caracal-api", "generation": 2 },
            "spec": { "replicas": 2, "selector": { "matchLabels": { "app.kubernetes.io/component": "api" } } },
            "status": { "readyReplicas": 2, "updatedReplicas": 2, "observedGeneration": 2 },
        })],
        network_policies: vec![yaml(POLICY)],
        service_monitors: vec![json!({
            "metadata": { "name": "caracal-caracal-api" },
            "spec": { "endpoints": [ { "port": "http", "authorization": {
                "type": "Bearer", "credentials": { "name": RUNTIME_SECRET, "key": "metricsBearer" } } } ] },
        })],
        prometheus_rules: vec![json!({ "metadata": { "name": "caracal-caracal" } })],
        canary: Some(CanaryResult::Passed {
            via: "https://api.example.com".into(),
            request_id: "req-1".into(),
            events: vec![("authorization_decision".into(), "allow".into())],
            left_behind: vec![],
        }),
        certificates: vec![json!({
            "metadata": { "name": "caracal-api-tls", "uid": "cert-uid" },
            "spec": { "secretName": "caracal-api-tls" },
            "status": ready("True", "Ready", "Certificate is up to date and has not expired"),
        })],
        ..Observed::default()
    }
}

fn check<'a>(checks: &'a [(&str, Check)], id: &str) -> &'a Check {
    &checks
        .iter()
        .find(|(_, c)| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .1
}

fn run(obs: &Observed) -> Vec<(&'static str, Check)> {
    evaluate(&answers(), obs, false)
}

#[test]
fn a_healthy_install_passes_every_check() {
    let checks = run(&healthy());
    for (category, c) in &checks {
        assert_eq!(c.result, Outcome::Success, "{category}: {c:?}");
    }
    let ids: Vec<&str> = checks.iter().map(|(_, c)| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "store-ready",
            "store-synced",
            "store-runtime-secret",
            "release-deployed",
            "release-migrations",
            "release-workloads",
            "release-no-plaintext",
            "tls-certificates",
            "network-ingress-source",
            "network-dns-egress",
            "network-state-egress",
            "monitoring-objects",
            "monitoring-auth",
            "canary",
        ]
    );
}

#[test]
fn a_denied_canary_names_its_step_and_the_fix() {
    let mut obs = healthy();
    obs.canary = Some(CanaryResult::Failed {
        via: "https://api.example.com".into(),
        step: "Gateway: request with the mandate".into(),
        message: "HTTP 401 invalid_token: mandate signature invalid (request id r-9)".into(),
        code: "invalid_token".into(),
        left_behind: vec![],
    });
    let c = check(&run(&obs), "canary").clone();
    assert_eq!(c.result, Outcome::Error);
    assert_eq!(
        c.detail,
        "Gateway: request with the mandate through https://api.example.com: HTTP 401 invalid_token: \
         mandate signature invalid (request id r-9)"
    );
    assert!(c.hint.contains("gateway-sts-hmac-key"), "{c:?}");
    obs.canary = Some(CanaryResult::Failed {
        via: "https://api.example.com".into(),
        step: "Admin API: create the canary's zone".into(),
        message: "https://api.example.com/v1/zones: connection refused".into(),
        code: String::new(),
        left_behind: vec![],
    });
    let c = check(&run(&obs), "canary").clone();
    assert!(c.hint.contains("resolve to the load balancer"), "{c:?}");
    obs.canary = None;
    assert_eq!(check(&run(&obs), "canary").result, Outcome::Skipped);
}

#[test]
fn the_store_and_the_sync_fail_with_their_conditions() {
    let mut obs = healthy();
    obs.store.as_mut().unwrap()["status"] = ready(
        "False",
        "InvalidProviderConfig",
        "unable to create session: AccessDenied",
    );
    obs.external_secret.as_mut().unwrap()["status"] = ready(
        "False",
        "SecretSyncedError",
        "could not get secret data from provider: caracal/postgres: not found",
    );
    let checks = run(&obs);
    let store = check(&checks, "store-ready");
    assert_eq!(store.result, Outcome::Error);
    assert!(
        store
            .detail
            .contains("InvalidProviderConfig: unable to create session: AccessDenied")
    );
    let synced = check(&checks, "store-synced");
    assert_eq!(synced.result, Outcome::Error);
    assert!(
        synced.detail.contains("caracal/postgres: not found"),
        "{synced:?}"
    );
    assert!(synced.hint.contains("caracal-deploy seed"), "{synced:?}");
}

#[test]
fn the_runtime_secret_needs_its_owner_and_every_required_key_the_release_mounts() {
    let mut obs = healthy();
    // The hook (migration Job) mounts postgresPassword: a key of hooks counts too.
    obs.runtime
        .as_mut()
        .unwrap()
        .keys
        .remove("postgresPassword");
    let c = check(&run(&obs), "store-runtime-secret").clone();
    assert_eq!(c.result, Outcome::Error);
    assert_eq!(
        c.detail,
        "missing keys the release mounts: postgresPassword"
    );
    // An optional key not produced is not missing.
    assert!(!c.detail.contains("notProduced"));

    let mut obs = healthy();
    obs.runtime.as_mut().unwrap().owners.clear();
    let c = check(&run(&obs), "store-runtime-secret").clone();
    assert_eq!(c.result, Outcome::Error);
    assert!(
        c.detail.contains("not owned by the ExternalSecret"),
        "{c:?}"
    );
    assert!(c.hint.contains("delete secret caracal-runtime"), "{c:?}");
}

#[test]
fn a_failed_migration_and_a_crash_loop_name_their_reasons() {
    let mut obs = healthy();
    obs.release.as_mut().unwrap().hooks[0].phase = "Failed".into();
    obs.jobs = vec![json!({
        "metadata": { "name": "caracal-caracal-migrate" },
        "status": { "conditions": [ { "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                      "message": "Job has reached the specified backoff limit" } ] },
    })];
    obs.deployments[0]["status"]["readyReplicas"] = json!(1);
    obs.pods = vec![json!({
        "metadata": { "name": "caracal-caracal-api-7d9f-abcde",
                      "labels": { "app.kubernetes.io/component": "api" } },
        "spec": { "containers": [ { "name": "api", "image": "x" } ] },
        "status": { "phase": "Running", "containerStatuses": [ {
            "name": "api", "ready": false, "restartCount": 5, "image": "x", "imageID": "",
            "state": { "waiting": { "reason": "CrashLoopBackOff" } },
            "lastState": { "terminated": { "exitCode": 1, "reason": "Error" } } } ] },
    })];
    let checks = run(&obs);
    let m = check(&checks, "release-migrations");
    assert_eq!(m.result, Outcome::Error);
    assert!(
        m.detail
            .starts_with("caracal-caracal-migrate: BackoffLimitExceeded: Job has reached"),
        "{m:?}"
    );
    assert!(m.hint.contains("logs job/caracal-caracal-migrate"), "{m:?}");
    let w = check(&checks, "release-workloads");
    assert_eq!(w.result, Outcome::Error);
    assert_eq!(
        w.detail,
        "Deployment/caracal-caracal-api 1/2 ready; pod caracal-caracal-api-7d9f-abcde: api: \
         CrashLoopBackOff; last exit 1 Error, 5 restarts"
    );
}

#[test]
fn a_release_that_is_not_deployed_says_how_to_clear_it() {
    let mut obs = healthy();
    obs.release.as_mut().unwrap().status = "pending-upgrade".into();
    let c = check(&run(&obs), "release-deployed").clone();
    assert_eq!(c.result, Outcome::Error);
    assert!(c.hint.contains("--recover"), "{c:?}");
    obs.release = None;
    let checks = run(&obs);
    assert_eq!(check(&checks, "release-deployed").result, Outcome::Error);
    assert_eq!(check(&checks, "release-workloads").result, Outcome::Skipped);
}

#[test]
fn a_secret_value_is_found_as_is_embedded_base64_or_percent_encoded_and_never_shown() {
    let cases = [
        (
            json!({ "token": ADMIN_TOKEN }),
            "data.token",
            "adminToken",
            "as is",
        ),
        (
            json!({ "app.env": format!("LOG=debug\nADMIN_TOKEN={ADMIN_TOKEN}\n") }),
            "data.app.env",
            "adminToken",
            "as is",
        ),
        (
            json!({ "t": base64::engine::general_purpose::STANDARD.encode(ADMIN_TOKEN) }),
            "data.t",
            "adminToken",
            "base64-encoded",
        ),
        (
            // Inside a longer base64 text (an env file encoded whole): found by decoding it.
            json!({ "env": base64::engine::general_purpose::STANDARD
                .encode(format!("export ADMIN_TOKEN={ADMIN_TOKEN}\n")) }),
            "data.env",
            "adminToken",
            "base64-encoded",
        ),
        (
            json!({ "url": "postgres://caracal:p%40ss%20word%2Fwith%3Asymbols%26more@db:5432/caracal" }),
            "data.url",
            "postgresPassword",
            "percent-encoded",
        ),
    ];
    for (data, field, key, how) in cases {
        let mut obs = healthy();
        obs.config_maps = vec![json!({ "metadata": { "name": "planted" }, "data": data })];
        let c = check(&run(&obs), "release-no-plaintext").clone();
        assert_eq!(c.result, Outcome::Error, "{field}");
        assert_eq!(
            c.detail,
            format!("ConfigMap/planted {field} holds caracal-runtime's `{key}` ({how})")
        );
        let shown = format!("{} {} {}", c.description, c.detail, c.hint);
        assert!(
            !shown.contains(ADMIN_TOKEN) && !shown.contains("p@ss"),
            "{shown}"
        );
    }
    // A pod's literal env, and the release's values.
    let mut obs = healthy();
    obs.pods = vec![
        json!({ "metadata": { "name": "debug" }, "spec": { "containers": [
        { "name": "sh", "env": [ { "name": "TOKEN", "value": ADMIN_TOKEN } ] } ] } }),
    ];
    obs.release.as_mut().unwrap().values["extra"] = json!({ "bearer": ADMIN_TOKEN });
    let c = check(&run(&obs), "release-no-plaintext").clone();
    assert_eq!(
        c.detail,
        "Pod/debug container sh env TOKEN holds caracal-runtime's `adminToken` (as is); \
         the release values extra.bearer holds caracal-runtime's `adminToken` (as is)"
    );
    // A short value (a database number) is not looked for: it would match by chance.
    let mut obs = healthy();
    obs.config_maps = vec![json!({ "metadata": { "name": "c" }, "data": { "db": "0" } })];
    let c = check(&run(&obs), "release-no-plaintext").clone();
    assert_eq!(c.result, Outcome::Success);
    assert!(
        c.detail
            .contains("1 shorter than 8 characters not looked for"),
        "{c:?}"
    );
}

#[test]
fn a_certificate_not_ready_is_walked_to_its_challenge() {
    let mut obs = healthy();
    // Written by the controller with Issuing before Ready: Ready is shown first anyway.
    obs.certificates[0]["status"] = json!({ "conditions": [
        { "type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "Issuing certificate as Secret does not exist" },
        { "type": "Ready", "status": "False", "reason": "Issuing", "message": "Issuing certificate as Secret does not exist" },
    ] });
    obs.certificate_requests = vec![
        json!({
            "metadata": { "name": "caracal-api-tls-1", "uid": "cr-uid",
                          "ownerReferences": [ { "kind": "Certificate", "name": "caracal-api-tls", "uid": "cert-uid" } ] },
            "status": ready("False", "Pending", "Waiting on certificate issuance from order caracal-api-tls-1-1"),
        }),
        json!({
            "metadata": { "name": "another-cert-1", "uid": "other-uid",
                          "ownerReferences": [ { "kind": "Certificate", "name": "another", "uid": "another-uid" } ] },
            "status": ready("False", "Denied", "of another certificate"),
        }),
    ];
    obs.orders = vec![json!({
        "metadata": { "name": "caracal-api-tls-1-1", "uid": "order-uid",
                      "ownerReferences": [ { "kind": "CertificateRequest", "uid": "cr-uid" } ] },
        "status": { "state": "pending" },
    })];
    obs.challenges = vec![json!({
        "metadata": { "name": "caracal-api-tls-1-1-99", "uid": "ch-uid",
                      "ownerReferences": [ { "kind": "Order", "uid": "order-uid" } ] },
        "spec": { "type": "HTTP-01", "dnsName": "api.example.com" },
        "status": { "state": "pending", "reason": "Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'" },
    })];
    obs.events = vec![json!({
        "involvedObject": { "uid": "ch-uid" }, "reason": "PresentError", "message": "ingress not admitted\n",
    })];
    let c = check(&run(&obs), "tls-certificates").clone();
    assert_eq!(c.result, Outcome::Error);
    for part in [
        "Certificate/caracal-api-tls: Ready=False Issuing: Issuing certificate as Secret does not exist",
        "CertificateRequest/caracal-api-tls-1: Ready=False Pending",
        "Order/caracal-api-tls-1-1: pending",
        "Challenge/caracal-api-tls-1-1-99 (HTTP-01 api.example.com): pending Waiting for HTTP-01 challenge propagation: wrong status code '404'",
        "event PresentError: ingress not admitted",
    ] {
        assert!(c.detail.contains(part), "{part}\n{}", c.detail);
    }
    assert!(c.hint.contains("letsencrypt-prod"), "{c:?}");
    assert!(
        !c.detail.contains("another"),
        "only its own requests: {}",
        c.detail
    );

    let mut obs = healthy();
    obs.certificates.clear();
    let c = check(&run(&obs), "tls-certificates").clone();
    assert_eq!(
        c.detail,
        "Ingress/caracal-caracal-api: no Certificate writes its Secret caracal-api-tls"
    );
    let mut obs = healthy();
    obs.unserved
        .insert(Kind::Certificate, "install cert-manager".into());
    let c = check(&run(&obs), "tls-certificates").clone();
    assert_eq!(
        (c.result, c.fix()),
        (Outcome::Error, "install cert-manager")
    );
}

#[test]
fn the_network_policy_is_read_as_the_api_server_would_enforce_it() {
    // The load balancer's rule gone: its traffic is dropped on every exposed port.
    let mut obs = healthy();
    let rules = obs.network_policies[0]["spec"]["ingress"]
        .as_array_mut()
        .unwrap();
    rules.retain(|r| r["from"][0].get("ipBlock").is_none());
    let checks = run(&obs);
    let c = check(&checks, "network-ingress-source");
    assert_eq!(c.result, Outcome::Error);
    assert!(
        c.detail.contains(
            "does not admit 10.0.0.0/16 to sts (8080), gateway (8081), api (3000), web (3002)"
        ),
        "{c:?}"
    );
    assert_eq!(
        check(&checks, "network-dns-egress").result,
        Outcome::Success
    );

    // A narrower block than the load balancer's range admits only part of it: refused.
    let mut obs = healthy();
    for r in obs.network_policies[0]["spec"]["ingress"]
        .as_array_mut()
        .unwrap()
    {
        if let Some(b) = r["from"][0].get_mut("ipBlock") {
            b["cidr"] = json!("10.0.1.0/24");
        }
    }
    assert_eq!(
        check(&run(&obs), "network-ingress-source").result,
        Outcome::Error
    );

    // DNS: the rule to the cluster DNS gone.
    let mut obs = healthy();
    obs.network_policies[0]["spec"]["egress"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    let c = check(&run(&obs), "network-dns-egress").clone();
    assert_eq!(c.result, Outcome::Error);
    assert!(c.detail.contains("UDP 53 to 10.0.0.10/32"), "{c:?}");

    // State egress: only the port rules to Postgres and Redis admit it; remove both.
    let mut obs = healthy();
    obs.network_policies[0]["spec"]["egress"]
        .as_array_mut()
        .unwrap()
        .retain(|r| {
            !r["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["port"] == 5432))
        });
    let c = check(&run(&obs), "network-state-egress").clone();
    assert_eq!(c.result, Outcome::Error);
    assert!(
        c.detail
            .contains("Postgres (TCP 5432) at 10.20.0.0/16, Redis (TCP 6379) at 10.20.0.0/16"),
        "{c:?}"
    );

    // No Egress in policyTypes: egress is not restricted at all.
    let mut obs = healthy();
    obs.network_policies[0]["spec"]["policyTypes"] = json!(["Ingress"]);
    obs.network_policies[0]["spec"]["egress"] = json!([]);
    assert_eq!(
        check(&run(&obs), "network-dns-egress").result,
        Outcome::Success
    );
}

#[test]
fn an_in_cluster_controller_source_is_matched_by_namespace_and_pod_labels() {
    let mut a = answers();
    a.network.load_balancer_cidrs.clear();
    a.network.ingress_controller = Some(crate::core::answers::IngressController {
        namespace: "ingress-nginx".into(),
        pod_labels: [(
            "app.kubernetes.io/name".to_string(),
            "ingress-nginx".to_string(),
        )]
        .into(),
    });
    let mut obs = healthy();
    let peer = |ns: &str, app: &str| {
        json!([ { "from": [ { "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": ns } },
                              "podSelector": { "matchLabels": { "app.kubernetes.io/name": app } } } ],
                  "ports": [ { "port": 8080 }, { "port": 8081 }, { "port": 3000 }, { "port": 3002 } ] } ])
    };
    obs.network_policies[0]["spec"]["ingress"] = peer("ingress-nginx", "ingress-nginx");
    let c = evaluate(&a, &obs, false);
    assert_eq!(check(&c, "network-ingress-source").result, Outcome::Success);
    obs.network_policies[0]["spec"]["ingress"] = peer("kube-system", "ingress-nginx");
    let c = evaluate(&a, &obs, false);
    let c = check(&c, "network-ingress-source");
    assert_eq!(c.result, Outcome::Error);
    assert!(
        c.detail.contains("pods of namespace ingress-nginx"),
        "{c:?}"
    );
}

#[test]
fn cidr_containment() {
    assert!(contains("10.0.0.0/16", "10.0.0.0/16"));
    assert!(contains("10.0.0.0/8", "10.20.0.0/16"));
    assert!(contains("0.0.0.0/0", "192.168.1.1/32"));
    assert!(!contains("10.0.1.0/24", "10.0.0.0/16"));
    assert!(
        !contains("10.0.0.0/24", "10.0.0.0/16"),
        "a wider range is not inside"
    );
    assert!(!contains("10.1.0.0/16", "10.0.0.0/16"));
    assert!(contains("10.0.0.10/32", "10.0.0.10"));
    assert!(contains("fd00::/8", "fd12:3456::/32"));
    assert!(!contains("10.0.0.0/8", "fd00::/8"));
    assert!(!contains("nonsense", "10.0.0.0/8"));
    // An `except` block inside the range removes it.
    let peers = json!([ { "ipBlock": { "cidr": "10.0.0.0/8", "except": ["10.0.0.0/16"] } } ]);
    assert!(!peers_admit_cidr(Some(&peers), "10.0.0.0/16"));
    assert!(peers_admit_cidr(Some(&peers), "10.1.0.0/16"));
}

#[test]
fn unauthenticated_scraping_is_reported_with_the_fix() {
    let mut obs = healthy();
    obs.service_monitors[0]["spec"]["endpoints"][0]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let c = check(&run(&obs), "monitoring-auth").clone();
    assert_eq!(c.result, Outcome::Warning);
    assert!(c.detail.contains("caracal-caracal-api send none"), "{c:?}");
    assert!(
        c.hint
            .contains("credentials: {name: caracal-runtime, key: metricsBearer}"),
        "{c:?}"
    );
    obs.service_monitors.clear();
    let c = check(&run(&obs), "monitoring-objects").clone();
    assert_eq!(c.result, Outcome::Error);
    assert_eq!(c.detail, "not found: ServiceMonitor/caracal-caracal-api");
}

#[test]
fn a_stale_watch_is_never_green() {
    let mut obs = healthy();
    obs.stale
        .insert(Kind::NetworkPolicy, "lost: connection refused".into());
    let live = run(&obs);
    let c = check(&live, "network-dns-egress");
    assert_eq!(c.result, Outcome::Skipped);
    assert_eq!(
        c.detail,
        "reconnecting: watching NetworkPolicy (lost: connection refused)"
    );
    // Checks that do not read it are unaffected.
    assert_eq!(check(&live, "store-ready").result, Outcome::Success);
    // The report a command ends with: an error.
    let last = evaluate(&answers(), &obs, true);
    let c = check(&last, "network-dns-egress");
    assert_eq!(c.result, Outcome::Error);
    assert!(
        c.detail.starts_with("could not watch NetworkPolicy"),
        "{c:?}"
    );
}
