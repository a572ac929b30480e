//! Validation of every answers field, good and bad, through the public parser.

use std::sync::LazyLock;

use caracal_deploy::core::answers::{Answers, SecretSource};
use caracal_deploy::core::cloud::Cloud;
use caracal_deploy::core::problem::Problem;

const BASE: &str = r#"
cloud: aws
namespace: caracal
release: caracal
chart: { ref: oci://ghcr.io/garudex-labs/charts/caracal, version: 1.0.0 }
secretManager: { region: us-east-1, prefix: caracal }
identity: { roleArn: "arn:aws:iam::123456789012:role/caracal" }
postgres: { host: db.example.internal, port: 5432, database: caracal, authDatabase: caracal_auth, username: caracal, password: prompt }
redis: { host: cache.example.internal, port: 6379, database: 0, password: prompt }
ingress:
  className: nginx
  clusterIssuer: letsencrypt-prod
  hosts: { sts: sts.example.com, gateway: gateway.example.com, api: api.example.com, web: console.example.com }
network:
  dnsEgress: [10.0.0.10/32]
  stateEgress: [10.20.0.0/16]
  ingressController: { namespace: ingress-nginx, podLabels: { app.kubernetes.io/name: ingress-nginx } }
storageClass: gp3
"#;

fn base() -> serde_json::Value {
    serde_saphyr::from_str(BASE).unwrap()
}

/// Sets a dotted path (creating mappings) to a YAML value, or removes it when `value` is None.
fn with(path: &str, value: Option<&str>) -> serde_json::Value {
    let mut doc = base();
    let parts: Vec<&str> = path.split('.').collect();
    let mut node = &mut doc;
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert(serde_json::json!({}));
    }
    let last = parts[parts.len() - 1];
    match value {
        Some(v) => {
            let parsed: serde_json::Value = serde_saphyr::from_str(v).unwrap();
            node.as_object_mut().unwrap().insert(last.into(), parsed);
        }
        None => {
            node.as_object_mut().unwrap().remove(last);
        }
    }
    doc
}

fn problems(doc: &serde_json::Value) -> Vec<Problem> {
    match Answers::from_value(doc) {
        Ok(_) => vec![],
        Err(p) => p,
    }
}

/// The published JSON Schema, read by an independent validator: it must accept every file
/// the reader accepts, and reject what it can express of what the reader rejects.
static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/answers.schema.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap()
});

fn schema_accepts(doc: &serde_json::Value) -> bool {
    SCHEMA.is_valid(doc)
}

#[track_caller]
fn accepts(path: &str, values: &[&str]) {
    for v in values {
        let doc = with(path, Some(v));
        let p = problems(&doc);
        assert!(p.is_empty(), "{path}={v} should be valid, got {p:?}");
        assert!(
            schema_accepts(&doc),
            "{path}={v} is valid but schema/answers.schema.json rejects it"
        );
    }
}

#[track_caller]
fn rejects(path: &str, values: &[&str]) {
    for v in values {
        let p = problems(&with(path, Some(v)));
        assert_eq!(
            p.len(),
            1,
            "{path}={v} should give exactly one problem, got {p:?}"
        );
        assert!(
            p[0].path.starts_with(path),
            "{path}={v}: problem names {:?}",
            p[0].path
        );
        assert!(!p[0].fix.is_empty(), "{path}={v}: no fix given");
        if !schema_accepts(&with(path, Some(v))) {
            continue;
        }
        assert!(
            BEYOND_THE_SCHEMA.contains(&(path, *v)),
            "{path}={v} is refused by the reader but accepted by the JSON Schema; tighten the \
             field's syntax in src/core/schema.rs, or list it in BEYOND_THE_SCHEMA"
        );
    }
}

/// Mistakes a regular expression cannot catch (value ranges inside text, a catalog per chart
/// version, relations between fields): only the reader refuses them.
const BEYOND_THE_SCHEMA: &[(&str, &str)] = &[
    ("postgres.authDatabase", "caracal"),
    ("ingress.hosts.sts", "console.example.com"),
];

#[test]
fn base_is_valid_and_round_trips() {
    let a = Answers::from_value(&base()).unwrap();
    assert_eq!(a.cloud, Cloud::Aws);
    assert_eq!(a.postgres.password, SecretSource::Prompt);
    let again = Answers::from_yaml(&a.to_yaml()).unwrap();
    assert_eq!(a, again);
}

#[test]
fn examples_are_valid() {
    for cloud in ["aws", "gcp", "azure"] {
        let text = std::fs::read_to_string(format!(
            "{}/examples/answers-{cloud}.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let a = Answers::from_yaml(&text).unwrap_or_else(|p| panic!("{cloud}: {p:?}"));
        assert_eq!(a.cloud.as_str(), cloud);
        assert_eq!(
            Answers::from_yaml(&a.to_yaml()).unwrap(),
            a,
            "{cloud} round trip"
        );
    }
}

#[test]
fn top_level_fields() {
    accepts("cloud", &["aws"]);
    rejects("cloud", &["amazon", "AWS", "3"]);
    accepts("namespace", &["caracal", "caracal-prod"]);
    rejects(
        "namespace",
        &["Caracal", "caracal_prod", "-x", &"a".repeat(64)],
    );
    accepts("release", &["caracal", &"r".repeat(36)]);
    rejects("release", &["1caracal", "Caracal", &"r".repeat(37)]);
    accepts("storageClass", &["gp3", "premium-rwo"]);
    rejects("storageClass", &["GP3", "gp_3"]);
    accepts(
        "kubeContext",
        &[
            "prod-eks",
            "arn:aws:eks:us-east-1:123456789012:cluster/prod",
        ],
    );
    rejects("kubeContext", &["''", "[a, b]"]);
    accepts("kekRotation", &["true", "false"]);
    rejects("kekRotation", &["yes please"]);
}

#[test]
fn chart_fields() {
    accepts(
        "chart.ref",
        &[
            "oci://ghcr.io/garudex-labs/charts/caracal",
            "caracal/caracal",
            "./charts/caracal",
        ],
    );
    rejects(
        "chart.ref",
        &[
            "oci://ghcr.io",
            "oci://ghcr.io/garudex-labs/charts/caracal:1.0.0",
            "https://example.com/caracal.tgz",
        ],
    );
    accepts("chart.version", &["1.0.0"]);
    rejects("chart.version", &["1.0", "latest", "2.0.0"]);
}

#[test]
fn secret_manager_fields() {
    accepts(
        "secretManager.region",
        &["eu-west-1", "ap-southeast-2", "us-gov-west-1"],
    );
    rejects(
        "secretManager.region",
        &["us-east", "virginia", "us-east-1a"],
    );
    accepts("secretManager.prefix", &["caracal", "caracal-prod"]);
    rejects("secretManager.prefix", &["caracal/", "cara_cal", "''"]);
    accepts(
        "secretManager.endpoint",
        &[
            "https://vpce-123.secretsmanager.us-east-1.vpce.amazonaws.com",
            "http://127.0.0.1:4566",
        ],
    );
    rejects(
        "secretManager.endpoint",
        &["http://secretsmanager.example.com", "ftp://x"],
    );
    // A field of another cloud is named as such.
    let p = problems(&with(
        "secretManager.vaultUrl",
        Some("https://caracal-prod.vault.azure.net"),
    ));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "secretManager.vaultUrl");
    assert!(p[0].fix.contains("cloud azure"), "{p:?}");
}

#[test]
fn identity_fields() {
    accepts(
        "identity.roleArn",
        &[
            "arn:aws:iam::123456789012:role/caracal",
            "arn:aws:iam::123456789012:role/eks/caracal-runtime",
        ],
    );
    rejects(
        "identity.roleArn",
        &[
            "arn:aws:iam::123:role/caracal",
            "arn:aws:iam::123456789012:user/caracal",
            "caracal",
        ],
    );
    let p = problems(&with("identity", None));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "identity.roleArn");
    assert!(p[0].message.contains("required"));
}

fn gcp() -> serde_json::Value {
    let mut doc = base();
    doc["cloud"] = "gcp".into();
    doc["secretManager"] = serde_json::json!({ "project": "my-project" });
    doc["identity"] = serde_json::json!({
        "serviceAccount": "caracal@my-project.iam.gserviceaccount.com",
        "clusterLocation": "us-central1",
        "clusterName": "caracal-prod",
    });
    doc
}

fn azure() -> serde_json::Value {
    let mut doc = base();
    doc["cloud"] = "azure".into();
    doc["secretManager"] =
        serde_json::json!({ "vaultUrl": "https://caracal-prod.vault.azure.net" });
    doc["identity"] = serde_json::json!({
        "clientId": "00000000-0000-0000-0000-000000000000",
        "tenantId": "00000000-0000-4000-8000-00000000ca1a",
    });
    doc
}

#[track_caller]
fn check_in(doc: &serde_json::Value, section: &str, key: &str, good: &[&str], bad: &[&str]) {
    let path = format!("{section}.{key}");
    for v in good {
        let mut d = doc.clone();
        d[section][key] = (*v).into();
        assert!(problems(&d).is_empty(), "{path}={v}: {:?}", problems(&d));
        assert!(schema_accepts(&d), "{path}={v}: the JSON Schema rejects it");
    }
    for v in bad {
        let mut d = doc.clone();
        d[section][key] = (*v).into();
        let p = problems(&d);
        assert_eq!(p.len(), 1, "{path}={v}: {p:?}");
        assert_eq!(p[0].path, path);
        assert!(
            !schema_accepts(&d) || BEYOND_THE_SCHEMA.contains(&(path.as_str(), *v)),
            "{path}={v} is refused by the reader but accepted by the JSON Schema"
        );
    }
}

#[test]
fn gcp_fields() {
    let doc = gcp();
    assert!(problems(&doc).is_empty(), "{:?}", problems(&doc));
    check_in(
        &doc,
        "secretManager",
        "project",
        &["my-project", "caracal-prod-42"],
        &["My-Project", "abc", "123456789012"],
    );
    check_in(
        &doc,
        "identity",
        "serviceAccount",
        &["caracal@my-project.iam.gserviceaccount.com"],
        &["caracal@gmail.com", "caracal"],
    );
    check_in(
        &doc,
        "identity",
        "clusterLocation",
        &["us-central1", "europe-west4-a"],
        &["central", "us_central1"],
    );
    check_in(
        &doc,
        "identity",
        "clusterName",
        &["caracal-prod"],
        &["Caracal", "9lives"],
    );
    let mut d = doc.clone();
    d["identity"]["roleArn"] = "arn:aws:iam::123456789012:role/caracal".into();
    let p = problems(&d);
    assert_eq!(p.len(), 1);
    assert!(p[0].fix.contains("cloud aws"));
}

#[test]
fn azure_fields() {
    let doc = azure();
    assert!(problems(&doc).is_empty(), "{:?}", problems(&doc));
    check_in(
        &doc,
        "secretManager",
        "vaultUrl",
        &[
            "https://caracal-prod.vault.azure.net",
            "https://caracal-prod.vault.azure.net/",
            "https://kv-caracal.privatelink.vaultcore.azure.net",
        ],
        &[
            "http://caracal-prod.vault.azure.net",
            "caracal-prod.vault.azure.net",
            "https://x.vault.azure.net",
            "https://caracal-prod.vault.azure.net/secrets/x",
        ],
    );
    check_in(
        &doc,
        "identity",
        "clientId",
        &["6f1c3a2b-9d4e-4f5a-8b7c-0123456789ab"],
        &["client", "6f1c3a2b9d4e4f5a8b7c0123456789ab"],
    );
    // The store needs the tenant: External Secrets v0.16.2 fails without it.
    check_in(
        &doc,
        "identity",
        "tenantId",
        &["6f1c3a2b-9d4e-4f5a-8b7c-0123456789ab"],
        &["contoso.onmicrosoft.com", "tenant"],
    );
    let mut d = doc.clone();
    d["identity"].as_object_mut().unwrap().remove("tenantId");
    let p = problems(&d);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "identity.tenantId");
    assert!(p[0].message.contains("required") && p[0].fix.contains("GUID"));
    assert!(
        !schema_accepts(&d),
        "the JSON Schema must require tenantId on azure"
    );
}

#[test]
fn gcp_cluster_project() {
    let doc = gcp();
    check_in(
        &doc,
        "identity",
        "clusterProject",
        &["shared-clusters", "caracal-prod-42"],
        &["Shared", "123456789012"],
    );
    let mut d = base();
    d["identity"]["clusterProject"] = "shared-clusters".into();
    let p = problems(&d);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].fix.contains("cloud gcp"));
}

#[test]
fn runtime_identity_fields() {
    let with_runtime = |doc: &serde_json::Value, key: &str, id: &str| {
        let mut d = doc.clone();
        d["runtimeIdentity"] = serde_json::json!({ key: id, "egress": ["10.0.64.0/24"] });
        d
    };
    let aws = with_runtime(
        &base(),
        "roleArn",
        "arn:aws:iam::123456789012:role/caracal-runtime",
    );
    check_in(
        &aws,
        "runtimeIdentity",
        "roleArn",
        &["arn:aws:iam::123456789012:role/caracal-runtime"],
        &["caracal-runtime"],
    );
    let mut d = aws.clone();
    d["runtimeIdentity"]["egress"] = serde_json::json!(["10.0.64.1/24"]);
    assert_eq!(problems(&d)[0].path, "runtimeIdentity.egress[0]");
    let gcp = with_runtime(
        &gcp(),
        "serviceAccount",
        "caracal-runtime@my-project.iam.gserviceaccount.com",
    );
    check_in(
        &gcp,
        "runtimeIdentity",
        "serviceAccount",
        &["caracal-runtime@my-project.iam.gserviceaccount.com"],
        &["caracal-runtime"],
    );
    let azure = with_runtime(&azure(), "clientId", "11111111-1111-4111-8111-111111111111");
    check_in(
        &azure,
        "runtimeIdentity",
        "clientId",
        &["11111111-1111-4111-8111-111111111111"],
        &["runtime"],
    );
    // Another cloud's runtime field is refused by both.
    let mut d = aws.clone();
    d["runtimeIdentity"]["clientId"] = "11111111-1111-4111-8111-111111111111".into();
    assert_eq!(problems(&d).len(), 1);
    assert!(!schema_accepts(&d));
    // The identity without egress, and egress without the identity: refused by the reader.
    for key in ["egress", "roleArn"] {
        let mut d = aws.clone();
        d["runtimeIdentity"].as_object_mut().unwrap().remove(key);
        let p = problems(&d);
        assert_eq!(p.len(), 1, "{key}: {p:?}");
        assert_eq!(p[0].path, "runtimeIdentity.egress");
    }
    // Without one, nothing: Caracal's pods carry no cloud identity.
    let a = Answers::from_value(&base()).unwrap();
    assert!(a.runtime_identity.is_none());
    let a = Answers::from_value(&aws).unwrap();
    assert_eq!(a.runtime_identity.unwrap().egress, ["10.0.64.0/24"]);
}

#[test]
fn postgres_and_redis_fields() {
    accepts(
        "postgres.host",
        &[
            "db.example.internal",
            "10.20.0.3",
            "caracal.cluster-x.us-east-1.rds.amazonaws.com",
        ],
    );
    rejects(
        "postgres.host",
        &["postgres://db.example.internal", "db.example.internal:5432"],
    );
    accepts("postgres.port", &["1", "5432", "65535"]);
    rejects("postgres.port", &["0", "65536", "-1", "abc"]);
    accepts("postgres.database", &["caracal", "caracal_v2"]);
    rejects("postgres.database", &["cara-cal", "1db"]);
    rejects("postgres.authDatabase", &["caracal"]);
    rejects("postgres.username", &["cara cal"]);
    accepts(
        "postgres.password",
        &[
            "prompt",
            "generate",
            "env:PG_PASSWORD",
            "file:/run/secrets/pg",
        ],
    );
    rejects(
        "postgres.password",
        &["hunter2", "env:", "env:1BAD", "file:", "1234"],
    );
    accepts("postgres.sslMode", &["require", "verify-full"]);
    rejects("postgres.sslMode", &["disable", "prefer"]);
    accepts("redis.port", &["6380"]);
    rejects("redis.port", &["0", "70000"]);
    accepts("redis.database", &["0", "15"]);
    rejects("redis.database", &["16", "-1", "zero"]);
    accepts("redis.tls", &["false"]);
    rejects("redis.tls", &["'sometimes'"]);
    rejects("redis.host", &["redis://cache"]);
    rejects("redis.password", &["s3cr3t-value"]);
}

#[test]
fn ingress_fields() {
    accepts("ingress.hosts.web", &["console.example.com"]);
    rejects(
        "ingress.hosts.web",
        &[
            "https://console.example.com",
            "console",
            "'*.example.com'",
            "console.example.com:443",
            "10.0.0.1",
        ],
    );
    accepts("ingress.hosts.sts", &["sts.caracal.example.co.uk"]);
    rejects("ingress.hosts.sts", &["console.example.com"]); // duplicate of web
    accepts(
        "ingress.className",
        &["nginx", "webapprouting.kubernetes.azure.com"],
    );
    rejects("ingress.className", &["Nginx"]);
    rejects("ingress.clusterIssuer", &["Lets Encrypt"]);
    let p = problems(&with("ingress.hosts.web", None));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "ingress.hosts.web");
    // Services without a host stay private.
    let mut doc = base();
    doc["ingress"]["hosts"]
        .as_object_mut()
        .unwrap()
        .remove("api");
    let a = Answers::from_value(&doc).unwrap();
    assert!(a.ingress.hosts.api.is_none());
}

#[test]
fn network_fields() {
    accepts(
        "network.dnsEgress",
        &["[10.0.0.10/32, 172.20.0.10/32]", "['fd00::a/128']"],
    );
    let p = problems(&with(
        "network.dnsEgress",
        Some("[10.0.0.10/32, 10.0.0.1/16]"),
    ));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "network.dnsEgress[1]");
    assert!(p[0].fix.contains("10.0.0.0/16"));
    rejects("network.dnsEgress", &["[]", "10.0.0.10/32", "[10.0.0.10]"]);
    rejects("network.stateEgress", &["[10.20.0.0/33]"]);
    accepts("network.ingressController.namespace", &["ingress-nginx"]);
    rejects("network.ingressController.namespace", &["Ingress"]);
    accepts(
        "network.ingressController.podLabels",
        &["{app: nginx}", "{}"],
    );
    rejects(
        "network.ingressController.podLabels",
        &["{'bad key!': x}", "{app: '-x'}", "[a]"],
    );
}

#[test]
fn the_load_balancer_source_follows_the_ingress_class() {
    let mut alb = base();
    alb["ingress"]["className"] = "alb".into();
    // A pod selector for an ALB: its traffic does not come from a pod.
    let p = problems(&alb);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "network.ingressController");
    assert!(p[0].fix.contains("network.loadBalancerCidrs"), "{p:?}");
    alb["network"]
        .as_object_mut()
        .unwrap()
        .remove("ingressController");
    let p = problems(&alb);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "network.loadBalancerCidrs");
    alb["network"]["loadBalancerCidrs"] = serde_json::json!(["10.60.0.0/16"]);
    assert!(problems(&alb).is_empty(), "{:?}", problems(&alb));
    assert!(schema_accepts(&alb));
    alb["network"]["loadBalancerCidrs"] = serde_json::json!(["10.60.0.1/16"]);
    assert_eq!(problems(&alb)[0].path, "network.loadBalancerCidrs[0]");
    // gce: Google's ranges by default; nginx with CIDRs is refused.
    let mut gce = base();
    gce["ingress"]["className"] = "gce".into();
    gce["network"]
        .as_object_mut()
        .unwrap()
        .remove("ingressController");
    assert!(problems(&gce).is_empty(), "{:?}", problems(&gce));
    let mut nginx = base();
    nginx["network"]["loadBalancerCidrs"] = serde_json::json!(["10.60.0.0/16"]);
    let p = problems(&nginx);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "network.loadBalancerCidrs");
    // A class this build does not know: one source or the other must be named.
    let mut other = base();
    other["ingress"]["className"] = "haproxy".into();
    assert!(problems(&other).is_empty());
    other["network"]
        .as_object_mut()
        .unwrap()
        .remove("ingressController");
    let p = problems(&other);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].fix.contains("loadBalancerCidrs"));
}

#[test]
fn secret_sources_of_catalog_keys() {
    accepts(
        "secrets.admin-token",
        &["env:CARACAL_ADMIN_TOKEN", "file:/run/token", "generate"],
    );
    rejects("secrets.admin-token", &["0123456789abcdef"]);
    rejects("secrets.admin-tokn", &["generate"]);
    let p = problems(&with("secrets.admin-tokn", Some("generate")));
    assert!(p[0].fix.contains("admin-token"), "{p:?}");
    rejects("secrets.postgres", &["generate"]);
    let a = Answers::from_value(&with("secrets.metrics-bearer", Some("env:MB"))).unwrap();
    assert_eq!(
        a.secret_source("metrics-bearer"),
        SecretSource::Env("MB".into())
    );
    assert_eq!(a.secret_source("admin-token"), SecretSource::Generate);
}

#[test]
fn unknown_fields_are_named_with_a_suggestion() {
    let p = problems(&with("postgres.hots", Some("db")));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "postgres.hots");
    assert!(p[0].fix.contains("`host`"), "{p:?}");
    let p = problems(&with("storageclass", Some("gp3")));
    assert!(p[0].fix.contains("storageClass"), "{p:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut doc = base();
    doc["postgres"]["port"] = 0.into();
    doc["redis"]["database"] = 99.into();
    doc["ingress"]["hosts"]["web"] = "https://console.example.com".into();
    doc["namespace"] = "Caracal".into();
    let p = problems(&doc);
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "namespace",
            "postgres.port",
            "redis.database",
            "ingress.hosts.web"
        ],
        "{p:?}"
    );
    assert_eq!(
        paths,
        [
            "namespace",
            "postgres.port",
            "redis.database",
            "ingress.hosts.web"
        ]
    );
}

#[test]
fn defaults_fill_what_is_left_out() {
    let text = r#"
cloud: azure
secretManager: { vaultUrl: "https://caracal-prod.vault.azure.net" }
identity: { clientId: 00000000-0000-0000-0000-000000000000, tenantId: 00000000-0000-4000-8000-00000000ca1a }
postgres: { host: db.example.internal }
redis: { host: cache.example.internal }
ingress: { clusterIssuer: letsencrypt-prod, hosts: { web: console.example.com } }
network: { dnsEgress: [10.0.0.10/32], stateEgress: [10.20.0.0/16] }
"#;
    let a = Answers::from_yaml(text).unwrap();
    assert_eq!(
        (a.namespace.as_str(), a.release.as_str()),
        ("caracal", "caracal")
    );
    assert_eq!(
        a.chart.reference,
        "oci://ghcr.io/garudex-labs/charts/caracal"
    );
    assert_eq!(a.secret_manager.prefix, "caracal");
    assert_eq!(
        (a.postgres.port, a.redis.port, a.redis.database),
        (5432, 6379, 0)
    );
    assert_eq!(a.postgres.password, SecretSource::Prompt);
    assert!(a.redis.tls);
    assert!(a.storage_class.is_none() && a.ingress.class_name.is_none());
    // No runtime identity; the class's controller (AKS application routing) is the source.
    assert!(a.runtime_identity.is_none());
    assert!(a.network.ingress_controller.is_none() && a.network.load_balancer_cidrs.is_empty());
    assert_eq!(
        caracal_deploy::core::values::ingress_source(&a),
        caracal_deploy::core::values::IngressSource::Pods {
            namespace: "app-routing-system".into(),
            pod_labels: Default::default(),
        }
    );
}

#[test]
fn broken_yaml_is_one_problem() {
    let p = Answers::from_yaml("cloud: [aws\n").unwrap_err();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "(file)");
    let p = Answers::from_yaml("- a\n- b\n").unwrap_err();
    assert_eq!(p[0].path, "(file)");
}
