//! The ExternalSecret that materialises `caracal-runtime`, with the keys the chart version's
//! catalog says its workloads mount (`assets/catalog/<version>.yaml`).
//!
//! It corrects the upstream example (`examples/external-secrets/externalsecret-runtime.yaml`):
//! it points at the store actually chosen, uses the cloud's remote names (no `/` on GCP and
//! Azure), percent-encodes passwords inside connection URLs with `urlquery`, and produces
//! `postgresPassword`, which the migration Job mounts but the example never wrote.

use serde_json::{Map, Value, json};

use super::answers::Answers;
use super::catalog::{RoleDatabase, SecretCatalog, remote_name};
use super::manifests::{managed_labels, store_name};

/// The Secret every Caracal workload mounts.
pub const RUNTIME_SECRET: &str = "caracal-runtime";

/// Template variables read from the `postgres` and `redis` JSON records (the variable names are
/// the wizard's own; the properties are the records' fields in the catalog).
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

/// A role's password, derived from the admin password as the chart's evaluation Secret does
/// (`sha256sum (printf "%s:<login>" password)`), so no extra secret has to be seeded.
fn role_password(login: &str) -> String {
    format!(r#"printf "%s:{login}" .pgPassword | sha256sum"#)
}

/// The template of a host inside a URL: an IPv6 address goes in brackets (RFC 3986), or its
/// colons would be read as the port. The record's host is the answers' (seeding writes it).
fn url_host(host: &str, variable: &str) -> String {
    if host.contains(':') {
        format!("[{{{{ {variable} }}}}]")
    } else {
        format!("{{{{ {variable} }}}}")
    }
}

/// The Go template (ESO engine v2) of each key of `caracal-runtime`, in a stable order.
pub fn runtime_templates(answers: &Answers) -> Vec<(String, String)> {
    let catalog = SecretCatalog::of_valid(&answers.chart.version);
    let db = &catalog.database;
    let ssl = &answers.postgres.ssl_mode;
    let mut out: Vec<(String, String)> = Vec::new();
    let pg_host = url_host(&answers.postgres.host, ".pgHost");
    let redis_host = url_host(&answers.redis.host, ".redisHost");
    out.push((db.admin_password_key.clone(), "{{ .pgPassword }}".into()));
    for role in db.roles.iter() {
        out.push((
            db.role_password_key(role),
            format!("{{{{ {} }}}}", role_password(&db.role_login(role))),
        ));
    }
    for role in db.roles.iter() {
        let database = match role.database {
            RoleDatabase::Main => ".pgDatabase",
            RoleDatabase::Auth => ".pgAuthDatabase",
        };
        let login = db.role_login(role);
        out.push((
            db.role_url_key(role),
            format!(
                "postgres://{login}:{{{{ {} | {URL_ESCAPE} }}}}@{pg_host}:{{{{ .pgPort }}}}/{{{{ {database} }}}}?sslmode={ssl}",
                role_password(&login)
            ),
        ));
    }
    let scheme = if answers.redis.tls { "rediss" } else { "redis" };
    out.push((
        catalog.redis.password_key.clone(),
        "{{ .redisPassword }}".into(),
    ));
    out.push((
        catalog.redis.url_key.clone(),
        format!("{scheme}://:{{{{ .redisPassword | {URL_ESCAPE} }}}}@{redis_host}:{{{{ .redisPort }}}}/{{{{ .redisDatabase }}}}"),
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
    let catalog = SecretCatalog::of_valid(&answers.chart.version);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(version: &str) -> Answers {
        let text = include_str!("../../examples/answers-aws.yaml")
            .replace("version: 1.0.0", &format!("version: {version}"));
        Answers::from_yaml(&text).unwrap()
    }

    #[test]
    fn the_records_properties_are_catalog_fields() {
        let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
        for (record, fields) in [
            ("postgres", &POSTGRES_FIELDS[..]),
            ("redis", &REDIS_FIELDS[..]),
        ] {
            let entry = catalog.get(record).unwrap();
            for (_, property) in fields {
                assert!(
                    entry.fields.iter().any(|f| f == property),
                    "{record}.{property}"
                );
            }
        }
    }

    #[test]
    fn the_runtime_keys_follow_the_chart_versions_catalog() {
        let keys = produced_keys(&answers("1.0.0"));
        assert!(!keys.iter().any(|k| k.starts_with("billing")));
        let next = answers("1.0.1-test.1");
        let templates = runtime_templates(&next);
        let get = |key: &str| {
            templates
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {key}"))
        };
        assert_eq!(
            get("billingDbPassword"),
            r#"{{ printf "%s:caracalbilling" .pgPassword | sha256sum }}"#
        );
        assert!(get("billingDatabaseUrl").starts_with("postgres://caracalbilling:"));
        assert!(get("billingDatabaseUrl").contains("/{{ .pgDatabase }}?"));
        assert!(get("authDatabaseUrl").contains("/{{ .pgAuthDatabase }}?"));
        assert_eq!(produced_keys(&next).len(), keys.len() + 2);
    }
}
