//! Seeding under injected faults: throttling is retried, a denied permission stops with the
//! role to grant and exit 3. (moto cannot inject faults; the GCP and Azure emulators can.)
//! Kept in its own test binary: faults are emulator-wide, so no other test may run meanwhile.

mod support;

use std::process::Command;

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::catalog::SecretCatalog;
use support::bed_answers;

/// Faults are emulator-wide: the tests of this binary take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn emulator(cloud: &str) -> (String, reqwest::Client) {
    let env = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| {
            panic!("{v} is not set: run scripts/testbed up and eval \"$(scripts/testbed env)\"")
        })
    };
    match cloud {
        "gcp" => (env("CARACAL_TESTBED_GCP_ENDPOINT"), reqwest::Client::new()),
        _ => {
            let ca = std::fs::read(env("CARACAL_TESTBED_CA_BUNDLE")).unwrap();
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .build()
                .unwrap();
            (env("CARACAL_TESTBED_AZURE_VAULT_URL"), client)
        }
    }
}

async fn faults(cloud: &str, body: serde_json::Value) -> serde_json::Value {
    let (url, client) = emulator(cloud);
    let r = client
        .post(format!("{url}/_emulator/faults"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "setting faults: {}", r.status());
    let r = client
        .get(format!("{url}/_emulator/faults"))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

fn seed(path: &std::path::Path, log: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(path)
        .arg("--log-file")
        .arg(log)
        .output()
        .unwrap()
}

async fn faults_contract(cloud: &str, role: &str) {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique("f");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let log = dir.path().join("log");

    // A denied permission: exit 3, the role to grant, and nothing half-written.
    faults(cloud, serde_json::json!({ "deny": { "ops": ["create"] } })).await;
    let out = seed(&path, &log);
    faults(cloud, serde_json::json!({})).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{cloud}: {stderr}");
    assert!(stderr.contains("permission denied"), "{cloud}: {stderr}");
    assert!(
        stderr.contains(role),
        "{cloud}: the fix, naming the role, is printed: {stderr}"
    );
    let sm = connect_secret_manager(&answers).await.unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    for s in catalog.seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        assert_eq!(
            sm.version_count(&name).await.unwrap(),
            0,
            "{cloud}: {name} was written despite the denial"
        );
    }

    // Throttling with Retry-After is retried: the run succeeds. What this run met is read
    // from the request log after this point, limited to this run's names: the emulator's
    // cumulative stats also count the 429s of every earlier test.
    let since = last_seq(cloud).await;
    let set = faults(
        cloud,
        serde_json::json!({ "throttle": { "count": 4, "retry_after": 1 } }),
    )
    .await;
    assert!(set.to_string().contains("throttle"), "{set}");
    let out = seed(&path, &log);
    let after = faults(cloud, serde_json::json!({})).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{cloud}: {stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("13 written"),
        "{cloud}"
    );
    for s in catalog.seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        assert_eq!(sm.version_count(&name).await.unwrap(), 1, "{cloud}: {name}");
    }
    let log = requests_since(cloud, since).await;
    let prefix = &answers.secret_manager.prefix;
    let ours: Vec<&serde_json::Value> = log
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.contains(prefix.as_str()))
        })
        .collect();
    let throttled: Vec<usize> = ours
        .iter()
        .enumerate()
        .filter(|(_, r)| r["status"] == 429)
        .map(|(i, _)| i)
        .collect();
    assert!(
        !throttled.is_empty(),
        "{cloud}: none of this run's requests was throttled (another client took the faults?): {} (injected: {after})",
        serde_json::Value::from(ours.iter().map(|r| (*r).clone()).collect::<Vec<_>>())
    );
    // Each throttled request of this run was retried, and the retry was answered.
    for i in throttled {
        let r = ours[i];
        let retry = ours[i + 1..]
            .iter()
            .find(|n| n["path"] == r["path"] && n["method"] == r["method"])
            .unwrap_or_else(|| panic!("{cloud}: {r} was never retried"));
        assert_ne!(retry["status"], 429, "{cloud}: {r} then {retry}");
    }
}

/// The sequence number of the emulator's latest logged request.
async fn last_seq(cloud: &str) -> u64 {
    requests_since(cloud, 0)
        .await
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

async fn requests_since(cloud: &str, since: u64) -> Vec<serde_json::Value> {
    let (url, client) = emulator(cloud);
    let v: serde_json::Value = client
        .get(format!("{url}/_emulator/requests?since={since}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["requests"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{cloud}: the request log: {v}"))
}

#[tokio::test]
async fn gcp_throttling_is_retried_and_denial_names_the_role() {
    faults_contract("gcp", "roles/secretmanager.admin").await;
}

#[tokio::test]
async fn azure_throttling_is_retried_and_denial_names_the_role() {
    faults_contract("azure", "Key Vault Secrets Officer").await;
}

/// Ctrl-C in the middle of a slow run: every secret is untouched or complete, and a re-run
/// finishes the job.
#[tokio::test]
async fn gcp_interrupted_run_leaves_no_half_written_secret() {
    use caracal_deploy::core::secret_manager::RemoteState;
    let _turn = TURN.lock().await;
    let cloud = "gcp";
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique("i");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    // Slow enough that the interrupt lands while writes are in progress.
    faults(cloud, serde_json::json!({ "latency_ms": 300 })).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "--concurrency", "2", "-f"])
        .arg(&path)
        .arg("--log-file")
        .arg(dir.path().join("log"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt as soon as the first secret is written, as an operator's Ctrl-C would.
    let stderr = child.stderr.take().unwrap();
    let pid = child.id().to_string();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        let mut sent = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if !sent && line.trim_start().starts_with('✓') {
                assert!(
                    Command::new("kill")
                        .args(["-INT", &pid])
                        .status()
                        .unwrap()
                        .success()
                );
                sent = true;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let out = child.wait_with_output().unwrap();
    let stderr_text = reader.join().unwrap();
    faults(cloud, serde_json::json!({})).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr_text}");
    assert!(
        stdout.contains("Interrupted: every secret is either untouched or complete"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not started"),
        "the interrupt came too late to test anything: {stdout}"
    );
    let sm = connect_secret_manager(&answers).await.unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let mut complete = 0;
    for s in catalog.seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        match sm.read(&name).await.unwrap() {
            RemoteState::Missing => {}
            RemoteState::Present(_) => complete += 1,
            RemoteState::Empty => panic!("{name} was left half-written"),
        }
    }
    assert!(complete < 13, "nothing was interrupted");
    // A re-run finishes the job, writing exactly what is missing.
    let out = seed(&path, &dir.path().join("log2"));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{} written, {complete} unchanged", 13 - complete)),
        "{stdout}"
    );
}
