//! The helm values the wizard writes: stable mode, external state, per-cloud parameters.
//! No secret material: the chart reads every credential from `caracal-runtime`.

use serde_json::{Map, Value, json};

use super::answers::Answers;
use super::catalog::SecretCatalog;
use super::external_secret::RUNTIME_SECRET;
use super::profiles::{CLASS_ANNOTATION, CloudProfile, IngressClassProfile, IngressSourceKind};

/// Where the exposed services' traffic comes from: the only source `extraIngress` admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngressSource {
    /// A load balancer outside the pods network (ALB with IP targets, GKE, AGIC).
    Cidrs(Vec<String>),
    /// An in-cluster controller (AKS application routing, ingress-nginx, Traefik).
    Pods {
        namespace: String,
        pod_labels: std::collections::BTreeMap<String, String>,
    },
}

/// The source the answers name, else the ingress class's default (valid answers always
/// have one: the reader refuses a class without its source).
pub fn ingress_source(answers: &Answers) -> IngressSource {
    let net = &answers.network;
    if !net.load_balancer_cidrs.is_empty() {
        return IngressSource::Cidrs(net.load_balancer_cidrs.clone());
    }
    if let Some(c) = &net.ingress_controller {
        return IngressSource::Pods {
            namespace: c.namespace.clone(),
            pod_labels: c.pod_labels.clone(),
        };
    }
    let class = ingress_class(answers);
    let profile = IngressClassProfile::get(&class)
        .unwrap_or_else(|| panic!("valid answers name the source of ingress class {class}"));
    match profile.source {
        IngressSourceKind::Cidrs => IngressSource::Cidrs(profile.default_cidrs.clone()),
        IngressSourceKind::Pods => IngressSource::Pods {
            namespace: profile.namespace.clone().unwrap_or_default(),
            pod_labels: profile.pod_labels.clone(),
        },
    }
}

/// The port of a service the answers can expose. Every chart version's catalog lists the
/// services the answers name hosts for (a unit test holds each catalog to that).
fn service_port(catalog: &SecretCatalog, name: &str) -> u16 {
    catalog
        .service_port(name)
        .unwrap_or_else(|| panic!("chart {} has no service {name}", catalog.chart_version))
}

/// The TLS Secret cert-manager writes for a service's ingress.
pub fn tls_secret_name(answers: &Answers, service: &str) -> String {
    format!("{}-{service}-tls", answers.release)
}

pub fn ingress_class(answers: &Answers) -> String {
    answers
        .ingress
        .class_name
        .clone()
        .unwrap_or_else(|| CloudProfile::get(answers.cloud).ingress_class_name.clone())
}

pub fn storage_class(answers: &Answers) -> String {
    answers
        .storage_class
        .clone()
        .unwrap_or_else(|| CloudProfile::get(answers.cloud).storage_class.clone())
}

fn ingress_values(answers: &Answers) -> Value {
    let profile = CloudProfile::get(answers.cloud);
    let mut annotations: Map<String, Value> = profile
        .ingress_annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    annotations.insert(
        "cert-manager.io/cluster-issuer".into(),
        json!(answers.ingress.cluster_issuer),
    );
    let class = ingress_class(answers);
    if IngressClassProfile::by_annotation(&class) {
        // GKE's controller ignores `ingressClassName` and leaves an Ingress that has only it.
        annotations.insert(CLASS_ANNOTATION.into(), json!(class));
    }
    let exposed = answers.ingress.hosts.exposed();
    let mut out = Map::new();
    for service in SecretCatalog::of_valid(&answers.chart.version).ingress_services() {
        let service = service.name.as_str();
        let entry = match exposed.iter().find(|(n, _)| *n == service) {
            Some((_, host)) => json!({
                "enabled": true,
                "className": class,
                "host": host,
                "tlsSecretName": tls_secret_name(answers, service),
                "annotations": annotations,
            }),
            // Explicit, so a service the operator did not expose stays private even if a
            // later chart enables its ingress by default.
            None => json!({ "enabled": false }),
        };
        out.insert(service.into(), entry);
    }
    Value::Object(out)
}

fn network_values(answers: &Answers) -> Value {
    let catalog = SecretCatalog::of_valid(&answers.chart.version);
    let net = &answers.network;
    let dns_peers: Vec<Value> = net
        .dns_egress
        .iter()
        .map(|c| json!({ "ipBlock": { "cidr": c } }))
        .collect();
    let state_peers: Vec<Value> = net
        .state_egress
        .iter()
        .map(|c| json!({ "ipBlock": { "cidr": c } }))
        .collect();
    let ports: Vec<Value> = answers
        .ingress
        .hosts
        .exposed()
        .iter()
        .map(|(service, _)| json!({ "protocol": "TCP", "port": service_port(catalog, service) }))
        .collect();
    let from: Vec<Value> = match ingress_source(answers) {
        IngressSource::Cidrs(cidrs) => cidrs
            .iter()
            .map(|c| json!({ "ipBlock": { "cidr": c } }))
            .collect(),
        IngressSource::Pods {
            namespace,
            pod_labels,
        } => {
            let mut peer = json!({
                "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": namespace } },
            });
            if !pod_labels.is_empty() {
                peer["podSelector"] = json!({ "matchLabels": pod_labels });
            }
            vec![peer]
        }
    };
    let mut extra_egress = vec![json!({
        "to": state_peers,
        "ports": [
            { "protocol": "TCP", "port": answers.postgres.port },
            { "protocol": "TCP", "port": answers.redis.port },
        ],
    })];
    if let Some(runtime) = &answers.runtime_identity {
        // The runtime identity's token exchange and provider APIs, as named CIDRs: never
        // open HTTPS.
        let peers: Vec<Value> = runtime
            .egress
            .iter()
            .map(|c| json!({ "ipBlock": { "cidr": c } }))
            .collect();
        extra_egress.push(json!({
            "to": peers,
            "ports": [ { "protocol": "TCP", "port": 443 } ],
        }));
        for peer in &CloudProfile::get(answers.cloud).runtime_identity_egress {
            let ports: Vec<Value> = peer
                .ports
                .iter()
                .map(|p| json!({ "protocol": "TCP", "port": p }))
                .collect();
            extra_egress.push(json!({
                "to": [ { "ipBlock": { "cidr": peer.cidr } } ],
                "ports": ports,
            }));
        }
    }
    json!({
        "enabled": true,
        "allowOpenDns": false,
        "allowOpenHttps": false,
        // Egress rules are NetworkPolicyEgressRule objects: peers go under `to`. (The chart's
        // examples put ipBlock at the rule's top level, where the API server drops it.)
        "dnsEgress": [ {
            "to": dns_peers,
            "ports": [ { "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 } ],
        } ],
        "extraIngress": [ { "from": from, "ports": ports } ],
        "extraEgress": extra_egress,
    })
}

/// The values file, as a value.
pub fn values(answers: &Answers) -> Value {
    let catalog = SecretCatalog::of_valid(&answers.chart.version);
    let profile = CloudProfile::get(answers.cloud);
    let pg = &answers.postgres;
    let redis = &answers.redis;
    let mut services =
        json!({ "web": { "publicUrl": format!("https://{}", answers.ingress.hosts.web) } });
    if let Some(sts) = &answers.ingress.hosts.sts {
        // External verifiers resolve the issuer, so it must be the public origin.
        services["sts"] = json!({ "issuerUrl": format!("https://{sts}") });
    }
    let mut secrets = json!({
        "create": false,
        "runtimeSecretName": RUNTIME_SECRET,
        "kekRotation": answers.kek_rotation,
        "database": {
            "user": pg.username,
            "passwordKey": catalog.database.admin_password_key,
            "host": pg.host,
            "port": pg.port,
            "name": pg.database,
            "sslMode": pg.ssl_mode,
        },
        "authDatabase": { "name": pg.auth_database },
        "redis": { "passwordKey": catalog.redis.password_key, "host": redis.host, "port": redis.port, "database": redis.database },
    });
    // Without a secretName the chart mounts no STS or audit admin token at all.
    for secret in &catalog.secrets {
        if let (Some(values_ref), Some(key)) = (&secret.values_ref, &secret.runtime_key) {
            secrets[values_ref] = json!({ "secretName": RUNTIME_SECRET, "key": key });
        }
    }
    // External Secrets' identity reads every seeded secret: Caracal's pods never carry it.
    // They get the separate runtime identity if one is named, else no cloud identity at all.
    let (pod_labels, sa_annotations) = match &answers.runtime_identity {
        Some(runtime) => (
            json!(profile.pod_labels),
            json!({ profile.identity_annotation.clone(): runtime.id }),
        ),
        None => (json!({}), json!({})),
    };
    json!({
        "global": { "mode": "stable", "evaluation": false, "podLabels": pod_labels },
        "serviceAccount": {
            "create": true,
            "annotations": sa_annotations,
        },
        "secrets": secrets,
        "networkPolicy": network_values(answers),
        "replayPersistence": { "enabled": true, "storageClassName": storage_class(answers) },
        "serviceMonitor": { "enabled": true },
        "alertRules": { "enabled": true },
        "ingress": ingress_values(answers),
        "services": services,
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

    fn admitted_ports(values: &Value) -> Vec<u64> {
        values["networkPolicy"]["extraIngress"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn ports_follow_the_chart_versions_catalog() {
        assert_eq!(
            admitted_ports(&values(&answers("1.0.0"))),
            [8080, 8081, 3000, 3002]
        );
        assert_eq!(
            admitted_ports(&values(&answers("1.0.1-test.1"))),
            [8080, 8443, 3000, 3002]
        );
    }

    #[test]
    fn every_catalog_has_a_service_for_each_host_the_answers_name() {
        let a = answers("1.0.0");
        let hosts: Vec<&str> = a.ingress.hosts.exposed().iter().map(|(n, _)| *n).collect();
        assert_eq!(hosts, ["sts", "gateway", "api", "web"], "every host is set");
        for version in SecretCatalog::supported_versions() {
            let catalog = SecretCatalog::for_chart(version).unwrap();
            for host in &hosts {
                assert!(
                    catalog.service(host).is_some_and(|s| s.ingress),
                    "chart {version} cannot expose {host}"
                );
            }
        }
    }

    #[test]
    fn token_references_point_at_the_runtime_secret() {
        let v = values(&answers("1.0.0"));
        for (reference, key) in [
            ("stsAdminToken", "stsAdminToken"),
            ("auditAdminToken", "auditAdminToken"),
            ("metricsBearer", "metricsBearer"),
        ] {
            assert_eq!(
                v["secrets"][reference],
                json!({ "secretName": RUNTIME_SECRET, "key": key })
            );
        }
    }
}
