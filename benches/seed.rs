//! Seeding benchmarks. Needs the test bed:
//! `scripts/testbed up && eval "$(scripts/testbed env)" && cargo bench --bench seed`.
//!
//! 1. The engine's seeding (the same requests `seed` and the wizard send) against the GCP and
//!    Azure emulators with 50 ms of injected latency per request: one secret at a time versus
//!    the whole catalog in flight. Target: concurrent <= 0.10 x sequential.
//! 2. The whole `caracal-deploy seed` command against moto versus thirteen
//!    `aws secretsmanager create-secret` calls of the AWS CLI (from PyPI, testbed/peers) against
//!    the same moto: the ratio of wall times.
//!
//! `cargo bench --bench seed -- azure` (or `gcp`, `aws`) runs only the named parts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::engine::seed::{DEFAULT_CONCURRENCY, Prompted};
use caracal_deploy::engine::{CloudConnector, Engine, Event, Request};

const LATENCY_MS: u64 = 50;
const ROUNDS: usize = 5;

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
    let mut cmd = Command::new("curl");
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

fn fresh_prefix(tag: &str) -> String {
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).unwrap();
    format!("bench{tag}{}", hex::encode(suffix))
}

/// One full seeding of the catalog into a fresh prefix through the engine: plan, then write.
async fn seed_once(cloud: &str, concurrency: usize, round: usize) -> Duration {
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = fresh_prefix(&format!("{round}c{concurrency}"));
    let (engine, mut events) = Engine::with(
        tokio::runtime::Handle::current(),
        Box::new(CloudConnector),
        concurrency,
    );
    let started = Instant::now();
    engine.submit(Request::PlanSeed {
        answers: Box::new(answers.clone()),
        rotate: vec![],
    });
    let plan = loop {
        match events.recv().await.expect("engine event") {
            Event::SeedPlanned { plan, .. } => break plan,
            Event::Failed(e) => panic!("{cloud}: {e}"),
            _ => {}
        }
    };
    engine.submit(Request::WriteSeed {
        answers: Box::new(answers),
        plan: Box::new(plan),
        prompted: Prompted::default(),
    });
    let outcome = loop {
        match events.recv().await.expect("engine event") {
            Event::SeedFinished(o) => break o,
            Event::Failed(e) => panic!("{cloud}: {e}"),
            _ => {}
        }
    };
    let elapsed = started.elapsed();
    assert_eq!(
        outcome.report.written.len(),
        13,
        "{cloud}: {:?}",
        outcome.report.failed
    );
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The whole `seed` command against moto, into a fresh prefix.
fn seed_command(dir: &Path, round: usize) -> Duration {
    let mut answers = bed_answers("aws");
    answers.secret_manager.prefix = fresh_prefix(&format!("cmd{round}"));
    let path = dir.join(format!("answers-{round}.yaml"));
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(&path)
        .arg("--log-file")
        .arg(dir.join("seed.log"))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// Thirteen `aws secretsmanager create-secret` calls, one after the other, as a script would
/// run them. Values come from a file (never argv).
fn aws_cli(aws: &Path, dir: &Path, round: usize) -> Duration {
    let prefix = fresh_prefix(&format!("cli{round}"));
    let value = dir.join("value");
    std::fs::write(&value, "ab".repeat(32)).unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let started = Instant::now();
    for secret in catalog.seeded() {
        let out = Command::new(aws)
            .args(["secretsmanager", "create-secret", "--name"])
            .arg(format!("{prefix}/{}", secret.name))
            .arg("--secret-string")
            .arg(format!("file://{}", value.display()))
            .args(["--output", "text", "--query", "ARN"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws cli failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    started.elapsed()
}

fn aws_cli_path() -> PathBuf {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testbed/peers/setup.sh"
    ))
    .output()
    .expect("run testbed/peers/setup.sh");
    assert!(
        out.status.success(),
        "testbed/peers/setup.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin/aws")
}

/// The parts named after `--` (gcp, azure, aws), or all of them when none is named.
fn wanted(part: &str) -> bool {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    named.is_empty() || named.iter().any(|n| n == part)
}

#[tokio::main]
async fn main() {
    println!(
        "1. engine seeding of the 13 secrets of chart 1.0.0, {LATENCY_MS} ms injected latency per request, median of {ROUNDS} rounds"
    );
    println!(
        "{:<7} {:>14} {:>16} {:>8}",
        "cloud",
        "sequential(1)",
        format!("concurrent({DEFAULT_CONCURRENCY})"),
        "ratio"
    );
    for cloud in ["gcp", "azure"] {
        if !wanted(cloud) {
            continue;
        }
        faults(cloud, &format!("{{\"latency_ms\": {LATENCY_MS}}}"));
        let mut seq = Vec::new();
        let mut conc = Vec::new();
        for round in 0..ROUNDS {
            seq.push(seed_once(cloud, 1, round).await);
            conc.push(seed_once(cloud, DEFAULT_CONCURRENCY, round).await);
        }
        faults(cloud, "{}");
        let (s, c) = (median(seq), median(conc));
        println!(
            "{cloud:<7} {:>12.0}ms {:>14.0}ms {:>8.3}",
            ms(s),
            ms(c),
            c.as_secs_f64() / s.as_secs_f64()
        );
    }
    println!("target: concurrent <= 0.10 x sequential (all thirteen in flight)");
    if !wanted("aws") {
        return;
    }

    println!();
    println!(
        "2. AWS (moto): the whole `caracal-deploy seed` command vs 13 `aws secretsmanager create-secret` calls, median of {ROUNDS} rounds"
    );
    let aws = aws_cli_path();
    let dir = tempfile::tempdir().unwrap();
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for round in 0..ROUNDS {
        ours.push(seed_command(dir.path(), round));
        peer.push(aws_cli(&aws, dir.path(), round));
    }
    let (o, p) = (median(ours), median(peer));
    println!(
        "caracal-deploy seed {:.0}ms, aws cli x13 {:.0}ms, ratio {:.2}",
        ms(o),
        ms(p),
        o.as_secs_f64() / p.as_secs_f64()
    );
}
