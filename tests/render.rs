//! The rendered bundle of each cloud: snapshots, and the facts it must get right.

mod support;

use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::core::external_secret::RUNTIME_SECRET;
use caracal_deploy::core::external_secret::produced_keys;
use caracal_deploy::core::mounts::secret_mounts;
use caracal_deploy::core::render::{VALUES_FILE, render};
use caracal_deploy::core::yaml;
use support::{CLOUDS, repo};

fn example(cloud: &str) -> Answers {
    // Snapshots use the examples as shipped (OCI chart reference), no local paths.
    let text =
        std::fs::read_to_string(repo().join(format!("examples/answers-{cloud}.yaml"))).unwrap();
    Answers::from_yaml(&text).unwrap()
}

#[test]
fn bundle_snapshots() {
    for cloud in CLOUDS {
        let bundle = render(&example(cloud));
        for file in &bundle.files {
            insta::assert_snapshot!(format!("{cloud}__{}", file.name), file.content);
        }
    }
}

#[test]
fn remote_names_follow_each_cloud() {
    for cloud in CLOUDS {
        let bundle = render(&example(cloud));
        let es = &bundle.objects[3];
        let keys: Vec<&str> = es["spec"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["remoteRef"]["key"].as_str().unwrap())
            .collect();
        assert!(!keys.is_empty());
        for key in &keys {
            match cloud {
                "aws" => assert!(key.starts_with("caracal/"), "{key}"),
                _ => {
                    assert!(
                        !key.contains('/'),
                        "{cloud}: remote name {key} contains '/'"
                    );
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                        "{cloud}: {key} is not a valid Key Vault / GCP name"
                    );
                }
            }
        }
        assert!(
            keys.iter().all(|k| !k.contains("zone-kek")),
            "pre-1.0 KEK name"
        );
        let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
        for secret in catalog.seeded() {
            let remote = secret.remote_name(example(cloud).cloud, "caracal");
            assert!(
                keys.contains(&remote.as_str()),
                "{cloud}: {remote} is never read"
            );
        }
    }
}

#[test]
fn external_secret_corrects_the_upstream_example() {
    // A key no workload reads must at least be one of the chart's own runtime Secret
    // (templates/secret.yaml, its evaluation-mode stand-in: e.g. redisPassword).
    let chart_secret =
        std::fs::read_to_string(support::chart_dir().join("templates/secret.yaml")).unwrap();
    let own_keys: std::collections::BTreeSet<String> =
        regex::Regex::new(r"(?m)^  ([A-Za-z0-9_.]+):")
            .unwrap()
            .captures_iter(&chart_secret)
            .map(|c| c[1].to_string())
            .collect();
    for cloud in CLOUDS {
        let answers = example(cloud);
        let bundle = render(&answers);
        let es = &bundle.objects[3];
        assert_eq!(
            es["spec"]["secretStoreRef"]["name"],
            format!("caracal-{cloud}")
        );
        assert_eq!(
            es["spec"]["secretStoreRef"]["name"],
            bundle.objects[2]["metadata"]["name"]
        );
        let template = es["spec"]["target"]["template"]["data"]
            .as_object()
            .unwrap();
        assert_eq!(template["postgresPassword"], "{{ .pgPassword }}");
        for (key, value) in template {
            let value = value.as_str().unwrap();
            if value.contains("://") {
                for var in [".pgPassword", ".redisPassword"] {
                    if let Some(pos) = value.find(var) {
                        let rest = &value[pos..value[pos..].find("}}").map(|e| pos + e).unwrap()];
                        assert!(
                            rest.contains("urlquery"),
                            "{cloud}: {key} puts {var} into a URL unescaped: {value}"
                        );
                    }
                }
                assert!(value.contains("urlquery"), "{cloud}: {key}: {value}");
            }
        }
        // What ESO will write is the manifest's template, not what `produced_keys` says: held
        // against the keys the real chart mounts from the runtime Secret with these values
        // (helm template), which no code of the bundle's computes.
        for kek_rotation in [false, true] {
            let mut answers = answers.clone();
            answers.kek_rotation = kek_rotation;
            let bundle = render(&answers);
            let template: std::collections::BTreeSet<String> = bundle.objects[3]["spec"]["target"]
                ["template"]["data"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let values = dir.path().join(VALUES_FILE);
            std::fs::write(&values, &bundle.file(VALUES_FILE).unwrap().content).unwrap();
            let docs = yaml::from_documents(&support::helm_template(&answers, &values)).unwrap();
            let mounts = secret_mounts(&docs, RUNTIME_SECRET);
            assert!(mounts.required.len() >= 20, "{cloud}: {mounts:?}");
            let missing: Vec<&String> = mounts.required.difference(&template).collect();
            assert!(
                missing.is_empty(),
                "{cloud} (kekRotation {kek_rotation}): the chart mounts keys the ExternalSecret never writes: {missing:?}"
            );
            let unused: Vec<&String> = template
                .iter()
                .filter(|k| {
                    !mounts.required.contains(*k)
                        && !mounts.optional.contains(*k)
                        && !own_keys.contains(*k)
                })
                .collect();
            assert!(
                unused.is_empty(),
                "{cloud} (kekRotation {kek_rotation}): the ExternalSecret writes keys the chart neither reads nor defines: {unused:?}"
            );
            // `produced_keys` (what render's own check and verify use) says the same.
            let said: std::collections::BTreeSet<String> =
                produced_keys(&answers).into_iter().collect();
            assert_eq!(said, template, "{cloud} (kekRotation {kek_rotation})");
        }
    }
}

#[test]
fn stores_use_each_clouds_workload_identity() {
    let aws = render(&example("aws"));
    assert_eq!(
        aws.objects[2]["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"],
        "caracal-external-secrets"
    );
    assert_eq!(
        aws.objects[1]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/caracal"
    );
    let gcp = render(&example("gcp"));
    let wi = &gcp.objects[2]["spec"]["provider"]["gcpsm"]["auth"]["workloadIdentity"];
    assert_eq!(wi["clusterName"], "caracal-prod");
    assert_eq!(
        gcp.objects[1]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"],
        "caracal@my-project.iam.gserviceaccount.com"
    );
    let azure = render(&example("azure"));
    assert_eq!(
        azure.objects[2]["spec"]["provider"]["azurekv"]["authType"],
        "WorkloadIdentity"
    );
    assert_eq!(
        azure.objects[2]["spec"]["provider"]["azurekv"]["tenantId"],
        "00000000-0000-0000-0000-00000000aaaa"
    );
    assert_eq!(wi["clusterProjectID"], "my-project");
    // External Secrets' identity is never the pods': the Azure example names no runtime
    // identity, so the chart's service account and pods get none; the AWS one names its own.
    assert_eq!(azure.values["global"]["podLabels"], serde_json::json!({}));
    assert_eq!(
        azure.values["serviceAccount"]["annotations"],
        serde_json::json!({})
    );
    assert_eq!(
        aws.values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/caracal-runtime"
    );
    for b in [&aws, &gcp, &azure] {
        assert_eq!(
            b.objects[2]["spec"]["conditions"][0]["namespaces"][0],
            "caracal"
        );
    }
}

#[test]
fn kek_rotation_mounts_the_previous_key() {
    let mut answers = example("aws");
    assert!(!produced_keys(&answers).contains(&"secretStoreKekPrevious".to_string()));
    answers.kek_rotation = true;
    let bundle = render(&answers);
    assert!(produced_keys(&answers).contains(&"secretStoreKekPrevious".to_string()));
    assert_eq!(bundle.values["secrets"]["kekRotation"], true);
    let data = bundle.objects[3]["spec"]["data"].as_array().unwrap();
    assert!(
        data.iter()
            .any(|d| d["remoteRef"]["key"] == "caracal/secret-store-kek-previous")
    );
}

#[test]
fn private_services_get_no_ingress() {
    let mut answers = example("gcp");
    answers.ingress.hosts.api = None;
    answers.ingress.hosts.gateway = None;
    let bundle = render(&answers);
    assert_eq!(bundle.values["ingress"]["api"]["enabled"], false);
    assert_eq!(bundle.values["ingress"]["gateway"]["enabled"], false);
    let ports: Vec<u64> = bundle.values["networkPolicy"]["extraIngress"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ports,
        [8080, 3002],
        "only the exposed services' ports are admitted"
    );
}

#[test]
fn helm_command_carries_no_secret_and_pins_the_version() {
    let bundle = render(&example("aws"));
    let script = &bundle.file("helm-install.sh").unwrap().content;
    assert!(script.contains(
        "exec 'helm' 'upgrade' '--install' '--version=1.0.0' '--namespace=caracal' '--kube-context=prod-eks' '--values=values.yaml'"
    ));
    assert!(script.contains("'--' 'caracal' 'oci://ghcr.io/garudex-labs/charts/caracal'\n"));
    assert!(
        !script.contains("--set"),
        "values travel in the file, never as --set"
    );
}
