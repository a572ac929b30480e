//! The services' retry hints are honoured, and retrying ends after the engine's limit.
//!
//! Each test starts its own emulator from this repository (`testbed/emulators/gcp_sm.py` with the
//! bed's python, or the bed's build of the Go Azure emulator; trusting the bed's GCP key / Azure
//! client): its faults and request log are its own, so nothing here depends on what other tests
//! did to the shared bed, and nothing here disturbs them. Timing is read from the emulator's request log (`/_emulator/requests`: the
//! server's arrival time of each request), never from the test's clock.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use caracal_deploy::core::answers::{Answers, SecretManagerTarget};
use serde_json::{Value, json};
use support::bed_answers;

/// The engine's attempts per call (`MAX_ATTEMPTS` in src/engine/seed.rs).
const MAX_ATTEMPTS: usize = 6;

struct Emulator {
    child: Child,
    url: String,
    ca: Option<PathBuf>,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(v: &str) -> String {
    std::env::var(v).unwrap_or_else(|_| {
        panic!("{v} is not set: run scripts/testbed up and eval \"$(scripts/testbed env)\"")
    })
}

fn start(cloud: &str) -> Emulator {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let emulators = support::repo().join("testbed/emulators");
    let (script, mut cmd) = if cloud == "gcp" {
        let script = emulators.join("gcp_sm.py");
        let mut cmd = Command::new(env("CARACAL_TESTBED_EMULATORS_PYTHON"));
        cmd.arg(&script);
        (script, cmd)
    } else {
        // The Azure emulator (Go) serves the certificates emulator_tls.py makes.
        let tls = Command::new(env("CARACAL_TESTBED_EMULATORS_PYTHON"))
            .arg(emulators.join("emulator_tls.py"))
            .arg(dir.path())
            .output()
            .expect("run emulator_tls.py");
        assert!(tls.status.success(), "emulator_tls.py: {tls:?}");
        let bin = PathBuf::from(env("CARACAL_TESTBED_AZURE_KV_BIN"));
        (bin.clone(), Command::new(bin))
    };
    cmd.args(["--host", "127.0.0.1", "--port", "0", "--ready-file"])
        .arg(&ready)
        .arg("--state-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("log")).unwrap());
    if cloud == "gcp" {
        cmd.arg("--trust-key-file")
            .arg(env("GOOGLE_APPLICATION_CREDENTIALS"))
            .arg("--allow-anonymous");
    } else {
        let secret = dir.path().join("client-secret");
        std::fs::write(&secret, env("AZURE_CLIENT_SECRET")).unwrap();
        cmd.args(["--tenant-id", &env("AZURE_TENANT_ID")])
            .args(["--client-id", &env("AZURE_CLIENT_ID")])
            .arg("--client-secret-file")
            .arg(&secret);
    }
    let mut child = cmd.spawn().expect("start the emulator");
    let deadline = Instant::now() + Duration::from_secs(30);
    let info: Value = loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            break v;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{} exited ({status}): {}",
                script.display(),
                std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never got ready",
            script.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let url = info["url"]
        .as_str()
        .expect("url")
        .trim_end_matches('/')
        .to_string();
    let (ca, http) = if cloud == "gcp" {
        (None, reqwest::Client::new())
    } else {
        let ca = dir.path().join("ca.pem");
        let pem = std::fs::read(&ca).expect("the emulator's CA");
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        (Some(ca), http)
    };
    Emulator {
        child,
        url,
        ca,
        http,
        dir,
    }
}

impl Emulator {
    /// The bed's answers for `cloud`, aimed at this emulator, with their own prefix.
    fn answers(&self, cloud: &str) -> (Answers, PathBuf) {
        let mut answers = bed_answers(cloud);
        answers.secret_manager.prefix = support::unique("r");
        match cloud {
            "gcp" => answers.secret_manager.endpoint = Some(self.url.clone()),
            _ => {
                answers.secret_manager.target = SecretManagerTarget::Azure {
                    vault_url: self.url.clone(),
                };
                // The bed's answers reach their vault through `endpoint`: aim it here too.
                answers.secret_manager.endpoint = Some(self.url.clone());
                answers.secret_manager.ca_bundle = self.ca.clone();
            }
        }
        let path = self
            .dir
            .path()
            .join(format!("{}.yaml", answers.secret_manager.prefix));
        std::fs::write(&path, answers.to_yaml()).unwrap();
        (answers, path)
    }

    async fn faults(&self, body: Value) {
        let r = self
            .http
            .post(format!("{}/_emulator/faults", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{body}: {}",
            r.text().await.unwrap()
        );
    }

    async fn requests(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/requests", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .or_else(|| v["requests"].as_array())
            .cloned()
            .unwrap_or_else(|| panic!("request log: {v}"))
    }

    fn seed(&self, answers: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(["seed", "-f"])
            .arg(answers)
            .arg("--log-file")
            .arg(self.dir.path().join("seed.log"))
            // Azure's token requests go to this emulator too.
            .env("AZURE_AUTHORITY_HOST", format!("{}/", self.url))
            .output()
            .unwrap()
    }
}

/// For every throttled request, the seconds until the next request of the same operation on
/// the same path (the retry).
fn waits_after_429(log: &[Value], op: &str) -> Vec<f64> {
    let mut waits = Vec::new();
    for (i, r) in log.iter().enumerate() {
        if r["status"] != 429 || r["op"] != op {
            continue;
        }
        let retry = log[i + 1..]
            .iter()
            .find(|n| n["op"] == r["op"] && n["path"] == r["path"] && n["method"] == r["method"])
            .unwrap_or_else(|| panic!("{r} was never retried"));
        waits.push(retry["time"].as_f64().unwrap() - r["time"].as_f64().unwrap());
    }
    waits
}

/// `op`: the fault's operation; its requests are logged as `log_op` (Azure's PUT is `set`,
/// tagged `create` for faults).
async fn hint_is_honoured(
    cloud: &str,
    (op, log_op): (&str, &str),
    hint: &str,
    seconds: f64,
    at_least: f64,
) {
    let emu = start(cloud);
    let (_, path) = emu.answers(cloud);
    emu.faults(
        json!({ "throttle": { "count": 2, "retry_after": seconds, "hint": hint, "ops": [op] } }),
    )
    .await;
    let out = emu.seed(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{cloud} {hint}: {stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("13 written"),
        "{cloud} {hint}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let waits = waits_after_429(&emu.requests().await, log_op);
    assert_eq!(
        waits.len(),
        2,
        "{cloud} {hint}: two requests were throttled"
    );
    for w in waits {
        // Without the hint the engine's first backoff is at most 0.2 s.
        assert!(
            w >= at_least,
            "{cloud} {hint}: retried {w:.3}s after a 429 that asked for {seconds}s"
        );
    }
}

#[tokio::test]
async fn gcp_retry_info_is_honoured() {
    hint_is_honoured(
        "gcp",
        ("add_version", "add_version"),
        "retry_info",
        1.5,
        1.5,
    )
    .await;
}

#[tokio::test]
async fn gcp_retry_after_header_is_honoured() {
    hint_is_honoured("gcp", ("add_version", "add_version"), "header", 1.5, 1.5).await;
}

#[tokio::test]
async fn azure_retry_after_ms_is_honoured() {
    hint_is_honoured("azure", ("create", "set"), "ms", 1.5, 1.5).await;
}

#[tokio::test]
async fn azure_x_ms_retry_after_ms_is_honoured() {
    hint_is_honoured("azure", ("create", "set"), "x-ms", 1.5, 1.5).await;
}

#[tokio::test]
async fn azure_retry_after_http_date_is_honoured() {
    // An HTTP date has whole seconds: asked for 2 s, the wait is more than 1 s whatever the
    // sub-second moment of the answer.
    hint_is_honoured("azure", ("create", "set"), "http-date", 2.0, 1.0).await;
}

#[tokio::test]
async fn azure_retry_after_seconds_is_honoured() {
    hint_is_honoured("azure", ("create", "set"), "header", 1.5, 1.5).await;
}

/// A fault that never ends: the engine gives up after MAX_ATTEMPTS attempts of a call, exits 3
/// and names the secret it could not write.
async fn gives_up(cloud: &str, fault: Value, log_op: &str, status: u64) {
    let emu = start(cloud);
    let (answers, path) = emu.answers(cloud);
    emu.faults(fault).await;
    let out = emu.seed(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{cloud}: {stdout}{stderr}");
    let log = emu.requests().await;
    let faulted: Vec<&Value> = log
        .iter()
        .filter(|r| r["op"] == log_op && r["status"] == status)
        .collect();
    assert!(!faulted.is_empty(), "{cloud}: no request was faulted");
    assert!(
        log.iter()
            .all(|r| r["op"] != log_op || r["status"] == status),
        "{cloud}: a create got through"
    );
    let prefix = &answers.secret_manager.prefix;
    if cloud == "azure" {
        // Each secret's PUT is on its own path: exactly MAX_ATTEMPTS of each, then it gave up.
        let mut per_path = std::collections::BTreeMap::<String, usize>::new();
        for r in &faulted {
            *per_path
                .entry(r["path"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        for (p, n) in &per_path {
            assert_eq!(*n, MAX_ATTEMPTS, "{p}: {per_path:?}");
        }
        let name = per_path
            .keys()
            .next()
            .unwrap()
            .trim_start_matches("/secrets/")
            .to_string();
        assert!(name.starts_with(prefix.as_str()), "{name}");
        assert!(
            stdout.contains(&name) || stderr.contains(&name),
            "{cloud}: the secret that could not be written is named: {stdout}{stderr}"
        );
    } else {
        // GCP's create names the secret in the query, which the log leaves out: count
        // attempts per run instead, a multiple of MAX_ATTEMPTS.
        assert_eq!(faulted.len() % MAX_ATTEMPTS, 0, "{}", faulted.len());
        assert!(
            stdout.contains(&format!("{prefix}-")) || stderr.contains(&format!("{prefix}-")),
            "{cloud}: the secret that could not be written is named: {stdout}{stderr}"
        );
    }
}

#[tokio::test]
async fn azure_persistent_503_gives_up_after_the_retry_limit() {
    gives_up(
        "azure",
        json!({ "errors_5xx": { "status": 503, "ops": ["create"] } }),
        "set",
        503,
    )
    .await;
}

#[tokio::test]
async fn gcp_persistent_429_gives_up_after_the_retry_limit() {
    gives_up(
        "gcp",
        json!({ "throttle": { "retry_after": 0.05, "ops": ["create"] } }),
        "create",
        429,
    )
    .await;
}
