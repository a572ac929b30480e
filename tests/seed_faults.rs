//! Seeding under injected faults: throttling is retried, a denied permission stops with the
//! role to grant and exit 3. (moto cannot inject faults; the GCP and Azure emulators can.)
//! Kept in its own test binary: faults are emulator-wide, so no other test may run meanwhile.

mod support;

use std::process::Command;

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::catalog::SecretCatalog;
use support::bed_answers;

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
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers(cloud);
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).unwrap();
    answers.secret_manager.prefix = format!("f{}", hex::encode(suffix));
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let log = dir.path().join("log");

    // A denied permission: exit 3, the role to grant, and nothing half-written.
    faults(cloud, serde_json::json!({ "deny": { "ops": ["create"] } })).await;
    let out = seed(&path, &log);
    faults(cloud, serde_json::json!({})).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{cloud}: {stderr}");
    assert!(
        stderr.contains("permission denied") && stderr.contains(role),
        "{cloud}: {stderr}"
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

    // Throttling with Retry-After is retried: the run succeeds.
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
    let _ = after;
    for s in catalog.seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        assert_eq!(sm.version_count(&name).await.unwrap(), 1, "{cloud}: {name}");
    }
    let (url, client) = emulator(cloud);
    let stats: serde_json::Value = client
        .get(format!("{url}/_emulator/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        stats.to_string().contains("\"429\""),
        "{cloud}: the emulator answered 429s: {stats}"
    );
}

#[tokio::test]
async fn gcp_throttling_is_retried_and_denial_names_the_role() {
    faults_contract("gcp", "roles/secretmanager.admin").await;
}

#[tokio::test]
async fn azure_throttling_is_retried_and_denial_names_the_role() {
    faults_contract("azure", "Key Vault Secrets Officer").await;
}
