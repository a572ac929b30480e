//! The wizard as the safe way to move an install forward, run as an operator runs it: the real
//! binary (`--plain`) in a real terminal (tmux), answered by a script, on an install made the
//! way the 2026-06 release-candidate guide made it (`support/rc_install.rs`). The oracles are
//! the pane's text, the exit code, helm's release record, the runtime Secret as the cluster
//! has it, and moto read back through the AWS SDK.

#[path = "support/rc_install.rs"]
mod rc_install;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use rc_install::{RC_CHART_VERSION, install_rc_layout};
use support::tmux::Tmux;
use support::verify_bed::{TURN, wizard_terminal_env};

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
    let first = run_plain(&rc, "first", &[]);
    assert!(!rc.remote_scheduled_for_deletion("zone-kek"), "kept");
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
        format!(
            "✓ Caracal (caracal) is installed and verified in {}",
            rc.namespace
        ),
        "√ ok canary".to_string(),
        // The bed's ServiceMonitors send no bearer: a warning, so not every check is green.
        format!(
            "  {} (its value is under {})",
            rc.remote("zone-kek"),
            rc.remote("secret-store-kek")
        ),
        "They are deleted only after verify ends with every check green".to_string(),
    ] {
        assert!(first.contains(&line), "{line}:\n{first}");
    }
    // What changes was told before the question, and seeding (the first change) after it.
    let at = |text: &str| {
        first
            .find(text)
            .unwrap_or_else(|| panic!("{text}: {first}"))
    };
    assert!(at("Objects (") < at("Go on with the upgrade"));
    assert!(at("Go on with the upgrade") < at("== step 10/16: Seed secrets =="));
    for (name, value) in &rc.seeded {
        assert!(!first.contains(value.as_str()), "{name}'s value on screen");
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

    // Green (the ServiceMonitors authenticated as monitoring-auth's fix says): a second run
    // finds nothing to change and, asked, deletes the earlier name.
    rc_install::authenticate_service_monitors(&rc.namespace);
    let second = run_plain(&rc, "second", &[("Delete them?", "y")]);
    assert!(
        second.contains(&format!(
            "  ✓ {}: deleted (its current name holds the same value)",
            rc.remote("zone-kek")
        )),
        "{second}"
    );
    assert!(rc.remote_scheduled_for_deletion("zone-kek"));
    assert_eq!(
        rc.remote_value("secret-store-kek").as_deref(),
        Some(rc.kek.as_str()),
        "the KEK kept under its current name"
    );
    assert_eq!(rc.helm_status()["version"], 2, "no new revision");
}

/// Runs `caracal-deploy --plain` on the install's answers in tmux and answers its prompts: the
/// usual ones (resume, go on with the upgrade, no rotation, write, the context's name, apply,
/// helm), then `more` (a prompt's text → the keys). Returns the pane's whole text once it
/// exited 0.
fn run_plain(rc: &rc_install::RcInstall, tag: &str, more: &[(&str, &str)]) -> String {
    let dir = rc.path.parent().unwrap();
    let exit = dir.join(format!("{tag}.exit"));
    let command = format!(
        "cd {} && {} --plain -f {} --out bundle; echo \"EXIT=$?\" > {}; echo 'wizard ended'; sleep 60",
        quote(dir),
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        quote(&rc.path),
        quote(&exit),
    );
    let tmux = Tmux::start(&command, &wizard_terminal_env());
    let answers: Vec<(&str, &str)> = [
        (
            "go on to the steps without asking the questions again?",
            "y",
        ),
        (
            "Go on with the upgrade (seed, check, apply, helm, verify)?",
            "y",
        ),
        ("Rotate (a new version of) any of these?", ""),
        ("secret(s) to AWS Secrets Manager (us-east-1)?", "y"),
        (
            "Type the context's name (caracal-testbed) to confirm",
            "caracal-testbed",
        ),
        ("Apply these changes?", "y"),
        ("Run helm upgrade --install now?", "y"),
    ]
    .into_iter()
    .chain(more.iter().copied())
    .collect();
    let start = Instant::now();
    let mut answered = 0;
    loop {
        let history = tmux.history();
        if history.contains("wizard ended") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{tag}: not ended in 10 min:\n{history}"
        );
        // The last line, when it is a prompt not answered yet (each is asked once).
        let lines: Vec<&str> = history.lines().filter(|l| !l.trim().is_empty()).collect();
        let waiting = lines.len() > answered
            && lines.last().is_some_and(|l| {
                let l = l.trim_end();
                l.ends_with("[Y/n]") || l.ends_with("[y/N]") || l.ends_with(':')
            });
        if let (true, Some(last)) = (waiting, lines.last()) {
            let (_, keys) = answers
                .iter()
                .find(|(prompt, _)| last.contains(prompt))
                .unwrap_or_else(|| {
                    panic!("{tag}: a prompt the script does not know: {last}\n{history}")
                });
            if !keys.is_empty() {
                tmux.keys(&["-l", keys]);
            }
            // A yes/no prompt takes its letter at once; Enter would reach the next prompt.
            let confirm = last.trim_end().ends_with(']');
            if keys.is_empty() || !confirm {
                tmux.keys(&["Enter"]);
            }
            answered = lines.len();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let history = tmux.history();
    assert_eq!(
        std::fs::read_to_string(&exit).unwrap().trim(),
        "EXIT=0",
        "{tag}:\n{history}"
    );
    history
}
