//! The whole AWS path on the test bed: seed into moto, apply the bundle, the real External
//! Secrets controller syncs `caracal-runtime`, then helm installs the real chart and its
//! hooks and workloads finish under simulated nodes.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use caracal_deploy::adapters::helm::Helm;
use caracal_deploy::adapters::kube::Cluster;
use caracal_deploy::core::external_secret::RUNTIME_SECRET;
use caracal_deploy::core::helm_command::helm_install_args;
use caracal_deploy::core::mounts::secret_mounts;
use caracal_deploy::core::render::{VALUES_FILE, render};
use caracal_deploy::core::yaml;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{bed_answers, helm, helm_template};

/// Passwords with the characters that break an unescaped URL (`@:/?+`, `%`, a space, `#`).
const PG_PASSWORD: &str = "p@ss:w/rd?x+y%z w";
const REDIS_PASSWORD: &str = "r3d!s @:/?+#%z";

fn urlquery(s: &str) -> String {
    // Go's url.QueryEscape, which ESO's `urlquery` applies, with spaces as %20 for userinfo.
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push_str("%20"),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// RFC 3986 percent-decoding (`+` stays `+`: userinfo is not a form).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape in {s}")));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn decode(secret: &Value, key: &str) -> String {
    use base64::Engine;
    let b64 = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("caracal-runtime has no {key}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// Renders the bundle and applies its objects in order, as `apply` will.
async fn apply_bundle(
    answers: &caracal_deploy::core::answers::Answers,
) -> (Cluster, caracal_deploy::core::render::Bundle) {
    let cluster = Cluster::connect(answers.kube_context.as_deref())
        .await
        .unwrap();
    let bundle = render(answers);
    for obj in &bundle.objects {
        cluster
            .apply(obj, false)
            .await
            .unwrap_or_else(|e| panic!("{}: apply {}: {e}", answers.cloud, obj["kind"]));
    }
    (cluster, bundle)
}

#[tokio::test]
async fn aws_seed_sync_and_install_end_to_end() {
    let mut answers = bed_answers("aws");
    answers.secret_manager.prefix = support::unique("e2e");
    answers.postgres.password =
        caracal_deploy::core::answers::SecretSource::Env("CARACAL_TEST_PG_PASSWORD".into());
    answers.redis.password =
        caracal_deploy::core::answers::SecretSource::Env("CARACAL_TEST_REDIS_PASSWORD".into());
    let dir = tempfile::tempdir().unwrap();
    let answers_path = dir.path().join("answers.yaml");
    std::fs::write(&answers_path, answers.to_yaml()).unwrap();

    // 1. Seed through the binary, as an operator would.
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(&answers_path)
        .arg("--log-file")
        .arg(dir.path().join("seed.log"))
        .env("CARACAL_TEST_PG_PASSWORD", PG_PASSWORD)
        .env("CARACAL_TEST_REDIS_PASSWORD", REDIS_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. Apply the bundle in order.
    let (cluster, bundle) = apply_bundle(&answers).await;

    // 3. The real controller syncs the runtime Secret.
    let ns = answers.namespace.clone();
    // As long as `apply` waits by default: the bed's one ClusterSecretStore was pointed at the
    // previous test's namespace, and while it revalidates External Secrets backs the
    // ExternalSecret off (seen: more than 120 s in a loaded CI run).
    let es = wait_for(
        "ExternalSecret Ready=True/SecretSynced",
        Duration::from_secs(300),
        || {
            let cluster = cluster.clone();
            let ns = ns.clone();
            async move {
                let es = cluster
                    .get(
                        "external-secrets.io/v1",
                        "ExternalSecret",
                        Some(&ns),
                        RUNTIME_SECRET,
                    )
                    .await
                    .unwrap()?;
                let ready = es["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?
                    .clone();
                (ready["status"] == "True"
                    && ready["reason"] == "SecretSynced"
                    && es["status"]["syncedResourceVersion"]
                        .as_str()
                        .is_some_and(|v| v.starts_with(&format!("{}-", answers_generation(&es)))))
                .then_some(es)
            }
        },
    )
    .await;
    let secret = cluster
        .get("v1", "Secret", Some(&ns), RUNTIME_SECRET)
        .await
        .unwrap()
        .expect("caracal-runtime exists");
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ExternalSecret");
    assert_eq!(
        owner["uid"], es["metadata"]["uid"],
        "caracal-runtime is owned by the ExternalSecret"
    );

    // Every key the chart mounts is there, with the values the services expect.
    let values = dir.path().join(VALUES_FILE);
    std::fs::write(&values, yaml::to_string(&bundle.values)).unwrap();
    let docs = yaml::from_documents(&helm_template(&answers, &values)).unwrap();
    let mounts = secret_mounts(&docs, RUNTIME_SECRET);
    for key in &mounts.required {
        assert!(
            secret["data"].get(key).is_some(),
            "caracal-runtime lacks {key}, which the chart mounts"
        );
    }
    // Every URL the controller wrote parses, with the host where it belongs and a password
    // that decodes back exactly: the raw one for Redis and the admin user, each role's derived
    // one for the roles.
    let mut urls = 0;
    for (key, _) in secret["data"].as_object().unwrap() {
        let value = decode(&secret, key);
        let Some((scheme, _)) = value.split_once("://") else {
            continue;
        };
        if !matches!(scheme, "postgres" | "postgresql" | "redis" | "rediss") {
            continue;
        }
        urls += 1;
        let url = url::Url::parse(&value).unwrap_or_else(|e| panic!("{key}: not a URL ({e})"));
        let percent_decoded = percent_decode(
            url.password()
                .unwrap_or_else(|| panic!("{key}: no password")),
        );
        if scheme.starts_with("redis") {
            assert_eq!(url.host_str(), Some(answers.redis.host.as_str()), "{key}");
            assert_eq!(percent_decoded, REDIS_PASSWORD, "{key}: {value}");
        } else {
            assert_eq!(
                url.host_str(),
                Some(answers.postgres.host.as_str()),
                "{key}"
            );
            let user = url.username();
            let expected = if user == answers.postgres.username {
                PG_PASSWORD.to_string()
            } else {
                hex::encode(Sha256::digest(format!("{PG_PASSWORD}:{user}")))
            };
            assert_eq!(percent_decoded, expected, "{key}: user {user}: {value}");
        }
    }
    assert!(urls >= 3, "only {urls} URLs in caracal-runtime");
    assert_eq!(decode(&secret, "postgresPassword"), PG_PASSWORD);
    let api_pw = hex::encode(Sha256::digest(format!("{PG_PASSWORD}:caracalapi")));
    assert_eq!(decode(&secret, "apiDbPassword"), api_pw);
    assert_eq!(
        decode(&secret, "apiDatabaseUrl"),
        format!(
            "postgres://caracalapi:{api_pw}@{}:5432/caracal?sslmode=require",
            answers.postgres.host
        )
    );
    let auth_pw = hex::encode(Sha256::digest(format!("{PG_PASSWORD}:caracalauth")));
    assert_eq!(
        decode(&secret, "authDatabaseUrl"),
        format!(
            "postgres://caracalauth:{auth_pw}@{}:5432/caracal_auth?sslmode=require",
            answers.postgres.host
        )
    );
    assert_eq!(
        decode(&secret, "redisUrl"),
        format!(
            "rediss://:{}@{}:6379/0",
            urlquery(REDIS_PASSWORD),
            answers.redis.host
        ),
        "the Redis password is percent-encoded inside the URL"
    );
    assert_eq!(decode(&secret, "secretStoreKek").len(), 64);

    // 4. helm upgrade --install of the real chart with the rendered values.
    let helm = Helm::at(helm());
    let args = helm_install_args(&answers, &values.display().to_string());
    helm.upgrade_install(&args)
        .await
        .unwrap_or_else(|e| panic!("helm install: {e}"));
    let status = helm
        .status(&answers.release, &ns, answers.kube_context.as_deref())
        .await
        .unwrap();
    assert_eq!(status["info"]["status"], "deployed");
    for (kind, name) in [
        ("Deployment", "caracal-caracal-api"),
        ("Deployment", "caracal-caracal-audit"),
        ("Deployment", "caracal-caracal-coordinator"),
        ("Deployment", "caracal-caracal-web"),
        ("StatefulSet", "caracal-caracal-sts"),
        ("StatefulSet", "caracal-caracal-gateway"),
    ] {
        let w = cluster
            .get("apps/v1", kind, Some(&ns), name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{kind} {name}"));
        assert_eq!(
            w["status"]["readyReplicas"], w["spec"]["replicas"],
            "{kind} {name} is not ready: {}",
            w["status"]
        );
    }
    // The hooks ran to completion (helm deletes a hook Job once it succeeded).
    let hooks: Vec<&Value> = status["hooks"]
        .as_array()
        .map(|h| h.iter().collect())
        .unwrap_or_default();
    assert!(
        hooks.iter().any(
            |h| h["name"] == "caracal-caracal-migrate" && h["last_run"]["phase"] == "Succeeded"
        ),
        "{hooks:?}"
    );
    assert!(
        hooks
            .iter()
            .any(|h| h["name"] == "caracal-caracal-auth-migrate"
                && h["last_run"]["phase"] == "Succeeded"),
        "{hooks:?}"
    );
}

/// The ExternalSecret's generation, which the synced status must have caught up with.
fn answers_generation(es: &Value) -> String {
    es["metadata"]["generation"]
        .as_i64()
        .unwrap_or(0)
        .to_string()
}

/// GCP and Azure: External Secrets cannot sync from their emulators (its GCP provider speaks
/// gRPC, its Azure provider needs a real Entra authority), so the runtime Secret is created
/// directly with every key the ExternalSecret would produce; the rest is the same real path.
#[tokio::test]
async fn gcp_and_azure_values_install_the_real_chart() {
    for (cloud, storage_class) in [("gcp", "premium-rwo"), ("azure", "managed-csi")] {
        let answers = bed_answers(cloud);
        let (cluster, bundle) = apply_bundle(&answers).await;
        let ns = answers.namespace.clone();
        let data: serde_json::Map<String, Value> =
            caracal_deploy::core::external_secret::produced_keys(&answers)
                .into_iter()
                .map(|k| (k, Value::String("placeholder".into())))
                .collect();
        let secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": RUNTIME_SECRET, "namespace": ns },
            "type": "Opaque", "stringData": data,
        });
        cluster.apply(&secret, false).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let values = dir.path().join(VALUES_FILE);
        std::fs::write(&values, yaml::to_string(&bundle.values)).unwrap();
        let helm = Helm::at(helm());
        helm.upgrade_install(&helm_install_args(&answers, &values.display().to_string()))
            .await
            .unwrap_or_else(|e| panic!("{cloud}: helm install: {e}"));
        let status = helm
            .status(&answers.release, &ns, answers.kube_context.as_deref())
            .await
            .unwrap();
        assert_eq!(status["info"]["status"], "deployed", "{cloud}");
        for name in ["caracal-caracal-sts", "caracal-caracal-gateway"] {
            let w = cluster
                .get("apps/v1", "StatefulSet", Some(&ns), name)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                w["status"]["readyReplicas"], w["spec"]["replicas"],
                "{cloud}: {name}: {}",
                w["status"]
            );
            let claim = cluster
                .get(
                    "v1",
                    "PersistentVolumeClaim",
                    Some(&ns),
                    &format!("replay-{name}-0"),
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(claim["spec"]["storageClassName"], storage_class, "{cloud}");
            assert_eq!(claim["status"]["phase"], "Bound", "{cloud}: {name}");
        }
        if cloud == "azure" {
            let web = cluster
                .get("apps/v1", "Deployment", Some(&ns), "caracal-caracal-web")
                .await
                .unwrap()
                .unwrap();
            // The pods ask for a projected identity only when a runtime identity is named:
            // External Secrets' identity is never theirs.
            let want = if answers.runtime_identity.is_some() {
                serde_json::json!("true")
            } else {
                serde_json::Value::Null
            };
            assert_eq!(
                web["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
                want
            );
        }
    }
}
