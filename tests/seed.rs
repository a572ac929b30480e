//! `caracal-deploy seed` against the test bed's secret managers, through the real SDKs:
//! moto (AWS), and the GCP and Azure emulators.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::core::secret_manager::{RemoteState, SecretManager};
use caracal_deploy::engine::source::SourceError;
use secrecy::ExposeSecret;
use support::bed_answers;

/// A copy of the bed's answers for `cloud` with a prefix of its own (the emulators are shared).
pub fn fresh_answers(cloud: &str, dir: &Path, tag: &str) -> (Answers, PathBuf) {
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique(&format!("t{tag}"));
    let path = dir.join(format!("answers-{cloud}-{tag}.yaml"));
    std::fs::write(&path, answers.to_yaml()).unwrap();
    (answers, path)
}

fn seed(answers: &Path, log: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .arg("seed")
        .arg("-f")
        .arg(answers)
        .arg("--log-file")
        .arg(log)
        .args(extra)
        .output()
        .expect("run caracal-deploy seed")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn versions(sm: &dyn SecretManager, answers: &Answers) -> Vec<(String, usize)> {
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let mut out = Vec::new();
    for s in catalog.secrets.iter() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        out.push((s.name.clone(), sm.version_count(&name).await.unwrap()));
    }
    out
}

async fn value(sm: &dyn SecretManager, answers: &Answers, name: &str) -> Option<String> {
    let remote = caracal_deploy::core::catalog::remote_name(
        answers.cloud,
        &answers.secret_manager.prefix,
        name,
    );
    match sm.read(&remote).await.unwrap() {
        RemoteState::Present(v) => Some(v.expose_secret().to_string()),
        _ => None,
    }
}

/// The whole seeding contract for one cloud.
pub async fn seeding_contract(cloud: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("seed.log");
    let (answers, path) = fresh_answers(cloud, dir.path(), "a");
    let answers_before = std::fs::read(&path).unwrap();
    let sm = connect_secret_manager(&answers).await.unwrap();
    let mut outputs = Vec::new();

    // Dry run: a plan, no write.
    let out = seed(&path, &log, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{cloud}: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("13 to write"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        versions(sm.as_ref(), &answers)
            .await
            .iter()
            .all(|(_, c)| *c == 0),
        "{cloud}: dry run wrote"
    );
    outputs.push(out);

    // First run: all 13, each with one version and the right shape.
    let out = seed(&path, &log, &[]);
    assert_eq!(out.status.code(), Some(0), "{cloud}: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("13 written, 0 unchanged, 0 failed"),
        "{}",
        text(&out.stdout)
    );
    let first = versions(sm.as_ref(), &answers).await;
    for (name, c) in &first {
        let expected = usize::from(name != "secret-store-kek-previous");
        assert_eq!(*c, expected, "{cloud}: {name} has {c} versions");
    }
    let pg: serde_json::Value =
        serde_json::from_str(&value(sm.as_ref(), &answers, "postgres").await.unwrap()).unwrap();
    for field in [
        "username",
        "password",
        "host",
        "port",
        "database",
        "authDatabase",
    ] {
        assert!(!pg[field].is_null(), "{cloud}: postgres has no {field}");
    }
    assert_eq!(pg["host"], answers.postgres.host);
    assert_eq!(
        pg["password"].as_str().unwrap().len(),
        48,
        "24 random bytes, hex"
    );
    let redis: serde_json::Value =
        serde_json::from_str(&value(sm.as_ref(), &answers, "redis").await.unwrap()).unwrap();
    assert_eq!(redis["port"], answers.redis.port);
    let kek = value(sm.as_ref(), &answers, "secret-store-kek")
        .await
        .unwrap();
    assert!(
        kek.len() == 64 && kek.chars().all(|c| c.is_ascii_hexdigit()),
        "32 bytes hex"
    );
    outputs.push(out);

    // Second run: writes nothing, proved by the version counts.
    let out = seed(&path, &log, &[]);
    assert_eq!(out.status.code(), Some(0), "{cloud}: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 written, 13 unchanged"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        versions(sm.as_ref(), &answers).await,
        first,
        "{cloud}: a second run wrote"
    );
    outputs.push(out);

    // --rotate adds exactly one version of exactly that secret.
    let out = seed(&path, &log, &["--rotate", "admin-token"]);
    assert_eq!(out.status.code(), Some(0), "{cloud}: {}", text(&out.stderr));
    let rotated = versions(sm.as_ref(), &answers).await;
    for ((name, before), (_, after)) in first.iter().zip(&rotated) {
        let grew = if name == "admin-token" { 1 } else { 0 };
        assert_eq!(*after, before + grew, "{cloud}: {name}");
    }
    outputs.push(out);

    // The KEK is rotated only through its flow: the current key is kept as the previous one.
    let out = seed(&path, &log, &["--rotate", "secret-store-kek"]);
    assert_eq!(out.status.code(), Some(0), "{cloud}: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("kekRotation: true"),
        "{}",
        text(&out.stdout)
    );
    let new_kek = value(sm.as_ref(), &answers, "secret-store-kek")
        .await
        .unwrap();
    assert_ne!(new_kek, kek);
    assert_eq!(
        value(sm.as_ref(), &answers, "secret-store-kek-previous")
            .await
            .as_deref(),
        Some(kek.as_str())
    );
    outputs.push(out);

    // Unknown secret names are refused before anything happens.
    let out = seed(&path, &log, &["--rotate", "zone-kek"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--rotate: `zone-kek` is not a secret"),
        "{}",
        text(&out.stderr)
    );
    outputs.push(out);

    // `seed` never writes the answers file, not even after the KEK rotation (it tells the
    // operator to set kekRotation instead): byte for byte what the test wrote.
    assert_eq!(
        std::fs::read(&path).unwrap(),
        answers_before,
        "{cloud}: seed rewrote the answers file"
    );

    // No value ever reaches stdout, stderr or the log.
    let log_text = std::fs::read_to_string(&log).unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let mut secrets = vec![
        kek.clone(),
        pg["password"].as_str().unwrap().to_string(),
        redis["password"].as_str().unwrap().to_string(),
    ];
    for s in &catalog.secrets {
        if let Some(v) = value(sm.as_ref(), &answers, &s.name).await {
            secrets.push(v);
        }
    }
    assert!(secrets.len() >= 16);
    for secret in &secrets {
        for out in &outputs {
            assert!(
                !text(&out.stdout).contains(secret.as_str()),
                "{cloud}: a secret value on stdout"
            );
            assert!(
                !text(&out.stderr).contains(secret.as_str()),
                "{cloud}: a secret value on stderr"
            );
        }
        assert!(
            !log_text.contains(secret.as_str()),
            "{cloud}: a secret value in the log"
        );
    }
    assert!(
        log_text.contains("written"),
        "the log records what happened"
    );
}

/// Existing values with the wrong shape are reported, never silently replaced.
pub async fn wrong_shape_is_an_error(cloud: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (answers, path) = fresh_answers(cloud, dir.path(), "w");
    let sm = connect_secret_manager(&answers).await.unwrap();
    let name = caracal_deploy::core::catalog::remote_name(
        answers.cloud,
        &answers.secret_manager.prefix,
        "postgres",
    );
    // No password: nothing the answers hold can complete it.
    let bad = r#"{"username":"caracal","host":"h","port":5432,"database":"caracal","authDatabase":"caracal_auth"}"#;
    sm.create(
        &name,
        &secrecy::SecretString::from(bad),
        &Default::default(),
    )
    .await
    .unwrap();
    let out = seed(&path, &dir.path().join("log"), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("JSON without password") && stdout.contains("--rotate postgres"),
        "{stdout}"
    );
    assert_eq!(
        sm.version_count(&name).await.unwrap(),
        1,
        "the wrong value was left alone"
    );
    assert!(
        stdout.contains("12 written"),
        "the rest was seeded: {stdout}"
    );
}

/// A connection record of an earlier chart (no `authDatabase`) gains the field the answers
/// supply in a new version; its password and every other field are kept (read back through
/// the cloud's SDK).
pub async fn an_earlier_record_is_amended_its_password_kept(cloud: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (answers, path) = fresh_answers(cloud, dir.path(), "m");
    let sm = connect_secret_manager(&answers).await.unwrap();
    let name = caracal_deploy::core::catalog::remote_name(
        answers.cloud,
        &answers.secret_manager.prefix,
        "postgres",
    );
    let p = &answers.postgres;
    let earlier = serde_json::json!({
        "username": p.username, "password": "an-rc-era-password", "host": p.host,
        "port": p.port, "database": p.database,
    });
    sm.create(
        &name,
        &secrecy::SecretString::from(earlier.to_string()),
        &Default::default(),
    )
    .await
    .unwrap();
    let out = seed(&path, &dir.path().join("log"), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("add the missing fields (authDatabase; the password kept)"),
        "{stdout}"
    );
    assert!(!stdout.contains("an-rc-era-password"));
    let now: serde_json::Value =
        serde_json::from_str(&value(sm.as_ref(), &answers, "postgres").await.unwrap()).unwrap();
    assert_eq!(now["password"], "an-rc-era-password");
    assert_eq!(now["authDatabase"], serde_json::json!(p.auth_database));
    assert_eq!(now["port"], earlier["port"]);
    assert_eq!(sm.version_count(&name).await.unwrap(), 2, "a new version");
}

/// Two runs at once end consistent: one value per secret, both runs succeed.
pub async fn concurrent_runs_end_consistent(cloud: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (answers, path) = fresh_answers(cloud, dir.path(), "c");
    let spawn = |log: &str| {
        Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(["seed", "-f"])
            .arg(&path)
            .arg("--log-file")
            .arg(dir.path().join(log))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a.log"), spawn("b.log"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    let sm = connect_secret_manager(&answers).await.unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    for s in catalog.seeded() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        assert!(
            matches!(sm.read(&name).await.unwrap(), RemoteState::Present(_)),
            "{cloud}: {name}"
        );
        let n = sm.version_count(&name).await.unwrap();
        assert!((1..=2).contains(&n), "{cloud}: {name} has {n} versions");
    }
    // A third run finds everything in place.
    let out = seed(&path, &dir.path().join("c.log"), &[]);
    assert!(
        text(&out.stdout).contains("0 written, 13 unchanged"),
        "{}",
        text(&out.stdout)
    );
}

/// A source that cannot be read stops the run before any write.
pub async fn unreadable_source_writes_nothing(cloud: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut answers, path) = fresh_answers(cloud, dir.path(), "e");
    answers.postgres.password =
        caracal_deploy::core::answers::SecretSource::Env("CARACAL_TEST_UNSET_VARIABLE".into());
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = seed(&path, &dir.path().join("log"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "postgres.password: environment variable CARACAL_TEST_UNSET_VARIABLE is not set"
        ),
        "{}",
        text(&out.stderr)
    );
    // The fix (`SourceError::fix`), printed after the message.
    assert!(
        text(&out.stderr).contains("export it, or change the source"),
        "the fix is printed: {}",
        text(&out.stderr)
    );
    let sm = connect_secret_manager(&answers).await.unwrap();
    assert!(
        versions(sm.as_ref(), &answers)
            .await
            .iter()
            .all(|(_, c)| *c == 0)
    );
}

#[tokio::test]
async fn aws_seeding_contract() {
    seeding_contract("aws").await;
}

#[tokio::test]
async fn aws_wrong_shape_is_an_error() {
    wrong_shape_is_an_error("aws").await;
}

#[tokio::test]
async fn aws_an_earlier_record_is_amended_its_password_kept() {
    an_earlier_record_is_amended_its_password_kept("aws").await;
}

#[tokio::test]
async fn aws_concurrent_runs_end_consistent() {
    concurrent_runs_end_consistent("aws").await;
}

#[tokio::test]
async fn aws_unreadable_source_writes_nothing() {
    unreadable_source_writes_nothing("aws").await;
}

#[tokio::test]
async fn gcp_seeding_contract() {
    seeding_contract("gcp").await;
}

#[tokio::test]
async fn gcp_wrong_shape_is_an_error() {
    wrong_shape_is_an_error("gcp").await;
}

#[tokio::test]
async fn gcp_an_earlier_record_is_amended_its_password_kept() {
    an_earlier_record_is_amended_its_password_kept("gcp").await;
}

#[tokio::test]
async fn gcp_concurrent_runs_end_consistent() {
    concurrent_runs_end_consistent("gcp").await;
}

#[tokio::test]
async fn azure_seeding_contract() {
    seeding_contract("azure").await;
}

#[tokio::test]
async fn azure_wrong_shape_is_an_error() {
    wrong_shape_is_an_error("azure").await;
}

#[tokio::test]
async fn azure_an_earlier_record_is_amended_its_password_kept() {
    an_earlier_record_is_amended_its_password_kept("azure").await;
}

#[tokio::test]
async fn azure_concurrent_runs_end_consistent() {
    concurrent_runs_end_consistent("azure").await;
}

/// The message says what is wrong, the fix what to do; `Display` is the message alone.
#[test]
fn source_errors_carry_their_fix_apart() {
    let e = SourceError::EnvMissing {
        field: "postgres.password".into(),
        var: "PGPASSWORD".into(),
    };
    assert_eq!(
        e.to_string(),
        "postgres.password: environment variable PGPASSWORD is not set"
    );
    assert_eq!(e.fix().as_deref(), Some("export it, or change the source"));

    let e = SourceError::NoTerminal {
        field: "redis.password".into(),
    };
    assert_eq!(e.to_string(), "redis.password: `prompt` needs a terminal");
    assert_eq!(
        e.fix().as_deref(),
        Some("use env:VAR or file:PATH in the answers, or run in a terminal")
    );

    for e in [
        SourceError::File {
            field: "f".into(),
            path: "/p".into(),
            message: "No such file or directory".into(),
        },
        SourceError::EmptyFile {
            field: "f".into(),
            path: "/p".into(),
        },
        SourceError::Cancelled { field: "f".into() },
    ] {
        assert!(!e.to_string().contains("Fix"), "{e}");
        assert_eq!(e.fix(), None, "{e}");
    }
}
