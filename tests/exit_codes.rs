//! Exit 4 (warnings only) and `--fail-on-warning` (then 3), end to end through `seed` against
//! the bed's AWS Secrets Manager: a connection record that drifted from the answers (the
//! database moved) is kept, never overwritten, and reported as a warning.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::catalog::SecretCatalog;
use support::bed_answers;

fn seed(answers: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(answers)
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn drift_is_a_warning_exit_4_and_3_with_fail_on_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.secret_manager.prefix = support::unique("exit");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = seed(&path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Without drift, --fail-on-warning changes nothing.
    let out = seed(&path, &["--fail-on-warning"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The database moved: the stored record names the old host.
    answers.postgres.host = "db-moved.caracal.test".into();
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let sm = connect_secret_manager(&answers).await.unwrap();
    let catalog = SecretCatalog::for_chart("1.0.0").unwrap();
    let versions = || async {
        let mut v = Vec::new();
        for s in catalog.seeded() {
            let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
            v.push((name.clone(), sm.version_count(&name).await.unwrap()));
        }
        v
    };
    let before = versions().await;

    for (extra, code) in [
        (&["--dry-run"][..], 4),
        (&[][..], 4),
        (&["--dry-run", "--fail-on-warning"][..], 3),
        (&["--fail-on-warning"][..], 3),
    ] {
        let out = seed(&path, extra);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "seed {extra:?}: {all}");
        assert!(
            all.contains("host"),
            "seed {extra:?}: the warning names the drifted field: {all}"
        );
    }
    assert_eq!(
        versions().await,
        before,
        "a drifted record is kept, never overwritten"
    );
}
