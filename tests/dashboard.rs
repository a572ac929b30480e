//! `caracal-deploy dashboard`, and the wizard from its first screen to a verified install, as
//! an operator runs them: the real binary in a real terminal (tmux), against the bed. The oracles are the screen tmux holds, the exit code,
//! tmux's own view of the terminal's modes after the exit, and the Caracal emulator's request
//! log (a second canary run is a second token exchange it served).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::tmux::Tmux;
use support::verify_bed::{Install, TURN, bed_terminal_env, emulator_mark, env, requests_since};

fn token_exchanges(since: u64) -> usize {
    requests_since(since)
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/oauth/2/token")
        .count()
}

/// From the preflight screen: its checks pass, Enter, the context's name typed, Enter; until
/// step 2's dry run is shown.
fn past_preflight_to_the_dry_run(tmux: &Tmux) {
    let minute = Duration::from_secs(60);
    tmux.until("preflight passed", minute, |s| {
        s.contains("Enter continue (every check passed)")
    });
    tmux.keys(&["Enter"]);
    tmux.until("the confirmation", Duration::from_secs(10), |s| {
        s.contains("to confirm:")
    });
    tmux.keys(&["-l", "caracal-testbed"]);
    tmux.keys(&["Enter"]);
    tmux.until("the dry run", minute, |s| {
        s.contains("a applies these changes")
    });
}

/// The wizard on the bed's answers of `install`, in its directory, in a terminal; the pane
/// says `wizard TAG ended` when it exits (its code in `exit` beside the answers).
fn start_wizard(install: &Install, tag: &str) -> Tmux {
    let dir = install.path.parent().unwrap();
    let command = format!(
        "cd {} && {} -f {} --out bundle; echo \"EXIT=$?\" > {}; echo 'wizard {tag} ended'; sleep 60",
        quote(dir),
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        quote(&install.path),
        quote(&dir.join("exit")),
    );
    Tmux::start(
        &command,
        &bed_terminal_env(&[
            ("AWS_ACCESS_KEY_ID", env("AWS_ACCESS_KEY_ID")),
            ("AWS_SECRET_ACCESS_KEY", env("AWS_SECRET_ACCESS_KEY")),
            ("AWS_ENDPOINT_URL", env("AWS_ENDPOINT_URL")),
            ("CARACAL_HELM", env("CARACAL_HELM")),
        ]),
    )
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

#[test]
fn the_dashboard_shows_a_healthy_install_live_reruns_the_canary_and_restores_the_terminal() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("dash", |_| {});
    install.up(0, &[]);
    let since = emulator_mark();
    let exit_file = install.path.with_extension("exit");
    let command = format!(
        "{} dashboard -f {}; echo \"EXIT=$?\" > {}; echo 'dashboard ended'; sleep 60",
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        quote(&install.path),
        quote(&exit_file),
    );
    let tmux = Tmux::start(&command, &bed_terminal_env(&[("NO_COLOR", "1".into())]));

    // Green but the chart's own ServiceMonitors, the canary run through the emulator, the
    // rollout rolled out.
    let screen = tmux.until("the canary passed", Duration::from_secs(90), |s| {
        s.contains("√ ok      canary")
    });
    assert!(screen.contains("caracal-deploy dashboard"), "{screen}");
    assert!(
        screen.contains(&format!("release caracal in {}", install.answers.namespace)),
        "{screen}"
    );
    assert!(screen.contains("‼ warning monitoring-auth"), "{screen}");
    assert!(screen.contains("× 0 error"), "{screen}");
    assert!(screen.contains("rolled out"), "{screen}");
    assert!(!screen.contains("rolling "), "{screen}");
    // Each workload as the cluster has it (kubectl, the oracle).
    let workloads = support::verify_bed::kubectl_ok(&[
        "-n",
        &install.answers.namespace,
        "get",
        "deployments,statefulsets",
        "-o",
        "jsonpath={range .items[*]}{.status.readyReplicas}/{.spec.replicas} {.kind}/{.metadata.name}{\"\\n\"}{end}",
    ]);
    assert!(workloads.lines().count() >= 6, "{workloads}");
    for line in workloads.lines() {
        let line = line
            .replace("Deployment/", "deploy/")
            .replace("StatefulSet/", "sts/");
        let (counts, name) = line.split_once(' ').unwrap();
        assert!(
            screen.contains(&format!("√ rolled out {counts} ready {name} (")),
            "{line}: {screen}"
        );
    }
    assert_eq!(token_exchanges(since), 1, "one canary so far");

    // NO_COLOR: not one colour escape on the screen (glyphs and words carry the meaning).
    let styled = tmux.tmux(&["capture-pane", "-p", "-e", "-t", "s"]);
    for sgr in [
        "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m", "\x1b[38;", "\x1b[46m",
    ] {
        assert!(!styled.contains(sgr), "colour {sgr:?} under NO_COLOR");
    }

    // The selection moves to the canary; its details show the evidence.
    let screen = tmux.screen();
    let rows = screen
        .lines()
        .filter(|l| l.contains("√ ") || l.contains("‼ ") || l.contains("× ") || l.contains("- "))
        .count();
    assert!(rows > 10, "{screen}");
    for _ in 0..40 {
        tmux.keys(&["Down"]);
    }
    let screen = tmux.until("the canary's details", Duration::from_secs(5), |s| {
        s.contains("› √ ok      canary") && s.contains("[canary]")
    });
    assert!(screen.contains("allowed by the Gateway"), "{screen}");

    // `c` runs the canary again: the emulator serves a second token exchange.
    tmux.keys(&["c"]);
    let start = Instant::now();
    while token_exchanges(since) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no second canary run; the screen:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // `/` filters; `?` shows the keys.
    tmux.keys(&["/", "tls", "Enter"]);
    let screen = tmux.until("the filter", Duration::from_secs(5), |s| {
        s.contains("filter “tls”")
    });
    assert!(screen.contains("tls-certificates"), "{screen}");
    assert!(!screen.contains("store-synced"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.until("the filter cleared", Duration::from_secs(5), |s| {
        s.contains("store-synced")
    });
    tmux.keys(&["?"]);
    tmux.until("the help", Duration::from_secs(5), |s| {
        s.contains("run the canary again")
    });
    tmux.keys(&["Escape"]);

    // Too small a terminal says so, and the dashboard comes back when it grows.
    tmux.tmux(&["resize-window", "-t", "s", "-x", "70", "-y", "20"]);
    tmux.until("the size message", Duration::from_secs(5), |s| {
        s.contains("needs at least 80×24")
    });
    tmux.tmux(&["resize-window", "-t", "s", "-x", "200", "-y", "60"]);
    tmux.until("the dashboard again", Duration::from_secs(5), |s| {
        s.contains("canary")
    });

    // `q`: exit 4 (warnings only), and the terminal is the shell's again.
    tmux.keys(&["q"]);
    let screen = tmux.until("the exit", Duration::from_secs(30), |s| {
        s.contains("dashboard ended")
    });
    let code = std::fs::read_to_string(&exit_file).unwrap();
    assert_eq!(code.trim(), "EXIT=4", "{screen}");
    assert!(
        screen.contains("√ "),
        "the last counts are printed: {screen}"
    );
    let modes = tmux.tmux(&[
        "display-message",
        "-p",
        "-t",
        "s",
        "#{alternate_on} #{cursor_flag} #{keypad_cursor_flag}",
    ]);
    assert_eq!(
        modes.trim(),
        "0 1 0",
        "alternate screen, cursor, keypad mode"
    );
    // The canary deleted what it created, both runs.
    let zones = support::verify_bed::curl(
        "GET",
        &format!("{}/api/v1/zones", env("CARACAL_TESTBED_CARACAL_API_URL")),
        None,
        Some(&install.runtime_value("caracalAdminToken")),
    );
    assert_eq!(
        zones["items"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        Value::to_string(&zones)
    );
}

/// The whole wizard, by keystrokes, from its first screen (resumed from an answers file) to a
/// green step 4 and the summary: save, seed (moto), preflight, the typed confirmation, apply
/// (External Secrets syncs), helm install, live verify with the canary, Done; Enter leaves with
/// exit 0. Oracles: the screen, the exit code, the cluster (kubectl) and the emulator's log.
#[test]
fn the_wizard_goes_from_its_first_screen_to_a_verified_install() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // The answers as an operator resumes them (a namespace and prefix of this test's own).
    let install = Install::new("wiz", |_| {});
    let dir = install.path.parent().unwrap().to_path_buf();
    let exit_file = dir.join("exit");
    let tmux = start_wizard(&install, "whole");
    let ns = install.answers.namespace.clone();
    let minute = Duration::from_secs(60);
    // Nothing is done for these answers: the wizard finds that and goes to step 1 by itself.
    tmux.until("resumed at step 1", minute, |s| {
        s.contains("step 10/16: Seed secrets") && s.contains("resumed: secrets to seed")
    });
    tmux.until("the plan read", minute, |s| s.contains("a/Enter apply"));
    // Back through the questions to the first screen and forward to the review, then save.
    for _ in 0..9 {
        tmux.keys(&["PageUp"]);
    }
    tmux.until("the first screen", Duration::from_secs(10), |s| {
        s.contains("step 1/16: Cloud")
    });
    for _ in 0..8 {
        tmux.keys(&["PageDown"]);
    }
    tmux.until("the review", Duration::from_secs(10), |s| {
        s.contains("Review and save") && s.contains("Ctrl-S save")
    });
    tmux.keys(&["Enter"]);
    tmux.until("saved", Duration::from_secs(10), |s| {
        s.contains("✓ saved answers")
    });
    assert!(dir.join("bundle/values.yaml").is_file());
    // Step 1: the plan (13 creates), then a applies it.
    tmux.keys(&["PageDown"]);
    tmux.until("the seeding plan", minute, |s| {
        s.contains("a/Enter apply") && s.contains("secret-store-kek")
    });
    tmux.keys(&["a"]);
    tmux.until("seeded", minute, |s| s.contains("PgDn preflight"));
    // Preflight, then the typed confirmation of the context.
    tmux.keys(&["PageDown"]);
    past_preflight_to_the_dry_run(&tmux);
    // Step 2: a applies the dry run's changes; External Secrets syncs.
    tmux.keys(&["a"]);
    tmux.until("synced", Duration::from_secs(150), |s| {
        s.contains("Enter runs helm install")
    });
    // Step 3: helm.
    tmux.keys(&["Enter"]);
    tmux.until("deployed", Duration::from_secs(300), |s| {
        s.contains("caracal deployed: revision 1")
    });
    install.register_admin_token();
    // Step 4: live, until no check is in error (the canary included).
    tmux.keys(&["Enter"]);
    let screen = tmux.until("verified", Duration::from_secs(120), |s| {
        s.contains("✓ no check in error: Enter for the summary")
    });
    assert!(screen.contains("× 0 error"), "{screen}");
    assert!(screen.contains("step 15/16: Verify (live)"), "{screen}");
    tmux.keys(&["Enter"]);
    let screen = tmux.until("the summary", Duration::from_secs(10), |s| {
        s.contains("is installed and verified in")
    });
    assert!(screen.contains(&format!("verified in {ns}")), "{screen}");
    for step in [
        "Seed secrets",
        "Preflight checks",
        "Secret store",
        "Helm install",
        "Verify (live)",
    ] {
        assert!(screen.contains(&format!("✓ {step}")), "{step}: {screen}");
    }
    tmux.keys(&["Enter"]);
    tmux.until("the exit", Duration::from_secs(30), |s| {
        s.contains("wizard whole ended")
    });
    assert_eq!(
        std::fs::read_to_string(&exit_file).unwrap().trim(),
        "EXIT=0"
    );

    // The cluster agrees: the release deployed, the runtime Secret synced by its owner.
    let status = support::verify_bed::kubectl_ok(&[
        "-n",
        &ns,
        "get",
        "externalsecret",
        "caracal-runtime",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ]);
    assert_eq!(status.trim(), "SecretSynced");
    let (code, report, stderr) = install.verify(&[]);
    assert_eq!(code, 4, "verify after the wizard: {report:#}\n{stderr}");
    // No secret value reached the answers file the wizard saved.
    let saved = std::fs::read_to_string(&install.path).unwrap();
    for key in ["caracalAdminToken", "postgresPassword"] {
        assert!(!saved.contains(&install.runtime_value(key)), "{key}");
    }
}

/// A storm of random keys into the real wizard in a real terminal (the cluster unreachable, so
/// its steps fail as they would): it never panics, it leaves when asked, and the terminal is the
/// shell's again.
#[test]
fn a_random_key_storm_never_panics_the_wizard_and_the_terminal_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n\
         users: [{name: u, user: {token: x}}]\ncontexts: [{name: caracal-testbed, context: {cluster: c, user: u}}]\n\
         current-context: caracal-testbed\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        support::example_text("aws")
            .replace("kubeContext: prod-eks", "kubeContext: caracal-testbed"),
    )
    .unwrap();
    let exit_file = dir.path().join("exit");
    let command = format!(
        "cd {} && {} -f a.yaml --out bundle; echo \"EXIT=$?\" > {}; echo 'wizard ended'; sleep 60",
        quote(dir.path()),
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        quote(&exit_file),
    );
    let tmux = Tmux::start_sized(
        &command,
        &[
            (
                "KUBECONFIG",
                dir.path().join("kubeconfig").display().to_string(),
            ),
            ("HOME", dir.path().display().to_string()),
            ("PATH", env("PATH")),
        ],
        100,
        30,
    );
    // Its first frame (a resume may already have moved it on: the storm cares not where).
    tmux.until("the first frame", Duration::from_secs(10), |s| {
        s.contains("caracal-deploy  step")
    });
    let keys = [
        "Enter", "Escape", "Tab", "BTab", "Up", "Down", "Left", "Right", "PPage", "NPage",
        "BSpace", "C-s", "C-u", "Space", "a", "c", "d", "i", "n", "r", "v", "x", "?", "/", "1",
        "é",
    ];
    let mut x: u64 = 0x853c_49e6_748f_ea9b;
    for i in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = keys[(x >> 8) as usize % keys.len()];
        // A quit is asked for, never answered, until the end.
        if key != "Escape" {
            tmux.keys(&[key]);
        }
        if i % 100 == 99 {
            tmux.tmux(&[
                "resize-window",
                "-t",
                "s",
                "-x",
                if i % 200 == 99 { "60" } else { "100" },
                "-y",
                "30",
            ]);
        }
        assert!(
            !tmux.screen().contains("wizard ended"),
            "the wizard left during the storm (after key {i}: {key}):\n{}",
            tmux.screen()
        );
    }
    tmux.tmux(&["resize-window", "-t", "s", "-x", "100", "-y", "30"]);
    // Leave: Ctrl-C asks, y answers (twice, in case a first Ctrl-C met a running step).
    for _ in 0..3 {
        if tmux.screen().contains("wizard ended") {
            break;
        }
        tmux.keys(&["C-c"]);
        std::thread::sleep(Duration::from_millis(300));
        tmux.keys(&["y"]);
        std::thread::sleep(Duration::from_millis(700));
    }
    let screen = tmux.until("the exit", Duration::from_secs(30), |s| {
        s.contains("wizard ended")
    });
    let code = std::fs::read_to_string(&exit_file).unwrap();
    assert!(
        code.trim() == "EXIT=0" || code.trim() == "EXIT=1",
        "{code}: {screen}"
    );
    assert!(!screen.contains("panicked"), "{screen}");
    let modes = tmux.tmux(&[
        "display-message",
        "-p",
        "-t",
        "s",
        "#{alternate_on} #{cursor_flag}",
    ]);
    assert_eq!(modes.trim(), "0 1", "alternate screen, cursor");
}

/// Quitting halfway and starting again: the wizard finds what is done (the secret manager, the
/// cluster, helm) and goes on from the first step that is not, without a key pressed.
#[test]
fn starting_again_resumes_at_the_first_step_not_done() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("res", |_| {});
    let start = |tag: &str| start_wizard(&install, tag);
    let minute = Duration::from_secs(60);

    // Nothing done yet: step 1, by itself.
    let tmux = start("first");
    tmux.until("step 1 resumed", minute, |s| {
        s.contains("step 10/16: Seed secrets") && s.contains("resumed: secrets to seed")
    });
    tmux.until("the plan", minute, |s| s.contains("a/Enter apply"));
    tmux.keys(&["a"]);
    tmux.until("seeded", minute, |s| s.contains("PgDn preflight"));
    // Leaving between steps needs no confirmation (the answers are on disk, nothing runs).
    tmux.keys(&["Escape"]);
    tmux.until("left", Duration::from_secs(10), |s| {
        s.contains("wizard first ended")
    });
    drop(tmux);

    // Seeded, nothing in the cluster: the preflight, by itself (then the typed confirmation).
    let tmux = start("second");
    let screen = tmux.until("preflight resumed", minute, |s| {
        s.contains("step 11/16: Preflight checks")
    });
    assert!(
        screen.contains("resumed: secrets seeded, store not synced, no deployed release"),
        "{screen}"
    );
    // On the apply screen, leaving in the middle asks first.
    past_preflight_to_the_dry_run(&tmux);
    tmux.keys(&["Escape"]);
    tmux.until("asked", Duration::from_secs(10), |s| {
        s.contains("Leave in the middle of “Secret store”?")
    });
    tmux.keys(&["y"]);
    tmux.until("left", Duration::from_secs(10), |s| {
        s.contains("wizard second ended")
    });
    drop(tmux);

    // Everything done (headless this time): step 4, by itself, live.
    for args in [
        vec!["apply", "--yes", "--timeout", "120s"],
        vec!["install", "--yes"],
    ] {
        let out = install.run(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    install.register_admin_token();
    let tmux = start("third");
    let screen = tmux.until("step 4 resumed", Duration::from_secs(120), |s| {
        s.contains("step 15/16: Verify (live)") && s.contains("✓ no check in error")
    });
    assert!(
        screen.contains("resumed: secrets seeded, store synced, release deployed (revision 1)"),
        "{screen}"
    );
}
