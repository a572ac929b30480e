//! The rendered values against the real chart 1.0.0 through a real `helm template`.

mod support;

use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::core::external_secret::{RUNTIME_SECRET, produced_keys};
use caracal_deploy::core::mounts::secret_mounts;
use caracal_deploy::core::render::{VALUES_FILE, render};
use caracal_deploy::core::yaml;
use support::{CLOUDS, example_answers, helm_template};

fn rendered_chart(
    cloud: &str,
) -> (
    caracal_deploy::core::answers::Answers,
    Vec<serde_json::Value>,
) {
    let answers = example_answers(cloud);
    let bundle = render(&answers);
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join(VALUES_FILE);
    std::fs::write(&values, &bundle.file(VALUES_FILE).unwrap().content).unwrap();
    let text = helm_template(&answers, &values);
    (answers, yaml::from_documents(&text).unwrap())
}

fn kinds(docs: &[serde_json::Value], kind: &str) -> Vec<String> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// The switches `verify`'s `monitoring-objects` fix names are the chart's: with the values as
/// written the release renders its ServiceMonitors and PrometheusRule, and turning off each key
/// the fix names removes objects of that kind (a key the chart does not read would remove none).
#[test]
fn the_monitoring_fix_names_the_charts_own_switches() {
    use caracal_deploy::core::verify::MONITORING_FIX;
    let answers = example_answers("aws");
    let bundle = render(&answers);
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join(VALUES_FILE);
    let template = |v: &serde_json::Value| {
        std::fs::write(&values, yaml::to_string(v)).unwrap();
        yaml::from_documents(&helm_template(&answers, &values)).unwrap()
    };
    let all = template(&bundle.values);
    let monitors = kinds(&all, "ServiceMonitor").len();
    let rules = kinds(&all, "PrometheusRule").len();
    assert!(monitors > 0 && rules > 0, "{monitors} {rules}");
    let keys: Vec<&str> = MONITORING_FIX
        .split('`')
        .filter_map(|s| s.strip_suffix(".enabled: true"))
        .collect();
    assert_eq!(keys.len(), 2, "{MONITORING_FIX}");
    let mut removed = Vec::new();
    for key in keys {
        let mut off = bundle.values.clone();
        off[key]["enabled"] = false.into();
        let docs = template(&off);
        for (kind, before) in [("ServiceMonitor", monitors), ("PrometheusRule", rules)] {
            if kinds(&docs, kind).len() < before {
                removed.push(kind);
            }
        }
    }
    removed.sort();
    assert_eq!(
        removed,
        ["PrometheusRule", "ServiceMonitor"],
        "{MONITORING_FIX}"
    );
}

#[test]
fn chart_renders_in_stable_mode_for_each_cloud() {
    for cloud in CLOUDS {
        let (_, docs) = rendered_chart(cloud);
        assert_eq!(
            kinds(&docs, "Deployment").len(),
            4,
            "{cloud}: api, audit, coordinator, web"
        );
        assert_eq!(
            kinds(&docs, "StatefulSet"),
            ["caracal-caracal-sts", "caracal-caracal-gateway"],
            "{cloud}"
        );
        assert_eq!(
            kinds(&docs, "Job").len(),
            2,
            "{cloud}: migrate, auth-migrate"
        );
        assert_eq!(kinds(&docs, "Ingress").len(), 4, "{cloud}");
        assert_eq!(kinds(&docs, "ServiceMonitor").len(), 6, "{cloud}");
        assert_eq!(kinds(&docs, "PrometheusRule").len(), 1, "{cloud}");
        // Stable mode: the chart renders no Secret of its own.
        assert!(
            kinds(&docs, "Secret").is_empty(),
            "{cloud}: the chart rendered a plaintext Secret"
        );
        for d in docs
            .iter()
            .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
        {
            let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap();
            if d["metadata"]["name"] != "caracal-caracal-web" {
                let mode = env.iter().find(|e| e["name"] == "CARACAL_MODE").unwrap();
                assert_eq!(mode["value"], "stable", "{cloud}");
            }
        }
    }
}

#[test]
fn external_secret_produces_every_key_the_chart_mounts() {
    for cloud in CLOUDS {
        let (answers, docs) = rendered_chart(cloud);
        let mounts = secret_mounts(&docs, RUNTIME_SECRET);
        assert!(
            mounts.required.len() >= 20,
            "{cloud}: suspiciously few keys: {:?}",
            mounts.required
        );
        assert!(
            mounts.whole_secret.is_empty(),
            "{cloud}: {:?}",
            mounts.whole_secret
        );
        // The migration Job mounts postgresPassword; the upstream example never produced it.
        assert!(mounts.required.contains("postgresPassword"), "{cloud}");
        // The web tier's allowlist is optional: not required of the ExternalSecret.
        assert!(
            mounts.optional.contains("operatorAllowlist.json"),
            "{cloud}: {:?}",
            mounts.optional
        );
        let produced = produced_keys(&answers);
        let missing: Vec<&String> = mounts
            .required
            .iter()
            .filter(|k| !produced.contains(k))
            .collect();
        assert!(
            missing.is_empty(),
            "{cloud}: the chart mounts keys never produced: {missing:?}"
        );
    }
}

#[test]
fn kek_rotation_keys_match_the_chart() {
    let mut answers = example_answers("azure");
    answers.kek_rotation = true;
    let bundle = render(&answers);
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join(VALUES_FILE);
    std::fs::write(&values, yaml::to_string(&bundle.values)).unwrap();
    let docs = yaml::from_documents(&helm_template(&answers, &values)).unwrap();
    let mounts = secret_mounts(&docs, RUNTIME_SECRET);
    assert!(mounts.required.contains("secretStoreKekPrevious"));
    let produced = produced_keys(&answers);
    assert!(mounts.required.iter().all(|k| produced.contains(k)));
}

#[test]
fn per_cloud_parameters_reach_the_manifests() {
    let expect = [
        ("aws", "gp3", "alb", "eks.amazonaws.com/role-arn"),
        (
            "gcp",
            "premium-rwo",
            "gce",
            "iam.gke.io/gcp-service-account",
        ),
        (
            "azure",
            "managed-csi",
            "webapprouting.kubernetes.azure.com",
            "azure.workload.identity/client-id",
        ),
    ];
    for (cloud, storage, class, annotation) in expect {
        let (answers, docs) = rendered_chart(cloud);
        let sts = docs
            .iter()
            .find(|d| d["kind"] == "StatefulSet" && d["metadata"]["name"] == "caracal-caracal-sts")
            .unwrap();
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
            storage
        );
        let ingresses: Vec<_> = docs.iter().filter(|d| d["kind"] == "Ingress").collect();
        assert!(!ingresses.is_empty(), "{cloud}");
        for ing in ingresses {
            assert_eq!(ing["spec"]["ingressClassName"], class, "{cloud}");
            // GKE's controller takes only Ingresses annotated `gce` (it ignores
            // ingressClassName, and leaves alone one that has only that); the other clouds'
            // controllers read ingressClassName, and a second class would be ambiguous.
            let legacy = ing["metadata"]["annotations"].get("kubernetes.io/ingress.class");
            if cloud == "gcp" {
                assert_eq!(legacy, Some(&serde_json::Value::from("gce")), "{cloud}");
            } else {
                assert_eq!(legacy, None, "{cloud}");
            }
            assert_eq!(
                ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
                "letsencrypt-prod"
            );
            assert!(
                ing["spec"]["tls"][0]["secretName"]
                    .as_str()
                    .unwrap()
                    .ends_with("-tls")
            );
        }
        let sa = docs
            .iter()
            .find(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "caracal-caracal")
            .unwrap();
        // The chart's pods carry the runtime identity, if any; never External Secrets'.
        match &answers.runtime_identity {
            Some(runtime) => assert_eq!(sa["metadata"]["annotations"][annotation], runtime.id),
            None => assert!(sa["metadata"]["annotations"].get(annotation).is_none()),
        }
        assert_ne!(
            sa["metadata"]["annotations"][annotation],
            answers.identity.annotation_value()
        );
        let np = docs.iter().find(|d| d["kind"] == "NetworkPolicy").unwrap();
        let egress = np["spec"]["egress"].as_array().unwrap();
        assert!(
            egress
                .iter()
                .any(|r| r["to"][0]["ipBlock"]["cidr"] == "10.0.0.10/32"),
            "{cloud}: dnsEgress peers must sit under `to`"
        );
    }
}

/// Whatever the secrets are, they never reach the bundle or the chart's manifests. Real values
/// are seeded into the bed's AWS Secrets Manager (passwords from `env:` sources, which `render`
/// could read from the same environment, and generated keys), read back, and each is looked
/// for (raw, base64, percent-encoded) in every file `render` writes, run with the same answers
/// and environment, and in `helm template`'s output of its values.
#[tokio::test]
async fn no_seeded_value_reaches_the_bundle_or_the_manifests() {
    use base64::Engine as _;
    use caracal_deploy::core::answers::SecretSource;
    use caracal_deploy::core::secret_manager::RemoteState;
    use secrecy::ExposeSecret;

    let dir = tempfile::tempdir().unwrap();
    let mut answers = support::bed_answers("aws");
    answers.secret_manager.prefix = support::unique("chart");
    answers.postgres.password = SecretSource::Env("CARACAL_TEST_CHART_PG".into());
    answers.redis.password = SecretSource::Env("CARACAL_TEST_CHART_REDIS".into());
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let pg = format!("pg/{}:x y", support::unique("pw"));
    let redis = format!("redis@{}", support::unique("pw"));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(args)
            .arg("-f")
            .arg(&path)
            .env("CARACAL_TEST_CHART_PG", &pg)
            .env("CARACAL_TEST_CHART_REDIS", &redis)
            .output()
            .unwrap()
    };
    let out = run(&["seed"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every seeded value, as the secret manager holds it; the JSON secrets' passwords apart.
    let sm = caracal_deploy::adapters::connect_secret_manager(&answers)
        .await
        .unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let mut seeded: Vec<(String, String)> = Vec::new();
    for s in catalog.seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        let RemoteState::Present(v) = sm.read(&name).await.unwrap() else {
            panic!("{name} was not seeded")
        };
        let v = v.expose_secret().to_string();
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&v)
            && let Some(p) = json["password"].as_str()
        {
            seeded.push((format!("{name}.password"), p.to_string()));
        } else {
            seeded.push((name, v));
        }
    }
    assert!(
        seeded.contains(&(
            format!("{}/postgres.password", answers.secret_manager.prefix),
            pg.clone()
        )),
        "{seeded:?}"
    );
    assert!(seeded.contains(&(
        format!("{}/redis.password", answers.secret_manager.prefix),
        redis.clone()
    )));

    let bundle = dir.path().join("bundle");
    let out = run(&["render", "--out", bundle.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut texts: Vec<(String, String)> = std::fs::read_dir(&bundle)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    assert!(texts.len() >= 6, "{texts:?}");
    texts.push((
        "helm template".into(),
        helm_template(&answers, &bundle.join(VALUES_FILE)),
    ));
    let percent = |v: &str| -> String {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    for (name, value) in &seeded {
        let forms = [
            value.clone(),
            base64::engine::general_purpose::STANDARD.encode(value),
            percent(value),
        ];
        for (file, text) in &texts {
            for form in &forms {
                assert!(
                    !text.contains(form.as_str()),
                    "the value of {name} is in {file}"
                );
            }
        }
    }
    let values: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(bundle.join(VALUES_FILE)).unwrap())
            .unwrap();
    assert_eq!(values["secrets"]["create"], false);
    assert!(
        values["secrets"].get("plaintext").is_none(),
        "no plaintext block at all"
    );
}

/// The facts of the chart version's catalog (assets/catalog/1.0.0.yaml), held against what the
/// real chart renders: a wrong port, role or key name fails here, not in a cluster.
#[test]
fn the_catalog_states_the_charts_facts() {
    let (answers, docs) = rendered_chart("aws");
    let catalog = SecretCatalog::for_chart(&answers.chart.version).unwrap();
    let chart_yaml = std::fs::read_to_string(support::chart_dir().join("Chart.yaml")).unwrap();
    assert!(
        chart_yaml
            .lines()
            .any(|l| l == format!("version: {}", catalog.chart_version)),
        "the resolved chart is not {}",
        catalog.chart_version
    );

    // Service ports, and which services the chart can expose.
    let prefix = format!("{}-caracal-", answers.release);
    let mut services: Vec<(String, u64)> = docs
        .iter()
        .filter(|d| d["kind"] == "Service")
        .map(|d| {
            let name = d["metadata"]["name"].as_str().unwrap();
            (
                name.strip_prefix(&prefix).unwrap().to_string(),
                d["spec"]["ports"][0]["port"].as_u64().unwrap(),
            )
        })
        .collect();
    services.sort();
    let mut expected: Vec<(String, u64)> = catalog
        .services
        .iter()
        .map(|s| (s.name.clone(), u64::from(s.port)))
        .collect();
    expected.sort();
    assert_eq!(services, expected, "Service ports");
    let ingresses: Vec<String> = kinds(&docs, "Ingress")
        .iter()
        .map(|n| n.strip_prefix(&prefix).unwrap().to_string())
        .collect();
    let exposable: Vec<&str> = catalog
        .ingress_services()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(ingresses, exposable, "every host is set in the example");

    // The roles the migration Job creates, from the password keys it mounts.
    let job = docs
        .iter()
        .find(|d| d["kind"] == "Job" && d["metadata"]["name"] == format!("{prefix}migrate"))
        .unwrap();
    let role_files: Vec<String> = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let name = e["name"].as_str().unwrap();
            name.starts_with("CARACAL_") && name.ends_with("_DB_PASSWORD_FILE")
        })
        .map(|e| e["value"].as_str().unwrap().to_string())
        .collect();
    let db = &catalog.database;
    let expected: Vec<String> = db
        .roles
        .iter()
        .map(|r| format!("/run/secrets/{}", db.role_password_key(r)))
        .collect();
    assert_eq!(role_files, expected, "database roles");

    // Every key the ExternalSecret produces is one the chart reads; the Redis password alone
    // is named only in the values (secrets.redis.passwordKey).
    let mounts = secret_mounts(&docs, RUNTIME_SECRET);
    let unread: Vec<String> = produced_keys(&answers)
        .into_iter()
        .filter(|k| !mounts.required.contains(k) && !mounts.optional.contains(k))
        .collect();
    assert_eq!(unread, std::slice::from_ref(&catalog.redis.password_key));
    for role in &db.roles {
        assert!(
            mounts.required.contains(&db.role_url_key(role)),
            "{}",
            role.name
        );
    }
    assert!(mounts.required.contains(&db.admin_password_key));
    assert!(mounts.required.contains(&catalog.redis.url_key));
}
