//! Seeding the catalog concurrently and sequentially against the GCP and Azure emulators with
//! 50 ms of injected latency per request; prints the wall times and their ratio.
//! Needs the test bed: `scripts/testbed up && eval "$(scripts/testbed env)" && cargo bench --bench seed`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::core::seed::plan;
use caracal_deploy::engine::seed::{apply, observe, value_for};

const LATENCY_MS: u64 = 50;
const ROUNDS: usize = 3;

fn bed_answers(cloud: &str) -> Answers {
    let var = format!("CARACAL_DEPLOY_ANSWERS_{}", cloud.to_uppercase());
    let path = std::env::var(&var).unwrap_or_else(|_| {
        panic!("{var} is not set: run scripts/testbed up and eval \"$(scripts/testbed env)\"")
    });
    Answers::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn emulator_url(cloud: &str) -> String {
    let var = if cloud == "gcp" {
        "CARACAL_TESTBED_GCP_ENDPOINT"
    } else {
        "CARACAL_TESTBED_AZURE_VAULT_URL"
    };
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"))
}

fn faults(cloud: &str, body: &str) {
    let url = format!("{}/_emulator/faults", emulator_url(cloud));
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sf",
        "-o",
        "/dev/null",
        "-XPOST",
        &url,
        "-H",
        "content-type: application/json",
        "-d",
        body,
    ]);
    if cloud == "azure" {
        cmd.args([
            "--cacert",
            &std::env::var("CARACAL_TESTBED_CA_BUNDLE").unwrap(),
        ]);
    }
    assert!(
        cmd.status().unwrap().success(),
        "could not set faults on the {cloud} emulator"
    );
}

/// One full seeding of the catalog into a fresh prefix; the wall time of observe + apply.
async fn seed_once(cloud: &str, concurrency: usize, round: usize) -> Duration {
    let mut answers = bed_answers(cloud);
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).unwrap();
    answers.secret_manager.prefix = format!("bench{round}c{concurrency}{}", hex::encode(suffix));
    let sm = connect_secret_manager(&answers).await.unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let no_prompt = |_: &str| None;
    let started = Instant::now();
    let observed = observe(sm.as_ref(), catalog, &answers, concurrency)
        .await
        .unwrap();
    let plan = plan(catalog, &answers, &observed, &[]).unwrap();
    let values: BTreeMap<_, _> = plan
        .items
        .iter()
        .map(|i| {
            (
                i.secret.name.clone(),
                value_for(&i.secret, &answers, &no_prompt).unwrap(),
            )
        })
        .collect();
    let report = apply(
        sm.as_ref(),
        &plan,
        &values,
        &answers,
        concurrency,
        Arc::new(AtomicBool::new(false)),
        &|_| {},
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(report.written.len(), 13, "{cloud}: {:?}", report.failed);
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    println!(
        "seeding the 13 secrets of chart 1.0.0, {LATENCY_MS} ms injected latency per request, median of {ROUNDS} rounds"
    );
    println!(
        "{:<7} {:>14} {:>14} {:>8}",
        "cloud", "sequential", "concurrent(8)", "ratio"
    );
    for cloud in ["gcp", "azure"] {
        faults(cloud, &format!("{{\"latency_ms\": {LATENCY_MS}}}"));
        let mut seq = Vec::new();
        let mut conc = Vec::new();
        for round in 0..ROUNDS {
            seq.push(seed_once(cloud, 1, round).await);
            conc.push(seed_once(cloud, 8, round).await);
        }
        faults(cloud, "{}");
        let (s, c) = (median(seq), median(conc));
        println!(
            "{cloud:<7} {:>12.0}ms {:>12.0}ms {:>8.2}",
            s.as_secs_f64() * 1000.0,
            c.as_secs_f64() * 1000.0,
            c.as_secs_f64() / s.as_secs_f64()
        );
    }
    println!("target: concurrent <= 0.30 x sequential");
}
