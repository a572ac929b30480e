//! The wizard's questions: which fields each screen asks, in which order. What a field is
//! (label, help, kind, cloud, default) comes from the answers schema (`core::schema`), and a
//! field's text becomes part of the answers document that `Answers::from_value` validates.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::core::cloud::Cloud;
use crate::core::schema::{self, FieldDefault, FieldType};

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

impl FieldKind {
    const fn of(ty: FieldType) -> FieldKind {
        match ty {
            FieldType::Text | FieldType::SecretSource | FieldType::SecretSources => FieldKind::Text,
            FieldType::Integer { .. } => FieldKind::Number,
            FieldType::Boolean => FieldKind::Choice(&["true", "false"]),
            FieldType::Choice(choices) => FieldKind::Choice(choices),
            FieldType::Cidrs => FieldKind::List,
            FieldType::Labels => FieldKind::Labels,
        }
    }
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

/// The question for a schema field; a path the schema lacks fails the build.
const fn ask(path: &'static str) -> Field {
    let def = schema::find(path);
    Field {
        path: def.path,
        label: def.label,
        help: def.help,
        kind: FieldKind::of(def.ty),
        cloud: def.cloud,
    }
}

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
            ask("cloud"),
            ask("kubeContext"),
            ask("namespace"),
            ask("release"),
        ],
    },
    Screen {
        title: "Secret manager",
        intro: "Where the secrets are seeded; External Secrets reads them from there.",
        fields: &[
            ask("secretManager.region"),
            ask("secretManager.project"),
            ask("secretManager.vaultUrl"),
            ask("secretManager.prefix"),
            ask("secretManager.endpoint"),
            ask("secretManager.caBundle"),
        ],
    },
    Screen {
        title: "Identity",
        intro: "Two identities: External Secrets' reads the seeded secrets, no Caracal pod gets it; an optional runtime one for the pods.",
        fields: &[
            ask("identity.roleArn"),
            ask("identity.serviceAccount"),
            ask("identity.clusterLocation"),
            ask("identity.clusterName"),
            ask("identity.clusterProject"),
            ask("identity.clientId"),
            ask("identity.tenantId"),
            ask("runtimeIdentity.roleArn"),
            ask("runtimeIdentity.serviceAccount"),
            ask("runtimeIdentity.clientId"),
            ask("runtimeIdentity.egress"),
        ],
    },
    Screen {
        title: "Postgres",
        intro: "The managed Postgres (RDS, Cloud SQL, Azure Database). TLS is required.",
        fields: &[
            ask("postgres.host"),
            ask("postgres.port"),
            ask("postgres.database"),
            ask("postgres.authDatabase"),
            ask("postgres.username"),
            ask("postgres.password"),
            ask("postgres.sslMode"),
        ],
    },
    Screen {
        title: "Redis",
        intro: "The managed Redis with Streams (ElastiCache, Memorystore, Azure Cache).",
        fields: &[
            ask("redis.host"),
            ask("redis.port"),
            ask("redis.database"),
            ask("redis.password"),
            ask("redis.tls"),
        ],
    },
    Screen {
        title: "Ingress and hosts",
        intro: "Public HTTPS endpoints. Leave STS, Gateway or API empty to keep it private.",
        fields: &[
            ask("ingress.className"),
            ask("ingress.clusterIssuer"),
            ask("ingress.hosts.web"),
            ask("ingress.hosts.sts"),
            ask("ingress.hosts.gateway"),
            ask("ingress.hosts.api"),
        ],
    },
    Screen {
        title: "Network",
        intro: "NetworkPolicy: stable mode denies by default; ingress only from the class's source (LB CIDRs or controller pods).",
        fields: &[
            ask("network.dnsEgress"),
            ask("network.stateEgress"),
            ask("network.loadBalancerCidrs"),
            ask("network.ingressController.namespace"),
            ask("network.ingressController.podLabels"),
        ],
    },
    Screen {
        title: "Storage and chart",
        intro: "Replay persistence of the STS and Gateway, and the chart to install.",
        fields: &[ask("storageClass"), ask("chart.ref"), ask("chart.version")],
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

/// The text of every field, before anything is typed: the file format's fixed defaults. A
/// choice always shows one of its options, so a required choice without a default (the
/// cloud) starts on its first; any other field without a default starts empty, and a field
/// whose default is the cloud profile's stays empty ("the cloud's default").
pub fn defaults() -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for f in all_fields() {
        let def = schema::find(f.path);
        let text = match (def.default, def.choices()) {
            (FieldDefault::Value(v), _) => v,
            (FieldDefault::None, Some(choices)) if def.required => choices[0],
            _ => continue,
        };
        out.insert(f.path, text.to_string());
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
        let Some(node) = schema::get_at(doc, f.path) else {
            continue;
        };
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

/// Top-level answers the wizard does not ask but keeps as they were (resume, then save). Every
/// other schema field is asked on a screen (a test holds both lists to the schema).
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
        schema::insert_at(&mut doc, f.path, field_value(f.kind, text));
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
    fn every_schema_field_is_asked_or_carried_over_and_nothing_else() {
        let asked: Vec<&str> = all_fields().map(|f| f.path).collect();
        for f in schema::FIELDS {
            let on_screens = asked.iter().filter(|p| **p == f.path).count();
            let carried = PASSTHROUGH.contains(&f.path);
            assert!(
                on_screens + usize::from(carried) == 1,
                "{} must be asked on exactly one screen or be in PASSTHROUGH",
                f.path
            );
        }
        for p in asked.iter().chain(PASSTHROUGH) {
            let def = schema::field(p).unwrap_or_else(|| panic!("{p} is not in the schema"));
            if let Some(f) = all_fields().find(|f| f.path == *p) {
                assert_eq!(
                    (f.label, f.help, f.cloud),
                    (def.label, def.help, def.cloud),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn the_form_starts_from_the_file_formats_defaults_and_invents_nothing() {
        let texts = defaults();
        for f in all_fields() {
            let def = schema::find(f.path);
            match (def.default, texts.get(f.path)) {
                (FieldDefault::Value(v), Some(t)) => assert_eq!(v, t, "{}", f.path),
                (FieldDefault::Value(_), None) => panic!("{} lost its default", f.path),
                // A choice shows one of its options; that is not an invented value.
                (FieldDefault::None, Some(t)) => assert!(
                    def.required && def.choices().is_some_and(|c| c.contains(&t.as_str())),
                    "{} starts as {t:?}, which the file format does not give it",
                    f.path
                ),
                (_, Some(t)) => panic!("{} starts as {t:?}: its default is not a value", f.path),
                (_, None) => {}
            }
        }
        assert!(!texts.contains_key("ingress.clusterIssuer"));
        // What the form starts from reads back as the same defaults the reader applies.
        let doc = document(&texts);
        for f in schema::FIELDS {
            if let Some(v) = schema::get_at(&doc, f.path)
                && f.path != "cloud"
            {
                assert_eq!(Some(v.clone()), f.default_value(), "{}", f.path);
            }
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
