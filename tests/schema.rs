//! The published JSON Schema (`schema/answers.schema.json`) and the README's reference table
//! are what `core::schema` generates, and an independent validator (the `jsonschema` crate)
//! reading the published file agrees with the reader on real answers files and on mistakes.

mod support;

use std::sync::LazyLock;

use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::schema;
use serde_json::{Value, json};
use support::{first_difference, repo};

const REGENERATE: &str = "CARACAL_UPDATE_GENERATED=1 cargo test --test schema";

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn published_schema_and_readme_reference_are_what_the_code_generates() {
    let want_json = serde_json::to_string_pretty(&schema::json_schema()).unwrap() + "\n";
    let readme = read("README.md");
    let want_readme = schema::with_readme_reference(&readme).unwrap_or_else(|| {
        panic!(
            "README.md lacks the markers {} and {} in \"The answers file\"",
            schema::README_START,
            schema::README_END
        )
    });
    if std::env::var("CARACAL_UPDATE_GENERATED").as_deref() == Ok("1") {
        std::fs::create_dir_all(repo().join("schema")).unwrap();
        std::fs::write(repo().join("schema/answers.schema.json"), &want_json).unwrap();
        std::fs::write(repo().join("README.md"), &want_readme).unwrap();
        return;
    }
    let have_json =
        std::fs::read_to_string(repo().join("schema/answers.schema.json")).unwrap_or_default();
    assert!(
        have_json == want_json,
        "schema/answers.schema.json differs from what src/core/schema.rs generates ({}); run `{REGENERATE}`",
        first_difference(&have_json, &want_json)
    );
    assert!(
        readme == want_readme,
        "README.md's answers reference differs from what src/core/schema.rs generates ({}); run `{REGENERATE}`",
        first_difference(&readme, &want_readme)
    );
}

/// A validator of the published file, itself checked against the 2020-12 meta-schema.
static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(&read("schema/answers.schema.json"))
        .expect("schema/answers.schema.json is JSON");
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("schema/answers.schema.json is not a valid 2020-12 schema: {e}");
    }
    jsonschema::draft202012::new(&schema).expect("the published schema compiles")
});

fn schema_errors(doc: &Value) -> Vec<String> {
    VALIDATOR
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Values a test bed gets for the placeholders of `testbed/answers/*.yaml.tmpl`
/// (testbed/lib/cluster.sh, `write_answers`).
const BED_VALUES: &[(&str, &str)] = &[
    ("@CONTEXT@", "caracal-testbed"),
    (
        "@CHART@",
        "/srv/caracal/shared/fixtures/caracal-chart-1.0.0",
    ),
    ("@GCP_ENDPOINT@", "http://127.0.0.1:37115"),
    ("@AZURE_VAULT_URL@", "https://127.0.0.1:41159"),
    ("@CA_BUNDLE@", "/srv/caracal/.testbed/azure-kv/ca.pem"),
];

/// The three examples and the three test-bed answers, as (name, text).
fn answers_files() -> Vec<(String, String)> {
    let left = regex::Regex::new("@[A-Z_]+@").unwrap();
    let mut out = Vec::new();
    for cloud in ["aws", "gcp", "azure"] {
        let name = format!("examples/answers-{cloud}.yaml");
        out.push((name.clone(), read(&name)));
        let name = format!("testbed/answers/{cloud}.yaml.tmpl");
        let mut text = read(&name);
        for (placeholder, value) in BED_VALUES {
            text = text.replace(placeholder, value);
        }
        assert!(
            !left.is_match(&text),
            "{name} has a placeholder this test does not know: {:?}",
            left.find(&text).map(|m| m.as_str())
        );
        out.push((name, text));
    }
    out
}

#[test]
fn examples_and_bed_answers_validate_against_the_published_schema() {
    for (name, text) in answers_files() {
        let doc = yaml(&text);
        let errors = schema_errors(&doc);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        Answers::from_value(&doc).unwrap_or_else(|p| panic!("{name}: {p:?}"));
    }
}

/// Sets (Some) or removes (None) a dotted path, the value given as YAML.
fn with(doc: &Value, path: &str, value: Option<&str>) -> Value {
    let mut doc = doc.clone();
    let parts: Vec<&str> = path.split('.').collect();
    let mut node = &mut doc;
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert(json!({}));
    }
    let last = parts[parts.len() - 1];
    let map = node.as_object_mut().unwrap();
    match value {
        Some(v) => {
            map.insert(last.into(), yaml(&format!("v: {v}\n"))["v"].clone());
        }
        None => {
            map.remove(last);
        }
    }
    doc
}

fn example(cloud: &str) -> Value {
    yaml(&read(&format!("examples/answers-{cloud}.yaml")))
}

#[test]
fn wrong_types_unknown_fields_and_other_clouds_fields_are_rejected_by_both() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        // wrong types
        ("aws", "postgres.port", Some("\"abc\"")),
        ("aws", "postgres.port", Some("\"5432\"")),
        ("aws", "postgres.port", Some("70000")),
        (
            "aws",
            "ingress.clusterIssuer",
            Some("[letsencrypt-prod, other]"),
        ),
        ("aws", "namespace", Some("{name: caracal}")),
        ("aws", "kubeContext", Some("42")),
        ("aws", "redis.tls", Some("\"sometimes\"")),
        ("aws", "redis.database", Some("16")),
        ("aws", "network.dnsEgress", Some("10.0.0.10/32")),
        ("aws", "network.dnsEgress", Some("[]")),
        ("aws", "network.ingressController.podLabels", Some("[a]")),
        ("aws", "postgres.password", Some("1234")),
        ("aws", "postgres.password", Some("hunter2")),
        ("aws", "cloud", Some("amazon")),
        ("aws", "postgres.sslMode", Some("disable")),
        ("aws", "chart.version", Some("2.0.0")),
        ("aws", "secrets", Some("{postgres: generate}")),
        ("aws", "secrets", Some("{admin-token: 0123456789abcdef}")),
        // unknown fields
        ("aws", "storageclass", Some("gp3")),
        ("gcp", "postgres.hots", Some("db.example.internal")),
        (
            "azure",
            "ingress.hosts.console",
            Some("console.example.com"),
        ),
        // fields of another cloud
        ("aws", "secretManager.project", Some("my-project")),
        (
            "aws",
            "identity.clientId",
            Some("00000000-0000-0000-0000-000000000000"),
        ),
        (
            "gcp",
            "secretManager.vaultUrl",
            Some("https://caracal-prod.vault.azure.net"),
        ),
        (
            "gcp",
            "identity.roleArn",
            Some("arn:aws:iam::123456789012:role/caracal"),
        ),
        ("azure", "secretManager.region", Some("us-east-1")),
        ("azure", "identity.clusterName", Some("caracal-prod")),
        // required fields missing
        ("aws", "secretManager.region", None),
        ("gcp", "identity.clusterLocation", None),
        ("azure", "identity", None),
        ("aws", "postgres.host", None),
        ("aws", "ingress.clusterIssuer", None),
        ("gcp", "cloud", None),
        // syntax the schema states as a pattern
        ("aws", "namespace", Some("Caracal")),
        (
            "aws",
            "ingress.hosts.web",
            Some("https://console.example.com"),
        ),
        ("aws", "ingress.hosts.web", Some("10.0.0.1")),
        ("aws", "chart.ref", Some("https://example.com/caracal.tgz")),
        (
            "aws",
            "chart.ref",
            Some("oci://ghcr.io/garudex-labs/charts/caracal:1.0.0"),
        ),
        (
            "aws",
            "secretManager.endpoint",
            Some("http://secretsmanager.example.com"),
        ),
        (
            "azure",
            "secretManager.vaultUrl",
            Some("http://caracal-prod.vault.azure.net"),
        ),
        ("aws", "network.stateEgress", Some("[10.20.0.0/33]")),
        (
            "aws",
            "network.ingressController.podLabels",
            Some("{app: '-x'}"),
        ),
    ];
    for (cloud, path, value) in cases {
        let doc = with(&example(cloud), path, *value);
        let errors = schema_errors(&doc);
        assert!(
            !errors.is_empty(),
            "{cloud}: {path}={value:?} is accepted by the JSON Schema"
        );
        assert!(
            Answers::from_value(&doc).is_err(),
            "{cloud}: {path}={value:?} is accepted by the reader; the schema says {errors:?}"
        );
    }
}

#[test]
fn what_the_reader_accepts_the_schema_accepts() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("aws", "kubeContext", None),
        ("aws", "kubeContext", Some("")),
        ("aws", "chart", None),
        ("aws", "chart.version", Some("v1.0.0")),
        ("aws", "chart.ref", Some("./charts/caracal")),
        ("aws", "storageClass", Some("")),
        ("aws", "postgres.port", Some("5432.0")),
        ("aws", "postgres.host", Some("fd00::3")),
        (
            "aws",
            "secretManager.endpoint",
            Some("http://127.0.0.1:4566"),
        ),
        (
            "aws",
            "secrets",
            Some("{admin-token: env:ADMIN_TOKEN, metrics-bearer: file:/run/mb}"),
        ),
        ("aws", "kekRotation", Some("true")),
        (
            "azure",
            "network.ingressController.podLabels",
            Some("{azure.workload.identity/use: true, tier: 1}"),
        ),
        ("azure", "network.ingressController.podLabels", None),
        // The class's own source by default: app-routing-system, Google's ranges.
        ("azure", "network.ingressController", None),
        ("gcp", "network.loadBalancerCidrs", None),
        ("aws", "runtimeIdentity", None),
        ("gcp", "identity.clusterProject", None),
        ("aws", "ingress.hosts.api", None),
        ("aws", "ingress.className", None),
        (
            "azure",
            "secretManager.vaultUrl",
            Some("https://caracal-prod.vault.azure.net/"),
        ),
        ("gcp", "secretManager.prefix", None),
    ];
    for (cloud, path, value) in cases {
        let doc = with(&example(cloud), path, *value);
        Answers::from_value(&doc)
            .unwrap_or_else(|p| panic!("{cloud}: {path}={value:?}: the reader says {p:?}"));
        let errors = schema_errors(&doc);
        assert!(
            errors.is_empty(),
            "{cloud}: {path}={value:?} is valid but the schema says {errors:?}"
        );
    }
}

#[test]
fn every_field_of_the_table_is_in_the_published_schema() {
    let published: Value = serde_json::from_str(&read("schema/answers.schema.json")).unwrap();
    for f in schema::FIELDS {
        let mut node = &published;
        for part in f.path.split('.') {
            node = &node["properties"][part];
        }
        assert!(
            node.is_object(),
            "{} is missing from the JSON Schema",
            f.path
        );
        assert!(
            node["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{} has no description",
            f.path
        );
    }
}

/// A valid value for each field, different from the examples' and from the default (None:
/// the field is covered otherwise, said why).
fn other_value(path: &str) -> Option<&'static str> {
    Some(match path {
        // Each example has its own cloud, and reads back with it.
        "cloud" => return None,
        "kubeContext" => "other-context",
        "namespace" => "caracal-two",
        "release" => "caracal2",
        "chart.ref" => "./charts/caracal",
        "chart.version" => "v1.0.0",
        "secretManager.region" => "eu-west-1",
        "secretManager.project" => "other-project",
        "secretManager.vaultUrl" => "https://other-vault.vault.azure.net",
        "secretManager.prefix" => "cc",
        "secretManager.endpoint" => "https://vpce.example.internal",
        "secretManager.caBundle" => "/etc/ssl/private-ca.pem",
        "identity.roleArn" => "arn:aws:iam::210987654321:role/other",
        "identity.serviceAccount" => "caracal-two@my-project.iam.gserviceaccount.com",
        "identity.clusterLocation" => "europe-west4-a",
        "identity.clusterName" => "other-cluster",
        "identity.clusterProject" => "other-cluster-project",
        "identity.clientId" => "11111111-2222-3333-4444-555555555555",
        "identity.tenantId" => "22222222-2222-4222-8222-222222222222",
        "runtimeIdentity.roleArn" => "arn:aws:iam::210987654321:role/other-runtime",
        "runtimeIdentity.serviceAccount" => "runtime-two@my-project.iam.gserviceaccount.com",
        "runtimeIdentity.clientId" => "33333333-3333-4333-8333-333333333333",
        "runtimeIdentity.egress" => "[10.9.0.0/24]",
        "postgres.host" => "pg.example.internal",
        "postgres.port" => "6543",
        "postgres.database" => "db2",
        "postgres.authDatabase" => "auth2",
        "postgres.username" => "admin2",
        "postgres.password" => "env:PG_PASSWORD",
        "postgres.sslMode" => "verify-full",
        "redis.host" => "r.example.internal",
        "redis.port" => "6390",
        "redis.database" => "3",
        "redis.password" => "generate",
        "redis.tls" => "false",
        // A class this build does not know: either source is accepted.
        "ingress.className" => "haproxy",
        "ingress.clusterIssuer" => "other-issuer",
        "ingress.hosts.sts" => "sts2.example.com",
        "ingress.hosts.gateway" => "gw2.example.com",
        "ingress.hosts.api" => "api2.example.com",
        "ingress.hosts.web" => "web2.example.com",
        "network.dnsEgress" => "[10.1.0.10/32, 10.1.0.11/32]",
        "network.stateEgress" => "[10.30.0.0/16]",
        "network.loadBalancerCidrs" => "[10.61.0.0/16]",
        "network.ingressController.namespace" => "other-ns",
        "network.ingressController.podLabels" => "{tier: edge}",
        "storageClass" => "fast",
        "secrets" => "{admin-token: env:ADMIN_TOKEN}",
        "kekRotation" => "true",
        other => panic!("give {other} a value in other_value()"),
    })
}

/// The fields a changed field needs beside it: a runtime identity comes with its egress, and
/// a load balancer source of another kind than the class's with a class that takes either.
fn consistent(mut doc: Value, cloud: &str, path: &str) -> Value {
    let runtime = match cloud {
        "aws" => (
            "runtimeIdentity.roleArn",
            "arn:aws:iam::123456789012:role/caracal-runtime",
        ),
        "gcp" => (
            "runtimeIdentity.serviceAccount",
            "caracal-runtime@my-project.iam.gserviceaccount.com",
        ),
        _ => (
            "runtimeIdentity.clientId",
            "44444444-4444-4444-8444-444444444444",
        ),
    };
    if path.starts_with("runtimeIdentity.") {
        if schema::get_at(&doc, "runtimeIdentity.egress").is_none() {
            doc = with(&doc, "runtimeIdentity.egress", Some("[10.0.64.0/24]"));
        }
        if schema::get_at(&doc, runtime.0).is_none() {
            doc = with(&doc, runtime.0, Some(runtime.1));
        }
    }
    if path.starts_with("network.ingressController") || path == "network.loadBalancerCidrs" {
        doc = with(&doc, "ingress.className", Some("haproxy"));
    }
    if path == "network.ingressController.podLabels"
        && schema::get_at(&doc, "network.ingressController.namespace").is_none()
    {
        doc = with(
            &doc,
            "network.ingressController.namespace",
            Some("ingress-nginx"),
        );
    }
    doc
}

#[test]
fn every_field_of_the_table_round_trips_through_the_reader_and_the_writer() {
    for cloud in ["aws", "gcp", "azure"] {
        let base = example(cloud);
        let answers = Answers::from_value(&base).unwrap();
        assert_eq!(answers.to_value()["cloud"], json!(cloud));
        for f in schema::fields_for(answers.cloud) {
            let Some(value) = other_value(f.path) else {
                continue;
            };
            let doc = consistent(with(&base, f.path, Some(value)), cloud, f.path);
            let want = yaml(&format!("v: {value}\n"))["v"].clone();
            assert_ne!(schema::get_at(&base, f.path), Some(&want), "{}", f.path);
            let read = Answers::from_value(&doc)
                .unwrap_or_else(|p| panic!("{cloud}: {}={value}: {p:?}", f.path));
            let written = read.to_value();
            assert_eq!(
                schema::get_at(&written, f.path),
                Some(&want),
                "{cloud}: {} does not round-trip",
                f.path
            );
            assert_eq!(
                Answers::from_value(&written).unwrap(),
                read,
                "{cloud}: {}",
                f.path
            );
            assert!(schema_errors(&written).is_empty(), "{cloud}: {}", f.path);
        }
    }
}
