//! `caracal-deploy dashboard`, and the wizard from its first screen to a verified install, as
//! an operator runs them: the real binary in a real terminal (tmux), against the bed. The oracles are the screen tmux holds, the exit code,
//! tmux's own view of the terminal's modes after the exit, and the Caracal emulator's request
//! log (a second canary run is a second token exchange it served).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::tmux::Tmux;
use support::verify_bed::{
    Install, TURN, bed_terminal_env, emulator_mark, env, requests_since, wizard_terminal_env,
};

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
    start_wizard_with(install, tag, "")
}

/// The same, with more flags (`--plain`).
fn start_wizard_with(install: &Install, tag: &str, flags: &str) -> Tmux {
    let dir = install.path.parent().unwrap();
    let command = format!(
        "cd {} && {} {flags} -f {} --out bundle; echo \"EXIT=$?\" > {}; echo 'wizard {tag} ended'; sleep 60",
        quote(dir),
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        quote(&install.path),
        quote(&dir.join("exit")),
    );
    Tmux::start(&command, &wizard_terminal_env())
}

/// The Ready reason of the namespace's ExternalSecret, as the cluster has it.
fn synced_reason(ns: &str) -> String {
    support::verify_bed::kubectl_ok(&[
        "-n",
        ns,
        "get",
        "externalsecret",
        "caracal-runtime",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ])
    .trim()
    .to_string()
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
    assert_eq!(synced_reason(&ns), "SecretSynced");
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
    // The release exists: what an upgrade to these answers would change was read first, and
    // nothing would.
    assert!(
        screen.contains("resumed: upgrade caracal: chart 1.0.0 (app 1.0.0) → 1.0.0 (app 1.0.0): nothing to change; step 4 watches it live"),
        "{screen}"
    );
}

/// The pending prompt of the plain wizard: the last line of the pane, when it asks something
/// (a question's `S.Q/N` id, or a `[Y/n]` / `:` prompt waiting for input).
fn pending_prompt(screen: &str) -> Option<String> {
    let last = screen.lines().rev().find(|l| !l.trim().is_empty())?;
    let asks = last.ends_with("[Y/n]")
        || last.ends_with("[y/N]")
        || last.ends_with(": ")
        || last.ends_with(':')
        || question_id(last).is_some();
    asks.then(|| last.to_string())
}

/// `2.1/4` of `2.1/4 AWS region (…): us-east-1`.
fn question_id(line: &str) -> Option<&str> {
    let id = line.split_whitespace().next()?;
    let (sq, n) = id.split_once('/')?;
    let (s, q) = sq.split_once('.')?;
    [s, q, n]
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .then_some(id)
}

/// `--plain`, answered by a script in a real terminal, to the same end state as the
/// full-screen wizard: every question (one answered wrongly first: the same question comes
/// back with the reason), the save, the seeding (moto), the preflight, the typed confirmation
/// (a wrong name first), the apply (External Secrets syncs), helm and verify. Oracles: the exit
/// code, the pane's text, the answers file on disk, kubectl, the emulator's log and `verify`.
#[test]
fn the_plain_wizard_answered_by_a_script_reaches_a_verified_install() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let install = Install::new("pln", |_| {});
    let dir = install.path.parent().unwrap().to_path_buf();
    let ns = install.answers.namespace.clone();
    let commented = format!(
        "# the operator's note, kept by every save\n{}",
        std::fs::read_to_string(&install.path).unwrap()
    );
    std::fs::write(&install.path, commented).unwrap();
    let tmux = start_wizard_with(&install, "plain", "--plain");
    let minute = Duration::from_secs(60);
    let mark = emulator_mark();
    tmux.until("the first prompt", minute, |s| {
        s.contains("go on to the steps without asking the questions again? [Y/n]")
    });
    // Through the questions again, all of them.
    tmux.keys(&["n"]);
    let mut answered = String::new();
    let mut region_refused = false;
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < minute, "{}", tmux.history());
        // Wrapped lines joined: a long question is one line.
        let screen = tmux.history();
        if screen.contains("and the bundle to bundle/? [Y/n]") {
            break;
        }
        let Some(prompt) = pending_prompt(&screen) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let id = question_id(&prompt).unwrap_or_default().to_string();
        let again = region_refused && screen.contains("not an AWS region");
        if id == answered && !(id.starts_with("2.1/") && again) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if id.starts_with("2.1/") && !region_refused {
            // `us-east-1` replaced by a region that does not exist: refused, asked again.
            assert!(prompt.contains("AWS region"), "{prompt}");
            assert!(prompt.ends_with("us-east-1"), "{prompt}");
            tmux.keys(&["BSpace"; 9]);
            tmux.keys(&["-l", "us-east"]);
            tmux.keys(&["Enter"]);
            tmux.until("the region refused", Duration::from_secs(10), |s| {
                s.contains("not an AWS region")
            });
            region_refused = true;
            answered = String::new();
            continue;
        }
        if id.starts_with("2.1/") && prompt.ends_with("us-east") {
            tmux.keys(&["-l", "--", "-1"]);
            region_refused = false;
        }
        tmux.keys(&["Enter"]);
        answered = id;
    }
    let history = tmux.history();
    for step in [
        "step 1/16: Cloud",
        "step 7/16: Network",
        "step 8/16: Storage",
    ] {
        assert!(history.contains(step), "{step}: {history}");
    }
    assert!(
        history.contains("✗ `us-east` is not an AWS region"),
        "{history}"
    );
    // The names the cluster offers are beside their questions.
    assert!(
        history.contains("the cluster has: caracal-testbed-selfsigned, letsencrypt-prod"),
        "{history}"
    );
    tmux.keys(&["y"]);
    tmux.until("the seeding plan", minute, |s| {
        s.contains("Write 13 secret(s) to AWS Secrets Manager (us-east-1)? [Y/n]")
    });
    assert!(history.contains("13 to write") || tmux.history().contains("13 to write"));
    tmux.keys(&["y"]);
    tmux.until("the confirmation", minute, |s| {
        s.contains("13 written, 0 unchanged, 0 failed.")
            && s.trim_end()
                .ends_with("Type the context's name (caracal-testbed) to confirm:")
    });
    tmux.keys(&["-l", "caracal-tested"]);
    tmux.keys(&["Enter"]);
    tmux.until("a wrong name refused", Duration::from_secs(10), |s| {
        s.contains("\"caracal-tested\" is not the context's name")
            && s.trim_end().ends_with("to confirm:")
    });
    tmux.keys(&["-l", "caracal-testbed"]);
    tmux.keys(&["Enter"]);
    tmux.until("the dry run", minute, |s| {
        s.contains("Dry run: 4 would change") && s.contains("Apply these changes? [Y/n]")
    });
    tmux.keys(&["y"]);
    tmux.until("synced", Duration::from_secs(150), |s| {
        s.contains("Run helm upgrade --install now? [Y/n]")
    });
    tmux.keys(&["y"]);
    tmux.until("deployed", Duration::from_secs(300), |s| {
        s.contains("caracal deployed: revision 1.")
    });
    install.register_admin_token();
    tmux.until("the exit", Duration::from_secs(180), |s| {
        s.contains("wizard plain ended")
    });
    let history = tmux.history();
    assert_eq!(
        std::fs::read_to_string(dir.join("exit")).unwrap().trim(),
        "EXIT=0",
        "{history}"
    );
    assert!(
        history.contains(&format!(
            "✓ Caracal (caracal) is installed and verified in {ns}"
        )),
        "{history}"
    );
    assert!(history.contains("√ ok canary"), "{history}");

    // The answers file: the region as finally typed, the comment kept, no secret value.
    let saved = std::fs::read_to_string(&install.path).unwrap();
    assert!(
        saved.starts_with("# the operator's note, kept by every save\n"),
        "{saved}"
    );
    use caracal_deploy::core::answers::{Answers, SecretManagerTarget};
    let answers = Answers::from_yaml(&saved).unwrap();
    assert!(
        matches!(&answers.secret_manager.target, SecretManagerTarget::Aws { region } if region == "us-east-1"),
        "{saved}"
    );
    for key in ["caracalAdminToken", "postgresPassword"] {
        let value = install.runtime_value(key);
        assert!(!saved.contains(&value), "{key}");
        assert!(!history.contains(&value), "{key} on the screen");
    }
    // The cluster agrees, and the canary's token exchange reached the emulated STS.
    assert_eq!(synced_reason(&ns), "SecretSynced");
    assert!(token_exchanges(mark) >= 1);
    let (code, report, stderr) = install.verify(&[]);
    assert_eq!(
        code, 4,
        "verify after the plain wizard: {report:#}\n{stderr}"
    );
}

/// Ctrl-C at a plain prompt leaves at once with exit 1, and writes nothing.
#[test]
fn ctrl_c_at_a_plain_prompt_leaves_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "cd {} && {} --plain --out bundle; echo \"EXIT=$?\" > exit; echo 'plain ended'; sleep 60",
        quote(dir.path()),
        quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
    );
    let tmux = Tmux::start(
        &command,
        &[
            ("KUBECONFIG", "/nonexistent/kubeconfig".to_string()),
            ("PATH", std::env::var("PATH").unwrap()),
        ],
    );
    tmux.until("the first question", Duration::from_secs(30), |s| {
        s.contains("1.1/4 Cloud")
    });
    tmux.keys(&["C-c"]);
    let screen = tmux.until("the exit", Duration::from_secs(10), |s| {
        s.contains("plain ended")
    });
    assert!(
        screen.contains("stopped at the questions: the answers saved so far are kept."),
        "{screen}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("exit"))
            .unwrap()
            .trim(),
        "EXIT=1"
    );
    assert!(!dir.path().join("caracal-answers.yaml").exists());
    assert!(!dir.path().join("bundle").exists());
}

/// Answers are kept as they are given: quitting unsaved leaves the answers file alone and keeps
/// a draft beside it, and the next start resumes the draft at the step it showed; an answers
/// file changed after the draft wins over it. The real binary in a terminal, no cluster.
#[test]
fn quitting_unsaved_keeps_a_draft_that_the_next_start_resumes_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let start = |tag: &str| {
        let command = format!(
            "cd {} && {} --out bundle; echo \"EXIT=$?\" > exit; echo 'wizard {tag} ended'; sleep 60",
            quote(dir.path()),
            quote(Path::new(env!("CARGO_BIN_EXE_caracal-deploy"))),
        );
        Tmux::start(
            &command,
            &[
                ("KUBECONFIG", "/nonexistent/kubeconfig".to_string()),
                ("PATH", std::env::var("PATH").unwrap()),
            ],
        )
    };
    let ten = Duration::from_secs(10);
    let tmux = start("first");
    tmux.until("the first screen", ten, |s| s.contains("step 1/16: Cloud"));
    tmux.keys(&["Tab", "Tab", "C-u"]);
    tmux.keys(&["-l", "draft-ns"]);
    tmux.keys(&["Tab", "PageDown"]);
    tmux.until("step 2", ten, |s| s.contains("step 2/16"));
    tmux.keys(&["Escape"]);
    let screen = tmux.until("asked", ten, |s| s.contains("Quit without saving?"));
    assert!(
        screen.contains("caracal-answers.yaml.draft, resumed on the next start."),
        "{screen}"
    );
    tmux.keys(&["y"]);
    tmux.until("left", ten, |s| s.contains("wizard first ended"));
    drop(tmux);
    assert!(!dir.path().join("caracal-answers.yaml").exists());
    let draft = std::fs::read_to_string(dir.path().join("caracal-answers.yaml.draft")).unwrap();
    assert!(draft.contains("namespace: draft-ns"), "{draft}");
    assert!(draft.contains("wizardStep: 2"), "{draft}");

    // The next start: at step 2, with the answer typed before.
    let tmux = start("second");
    let screen = tmux.until("resumed", ten, |s| s.contains("step 2/16"));
    assert!(
        screen.contains("resumed the unsaved answers kept in caracal-answers.yaml.draft"),
        "{screen}"
    );
    tmux.keys(&["PageUp"]);
    let screen = tmux.until("step 1", ten, |s| s.contains("step 1/16"));
    assert!(screen.contains("draft-ns"), "{screen}");
    tmux.keys(&["C-c"]);
    tmux.until("asked", ten, |s| s.contains("Quit without saving?"));
    tmux.keys(&["y"]);
    tmux.until("left", ten, |s| s.contains("wizard second ended"));
    drop(tmux);

    // An answers file written after the draft: the file wins.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(
        dir.path().join("caracal-answers.yaml"),
        support::example_text("aws"),
    )
    .unwrap();
    let tmux = start("third");
    let screen = tmux.until("started", ten, |s| s.contains("step "));
    assert!(!screen.contains("resumed the unsaved answers"), "{screen}");
    assert!(!screen.contains("draft-ns"), "{screen}");
}
