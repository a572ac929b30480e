//! Which keys of a Secret rendered workloads mount: read from manifests (e.g. the output of
//! `helm template`), so the list follows the chart instead of being written down by hand.

use std::collections::BTreeSet;

use serde_json::Value;

/// Keys of one Secret that the workloads reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretMounts {
    /// Keys a pod cannot start without.
    pub required: BTreeSet<String>,
    /// Keys referenced with `optional: true`.
    pub optional: BTreeSet<String>,
    /// Workloads that mount the whole Secret (no `items`, or `envFrom`).
    pub whole_secret: BTreeSet<String>,
}

fn pod_spec(doc: &Value) -> Option<&Value> {
    match doc.get("kind")?.as_str()? {
        "Pod" => doc.get("spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            doc.pointer("/spec/template/spec")
        }
        "CronJob" => doc.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

impl SecretMounts {
    fn add(&mut self, key: &str, optional: bool) {
        if optional {
            if !self.required.contains(key) {
                self.optional.insert(key.to_string());
            }
        } else {
            self.optional.remove(key);
            self.required.insert(key.to_string());
        }
    }
}

/// The keys of Secret `secret` that the pod templates in `docs` mount or read.
pub fn secret_mounts(docs: &[Value], secret: &str) -> SecretMounts {
    let mut out = SecretMounts::default();
    for doc in docs {
        let Some(spec) = pod_spec(doc) else { continue };
        let workload = format!(
            "{}/{}",
            doc.get("kind").and_then(Value::as_str).unwrap_or("?"),
            doc.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
        let mut secret_sources: Vec<(&Value, bool)> = Vec::new();
        for volume in items(spec, "volumes") {
            if let Some(s) = volume.get("secret")
                && s.get("secretName").and_then(Value::as_str) == Some(secret)
            {
                secret_sources.push((
                    s,
                    s.get("optional").and_then(Value::as_bool).unwrap_or(false),
                ));
            }
            if let Some(projected) = volume.get("projected") {
                for source in items(projected, "sources") {
                    if let Some(s) = source.get("secret")
                        && s.get("name").and_then(Value::as_str) == Some(secret)
                    {
                        secret_sources.push((
                            s,
                            s.get("optional").and_then(Value::as_bool).unwrap_or(false),
                        ));
                    }
                }
            }
        }
        for (source, optional) in secret_sources {
            let keys: Vec<&str> = items(source, "items")
                .filter_map(|i| i.get("key")?.as_str())
                .collect();
            if keys.is_empty() {
                out.whole_secret.insert(workload.clone());
            }
            for key in keys {
                out.add(key, optional);
            }
        }
        for container in items(spec, "containers").chain(items(spec, "initContainers")) {
            for env in items(container, "env") {
                if let Some(r) = env.pointer("/valueFrom/secretKeyRef")
                    && r.get("name").and_then(Value::as_str) == Some(secret)
                    && let Some(key) = r.get("key").and_then(Value::as_str)
                {
                    out.add(
                        key,
                        r.get("optional").and_then(Value::as_bool).unwrap_or(false),
                    );
                }
            }
            for from in items(container, "envFrom") {
                if from.pointer("/secretRef/name").and_then(Value::as_str) == Some(secret) {
                    out.whole_secret.insert(workload.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_volumes_env_and_optional_flags() {
        let docs = vec![
            json!({"kind": "Deployment", "metadata": {"name": "a"}, "spec": {"template": {"spec": {
                "volumes": [
                    {"name": "s", "secret": {"secretName": "rt", "items": [{"key": "k1", "path": "k1"}]}},
                    {"name": "o", "secret": {"secretName": "rt", "optional": true, "items": [{"key": "opt", "path": "opt"}]}},
                    {"name": "x", "secret": {"secretName": "other", "items": [{"key": "nope", "path": "n"}]}}
                ],
                "containers": [{"name": "c", "env": [
                    {"name": "E", "valueFrom": {"secretKeyRef": {"name": "rt", "key": "k2"}}},
                    {"name": "F", "value": "plain"}
                ]}]
            }}}}),
            json!({"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {
                "volumes": [{"name": "s", "secret": {"secretName": "rt"}}],
                "containers": [{"name": "c"}]
            }}}}),
            json!({"kind": "Service", "metadata": {"name": "s"}}),
        ];
        let m = secret_mounts(&docs, "rt");
        assert_eq!(m.required.iter().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(m.optional.iter().collect::<Vec<_>>(), ["opt"]);
        assert_eq!(m.whole_secret.iter().collect::<Vec<_>>(), ["Job/j"]);
    }
}
