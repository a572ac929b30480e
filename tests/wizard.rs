//! Every wizard screen drawn on ratatui's TestBackend, driven by messages as a person would.

mod support;

use caracal_deploy::core::answers::SecretSource;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::engine::seed::{Progress, SeedOutcome, SeedReport};
use caracal_deploy::engine::{Engine, Event, Request};
use caracal_deploy::tui::app::{
    Effect, Msg, Screen, SecretProgress, SeedPhase, SeedResult, State, update,
};
use caracal_deploy::tui::form::{self, SCREENS};
use caracal_deploy::tui::{Driver, key_to_msg, run_effect, view};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::{bed_answers, repo};

fn resumed(cloud: &str) -> State {
    let text =
        std::fs::read_to_string(repo().join(format!("examples/answers-{cloud}.yaml"))).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    State::resume(&doc, "caracal-answers.yaml".into(), "caracal-bundle".into())
}

fn draw(state: &State) -> String {
    let mut terminal = Terminal::new(TestBackend::new(110, 32)).unwrap();
    terminal.draw(|f| view::draw(f, state)).unwrap();
    terminal.backend().to_string()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(state: &mut State, code: KeyCode) -> Vec<Effect> {
    let msg = key_to_msg(state, key(code)).expect("mapped key");
    update(state, msg)
}

#[test]
fn each_screen_of_a_resumed_aws_wizard() {
    let mut state = resumed("aws");
    for (i, screen) in SCREENS.iter().enumerate() {
        assert_eq!(state.screen, Screen::Questions(i));
        insta::assert_snapshot!(
            format!("aws_{i}_{}", screen.title.replace(' ', "_").to_lowercase()),
            draw(&state)
        );
        press(&mut state, KeyCode::PageDown);
    }
    assert_eq!(state.screen, Screen::Review);
    insta::assert_snapshot!("aws_8_review", draw(&state));
    press(&mut state, KeyCode::Right);
    press(&mut state, KeyCode::Right);
    press(&mut state, KeyCode::Right);
    insta::assert_snapshot!("aws_8_review_externalsecret", draw(&state));
}

#[test]
fn cloud_specific_screens_for_gcp_and_azure() {
    for cloud in ["gcp", "azure"] {
        let mut state = resumed(cloud);
        press(&mut state, KeyCode::PageDown);
        insta::assert_snapshot!(format!("{cloud}_1_secret_manager"), draw(&state));
        press(&mut state, KeyCode::PageDown);
        insta::assert_snapshot!(format!("{cloud}_2_identity"), draw(&state));
    }
}

#[test]
fn a_fresh_wizard_shows_problems_inline_and_refuses_to_save() {
    let mut state = State::new(
        form::defaults(),
        "caracal-answers.yaml".into(),
        "caracal-bundle".into(),
    );
    insta::assert_snapshot!("fresh_0_cloud", draw(&state));
    press(&mut state, KeyCode::PageDown);
    for c in "us-east".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    insta::assert_snapshot!("fresh_1_bad_region", draw(&state));
    let effects = update(&mut state, Msg::Save);
    assert!(effects.is_empty(), "an invalid wizard must not save");
    insta::assert_snapshot!("fresh_review_with_problems", draw(&state));
    press(&mut state, KeyCode::Esc);
    insta::assert_snapshot!("fresh_quit_confirmation", draw(&state));
    assert!(matches!(
        press(&mut state, KeyCode::Char('y')).as_slice(),
        [Effect::Cancel, Effect::Quit]
    ));
}

#[test]
fn saving_writes_the_answers_and_the_bundle_and_the_answers_resume() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/answers-azure.yaml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let answers_path = dir.path().join("answers.yaml");
    let out = dir.path().join("bundle");
    let mut state = State::resume(&doc, answers_path.clone(), out.clone());
    // Change one answer by typing, as an operator would.
    for _ in 0..3 {
        press(&mut state, KeyCode::PageDown);
    }
    assert_eq!(state.focused().unwrap().path, "postgres.host");
    update(&mut state, Msg::ClearField);
    for c in "pg.internal.example.com".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let effects = update(&mut state, Msg::Save);
    assert_eq!(effects.len(), 1);
    let reply = run_effect(&effects[0]).unwrap();
    update(&mut state, reply);
    assert!(
        matches!(&state.status, Some(Ok(m)) if m.contains("saved answers")),
        "{:?}",
        state.status
    );
    assert!(out.join("04-externalsecret.yaml").is_file());
    let saved = std::fs::read_to_string(&answers_path).unwrap();
    assert!(saved.contains("host: pg.internal.example.com"));
    assert!(
        saved.contains("password: file:/run/secrets/caracal-pg-password"),
        "sources, never values"
    );
    let reloaded = caracal_deploy::core::answers::Answers::from_yaml(&saved).unwrap();
    assert_eq!(Some(&reloaded), state.valid.as_ref());
    // Saved: Esc quits without asking.
    assert!(matches!(
        press(&mut state, KeyCode::Esc).as_slice(),
        [Effect::Quit]
    ));
}

#[test]
fn the_secrets_screen_shows_the_plan_asks_hidden_values_and_shows_progress() {
    let mut state = resumed("aws");
    for _ in 0..SCREENS.len() {
        press(&mut state, KeyCode::PageDown);
    }
    let effects = press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Secrets);
    assert!(
        matches!(effects.as_slice(), [Effect::Engine(Request::PlanSeed { rotate, .. })] if rotate.is_empty()),
        "entering the screen reads the remote state: {effects:?}"
    );
    insta::assert_snapshot!("aws_9_secrets_reading", draw(&state));
    // The reply of the read: nothing exists yet.
    let answers = state.valid.clone().unwrap();
    let plan = caracal_deploy::core::seed::plan(
        SecretCatalog::for_chart("1.0.0").unwrap(),
        &answers,
        &Default::default(),
        &[],
    )
    .unwrap();
    update(
        &mut state,
        Msg::Engine(Event::SeedPlanned {
            target: "AWS Secrets Manager (us-east-1)".into(),
            plan: plan.clone(),
        }),
    );
    insta::assert_snapshot!("aws_9_secrets_plan", draw(&state));
    // The example's passwords are `prompt`: applying asks for them, hidden.
    assert!(press(&mut state, KeyCode::Char('a')).is_empty());
    assert_eq!(
        state.seed.phase,
        SeedPhase::Asking("postgres.password".into())
    );
    for c in "hunter2-very-secret".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let screen = draw(&state);
    assert!(!screen.contains("hunter2"), "a typed secret is never drawn");
    insta::assert_snapshot!("aws_9_secrets_hidden_prompt", screen);
    assert!(
        !format!("{state:?}").contains("hunter2"),
        "nor shown by Debug"
    );
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(state.seed.phase, SeedPhase::Asking("redis.password".into()));
    for c in "another-one".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let effects = press(&mut state, KeyCode::Enter);
    assert!(matches!(
        effects.as_slice(),
        [Effect::Engine(Request::WriteSeed { .. })]
    ));
    assert_eq!(state.seed.phase, SeedPhase::Writing);
    // A drawing test: how the screen draws the engine's events, at fixed values a snapshot can
    // hold (real runs have random digests; `secrets_screen_seeds_for_real` and
    // `wizard_rotates_like_the_seed_command` feed the real engine's events from the bed). The
    // events are built the way the engine builds them, from the plan, the engine's digest and
    // the report's own summary, so no line is drawn here that the engine could not send.
    let remote = |name: &str| {
        plan.items
            .iter()
            .find(|i| i.secret.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the plan"))
            .remote_name
            .clone()
    };
    update(
        &mut state,
        Msg::Engine(Event::SeedProgress(Progress::Done {
            remote: remote("postgres"),
            verb: "created",
            digest: caracal_deploy::core::seed::digest(
                &caracal_deploy::core::seed::FingerprintKey::new([7; 32]),
                "a fixed value for the snapshot",
            ),
        })),
    );
    update(
        &mut state,
        Msg::Engine(Event::SeedProgress(Progress::Started {
            remote: remote("redis"),
        })),
    );
    insta::assert_snapshot!("aws_9_secrets_writing", draw(&state));
    let report = SeedReport {
        written: plan.items.iter().map(|i| i.remote_name.clone()).collect(),
        ..Default::default()
    };
    update(
        &mut state,
        Msg::Engine(Event::SeedFinished(SeedOutcome {
            summary: report.summary(&plan),
            report,
            kek_rotated: false,
            interrupted: false,
            errors: 0,
            warnings: 0,
        })),
    );
    insta::assert_snapshot!("aws_9_secrets_done", draw(&state));
}

/// Runs the wizard's effects on a real engine and feeds its events back until `done` says so.
pub fn run_until(
    runtime: &tokio::runtime::Runtime,
    driver: &mut Driver,
    state: &mut State,
    effects: Vec<Effect>,
    done: impl Fn(&Msg) -> bool,
) -> Vec<Event> {
    assert!(!driver.perform(state, effects));
    let mut seen = Vec::new();
    loop {
        let msg = runtime
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(90), driver.next_engine_msg())
                    .await
            })
            .expect("the engine answered within 90 s")
            .expect("the engine is running");
        if let Msg::Engine(e) = &msg {
            seen.push(e.clone());
        }
        let finished = done(&msg);
        let effects = update(state, msg);
        assert!(!driver.perform(state, effects));
        if finished {
            return seen;
        }
    }
}

pub fn planned(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Engine(Event::SeedPlanned { .. } | Event::Failed(_))
    )
}

pub fn finished(msg: &Msg) -> bool {
    matches!(msg, Msg::Engine(Event::SeedFinished(_) | Event::Failed(_)))
}

/// The wizard's effects run for real against the bed: read, plan, write, progress. The
/// answers are resumed from the bed's file, so fields such as the endpoint must survive.
fn secrets_screen_seeds_for_real(cloud: &str) {
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique("wiz");
    answers.postgres.password = SecretSource::Prompt;
    let doc: serde_json::Value = serde_saphyr::from_str(&answers.to_yaml()).unwrap();
    let mut state = State::resume(&doc, "a.yaml".into(), "b".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    state.screen = Screen::Review;
    let effects = press(&mut state, KeyCode::PageDown);
    run_until(&runtime, &mut driver, &mut state, effects, planned);
    assert_eq!(
        state.seed.plan.as_ref().unwrap().writes(),
        13,
        "{:?}",
        state.seed.result
    );
    press(&mut state, KeyCode::Char('a'));
    for c in "pg-typed-in-the-wizard".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let effects = press(&mut state, KeyCode::Enter);
    run_until(&runtime, &mut driver, &mut state, effects, finished);
    match &state.seed.result {
        Some(SeedResult::Finished(o)) => {
            assert_eq!(o.summary, "13 written, 0 unchanged, 0 failed")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.seed.progress.len(), 13);
    assert!(
        state.seed.progress.values().all(|p| matches!(
            p,
            SecretProgress::Done {
                verb: "created",
                ..
            }
        )),
        "{:?}",
        state.seed.progress
    );
    // The typed password is what was stored.
    let stored = runtime.block_on(async {
        let sm = caracal_deploy::adapters::connect_secret_manager(&answers)
            .await
            .unwrap();
        let name = caracal_deploy::core::catalog::remote_name(
            answers.cloud,
            &answers.secret_manager.prefix,
            "postgres",
        );
        match sm.read(&name).await.unwrap() {
            caracal_deploy::core::secret_manager::RemoteState::Present(v) => {
                secrecy::ExposeSecret::expose_secret(&v).to_string()
            }
            other => panic!("{other:?}"),
        }
    });
    assert!(stored.contains("\"password\":\"pg-typed-in-the-wizard\""));
    assert!(!draw(&state).contains("pg-typed-in-the-wizard"));
}

#[test]
fn the_secrets_screen_seeds_aws_for_real() {
    secrets_screen_seeds_for_real("aws");
}

#[test]
fn the_secrets_screen_seeds_gcp_for_real() {
    secrets_screen_seeds_for_real("gcp");
}

/// Rotation and the KEK flow from the wizard, through the same engine requests and events as
/// `caracal-deploy seed`: the command seeds, the wizard rotates `admin-token` and the KEK
/// (keys as an operator would press them), and both front ends, given the same engine events,
/// say the same thing. The secret manager is read back through the SDK as the oracle.
fn wizard_rotates_like_the_seed_command(cloud: &str) {
    use caracal_deploy::cli::seed::{Line, event_lines};
    use caracal_deploy::core::catalog::remote_name;
    use caracal_deploy::core::secret_manager::RemoteState;
    use caracal_deploy::core::seed::{Action, KEK, KEK_PREVIOUS};
    use secrecy::ExposeSecret;

    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique("rot");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let seed = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(["seed", "-f"])
            .arg(&path)
            .arg("--log-file")
            .arg(dir.path().join("log"))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = seed(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let read = |name: &str| -> Option<String> {
        runtime.block_on(async {
            let sm = caracal_deploy::adapters::connect_secret_manager(&answers)
                .await
                .unwrap();
            let remote = remote_name(answers.cloud, &answers.secret_manager.prefix, name);
            match sm.read(&remote).await.unwrap() {
                RemoteState::Present(v) => Some(v.expose_secret().to_string()),
                _ => None,
            }
        })
    };
    let (kek_before, token_before) = (read(KEK).unwrap(), read("admin-token").unwrap());
    assert_eq!(read(KEK_PREVIOUS), None);

    let doc: serde_json::Value = serde_saphyr::from_str(&answers.to_yaml()).unwrap();
    let mut state = State::resume(&doc, path.clone(), dir.path().join("bundle"));
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    state.screen = Screen::Review;
    let effects = press(&mut state, KeyCode::PageDown);
    run_until(&runtime, &mut driver, &mut state, effects, planned);
    let plan = state.seed.plan.clone().expect("a plan");
    assert_eq!(plan.writes(), 0, "everything exists: {:?}", plan.lines());
    // Select admin-token, then the KEK, with ↓ and space, as an operator would.
    let row = |name: &str| {
        plan.items
            .iter()
            .position(|i| i.secret.name == name)
            .unwrap()
    };
    for name in ["admin-token", KEK] {
        while state.seed.cursor < row(name) {
            press(&mut state, KeyCode::Down);
        }
        while state.seed.cursor > row(name) {
            press(&mut state, KeyCode::Up);
        }
        let effects = press(&mut state, KeyCode::Char(' '));
        assert!(
            matches!(effects.as_slice(), [Effect::Engine(Request::PlanSeed { rotate, .. })] if rotate.contains(&name.to_string())),
            "{effects:?}"
        );
        run_until(&runtime, &mut driver, &mut state, effects, planned);
    }
    let plan = state.seed.plan.clone().unwrap();
    let action = |name: &str| plan.items[row(name)].action.clone();
    assert_eq!(action("admin-token"), Action::Rotate);
    assert_eq!(action(KEK), Action::RotateKek);
    assert_eq!(plan.writes(), 2);
    insta::assert_snapshot!(
        format!("{cloud}_9_secrets_rotation_plan"),
        draw(&state)
            .replace(&answers.secret_manager.prefix, "PREFIX")
            .replace(state.seed.target.as_deref().unwrap(), "TARGET")
            .lines()
            .map(mask_digests)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The headless command plans the same rotation the same way.
    let dry = seed(&["--dry-run", "--rotate", "admin-token", "--rotate", KEK]);
    assert_eq!(dry.status.code(), Some(0));
    let dry_stdout = String::from_utf8_lossy(&dry.stdout).into_owned();
    let wizard_plan = Event::SeedPlanned {
        target: state.seed.target.clone().unwrap(),
        plan: plan.clone(),
    };
    for line in event_lines(&wizard_plan, &path) {
        let Line::Out(line) = line else { continue };
        assert!(
            dry_stdout.lines().any(|l| l == line),
            "the command's plan lacks the wizard's line {line:?}:\n{dry_stdout}"
        );
    }

    let effects = press(&mut state, KeyCode::Char('a'));
    let events = run_until(&runtime, &mut driver, &mut state, effects, finished);
    let Some(SeedResult::Finished(outcome)) = state.seed.result.clone() else {
        panic!("{:?}", state.seed.result)
    };
    assert!(outcome.kek_rotated, "{outcome:?}");
    assert_eq!(outcome.summary, "2 written, 11 unchanged, 0 failed");
    assert_eq!(
        state.extra.get("kekRotation"),
        Some(&serde_json::json!(true))
    );
    assert!(!state.saved, "kekRotation changed: the answers need saving");

    // The oracle: the secret manager read back through the SDK.
    assert_eq!(read(KEK_PREVIOUS).as_deref(), Some(kek_before.as_str()));
    let kek_after = read(KEK).unwrap();
    assert_ne!(kek_after, kek_before);
    assert_eq!(kek_after.len(), 64);
    assert_ne!(read("admin-token").unwrap(), token_before);

    // Both front ends over the same events: every secret the wizard shows as done is a ✓ line
    // of the command with the same verb and digest, and the summary is the same.
    let cli: Vec<String> = events
        .iter()
        .flat_map(|e| event_lines(e, &path))
        .map(|l| match l {
            Line::Out(s) | Line::Err(s) => s,
        })
        .collect();
    let done: Vec<_> = state
        .seed
        .progress
        .iter()
        .filter_map(|(remote, p)| match p {
            SecretProgress::Done { verb, digest } => Some((remote.clone(), *verb, digest.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(done.len(), 2, "{:?}", state.seed.progress);
    for (remote, verb, digest) in &done {
        let expected = format!("  ✓ {remote}: {verb} ({digest})");
        assert!(cli.contains(&expected), "{expected:?} not in {cli:?}");
    }
    assert!(cli.contains(&format!("{}.", outcome.summary)), "{cli:?}");
    assert!(
        cli.iter().any(|l| l.contains("Set `kekRotation: true`")),
        "{cli:?}"
    );
    // Saved from the wizard, the answers open the rotation window; the file keeps its comments.
    let before = std::fs::read_to_string(&path).unwrap();
    let reply = save_through_the_wizard(&mut state);
    assert!(matches!(reply, Msg::Saved(Ok(_))), "{reply:?}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        caracal_deploy::core::answers::Answers::from_yaml(&after)
            .unwrap()
            .kek_rotation,
        "{after}"
    );
    assert_eq!(comment_lines(&after), comment_lines(&before));
    // A second run of the command now keeps everything.
    let again = seed(&[]);
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("0 written, 13 unchanged"), "{again}");
}

fn mask_digests(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i]);
        out.push_str("sha256:################");
        rest = rest.get(i + 23..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[test]
fn the_wizard_rotates_and_runs_the_kek_flow_like_seed_on_aws() {
    wizard_rotates_like_the_seed_command("aws");
}

#[test]
fn the_wizard_rotates_and_runs_the_kek_flow_like_seed_on_azure() {
    wizard_rotates_like_the_seed_command("azure");
}

fn comment_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.find('#').map(|i| l[i..].trim_end().to_string()))
        .collect()
}

fn save_through_the_wizard(state: &mut State) -> Msg {
    let effects = update(state, Msg::Save);
    assert_eq!(effects.len(), 1, "{:?}", state.status);
    let reply = run_effect(&effects[0]).expect("saving answers with a message");
    update(state, reply.clone());
    reply
}

/// The wizard's save edits the operator's file in place: every comment and the field order
/// stay, only the changed answer changes.
#[test]
fn saving_a_commented_answers_file_keeps_every_comment() {
    let dir = tempfile::tempdir().unwrap();
    for cloud in support::CLOUDS {
        let path = dir.path().join(format!("{cloud}.yaml"));
        let original =
            std::fs::read_to_string(repo().join(format!("examples/answers-{cloud}.yaml"))).unwrap();
        assert!(
            comment_lines(&original).len() >= 3,
            "the example has comments"
        );
        std::fs::write(&path, &original).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&original).unwrap();
        let mut state = State::resume(&doc, path.clone(), dir.path().join(format!("b-{cloud}")));
        update(&mut state, Msg::Set("postgres.port", "5433".into()));
        let reply = save_through_the_wizard(&mut state);
        assert!(matches!(reply, Msg::Saved(Ok(_))), "{reply:?}");
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(comment_lines(&saved), comment_lines(&original), "{saved}");
        // Read back by the YAML parser (the oracle): only postgres.port changed.
        let mut expected = doc.clone();
        expected["postgres"]["port"] = 5433.into();
        let read: serde_json::Value = serde_saphyr::from_str(&saved).unwrap();
        assert_eq!(read, expected, "{saved}");
        let changed: Vec<_> = original
            .lines()
            .zip(saved.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "one line changes: {changed:?}");
    }
}

/// A file that fails validation is never rewritten silently: the first save refuses and says
/// why, the second (confirmed) keeps a copy and the comments.
#[test]
fn a_file_that_fails_validation_is_never_silently_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answers.yaml");
    let original = format!(
        "{}legacyField: true   # left from an older build\n",
        std::fs::read_to_string(repo().join("examples/answers-gcp.yaml")).unwrap()
    );
    std::fs::write(&path, &original).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&original).unwrap();
    let mut state = State::resume(&doc, path.clone(), dir.path().join("bundle"));
    assert!(
        state.valid.is_some(),
        "the form's answers are valid: {:?}",
        state.problems
    );
    let reply = save_through_the_wizard(&mut state);
    assert!(matches!(reply, Msg::SaveRefused(_)), "{reply:?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        original,
        "untouched"
    );
    assert!(!dir.path().join("bundle").exists(), "nothing written");
    let status = format!("{:?}", state.status);
    assert!(
        status.contains("legacyField") && status.contains("Ctrl-S again"),
        "{status}"
    );
    let reply = save_through_the_wizard(&mut state);
    assert!(matches!(reply, Msg::Saved(Ok(_))), "{reply:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("answers.yaml.bak")).unwrap(),
        original
    );
    let saved = std::fs::read_to_string(&path).unwrap();
    caracal_deploy::core::answers::Answers::from_yaml(&saved).expect("a valid file now");
    let kept: Vec<String> = comment_lines(&original)
        .into_iter()
        .filter(|c| !c.contains("older build"))
        .collect();
    assert_eq!(comment_lines(&saved), kept, "{saved}");
}
