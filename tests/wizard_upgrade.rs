//! The wizard as the safe way to move an install forward, run as an operator runs it: the real
//! binary (`--plain`) in a real terminal (tmux), answered by a script, on an install made the
//! way the 2026-06 release-candidate guide made it (`support/rc_install.rs`). The oracles are
//! the pane's text, the exit code, helm's release record, the runtime Secret as the cluster
//! has it, and moto read back through the AWS SDK.

#[path = "support/rc_install.rs"]
mod rc_install;
mod support;

use std::path::Path;
use std::time::Duration;

use rc_install::{RC_CHART_VERSION, install_rc_layout};
use support::tmux::Tmux;
use support::verify_bed::{TURN, bed_terminal_env, env};

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// Started on the answers of an existing release-candidate install, the plain wizard turns
/// into an upgrade: it reads and tells what the upgrade changes before anything changes (the
/// secrets carried over, the keys newly mounted), asks, then seeds (the KEK copied from its
/// earlier name, never regenerated), checks, applies, runs helm and verifies. The KEK reaches
/// chart 1.0.0's key byte for byte; the earlier name is kept.
#[test]
fn the_plain_wizard_upgrades_a_release_candidate_install_to_1_0_0_verified() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let rc = install_rc_layout("wup");
    // The emulated control plane accepts the install's admin token (the same remote secret).
    support::verify_bed::emulator(
        "PUT",
        &format!("/_emulator/installations/{}", rc.namespace),
        Some(serde_json::json!({ "admin_token": rc.seeded["admin-token"] })),
    );
    let dir = rc.path.parent().unwrap();
    let command = format!(
        "cd {} && {} --plain -f {} --out bundle; echo \"EXIT=$?\" > {}; echo 'wizard ended'; sleep 60",
        quote(dir),
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        quote(&rc.path),
        quote(&dir.join("exit")),
    );
    let tmux = Tmux::start(
        &command,
        &bed_terminal_env(&[
            ("AWS_ACCESS_KEY_ID", env("AWS_ACCESS_KEY_ID")),
            ("AWS_SECRET_ACCESS_KEY", env("AWS_SECRET_ACCESS_KEY")),
            ("AWS_ENDPOINT_URL", env("AWS_ENDPOINT_URL")),
            ("CARACAL_HELM", env("CARACAL_HELM")),
        ]),
    );
    let minute = Duration::from_secs(60);
    tmux.until("the first prompt", minute, |s| {
        s.contains("go on to the steps without asking the questions again? [Y/n]")
    });
    tmux.keys(&["y"]);
    tmux.until("the upgrade's question", Duration::from_secs(120), |s| {
        s.contains("Go on with the upgrade (seed, check, apply, helm, verify)? [Y/n]")
    });
    let history = tmux.history();
    for line in [
        "== Upgrade: release caracal exists ==".to_string(),
        format!(
            "upgrade caracal: chart {RC_CHART_VERSION} (app 2026.06.25-rc.1) → 1.0.0 (app 1.0.0)"
        ),
        format!(
            "copy from the earlier name {} (value kept)",
            rc.remote("zone-kek")
        ),
        "add the missing fields (authDatabase; the password kept)".to_string(),
        "✓ secretStoreKek (the ExternalSecret produces it)".to_string(),
    ] {
        assert!(history.contains(&line), "{line}:\n{history}");
    }
    // Read, not yet changed.
    assert_eq!(rc.remote_value("secret-store-kek"), None, "nothing written");
    assert_eq!(rc.helm_status()["version"], 1, "no revision");
    tmux.keys(&["y"]);
    tmux.until("the rotations asked", minute, |s| {
        s.contains("Rotate (a new version of) any of these?")
    });
    tmux.keys(&["Enter"]);
    tmux.until("the seeding plan", minute, |s| {
        s.contains("secret(s) to AWS Secrets Manager (us-east-1)? [Y/n]")
    });
    tmux.keys(&["y"]);
    tmux.until("the confirmation", Duration::from_secs(120), |s| {
        s.trim_end()
            .ends_with("Type the context's name (caracal-testbed) to confirm:")
    });
    tmux.keys(&["-l", "caracal-testbed"]);
    tmux.keys(&["Enter"]);
    tmux.until("the dry run", minute, |s| {
        s.contains("Apply these changes? [Y/n]")
    });
    tmux.keys(&["y"]);
    tmux.until("synced", Duration::from_secs(150), |s| {
        s.contains("Run helm upgrade --install now? [Y/n]")
    });
    tmux.keys(&["y"]);
    tmux.until("the exit", Duration::from_secs(600), |s| {
        s.contains("wizard ended")
    });
    let history = tmux.history();
    assert_eq!(
        std::fs::read_to_string(dir.join("exit")).unwrap().trim(),
        "EXIT=0",
        "{history}"
    );
    assert!(
        history.contains(&format!(
            "✓ Caracal (caracal) is installed and verified in {}",
            rc.namespace
        )),
        "{history}"
    );
    assert!(history.contains("√ ok canary"), "{history}");
    for (name, value) in &rc.seeded {
        assert!(
            !history.contains(value.as_str()),
            "{name}'s value on screen"
        );
    }

    // helm's record, the cluster's runtime Secret and the secret manager agree.
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
    assert_eq!(
        rc.remote_value("secret-store-kek").as_deref(),
        Some(rc.kek.as_str())
    );
    assert_eq!(
        rc.remote_value("zone-kek").as_deref(),
        Some(rc.kek.as_str()),
        "the earlier name is kept until the operator asks"
    );
}
