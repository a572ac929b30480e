//! `caracal-deploy upgrade` as operators run it: the real binary against the bed (the real
//! API server, helm, the chart, moto). The oracles: the chart's own templates (which objects
//! a value reaches), helm's history (no new revision when nothing may change), the cluster's
//! runtime Secret (no value printed), and helm's and the Job controller's account of a failure.

mod support;

use std::process::Command;

use support::verify_bed::{Install, TURN, kubectl_ok};
use support::{helm, helm_history, text};

/// The helm revisions of the install, as helm lists them.
fn revisions(install: &Install) -> usize {
    helm_history(&helm(), &install.answers).len()
}

/// The resourceVersion of the install's ExternalSecret: it moves on any write.
fn es_version(install: &Install) -> String {
    kubectl_ok(&[
        "-n",
        &install.answers.namespace,
        "get",
        "externalsecret",
        "caracal-runtime",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ])
}

/// A changed answer on a deployed 1.0.0 release, as a dry run: the diff names exactly the
/// object the chart derives it from (templates/ingress.yaml puts the host in the Ingress's
/// `tls[].hosts` and `rules[].host`, nowhere else) and the values field; no Secret value is
/// printed; helm makes no revision.
#[test]
fn a_values_change_diffs_exactly_its_object_and_fields_and_never_a_secret() {
    // The bed's store is one cluster-wide object each install points at its own namespace.
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let mut install = Install::new("upd", |_| {});
    install.up(0, &[]);
    install.answers.ingress.hosts.api = Some("api2.caracal.test".into());
    std::fs::write(&install.path, install.answers.to_yaml()).unwrap();

    let out = install.run(&["upgrade", "--dry-run"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let ns = &install.answers.namespace;
    assert!(
        stdout.contains(&format!(
            "Release caracal in {ns}: revision 1 (deployed), chart 1.0.0 (app 1.0.0) → chart 1.0.0 (app 1.0.0): the same chart"
        )),
        "{stdout}"
    );
    let objects: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("~ ") || l.starts_with("+ ") || l.starts_with("- "))
        .collect();
    assert_eq!(
        objects,
        [format!("~ Ingress {ns}/caracal-caracal-api").as_str()],
        "{stdout}"
    );
    for field in [
        "spec.tls[0].hosts[0]: api.caracal.test → api2.caracal.test",
        "spec.rules[0].host: api.caracal.test → api2.caracal.test",
    ] {
        assert!(stdout.contains(field), "{field}: {stdout}");
    }
    assert!(
        stdout.contains(
            "Values (1 fields differ):\n  ingress.api.host: api.caracal.test → api2.caracal.test"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Dry run: nothing was changed"), "{stdout}");
    for key in ["caracalAdminToken", "postgresPassword", "secretStoreKek"] {
        let value = install.runtime_value(key);
        assert!(
            !stdout.contains(&value) && !stderr.contains(&value),
            "{key} printed"
        );
    }
    assert_eq!(revisions(&install), 1, "a dry run makes no revision");
}

/// A release of a newer chart (the real chart as 1.0.1), and answers that name 1.0.0: the
/// upgrade refuses, says why (forward-only migrations) and how to override, and changes
/// nothing — helm's history and the store's objects are as they were.
#[test]
fn a_downgrade_is_refused_and_changes_nothing() {
    // The bed's store is one cluster-wide object each install points at its own namespace.
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("dwn", |_| {});
    install.up(0, &[]);
    // The deployed release becomes chart 1.0.1: the same templates, a newer version.
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("caracal");
    let cp = Command::new("cp")
        .arg("-r")
        .arg(support::chart_dir())
        .arg(&chart)
        .output()
        .unwrap();
    assert!(cp.status.success());
    let meta = chart.join("Chart.yaml");
    let text_of = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text_of.replace("version: 1.0.0", "version: 1.0.1")).unwrap();
    let ns = install.answers.namespace.clone();
    let context = install.answers.kube_context.clone().unwrap();
    let values = dir.path().join("values.json");
    let got = Command::new(helm())
        .args(["get", "values", "caracal", "-o", "json", "-n", &ns])
        .args(["--kube-context", &context])
        .output()
        .unwrap();
    assert!(got.status.success(), "{}", text(&got.stderr));
    std::fs::write(&values, &got.stdout).unwrap();
    let up = Command::new(helm())
        .args(["upgrade", "caracal"])
        .arg(&chart)
        .args(["-n", &ns, "--kube-context", &context])
        .args(["--wait", "--timeout", "3m", "-f"])
        .arg(&values)
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert_eq!(revisions(&install), 2);
    let store_before = es_version(&install);

    for flags in [&["--yes"][..], &["--dry-run"][..]] {
        let mut args = vec!["upgrade"];
        args.extend_from_slice(flags);
        let out = install.run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(
            stderr.contains("chart 1.0.0 is not a step forward from the deployed 1.0.1"),
            "{stderr}"
        );
        assert!(stderr.contains("forward-only"), "{stderr}");
        assert!(stderr.contains("--allow-downgrade only if"), "{stderr}");
        assert!(
            text(&out.stdout).contains("→ chart 1.0.0 (app 1.0.0): BACKWARD (a downgrade)"),
            "{}",
            text(&out.stdout)
        );
    }
    assert_eq!(revisions(&install), 2, "no revision");
    let store_after = es_version(&install);
    assert_eq!(
        store_before, store_after,
        "the ExternalSecret was not touched"
    );
}

/// An upgrade whose migration Job fails (a database it cannot reach): the Job, its reason and
/// its pod's failure are named, with the forward-only warning; exit 3.
#[test]
fn a_failed_upgrade_names_the_failing_job_and_warns_that_migrations_only_go_forward() {
    // The bed's store is one cluster-wide object each install points at its own namespace.
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let mut install = Install::new("ufl", |_| {});
    install.up(0, &[]);
    install.answers.postgres.host = "db.unreachable.test".into();
    std::fs::write(&install.path, install.answers.to_yaml()).unwrap();
    let out = install.run(&["upgrade", "--yes", "--timeout", "60s"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("hook Job caracal-caracal-migrate failed")
            && stdout.contains("BackoffLimitExceeded"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("hook Job caracal-caracal-migrate: started"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Caracal's database migrations are forward-only"),
        "{stderr}"
    );
    let h = helm_history(&helm(), &install.answers);
    assert_eq!(h.last().map(|r| r.1.as_str()), Some("failed"), "{h:?}");
}
