//! Correctness on each cloud (issue 8), checked on what the real chart renders: two
//! identities, not one; the load balancer's source admitted by the NetworkPolicy; the
//! store's tenant (Azure) and cluster project (GCP); egress for a runtime identity.
//!
//! Written against the public reader and renderer only, so the same file runs against the
//! code before these fixes (and fails there).

mod support;

use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::render::{VALUES_FILE, render};
use caracal_deploy::core::yaml;
use serde_json::{Value, json};
use support::{CLOUDS, example_text, helm_template};

/// The cloud annotations that bind a workload identity to a service account.
const IDENTITY_ANNOTATIONS: [&str; 3] = [
    "eks.amazonaws.com/role-arn",
    "iam.gke.io/gcp-service-account",
    "azure.workload.identity/client-id",
];
const AZURE_USE_LABEL: &str = "azure.workload.identity/use";

fn doc(cloud: &str) -> Value {
    serde_saphyr::from_str(&example_text(cloud)).unwrap()
}

/// Sets (Some) or removes (None) a dotted path; the value given as YAML.
fn with(mut doc: Value, path: &str, value: Option<&str>) -> Value {
    let parts: Vec<&str> = path.split('.').collect();
    let mut node = &mut doc;
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert(json!({}));
    }
    let map = node.as_object_mut().unwrap();
    let last = parts[parts.len() - 1];
    match value {
        Some(v) => {
            let parsed: Value = serde_saphyr::from_str(&format!("v: {v}\n")).unwrap();
            map.insert(last.into(), parsed["v"].clone());
        }
        None => {
            map.remove(last);
        }
    }
    doc
}

fn read(doc: &Value) -> Answers {
    Answers::from_value(doc).unwrap_or_else(|p| panic!("answers refused: {p:#?}"))
}

/// The problems of answers that must be refused.
fn refused(doc: &Value) -> Vec<(String, String, String)> {
    match Answers::from_value(doc) {
        Ok(_) => panic!("answers accepted: {doc:#}"),
        Err(problems) => problems
            .into_iter()
            .map(|p| (p.path, p.message, p.fix))
            .collect(),
    }
}

/// `helm template` of the real chart with the values the answers render.
fn chart(answers: &Answers) -> Vec<Value> {
    let bundle = render(answers);
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join(VALUES_FILE);
    std::fs::write(&values, &bundle.file(VALUES_FILE).unwrap().content).unwrap();
    yaml::from_documents(&helm_template(answers, &values)).unwrap()
}

fn pod_templates(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| {
            ["Deployment", "StatefulSet", "Job"].contains(&d["kind"].as_str().unwrap_or(""))
        })
        .map(|d| &d["spec"]["template"])
        .collect()
}

fn network_policy(docs: &[Value]) -> &Value {
    docs.iter().find(|d| d["kind"] == "NetworkPolicy").unwrap()
}

/// The `from` peers of the rules beyond the chart's own (Caracal pods to Caracal pods).
fn admitted_sources(docs: &[Value]) -> Vec<Value> {
    let rules = network_policy(docs)["spec"]["ingress"].as_array().unwrap();
    rules[1..]
        .iter()
        .flat_map(|r| r["from"].as_array().unwrap().clone())
        .collect()
}

fn without_runtime_identity(cloud: &str) -> Value {
    with(doc(cloud), "runtimeIdentity", None)
}

fn eso_identity(cloud: &str) -> &'static str {
    match cloud {
        "aws" => "arn:aws:iam::123456789012:role/caracal",
        "gcp" => "caracal@my-project.iam.gserviceaccount.com",
        _ => "00000000-0000-0000-0000-000000000000",
    }
}

fn runtime_path(cloud: &str) -> (&'static str, &'static str) {
    match cloud {
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
            "11111111-1111-4111-8111-111111111111",
        ),
    }
}

#[test]
fn without_a_runtime_identity_no_caracal_pod_carries_a_cloud_identity() {
    for cloud in CLOUDS {
        let answers = read(&without_runtime_identity(cloud));
        let bundle = render(&answers);
        // External Secrets' own service account keeps its identity: it reads the secrets.
        let eso_annotations = &bundle.objects[1]["metadata"]["annotations"];
        assert!(
            IDENTITY_ANNOTATIONS
                .iter()
                .any(|a| eso_annotations[a] == eso_identity(cloud)),
            "{cloud}: {eso_annotations}"
        );
        let docs = chart(&answers);
        for sa in docs.iter().filter(|d| d["kind"] == "ServiceAccount") {
            for a in IDENTITY_ANNOTATIONS {
                assert!(
                    sa["metadata"]["annotations"].get(a).is_none(),
                    "{cloud}: chart ServiceAccount {} carries {a}",
                    sa["metadata"]["name"]
                );
            }
        }
        for pod in pod_templates(&docs) {
            assert!(
                pod["metadata"]["labels"].get(AZURE_USE_LABEL).is_none(),
                "{cloud}: {} asks for a projected identity",
                pod["metadata"]["labels"]
            );
        }
        let text = serde_json::to_string(&docs).unwrap();
        assert!(
            !text.contains(&format!("\"{}\"", eso_identity(cloud))),
            "{cloud}: External Secrets' identity appears in the chart's objects"
        );
    }
}

#[test]
fn a_runtime_identity_is_separate_and_gets_named_https_egress() {
    for cloud in CLOUDS {
        let (path, id) = runtime_path(cloud);
        let d = with(without_runtime_identity(cloud), path, Some(id));
        let d = with(
            d,
            "runtimeIdentity.egress",
            Some("[10.0.64.0/24, 10.0.65.0/24]"),
        );
        let answers = read(&d);
        let docs = chart(&answers);
        let sa = docs
            .iter()
            .find(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "caracal-caracal")
            .unwrap();
        let annotations = &sa["metadata"]["annotations"];
        assert!(
            IDENTITY_ANNOTATIONS.iter().any(|a| annotations[a] == id),
            "{cloud}: {annotations}"
        );
        let text = serde_json::to_string(&docs).unwrap();
        assert!(
            !text.contains(&format!("\"{}\"", eso_identity(cloud))),
            "{cloud}"
        );
        if cloud == "azure" {
            for pod in pod_templates(&docs) {
                let sa_name = pod["spec"]["serviceAccountName"].as_str().unwrap();
                if sa_name == "caracal-caracal" {
                    assert_eq!(pod["metadata"]["labels"][AZURE_USE_LABEL], "true");
                }
            }
        }
        let egress = network_policy(&docs)["spec"]["egress"].as_array().unwrap();
        let https: Vec<&Value> = egress
            .iter()
            .filter(|r| {
                r["ports"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["port"] == 443))
            })
            .collect();
        assert_eq!(https.len(), 1, "{cloud}: {egress:#?}");
        assert_eq!(
            https[0]["to"],
            json!([
                { "ipBlock": { "cidr": "10.0.64.0/24" } },
                { "ipBlock": { "cidr": "10.0.65.0/24" } },
            ]),
            "{cloud}: HTTPS only to the named CIDRs, never open"
        );
        assert_eq!(
            render(&answers).values["networkPolicy"]["allowOpenHttps"],
            false
        );
        // GKE serves workload identity tokens from its metadata server.
        let metadata = egress.iter().any(|r| {
            r["to"] == json!([{ "ipBlock": { "cidr": "169.254.169.252/32" } }])
                && r["ports"] == json!([{ "protocol": "TCP", "port": 988 }])
        });
        assert_eq!(metadata, cloud == "gcp", "{cloud}: {egress:#?}");

        // Without its egress, refused with the fix; so is External Secrets' identity reused.
        let problems = refused(&with(d.clone(), "runtimeIdentity.egress", None));
        assert!(
            problems
                .iter()
                .any(|(p, _, fix)| p == "runtimeIdentity.egress"
                    && fix.contains("CIDRs")
                    && fix.contains("never")),
            "{cloud}: {problems:?}"
        );
        let problems = refused(&with(d, path, Some(eso_identity(cloud))));
        assert!(
            problems
                .iter()
                .any(|(p, m, _)| p == path && m.contains("External Secrets")),
            "{cloud}: {problems:?}"
        );
    }
}

#[test]
fn the_network_policy_admits_exactly_the_ingress_classs_source() {
    let ip = |c: &str| json!({ "ipBlock": { "cidr": c } });
    let namespace = |n: &str| json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": n } } });
    let cases: Vec<(&str, Value, Vec<Value>)> = vec![
        // EKS, ALB with IP targets: the VPC range (the chart's EKS example).
        (
            "aws alb",
            with(
                with(doc("aws"), "network.ingressController", None),
                "network.loadBalancerCidrs",
                Some("[10.60.0.0/16]"),
            ),
            vec![ip("10.60.0.0/16")],
        ),
        // GKE: Google's front-end and health-check ranges by default.
        (
            "gcp gce",
            with(
                with(doc("gcp"), "network.ingressController", None),
                "network.loadBalancerCidrs",
                None,
            ),
            vec![ip("130.211.0.0/22"), ip("35.191.0.0/16")],
        ),
        // AKS application routing: its controller's namespace by default.
        (
            "azure app routing",
            with(
                with(doc("azure"), "network.ingressController", None),
                "ingress.className",
                Some("webapprouting.kubernetes.azure.com"),
            ),
            vec![namespace("app-routing-system")],
        ),
        // AGIC: the gateway's subnet.
        (
            "azure agic",
            with(
                with(
                    with(doc("azure"), "network.ingressController", None),
                    "ingress.className",
                    Some("azure-application-gateway"),
                ),
                "network.loadBalancerCidrs",
                Some("[10.225.0.0/24]"),
            ),
            vec![ip("10.225.0.0/24")],
        ),
        // An in-cluster ingress-nginx: its namespace and pod labels.
        (
            "aws nginx",
            with(
                with(doc("aws"), "network.loadBalancerCidrs", None),
                "ingress.className",
                Some("nginx"),
            ),
            vec![json!({
                "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "ingress-nginx" } },
                "podSelector": { "matchLabels": { "app.kubernetes.io/name": "ingress-nginx" } },
            })],
        ),
    ];
    for (name, d, want) in cases {
        let docs = chart(&read(&d));
        assert_eq!(admitted_sources(&docs), want, "{name}");
    }
}

#[test]
fn an_ingress_class_with_the_wrong_source_is_refused_with_the_fix() {
    let pods = "{namespace: ingress-nginx, podLabels: {app.kubernetes.io/name: ingress-nginx}}";
    // An `alb` class with only a pod selector: the console would be unreachable.
    let alb = with(
        with(doc("aws"), "network.loadBalancerCidrs", None),
        "network.ingressController",
        Some(pods),
    );
    let alb = with(alb, "ingress.className", Some("alb"));
    let problems = refused(&alb);
    assert!(
        problems
            .iter()
            .any(|(p, m, fix)| p == "network.ingressController"
                && m.contains("alb")
                && fix.contains("network.loadBalancerCidrs")),
        "{problems:?}"
    );
    // `alb` with no source at all.
    let problems = refused(&with(alb, "network.ingressController", None));
    assert!(
        problems
            .iter()
            .any(|(p, _, fix)| p == "network.loadBalancerCidrs" && fix.contains("VPC")),
        "{problems:?}"
    );
    // `gce` with a pod selector.
    let gce = with(
        with(doc("gcp"), "network.loadBalancerCidrs", None),
        "network.ingressController",
        Some(pods),
    );
    let problems = refused(&gce);
    assert!(
        problems
            .iter()
            .any(|(p, _, _)| p == "network.ingressController"),
        "{problems:?}"
    );
    // AKS application routing with CIDRs: its traffic comes from the controller pods.
    let aks = with(
        doc("azure"),
        "network.loadBalancerCidrs",
        Some("[10.0.0.0/16]"),
    );
    let problems = refused(&with(
        aks,
        "ingress.className",
        Some("webapprouting.kubernetes.azure.com"),
    ));
    assert!(
        problems
            .iter()
            .any(|(p, m, _)| p == "network.loadBalancerCidrs" && m.contains("app-routing-system")),
        "{problems:?}"
    );
}

#[test]
fn the_azure_store_carries_its_tenant() {
    let tenant = "00000000-0000-4000-8000-00000000ca1a";
    let answers = read(&with(doc("azure"), "identity.tenantId", Some(tenant)));
    let store = &render(&answers).objects[2];
    assert_eq!(store["spec"]["provider"]["azurekv"]["tenantId"], tenant);
    let problems = refused(&with(doc("azure"), "identity.tenantId", None));
    assert!(
        problems
            .iter()
            .any(|(p, _, fix)| p == "identity.tenantId" && fix.contains("GUID")),
        "{problems:?}"
    );
    let problems = refused(&with(doc("azure"), "identity.tenantId", Some("contoso")));
    assert!(
        problems.iter().any(|(p, _, _)| p == "identity.tenantId"),
        "{problems:?}"
    );
}

#[test]
fn the_gcp_store_names_the_clusters_project() {
    let wi = |a: &Answers| {
        render(a).objects[2]["spec"]["provider"]["gcpsm"]["auth"]["workloadIdentity"].clone()
    };
    let same = read(&with(doc("gcp"), "identity.clusterProject", None));
    assert_eq!(wi(&same)["clusterProjectID"], "my-project");
    let shared = read(&with(
        doc("gcp"),
        "identity.clusterProject",
        Some("caracal-clusters"),
    ));
    assert_eq!(wi(&shared)["clusterProjectID"], "caracal-clusters");
    assert_eq!(
        render(&shared).objects[2]["spec"]["provider"]["gcpsm"]["projectID"],
        "my-project"
    );
}
