//! The wizard's questions as data: which fields each screen asks, for which cloud, and how a
//! field's text becomes part of the answers document that `Answers::from_value` validates.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::core::answers::{DEFAULT_CHART_REF, DEFAULT_CHART_VERSION};
use crate::core::cloud::Cloud;

/// How a field's text is turned into a YAML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A whole number (ports, database index).
    Number,
    /// One of a few values; ←/→ cycles through them.
    Choice(&'static [&'static str]),
    /// Comma-separated list (CIDRs).
    List,
    /// Comma-separated `key=value` pairs (labels).
    Labels,
}

/// One question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Dotted path in the answers file.
    pub path: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: FieldKind,
    /// Only asked for this cloud.
    pub cloud: Option<Cloud>,
}

const fn field(
    path: &'static str,
    label: &'static str,
    help: &'static str,
    kind: FieldKind,
) -> Field {
    Field {
        path,
        label,
        help,
        kind,
        cloud: None,
    }
}

const fn cloud_field(
    cloud: Cloud,
    path: &'static str,
    label: &'static str,
    help: &'static str,
) -> Field {
    Field {
        path,
        label,
        help,
        kind: FieldKind::Text,
        cloud: Some(cloud),
    }
}

const SOURCE_HELP: &str =
    "prompt (asked when seeding), generate, env:VAR or file:PATH; never the value itself";

/// A screen of questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub title: &'static str,
    pub intro: &'static str,
    pub fields: &'static [Field],
}

pub const SCREENS: &[Screen] = &[
    Screen {
        title: "Cloud",
        intro: "Which managed Kubernetes, and where Caracal goes in it.",
        fields: &[
            field(
                "cloud",
                "Cloud",
                "aws (EKS), gcp (GKE) or azure (AKS): ←/→ to change",
                FieldKind::Choice(&["aws", "gcp", "azure"]),
            ),
            field(
                "kubeContext",
                "Kube context",
                "context in your kubeconfig; empty: the current context",
                FieldKind::Text,
            ),
            field(
                "namespace",
                "Namespace",
                "namespace of the release and its runtime Secret",
                FieldKind::Text,
            ),
            field(
                "release",
                "Release",
                "helm release name (36 characters at most)",
                FieldKind::Text,
            ),
        ],
    },
    Screen {
        title: "Secret manager",
        intro: "Where the secrets are seeded; External Secrets reads them from there.",
        fields: &[
            cloud_field(
                Cloud::Aws,
                "secretManager.region",
                "AWS region",
                "region of Secrets Manager, e.g. us-east-1",
            ),
            cloud_field(
                Cloud::Gcp,
                "secretManager.project",
                "GCP project",
                "project id holding the secrets, e.g. my-project",
            ),
            cloud_field(
                Cloud::Azure,
                "secretManager.vaultUrl",
                "Vault URL",
                "https://NAME.vault.azure.net",
            ),
            field(
                "secretManager.prefix",
                "Name prefix",
                "remote names: PREFIX/postgres on AWS, PREFIX-postgres on GCP and Azure",
                FieldKind::Text,
            ),
            field(
                "secretManager.endpoint",
                "Endpoint override",
                "a private endpoint's URL; empty: the service's public API",
                FieldKind::Text,
            ),
            field(
                "secretManager.caBundle",
                "CA bundle",
                "PEM file of extra CAs to trust (private CA, TLS-inspecting proxy); empty: system roots",
                FieldKind::Text,
            ),
        ],
    },
    Screen {
        title: "Identity",
        intro: "The workload identity External Secrets and the Caracal pods run as. No static keys.",
        fields: &[
            cloud_field(
                Cloud::Aws,
                "identity.roleArn",
                "IAM role (IRSA)",
                "arn:aws:iam::ACCOUNT:role/NAME, trusted by the cluster's OIDC provider",
            ),
            cloud_field(
                Cloud::Gcp,
                "identity.serviceAccount",
                "Service account",
                "NAME@PROJECT.iam.gserviceaccount.com with Secret Manager access",
            ),
            cloud_field(
                Cloud::Gcp,
                "identity.clusterLocation",
                "Cluster location",
                "region or zone of the GKE cluster, e.g. us-central1",
            ),
            cloud_field(
                Cloud::Gcp,
                "identity.clusterName",
                "Cluster name",
                "name of the GKE cluster",
            ),
            cloud_field(
                Cloud::Azure,
                "identity.clientId",
                "Client id",
                "client id (GUID) of the user-assigned managed identity",
            ),
        ],
    },
    Screen {
        title: "Postgres",
        intro: "The managed Postgres (RDS, Cloud SQL, Azure Database). TLS is required.",
        fields: &[
            field(
                "postgres.host",
                "Host",
                "endpoint of the managed Postgres",
                FieldKind::Text,
            ),
            field("postgres.port", "Port", "usually 5432", FieldKind::Number),
            field(
                "postgres.database",
                "Database",
                "Caracal's database",
                FieldKind::Text,
            ),
            field(
                "postgres.authDatabase",
                "Auth database",
                "the web tier's session database (must differ)",
                FieldKind::Text,
            ),
            field(
                "postgres.username",
                "Admin user",
                "login the migration Job uses to create the service roles",
                FieldKind::Text,
            ),
            field(
                "postgres.password",
                "Password source",
                SOURCE_HELP,
                FieldKind::Text,
            ),
            field(
                "postgres.sslMode",
                "TLS mode",
                "require, verify-ca or verify-full: ←/→",
                FieldKind::Choice(&["require", "verify-ca", "verify-full"]),
            ),
        ],
    },
    Screen {
        title: "Redis",
        intro: "The managed Redis with Streams (ElastiCache, Memorystore, Azure Cache).",
        fields: &[
            field(
                "redis.host",
                "Host",
                "endpoint of the managed Redis",
                FieldKind::Text,
            ),
            field(
                "redis.port",
                "Port",
                "6379; Azure Cache for Redis serves TLS on 6380",
                FieldKind::Number,
            ),
            field("redis.database", "Database", "0 to 15", FieldKind::Number),
            field(
                "redis.password",
                "Password source",
                SOURCE_HELP,
                FieldKind::Text,
            ),
            field(
                "redis.tls",
                "TLS",
                "true: rediss:// (in-transit encryption); ←/→",
                FieldKind::Choice(&["true", "false"]),
            ),
        ],
    },
    Screen {
        title: "Ingress and hosts",
        intro: "Public HTTPS endpoints. Leave STS, Gateway or API empty to keep it private.",
        fields: &[
            field(
                "ingress.className",
                "Ingress class",
                "empty: the cloud's default (alb, gce, webapprouting.kubernetes.azure.com)",
                FieldKind::Text,
            ),
            field(
                "ingress.clusterIssuer",
                "ClusterIssuer",
                "cert-manager ClusterIssuer for the TLS certificates",
                FieldKind::Text,
            ),
            field(
                "ingress.hosts.web",
                "Console host",
                "required: the browser origin, e.g. console.example.com",
                FieldKind::Text,
            ),
            field(
                "ingress.hosts.sts",
                "STS host",
                "token service; also the issuer URL",
                FieldKind::Text,
            ),
            field(
                "ingress.hosts.gateway",
                "Gateway host",
                "the protected-request gateway",
                FieldKind::Text,
            ),
            field(
                "ingress.hosts.api",
                "API host",
                "the control-plane API",
                FieldKind::Text,
            ),
        ],
    },
    Screen {
        title: "Network",
        intro: "NetworkPolicy: stable mode denies by default and needs these paths.",
        fields: &[
            field(
                "network.dnsEgress",
                "DNS egress",
                "CIDRs of the cluster DNS, comma-separated, e.g. 10.0.0.10/32",
                FieldKind::List,
            ),
            field(
                "network.stateEgress",
                "State egress",
                "CIDRs of the managed Postgres and Redis, comma-separated",
                FieldKind::List,
            ),
            field(
                "network.ingressController.namespace",
                "Controller namespace",
                "namespace of the ingress controller pods",
                FieldKind::Text,
            ),
            field(
                "network.ingressController.podLabels",
                "Controller labels",
                "key=value, comma-separated, e.g. app.kubernetes.io/name=ingress-nginx",
                FieldKind::Labels,
            ),
        ],
    },
    Screen {
        title: "Storage and chart",
        intro: "Replay persistence of the STS and Gateway, and the chart to install.",
        fields: &[
            field(
                "storageClass",
                "Storage class",
                "empty: the cloud's default (gp3, premium-rwo, managed-csi)",
                FieldKind::Text,
            ),
            field(
                "chart.ref",
                "Chart",
                "OCI reference or a local chart directory",
                FieldKind::Text,
            ),
            field(
                "chart.version",
                "Chart version",
                "exact version, e.g. 1.0.0",
                FieldKind::Text,
            ),
        ],
    },
];

/// The fields of a screen asked for a cloud.
pub fn fields_for(screen: &Screen, cloud: Cloud) -> Vec<&'static Field> {
    screen
        .fields
        .iter()
        .filter(|f| f.cloud.is_none_or(|c| c == cloud))
        .collect()
}

/// The text of every field, before anything is typed.
pub fn defaults() -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for (path, value) in [
        ("cloud", "aws"),
        ("namespace", "caracal"),
        ("release", "caracal"),
        ("secretManager.prefix", "caracal"),
        ("postgres.port", "5432"),
        ("postgres.database", "caracal"),
        ("postgres.authDatabase", "caracal_auth"),
        ("postgres.username", "caracal"),
        ("postgres.password", "prompt"),
        ("postgres.sslMode", "require"),
        ("redis.port", "6379"),
        ("redis.database", "0"),
        ("redis.password", "prompt"),
        ("redis.tls", "true"),
        ("ingress.clusterIssuer", "letsencrypt-prod"),
        ("chart.ref", DEFAULT_CHART_REF),
        ("chart.version", DEFAULT_CHART_VERSION),
    ] {
        out.insert(path, value.to_string());
    }
    out
}

fn all_fields() -> impl Iterator<Item = &'static Field> {
    SCREENS.iter().flat_map(|s| s.fields.iter())
}

/// Fills field texts from an answers document (resume).
pub fn texts_from_value(doc: &Value) -> BTreeMap<&'static str, String> {
    let mut out = defaults();
    for f in all_fields() {
        let mut node = doc;
        let mut found = true;
        for part in f.path.split('.') {
            match node.get(part) {
                Some(n) => node = n,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found || node.is_null() {
            continue;
        }
        let text = match (f.kind, node) {
            (FieldKind::List, Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            (FieldKind::Labels, Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        };
        out.insert(f.path, text);
    }
    out
}

fn insert_path(doc: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut node = doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_string(), value);
            return;
        }
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = entry.as_object_mut().expect("just made an object");
    }
}

fn field_value(kind: FieldKind, text: &str) -> Value {
    match kind {
        FieldKind::Number => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.into())),
        FieldKind::Choice(["true", "false"]) => Value::Bool(text == "true"),
        FieldKind::Choice(_) | FieldKind::Text => Value::String(text.into()),
        FieldKind::List => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        FieldKind::Labels => {
            let mut m = Map::new();
            for pair in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                m.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            Value::Object(m)
        }
    }
}

/// Top-level answers the wizard does not ask but keeps as they were (resume, then save).
pub const PASSTHROUGH: &[&str] = &["secrets", "kekRotation"];

/// The part of an answers document the form does not ask, kept unchanged.
pub fn passthrough(doc: &Value) -> Map<String, Value> {
    PASSTHROUGH
        .iter()
        .filter_map(|k| doc.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The answers document the field texts describe (fields of other clouds left out), with the
/// fields the form does not ask carried over from `extra`.
pub fn document_with(texts: &BTreeMap<&'static str, String>, extra: &Map<String, Value>) -> Value {
    let mut doc = document(texts);
    if let Value::Object(map) = &mut doc {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    doc
}

/// The answers document the field texts describe (fields of other clouds left out).
pub fn document(texts: &BTreeMap<&'static str, String>) -> Value {
    let cloud = texts
        .get("cloud")
        .and_then(|c| Cloud::parse(c))
        .unwrap_or(Cloud::Aws);
    let mut doc = Map::new();
    for f in all_fields().filter(|f| f.cloud.is_none_or(|c| c == cloud)) {
        let text = texts.get(f.path).map(|s| s.trim()).unwrap_or("");
        if text.is_empty() {
            continue;
        }
        insert_path(&mut doc, f.path, field_value(f.kind, text));
    }
    Value::Object(doc)
}

/// Whether a problem's path belongs to a field (`network.dnsEgress[1]` belongs to `network.dnsEgress`).
pub fn belongs(problem_path: &str, field_path: &str) -> bool {
    problem_path == field_path
        || problem_path
            .strip_prefix(field_path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::answers::Answers;

    #[test]
    fn example_answers_round_trip_through_the_form() {
        for cloud in ["aws", "gcp", "azure"] {
            let text = std::fs::read_to_string(format!(
                "{}/examples/answers-{cloud}.yaml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let original = Answers::from_yaml(&text).unwrap();
            let doc: Value = serde_saphyr::from_str(&text).unwrap();
            let again =
                Answers::from_value(&document_with(&texts_from_value(&doc), &passthrough(&doc)))
                    .unwrap();
            assert_eq!(original, again, "{cloud}");
        }
    }

    #[test]
    fn fields_the_form_does_not_show_survive_a_round_trip() {
        let text = std::fs::read_to_string(format!(
            "{}/examples/answers-azure.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut doc: Value = serde_saphyr::from_str(&text).unwrap();
        doc["secretManager"]["endpoint"] = "https://kv.privatelink.vaultcore.azure.net".into();
        doc["secretManager"]["caBundle"] = "/etc/ssl/private-ca.pem".into();
        doc["secrets"] = serde_json::json!({ "admin-token": "env:ADMIN_TOKEN" });
        doc["kekRotation"] = true.into();
        let original = Answers::from_value(&doc).unwrap();
        let again =
            Answers::from_value(&document_with(&texts_from_value(&doc), &passthrough(&doc)))
                .unwrap();
        assert_eq!(original, again);
    }

    #[test]
    fn every_answers_field_is_asked() {
        let paths: Vec<&str> = all_fields().map(|f| f.path).collect();
        for p in [
            "cloud",
            "namespace",
            "release",
            "kubeContext",
            "storageClass",
            "chart.ref",
            "chart.version",
            "secretManager.region",
            "secretManager.project",
            "secretManager.vaultUrl",
            "secretManager.prefix",
            "identity.roleArn",
            "identity.serviceAccount",
            "identity.clusterLocation",
            "identity.clusterName",
            "identity.clientId",
            "postgres.host",
            "postgres.password",
            "redis.host",
            "redis.tls",
            "ingress.hosts.web",
            "network.dnsEgress",
            "network.ingressController.podLabels",
        ] {
            assert!(paths.contains(&p), "{p} is never asked");
        }
    }

    #[test]
    fn problem_paths_map_to_fields() {
        assert!(belongs("network.dnsEgress[1]", "network.dnsEgress"));
        assert!(belongs(
            "network.ingressController.podLabels.app",
            "network.ingressController.podLabels"
        ));
        assert!(!belongs("postgres.portx", "postgres.port"));
    }
}
