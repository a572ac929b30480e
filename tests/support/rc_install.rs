//! An install made the way the pre-1.0 guide made it (`shared/reference/
//! seed-deploy-on-managed-kubernetes.txt`, the 2026-06 release candidates), to upgrade from:
//! the secrets seeded by hand into moto under the OLD names (`PREFIX/zone-kek`, no
//! `auth-secret` or `idempotency-hmac-key`, a `PREFIX/postgres` record without
//! `authDatabase`), the guide's ExternalSecret (runtime key `zoneKek`) and the chart
//! 2026.6.25-rc.1 installed by `helm upgrade --install` with the guide's overlay.
//!
//! Only the namespace, the External Secrets service account and the ClusterSecretStore are the
//! product's (`caracal-deploy render`), as they would be for an operator who now runs
//! `caracal-deploy upgrade`; everything else is written here from the guide and the RC chart,
//! with clients independent of the product (the AWS SDK, kubectl, helm).
//!
//! Reach it from a test with `mod support;` and
//! `#[path = "support/rc_install.rs"] mod rc_install;` (it uses `crate::support`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use caracal_deploy::core::answers::{Answers, SecretManagerTarget};
use serde_json::{Value, json};

use crate::support::verify_bed::{kubectl, kubectl_ok};
use crate::support::{bed_answers, helm, text, unique};

/// The release candidate's chart: `version` of its Chart.yaml and its directory.
pub const RC_CHART_VERSION: &str = "2026.6.25-rc.1";
pub const RUNTIME_SECRET: &str = "caracal-runtime";
const GUIDE_PREFIX: &str = "caracal/";

/// The guide's keys and tokens (its seed table), each with the name chart 1.0.0's catalog
/// gives the same secret: its `bytes` rule sizes the value seeded under the old name.
pub const OLD_KEYS: [(&str, &str); 9] = [
    ("zone-kek", "secret-store-kek"),
    ("audit-hmac-key", "audit-hmac-key"),
    ("streams-hmac-key", "streams-hmac-key"),
    ("gateway-sts-hmac-key", "gateway-sts-hmac-key"),
    ("admin-token", "admin-token"),
    ("coordinator-token", "coordinator-token"),
    ("sts-admin-token", "sts-admin-token"),
    ("audit-admin-token", "audit-admin-token"),
    ("metrics-bearer", "metrics-bearer"),
];

/// One release-candidate install in a namespace of its own, with its own remote prefix.
pub struct RcInstall {
    /// The 1.0.0 answers the operator will upgrade with (namespace and prefix this install's).
    pub answers: Answers,
    /// The answers file, in `_dir`.
    pub path: PathBuf,
    /// The value of `PREFIX/zone-kek` as seeded (hex).
    pub kek: String,
    /// Every value seeded, by remote name after the prefix (`postgres` and `redis` are the
    /// JSON records as stored).
    pub seeded: BTreeMap<String, String>,
    pub prefix: String,
    pub namespace: String,
    _dir: tempfile::TempDir,
}

impl Drop for RcInstall {
    fn drop(&mut self) {
        let _ = kubectl(&[
            "delete",
            "namespace",
            "--wait=false",
            "--ignore-not-found",
            &self.namespace,
        ]);
    }
}

/// Seeds the old layout under a fresh prefix, applies the product's namespace, service account
/// and store and the guide's ExternalSecret, waits for it to sync, and installs the RC chart
/// with helm. Panics (never skips) with what went wrong; a missing bed names
/// `scripts/testbed up`.
pub fn install_rc_layout(tag: &str) -> RcInstall {
    let mut answers = bed_answers("aws");
    bed_is_up();
    answers.namespace = unique(&format!("rc-{tag}-"));
    answers.secret_manager.prefix = unique("rc");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();

    let seeded = old_layout(&answers);
    let install = RcInstall {
        kek: seeded["zone-kek"].clone(),
        seeded,
        prefix: answers.secret_manager.prefix.clone(),
        namespace: answers.namespace.clone(),
        answers,
        path,
        _dir: dir,
    };
    // From here a panic drops `install`, which deletes the namespace.
    put_remote(
        region(&install.answers),
        install
            .seeded
            .iter()
            .map(|(name, value)| (install.remote(name), value.clone()))
            .collect(),
    );
    install.apply_product_objects();
    install.apply_guide_external_secret();
    install.wait_synced(Duration::from_secs(120));
    install.adoptable_service_account();
    install.helm_install();
    install
}

impl RcInstall {
    /// `PREFIX/name`, the AWS remote name.
    pub fn remote(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// A secret read back from moto through the AWS SDK (None: it does not exist).
    pub fn remote_value(&self, name: &str) -> Option<String> {
        get_remote(region(&self.answers), self.remote(name))
    }

    /// Whether `PREFIX/name` is scheduled for deletion in moto (its `DeletedDate`, read back
    /// through the AWS SDK): deleted, and recoverable until its recovery window ends.
    pub fn remote_scheduled_for_deletion(&self, name: &str) -> bool {
        deleted_date(region(&self.answers), self.remote(name)).is_some()
    }

    /// The runtime Secret's data, base64-decoded.
    pub fn runtime_data(&self) -> BTreeMap<String, String> {
        let secret: Value = serde_json::from_str(&kubectl_ok(&[
            "-n",
            &self.namespace,
            "get",
            "secret",
            RUNTIME_SECRET,
            "-o",
            "json",
        ]))
        .unwrap();
        use base64::Engine as _;
        secret["data"]
            .as_object()
            .unwrap_or_else(|| panic!("{RUNTIME_SECRET} has no data: {secret}"))
            .iter()
            .map(|(k, v)| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap();
                (k.clone(), String::from_utf8(bytes).unwrap())
            })
            .collect()
    }

    /// `helm status --output json` of the release (the bed's `CARACAL_HELM`).
    pub fn helm_status(&self) -> Value {
        let out = self.helm_cmd(&["status", "--output", "json", &self.answers.release]);
        assert!(out.status.success(), "helm status: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `helm get metadata --output json` of the release: its chart's name and version
    /// (`helm status` has no chart in its JSON).
    pub fn helm_metadata(&self) -> Value {
        let out = self.helm_cmd(&["get", "metadata", "--output", "json", &self.answers.release]);
        assert!(
            out.status.success(),
            "helm get metadata: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `helm list --output json` of the namespace.
    pub fn helm_list(&self) -> Vec<Value> {
        let out = self.helm_cmd(&["list", "--output", "json"]);
        assert!(out.status.success(), "helm list: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn helm_cmd(&self, args: &[&str]) -> Output {
        Command::new(helm())
            .args(args)
            .args(["--namespace", &self.namespace, "--kube-context"])
            .arg(context(&self.answers))
            .output()
            .expect("run helm")
    }

    /// 01-03 of `caracal-deploy render`: namespace, External Secrets' service account, store.
    fn apply_product_objects(&self) {
        let out_dir = self._dir.path().join("rendered");
        let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(["render", "-f"])
            .arg(&self.path)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .expect("run caracal-deploy render");
        assert!(
            out.status.success(),
            "caracal-deploy render: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let files = [
            "01-namespace.yaml",
            "02-eso-serviceaccount.yaml",
            "03-clustersecretstore.yaml",
        ];
        // Under the product's own field manager, as if it had applied them: the store is one
        // cluster-wide object every test's `apply` applies again (another manager's fields
        // would make those applies conflict).
        let mut args = vec![
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=caracal-deploy",
        ];
        let paths: Vec<String> = files
            .iter()
            .map(|f| out_dir.join(f).display().to_string())
            .collect();
        for p in &paths {
            args.extend(["-f", p.as_str()]);
        }
        kubectl_ok(&args);
    }

    /// The store's name as the product rendered it (03-clustersecretstore.yaml).
    fn store_name(&self) -> String {
        let text =
            std::fs::read_to_string(self._dir.path().join("rendered/03-clustersecretstore.yaml"))
                .unwrap();
        let docs = caracal_deploy::core::yaml::from_documents(&text).unwrap();
        assert_eq!(docs[0]["kind"], "ClusterSecretStore", "{text}");
        docs[0]["metadata"]["name"].as_str().unwrap().to_string()
    }

    /// The guide's ExternalSecret, adapted: this namespace, the product's store, `PREFIX/...`
    /// instead of `caracal/...`, the answers' sslmode (and Redis scheme).
    fn apply_guide_external_secret(&self) {
        let mut es = guide_external_secret();
        es["metadata"]["namespace"] = json!(self.namespace);
        assert_eq!(es["spec"]["secretStoreRef"]["kind"], "ClusterSecretStore");
        es["spec"]["secretStoreRef"]["name"] = json!(self.store_name());
        for entry in es["spec"]["data"].as_array_mut().unwrap() {
            let key = entry["remoteRef"]["key"].as_str().unwrap();
            let name = key
                .strip_prefix(GUIDE_PREFIX)
                .unwrap_or_else(|| panic!("the guide's remote key {key} is not caracal/..."));
            entry["remoteRef"]["key"] = json!(self.remote(name));
        }
        let template = &mut es["spec"]["target"]["template"]["data"];
        let db = template["databaseUrl"].as_str().unwrap();
        assert!(db.ends_with("?sslmode=require"), "{db}");
        let db = db.replace(
            "?sslmode=require",
            &format!("?sslmode={}", self.answers.postgres.ssl_mode),
        );
        template["databaseUrl"] = json!(db);
        let redis = template["redisUrl"].as_str().unwrap();
        assert!(redis.starts_with("rediss://"), "{redis}");
        if !self.answers.redis.tls {
            template["redisUrl"] = json!(redis.replacen("rediss://", "redis://", 1));
        }
        kubectl_stdin(&["apply", "--server-side", "-f", "-"], &es);
    }

    /// Until the ExternalSecret is Ready with reason SecretSynced.
    fn wait_synced(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let out = kubectl(&[
                "-n",
                &self.namespace,
                "get",
                "externalsecret",
                RUNTIME_SECRET,
                "-o",
                "json",
            ]);
            if out.status.success() {
                let es: Value = serde_json::from_slice(&out.stdout).unwrap();
                let ready = es["status"]["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
                    .unwrap_or(Value::Null);
                if ready["status"] == "True" && ready["reason"] == "SecretSynced" {
                    return;
                }
                last = ready;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let describe = text(
            &kubectl(&[
                "-n",
                &self.namespace,
                "describe",
                "externalsecret",
                RUNTIME_SECRET,
            ])
            .stdout,
        );
        let store = text(&kubectl(&["describe", "clustersecretstore", &self.store_name()]).stdout);
        panic!(
            "the guide's ExternalSecret {}/{RUNTIME_SECRET} did not report Ready=True/SecretSynced \
             within {timeout:?} (last Ready condition: {last}).\n\
             kubectl describe externalsecret:\n{describe}\n\
             kubectl describe clustersecretstore:\n{store}",
            self.namespace
        );
    }

    /// The release's ServiceAccount, made beforehand with helm's ownership metadata so that
    /// helm adopts it. The RC chart's migration Jobs are pre-install hooks that run as this
    /// account, which the chart itself only creates after its hooks: the guide's `helm upgrade
    /// --install` alone never gets past them (the Job controller: `error looking up service
    /// account`), on the bed as on a real cluster. Chart 1.0.0 gives its hooks an account of
    /// their own in the hook phase.
    fn adoptable_service_account(&self) {
        let release = &self.answers.release;
        kubectl_stdin(
            &["create", "-f", "-"],
            &json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": format!("{release}-caracal"),
                    "namespace": self.namespace,
                    "labels": { "app.kubernetes.io/managed-by": "Helm" },
                    "annotations": {
                        "meta.helm.sh/release-name": release,
                        "meta.helm.sh/release-namespace": self.namespace,
                    },
                },
                "automountServiceAccountToken": false,
            }),
        );
    }

    /// `helm upgrade --install` of the RC chart, as the guide's step 3: its overlay
    /// `examples/values.cloud-managed.yaml`, then the bed's hosts, classes and CIDRs.
    fn helm_install(&self) {
        let chart = rc_chart_dir();
        let values = self._dir.path().join("rc-values.yaml");
        std::fs::write(
            &values,
            serde_json::to_string_pretty(&rc_values(&self.answers)).unwrap(),
        )
        .unwrap();
        let out = Command::new(helm())
            .args(["upgrade", "--install", &self.answers.release])
            .arg(&chart)
            .args(["--namespace", &self.namespace, "--kube-context"])
            .arg(context(&self.answers))
            .arg("-f")
            .arg(chart.join("examples/values.cloud-managed.yaml"))
            .arg("-f")
            .arg(&values)
            .args(["--wait", "--wait-for-jobs", "--timeout", "5m"])
            .output()
            .expect("run helm");
        if !out.status.success() {
            let pods = text(
                &kubectl(&["-n", &self.namespace, "get", "pods,jobs,pvc", "-o", "wide"]).stdout,
            );
            panic!(
                "helm upgrade --install of the RC chart {} failed: {}{}\n{pods}",
                chart.display(),
                text(&out.stdout),
                text(&out.stderr)
            );
        }
    }
}

/// The RC chart beside the repository (`shared/fixtures`), checked to be that version.
pub fn rc_chart_dir() -> PathBuf {
    let dir = crate::support::repo().join("../shared/fixtures/caracal-chart-2026.6.25-rc.1");
    let chart = std::fs::read_to_string(dir.join("Chart.yaml")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the upgrade tests need the release candidate's chart there",
            dir.display()
        )
    });
    assert!(
        chart.contains(&format!("\nversion: {RC_CHART_VERSION}\n")),
        "{} is not the chart {RC_CHART_VERSION}",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// The guide's `examples/external-secrets/externalsecret-runtime.yaml` of the RC chart.
pub fn guide_external_secret() -> Value {
    let path = rc_chart_dir().join("examples/external-secrets/externalsecret-runtime.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs = caracal_deploy::core::yaml::from_documents(&text).unwrap();
    assert_eq!(docs.len(), 1, "{}", path.display());
    assert_eq!(docs[0]["kind"], "ExternalSecret");
    docs[0].clone()
}

/// The values the RC chart is given after the guide's overlay: the answers' managed
/// Postgres/Redis (stable mode refuses the in-cluster defaults), the bed's storage class,
/// ingress class, hosts and issuer (as 1.0.0's installs on the bed have them), and the DNS and
/// state egress CIDRs as well-formed egress rules (the overlay's are bare `ipBlock`s).
pub fn rc_values(answers: &Answers) -> Value {
    let pg = &answers.postgres;
    let redis = &answers.redis;
    let class = answers
        .ingress
        .class_name
        .clone()
        .expect("the bed's answers name an ingress class");
    let ingress = |host: &str, service: &str| {
        json!({
            "enabled": true,
            "className": class,
            "host": host,
            "tlsSecretName": format!("{}-{service}-tls", answers.release),
            "annotations": {
                "cert-manager.io/cluster-issuer": answers.ingress.cluster_issuer,
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/target-type": "ip",
            },
        })
    };
    let hosts = &answers.ingress.hosts;
    let cidrs = |list: &[String]| -> Vec<Value> {
        list.iter()
            .map(|c| json!({ "ipBlock": { "cidr": c } }))
            .collect()
    };
    json!({
        "global": { "mode": "stable", "evaluation": false },
        "secrets": {
            "create": false,
            "runtimeSecretName": RUNTIME_SECRET,
            "database": {
                "user": pg.username,
                "host": pg.host,
                "port": pg.port,
                "name": pg.database,
                "sslMode": pg.ssl_mode,
            },
            "redis": { "host": redis.host, "port": redis.port, "database": redis.database },
        },
        "networkPolicy": {
            "dnsEgress": [ {
                "to": cidrs(&answers.network.dns_egress),
                "ports": [ { "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 } ],
            } ],
            "extraEgress": [ {
                "to": cidrs(&answers.network.state_egress),
                "ports": [
                    { "protocol": "TCP", "port": pg.port },
                    { "protocol": "TCP", "port": redis.port },
                ],
            } ],
        },
        "replayPersistence": {
            "storageClassName": answers
                .storage_class
                .clone()
                .expect("the bed's answers name a storage class"),
        },
        "ingress": {
            "gateway": ingress(hosts.gateway.as_deref().expect("a gateway host"), "gateway"),
            "api": ingress(hosts.api.as_deref().expect("an api host"), "api"),
            "web": ingress(&hosts.web, "web"),
        },
        "services": { "web": { "publicUrl": format!("https://{}", hosts.web) } },
    })
}

/// The values an operator seeded by hand from the guide's table, by name after the prefix:
/// random hex, each key or token as long as chart 1.0.0's catalog requires of the secret it
/// became, and the two connection records with the answers' fields (no `authDatabase`).
pub fn old_layout(answers: &Answers) -> BTreeMap<String, String> {
    let catalog = catalog_1_0_0();
    let bytes = |name: &str| -> usize {
        let entry = catalog["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("assets/catalog/1.0.0.yaml has no secret {name}"));
        entry["bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: no bytes")) as usize
    };
    let mut out = BTreeMap::new();
    let pg = &answers.postgres;
    out.insert(
        "postgres".to_string(),
        json!({
            "username": pg.username,
            "password": random_hex(bytes("postgres")),
            "host": pg.host,
            "port": pg.port,
            "database": pg.database,
        })
        .to_string(),
    );
    let redis = &answers.redis;
    out.insert(
        "redis".to_string(),
        json!({
            "password": random_hex(bytes("redis")),
            "host": redis.host,
            "port": redis.port,
            "database": redis.database,
        })
        .to_string(),
    );
    for (old, new) in OLD_KEYS {
        out.insert(old.to_string(), random_hex(bytes(new)));
    }
    out
}

/// Chart 1.0.0's catalog as data (read here, not through the product's code).
fn catalog_1_0_0() -> Value {
    let path = crate::support::repo().join("assets/catalog/1.0.0.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    caracal_deploy::core::yaml::from_documents(&text).unwrap()[0].clone()
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("OS random source");
    hex::encode(buf)
}

fn region(answers: &Answers) -> String {
    match &answers.secret_manager.target {
        SecretManagerTarget::Aws { region } => region.clone(),
        other => panic!("the RC layout is seeded on AWS, not {other:?}"),
    }
}

fn context(answers: &Answers) -> &str {
    answers
        .kube_context
        .as_deref()
        .expect("the bed's answers name kubeContext")
}

/// An environment variable `scripts/testbed env` sets; a panic naming `scripts/testbed up`.
fn bed_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the test bed. Run `scripts/testbed up` and \
             `eval \"$(scripts/testbed env)\"` (scripts/test does both)."
        )
    })
}

/// The bed's API server answers, else a panic naming `scripts/testbed up`.
fn bed_is_up() {
    bed_env("KUBECONFIG");
    bed_env("AWS_ENDPOINT_URL");
    let out = kubectl(&["get", "--raw", "/readyz"]);
    assert!(
        out.status.success(),
        "the test bed's API server does not answer ({}): run `scripts/testbed up` and \
         `eval \"$(scripts/testbed env)\"`",
        text(&out.stderr).trim()
    );
}

/// kubectl with an object on stdin; panics with kubectl's stderr.
fn kubectl_stdin(args: &[&str], obj: &Value) {
    use std::io::Write;
    let mut child =
        Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the bed's kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(obj.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        text(&out.stderr)
    );
}

/// Runs a future on a runtime of its own, on a thread of its own (callable from a plain test
/// or from inside another runtime).
fn block_on<T: Send + 'static>(fut: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// A Secrets Manager client of the test's own, on moto (`AWS_ENDPOINT_URL`).
async fn secrets_manager(region: String) -> aws_sdk_secretsmanager::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(bed_env("AWS_ENDPOINT_URL"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&conf)
}

/// Creates each secret (name, value); an existing one is an error (the prefix is fresh).
pub fn put_remote(region: String, secrets: Vec<(String, String)>) {
    block_on(async move {
        let client = secrets_manager(region).await;
        for (name, value) in secrets {
            client
                .create_secret()
                .name(&name)
                .secret_string(value)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "create {name} in moto: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                    )
                });
        }
    })
}

/// A secret's current value in moto (None: not found).
pub fn get_remote(region: String, name: String) -> Option<String> {
    block_on(async move {
        let client = secrets_manager(region).await;
        match client.get_secret_value().secret_id(&name).send().await {
            Ok(v) => Some(v.secret_string().unwrap_or_default().to_string()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!(
                "read {name} from moto: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        }
    })
}

/// When a secret is to be deleted (`DescribeSecret`'s `DeletedDate`; None: it is not
/// scheduled for deletion). A name moto does not know panics.
pub fn deleted_date(region: String, name: String) -> Option<f64> {
    block_on(async move {
        let client = secrets_manager(region).await;
        let described = client
            .describe_secret()
            .secret_id(&name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "describe {name} in moto: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            });
        described.deleted_date().map(|d| d.as_secs_f64())
    })
}

/// Makes every ServiceMonitor of `namespace` send the metrics bearer from the runtime Secret,
/// as monitoring-auth's fix says (the chart's own send none): verify can then end green.
pub fn authenticate_service_monitors(namespace: &str) {
    let list: serde_json::Value = serde_json::from_str(&kubectl_ok(&[
        "-n",
        namespace,
        "get",
        "servicemonitors",
        "-o",
        "json",
    ]))
    .unwrap();
    let monitors = list["items"].as_array().unwrap();
    assert!(!monitors.is_empty(), "no ServiceMonitor in {namespace}");
    for monitor in monitors {
        let mut endpoints = monitor["spec"]["endpoints"].clone();
        for endpoint in endpoints.as_array_mut().unwrap() {
            endpoint["authorization"] = serde_json::json!({
                "type": "Bearer",
                "credentials": { "name": RUNTIME_SECRET, "key": "metricsBearer" },
            });
        }
        let patch = serde_json::json!({ "spec": { "endpoints": endpoints } }).to_string();
        kubectl_ok(&[
            "-n",
            namespace,
            "patch",
            "servicemonitor",
            monitor["metadata"]["name"].as_str().unwrap(),
            "--type",
            "merge",
            "-p",
            &patch,
        ]);
    }
}
