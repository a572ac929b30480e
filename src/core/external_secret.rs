//! The ExternalSecret that materialises `caracal-runtime`, and the facts of chart 1.0.0 about
//! which keys of that Secret its workloads mount.
//!
//! It corrects the upstream example (`examples/external-secrets/externalsecret-runtime.yaml`):
//! it points at the store actually chosen, uses the cloud's remote names (no `/` on GCP and
//! Azure), percent-encodes passwords inside connection URLs with `urlquery`, and produces
//! `postgresPassword`, which the migration Job mounts but the example never wrote.

use serde_json::{Map, Value, json};

use super::answers::Answers;
use super::catalog::{SecretCatalog, remote_name};
use super::manifests::{managed_labels, store_name};

/// The Secret every Caracal workload mounts.
pub const RUNTIME_SECRET: &str = "caracal-runtime";

/// Services with their own least-privilege Postgres login (`caracal<role>`), in chart order.
pub const DB_ROLES: [&str; 6] = ["api", "sts", "gateway", "audit", "coordinator", "auth"];

/// Template variables read from the `postgres` and `redis` JSON records.
const POSTGRES_FIELDS: [(&str, &str); 6] = [
    ("pgUser", "username"),
    ("pgPassword", "password"),
    ("pgHost", "host"),
    ("pgPort", "port"),
    ("pgDatabase", "database"),
    ("pgAuthDatabase", "authDatabase"),
];
const REDIS_FIELDS: [(&str, &str); 4] = [
    ("redisPassword", "password"),
    ("redisHost", "host"),
    ("redisPort", "port"),
    ("redisDatabase", "database"),
];

/// Percent-encodes a value for the userinfo of a URL: Go's `urlquery` (QueryEscape) writes a
/// space as `+`, which URL parsers such as libpq do not decode there, so spaces become `%20`
/// (a literal `+` is already `%2B`, so every `+` left came from a space).
const URL_ESCAPE: &str = r#"urlquery | replace "+" "%20""#;

/// The per-service password the chart derives from the admin password
/// (`sha256sum (printf "%s:caracal%s" password role)` in its evaluation Secret).
fn role_password(role: &str) -> String {
    format!(r#"printf "%s:caracal{role}" .pgPassword | sha256sum"#)
}

/// The Go template (ESO engine v2) of each key of `caracal-runtime`, in a stable order.
pub fn runtime_templates(answers: &Answers) -> Vec<(String, String)> {
    let catalog =
        SecretCatalog::for_chart(&answers.chart.version).expect("validated chart version");
    let ssl = &answers.postgres.ssl_mode;
    let mut out: Vec<(String, String)> = Vec::new();
    out.push(("postgresPassword".into(), "{{ .pgPassword }}".into()));
    for role in DB_ROLES {
        out.push((
            format!("{role}DbPassword"),
            format!("{{{{ {} }}}}", role_password(role)),
        ));
    }
    for role in DB_ROLES {
        let (key, database) = if role == "auth" {
            ("authDatabaseUrl".to_string(), ".pgAuthDatabase")
        } else {
            (format!("{role}DatabaseUrl"), ".pgDatabase")
        };
        out.push((
            key,
            format!(
                "postgres://caracal{role}:{{{{ {} | {URL_ESCAPE} }}}}@{{{{ .pgHost }}}}:{{{{ .pgPort }}}}/{{{{ {database} }}}}?sslmode={ssl}",
                role_password(role)
            ),
        ));
    }
    let scheme = if answers.redis.tls { "rediss" } else { "redis" };
    out.push(("redisPassword".into(), "{{ .redisPassword }}".into()));
    out.push((
        "redisUrl".into(),
        format!("{scheme}://:{{{{ .redisPassword | {URL_ESCAPE} }}}}@{{{{ .redisHost }}}}:{{{{ .redisPort }}}}/{{{{ .redisDatabase }}}}"),
    ));
    for secret in catalog
        .secrets
        .iter()
        .filter(|s| !s.rotation_only || answers.kek_rotation)
    {
        if let Some(key) = &secret.runtime_key {
            out.push((key.clone(), format!("{{{{ .{key} }}}}")));
        }
    }
    out
}

/// The keys the rendered ExternalSecret produces in `caracal-runtime`.
pub fn produced_keys(answers: &Answers) -> Vec<String> {
    runtime_templates(answers)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// The ExternalSecret manifest.
pub fn external_secret(answers: &Answers) -> Value {
    let catalog =
        SecretCatalog::for_chart(&answers.chart.version).expect("validated chart version");
    let cloud = answers.cloud;
    let prefix = &answers.secret_manager.prefix;
    let mut data = Vec::new();
    for (record, fields) in [
        ("postgres", &POSTGRES_FIELDS[..]),
        ("redis", &REDIS_FIELDS[..]),
    ] {
        for (var, property) in fields {
            data.push(json!({
                "secretKey": var,
                "remoteRef": { "key": remote_name(cloud, prefix, record), "property": property },
            }));
        }
    }
    for secret in catalog
        .secrets
        .iter()
        .filter(|s| !s.rotation_only || answers.kek_rotation)
    {
        if let Some(key) = &secret.runtime_key {
            data.push(json!({
                "secretKey": key,
                "remoteRef": { "key": secret.remote_name(cloud, prefix) },
            }));
        }
    }
    let template: Map<String, Value> = runtime_templates(answers)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": RUNTIME_SECRET,
            "namespace": answers.namespace,
            "labels": managed_labels(answers),
        },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": { "name": store_name(answers), "kind": "ClusterSecretStore" },
            "target": {
                "name": RUNTIME_SECRET,
                // Owner: the Secret is garbage-collected with the ExternalSecret, and verify
                // can prove it was made by it. Retain: a missing remote secret never empties
                // the runtime Secret of a running install.
                "creationPolicy": "Owner",
                "deletionPolicy": "Retain",
                "template": {
                    "type": "Opaque",
                    "engineVersion": "v2",
                    "mergePolicy": "Replace",
                    "metadata": { "labels": managed_labels(answers) },
                    "data": template,
                },
            },
            "data": data,
        },
    })
}
