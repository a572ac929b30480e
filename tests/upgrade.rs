//! Upgrades from the pre-1.0 layout. The starting point is an install made the way the
//! 2026-06 release-candidate guide made it (`support/rc_install.rs`); this file first proves that
//! starting point is what it claims to be, with oracles of its own: helm's release record, the
//! runtime Secret as the cluster has it, and moto read back through the AWS SDK.

#[path = "support/rc_install.rs"]
mod rc_install;
mod support;

use rc_install::{RC_CHART_VERSION, install_rc_layout};

#[test]
fn the_release_candidate_layout_installs_on_the_bed() {
    // The bed's store is one cluster-wide object each install points at its own namespace.
    let _turn = support::verify_bed::TURN
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let rc = install_rc_layout("layout");
    let release = &rc.answers.release;

    // helm's record: the release is deployed, from the RC chart.
    let listed = rc.helm_list();
    let row = listed
        .iter()
        .find(|r| r["name"] == release.as_str())
        .unwrap_or_else(|| panic!("helm list has no {release}: {listed:#?}"));
    assert_eq!(row["status"], "deployed", "{row:#}");
    assert_eq!(
        row["chart"],
        format!("caracal-{RC_CHART_VERSION}"),
        "{row:#}"
    );
    let status = rc.helm_status();
    assert_eq!(status["info"]["status"], "deployed", "{status:#}");
    assert_eq!(status["version"], 1, "one revision: {status:#}");
    let meta = rc.helm_metadata();
    assert_eq!(
        (&meta["chart"], &meta["version"], &meta["status"]),
        (
            &serde_json::json!("caracal"),
            &serde_json::json!(RC_CHART_VERSION),
            &serde_json::json!("deployed")
        ),
        "{meta:#}"
    );

    // Both RC migration hooks ran to completion (helm deletes a hook Job once it succeeded).
    for hook in ["caracal-caracal-migrate", "caracal-caracal-auth-migrate"] {
        assert!(
            status["hooks"].as_array().is_some_and(|h| h
                .iter()
                .any(|h| h["name"] == hook && h["last_run"]["phase"] == "Succeeded")),
            "{hook}: {:#}",
            status["hooks"]
        );
    }

    // The runtime Secret has the old key with the seeded KEK, and none of 1.0.0's.
    let data = rc.runtime_data();
    assert_eq!(
        data.get("zoneKek"),
        Some(&rc.kek),
        "caracal-runtime's zoneKek is not the seeded zone-kek; keys: {:?}",
        data.keys().collect::<Vec<_>>()
    );
    for new_key in [
        "secretStoreKek",
        "authSecret",
        "caracalAuthSecret",
        "idempotencyHmacKey",
    ] {
        assert!(
            !data.contains_key(new_key),
            "the RC layout's caracal-runtime has 1.0.0's {new_key}"
        );
    }
    assert_eq!(rc.kek.len(), 64, "a 32-byte hex KEK");

    // The secret manager holds the KEK under its old name only.
    assert_eq!(
        rc.remote_value("zone-kek").as_deref(),
        Some(rc.kek.as_str())
    );
    assert_eq!(rc.remote_value("secret-store-kek"), None);
    let pg: serde_json::Value =
        serde_json::from_str(&rc.remote_value("postgres").expect("PREFIX/postgres")).unwrap();
    assert!(pg.get("authDatabase").is_none(), "{pg}");
}

/// The operator's upgrade, from that install to chart 1.0.0, through the product: first a dry
/// run (which changes nothing, `--delete-earlier` included), then `upgrade --yes
/// --delete-earlier`, which ends verified. The KEK is carried over byte for byte (the cluster's
/// runtime Secret and the secret manager read back), the postgres record gains its
/// authDatabase with its password unchanged, and the secrets 1.0.0 added exist. The old name is
/// kept while verify is not green (the bed's unauthenticated ServiceMonitors); once they are
/// authenticated, `upgrade --yes --delete-earlier` on the upgraded install schedules the old
/// name's deletion, the KEK unchanged under its new name. No value is printed.
#[test]
fn a_release_candidate_install_upgrades_to_1_0_0_verified_with_its_kek_unchanged() {
    upgrade_the_release_candidate(&support::helm(), "up3", true);
}

/// The same upgrade run by helm 4, over the release helm 3 installed from the guide, without
/// `--delete-earlier`: the old name is kept, and the flag named.
#[test]
fn a_release_candidate_install_upgrades_to_1_0_0_with_helm_4_too() {
    upgrade_the_release_candidate(&support::helm4(), "up4", false);
}

fn upgrade_the_release_candidate(helm: &std::path::Path, tag: &str, delete_earlier: bool) {
    let _turn = support::verify_bed::TURN
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let rc = install_rc_layout(tag);
    let printed_nowhere = |out: &std::process::Output| {
        let all = format!(
            "{}{}",
            support::text(&out.stdout),
            support::text(&out.stderr)
        );
        for (name, value) in &rc.seeded {
            assert!(!all.contains(value.as_str()), "{name}'s value printed");
        }
    };

    // The dry run: what would change, and nothing changed.
    let out = support::caracal_with_helm(
        &["upgrade", "--dry-run", "--delete-earlier"],
        &rc.path,
        helm,
    );
    let stdout = support::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        support::text(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "chart {RC_CHART_VERSION} (app 2026.06.25-rc.1) → chart 1.0.0 (app 1.0.0): forward"
        )),
        "{stdout}"
    );
    for line in [
        format!(
            "copy from the earlier name {} (value kept)",
            rc.remote("zone-kek")
        ),
        "add the missing fields (authDatabase; the password kept)".to_string(),
        "✓ secretStoreKek (the ExternalSecret produces it)".to_string(),
        // Copied first, then deletable: the current name will hold the same value.
        format!(
            "would delete {} (its value is under {})",
            rc.remote("zone-kek"),
            rc.remote("secret-store-kek")
        ),
        "Dry run: nothing was changed".to_string(),
    ] {
        assert!(stdout.contains(&line), "{line}: {stdout}");
    }
    printed_nowhere(&out);
    assert_eq!(rc.remote_value("secret-store-kek"), None, "nothing written");
    assert_eq!(
        rc.remote_value("zone-kek").as_deref(),
        Some(rc.kek.as_str()),
        "nothing deleted"
    );
    assert_eq!(rc.helm_status()["version"], 1, "no revision");

    // The upgrade. The emulated control plane accepts the install's admin token (unchanged
    // by the upgrade: the same remote secret).
    support::verify_bed::emulator(
        "PUT",
        &format!("/_emulator/installations/{}", rc.namespace),
        Some(serde_json::json!({ "admin_token": rc.seeded["admin-token"] })),
    );
    let (proxy, ca) = (
        support::verify_bed::env("CARACAL_TESTBED_PROXY_URL"),
        support::verify_bed::env("CARACAL_TESTBED_CA_BUNDLE"),
    );
    let env = [
        ("HTTPS_PROXY", proxy.as_ref()),
        ("NO_PROXY", "127.0.0.1,localhost".as_ref()),
        ("CARACAL_DEPLOY_CA_BUNDLE", ca.as_ref()),
        ("CARACAL_HELM", helm.as_os_str()),
    ];
    let mut args = vec!["upgrade", "--yes", "--timeout", "5m", "--wait", "3m"];
    if delete_earlier {
        args.push("--delete-earlier");
    }
    let out = support::caracal_env(&args, &rc.path, &env);
    let (stdout, stderr) = (support::text(&out.stdout), support::text(&out.stderr));
    // Verified: no check in error; the bed's ServiceMonitors send no bearer, so the
    // monitoring-auth warning leaves exit 4.
    assert_eq!(
        out.status.code(),
        Some(4),
        "{:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(
        stdout.contains("‼ warning scraping sends the metrics bearer"),
        "{stdout}"
    );
    assert!(stdout.contains("√ ok canary"), "{stdout}");
    printed_nowhere(&out);

    let meta = rc.helm_metadata();
    assert_eq!(
        (&meta["version"], &meta["status"]),
        (&serde_json::json!("1.0.0"), &serde_json::json!("deployed")),
        "{meta:#}"
    );
    let data = rc.runtime_data();
    assert_eq!(
        data.get("secretStoreKek"),
        Some(&rc.kek),
        "the KEK, byte for byte"
    );
    assert!(!data.contains_key("zoneKek"), "1.0.0's layout");
    assert_eq!(
        rc.remote_value("secret-store-kek").as_deref(),
        Some(rc.kek.as_str())
    );
    assert_eq!(
        rc.remote_value("zone-kek").as_deref(),
        Some(rc.kek.as_str()),
        "the old name is kept"
    );
    let before: serde_json::Value = serde_json::from_str(&rc.seeded["postgres"]).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(&rc.remote_value("postgres").unwrap()).unwrap();
    assert_eq!(after["password"], before["password"], "the password kept");
    assert_eq!(
        after["authDatabase"],
        serde_json::json!(rc.answers.postgres.auth_database)
    );
    for name in ["auth-secret", "idempotency-hmac-key"] {
        assert_eq!(
            rc.remote_value(name).map(|v| v.len()),
            Some(64),
            "{name} created"
        );
    }
    let kept = format!(
        "Kept in the secret manager: {} (the earlier names; nothing is deleted)",
        rc.remote("zone-kek")
    );
    assert!(stdout.contains(&kept), "{stdout}");
    if !delete_earlier {
        assert!(
            stdout.contains(&format!(
                "Delete them once you no longer need to roll back to chart {RC_CHART_VERSION}: \
                 run upgrade again with --delete-earlier."
            )),
            "{stdout}"
        );
        return;
    }
    // Not green, so nothing deleted, and why.
    assert!(
        stdout.contains(
            "--delete-earlier deletes them only after verify ends with every check green, and \
             it ended with exit 4 (monitoring-auth not green)"
        ),
        "{stdout}"
    );
    assert!(!rc.remote_scheduled_for_deletion("zone-kek"));

    // Green: the ServiceMonitors authenticated as monitoring-auth's fix says, the same
    // command on the upgraded install (nothing else to change) deletes the earlier name.
    rc_install::authenticate_service_monitors(&rc.namespace);
    let out = support::caracal_env(&args, &rc.path, &env);
    let (stdout, stderr) = (support::text(&out.stdout), support::text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("chart 1.0.0 (app 1.0.0) → chart 1.0.0 (app 1.0.0): the same chart"),
        "{stdout}"
    );
    for line in [
        "Earlier names: 1 deleted, 0 kept".to_string(),
        format!(
            "✓ {}: deleted (its current name holds the same value)",
            rc.remote("zone-kek")
        ),
    ] {
        assert!(stdout.contains(&line), "{line}: {stdout}");
    }
    assert!(!stdout.contains("Kept in the secret manager"), "{stdout}");
    printed_nowhere(&out);
    assert_eq!(rc.helm_status()["version"], 2, "no revision: {stdout}");
    // Read back through the AWS SDK: scheduled for deletion (recoverable), the KEK unchanged
    // under its new name and in the runtime Secret.
    assert!(rc.remote_scheduled_for_deletion("zone-kek"));
    assert_eq!(
        rc.remote_value("secret-store-kek").as_deref(),
        Some(rc.kek.as_str()),
        "the KEK, byte for byte"
    );
    assert_eq!(rc.runtime_data().get("secretStoreKek"), Some(&rc.kek));
}
