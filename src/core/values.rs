//! The helm values the wizard writes: stable mode, external state, per-cloud parameters.
//! No secret material: the chart reads every credential from `caracal-runtime`.

use serde_json::{Map, Value, json};

use super::answers::Answers;
use super::external_secret::RUNTIME_SECRET;
use super::profiles::CloudProfile;

/// The port of each chart service, as `values.yaml` of chart 1.0.0 sets it.
pub const SERVICE_PORTS: [(&str, u16); 4] = [
    ("sts", 8080),
    ("gateway", 8081),
    ("api", 3000),
    ("web", 3002),
];

fn service_port(name: &str) -> u16 {
    SERVICE_PORTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .expect("known service")
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
    let exposed = answers.ingress.hosts.exposed();
    let mut out = Map::new();
    for (service, _) in SERVICE_PORTS {
        let entry = match exposed.iter().find(|(n, _)| *n == service) {
            Some((_, host)) => json!({
                "enabled": true,
                "className": ingress_class(answers),
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
        .map(|(service, _)| json!({ "protocol": "TCP", "port": service_port(service) }))
        .collect();
    let controller = &net.ingress_controller;
    let mut peer = json!({
        "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": controller.namespace } },
    });
    if !controller.pod_labels.is_empty() {
        peer["podSelector"] = json!({ "matchLabels": controller.pod_labels });
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
        "extraIngress": [ { "from": [peer], "ports": ports } ],
        "extraEgress": [ {
            "to": state_peers,
            "ports": [
                { "protocol": "TCP", "port": answers.postgres.port },
                { "protocol": "TCP", "port": answers.redis.port },
            ],
        } ],
    })
}

/// The values file, as a value.
pub fn values(answers: &Answers) -> Value {
    let profile = CloudProfile::get(answers.cloud);
    let pg = &answers.postgres;
    let redis = &answers.redis;
    let mut services =
        json!({ "web": { "publicUrl": format!("https://{}", answers.ingress.hosts.web) } });
    if let Some(sts) = &answers.ingress.hosts.sts {
        // External verifiers resolve the issuer, so it must be the public origin.
        services["sts"] = json!({ "issuerUrl": format!("https://{sts}") });
    }
    json!({
        "global": { "mode": "stable", "evaluation": false, "podLabels": profile.pod_labels },
        "serviceAccount": {
            "create": true,
            "annotations": { profile.identity_annotation.clone(): answers.identity.annotation_value() },
        },
        "secrets": {
            "create": false,
            "runtimeSecretName": RUNTIME_SECRET,
            "kekRotation": answers.kek_rotation,
            "database": {
                "user": pg.username,
                "passwordKey": "postgresPassword",
                "host": pg.host,
                "port": pg.port,
                "name": pg.database,
                "sslMode": pg.ssl_mode,
            },
            "authDatabase": { "name": pg.auth_database },
            "redis": { "passwordKey": "redisPassword", "host": redis.host, "port": redis.port, "database": redis.database },
            "stsAdminToken": { "secretName": RUNTIME_SECRET, "key": "stsAdminToken" },
            "auditAdminToken": { "secretName": RUNTIME_SECRET, "key": "auditAdminToken" },
            "metricsBearer": { "secretName": RUNTIME_SECRET, "key": "metricsBearer" },
        },
        "networkPolicy": network_values(answers),
        "replayPersistence": { "enabled": true, "storageClassName": storage_class(answers) },
        "serviceMonitor": { "enabled": true },
        "alertRules": { "enabled": true },
        "ingress": ingress_values(answers),
        "services": services,
    })
}
