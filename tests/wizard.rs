//! Every wizard screen drawn on ratatui's TestBackend, driven by messages as a person would.

mod support;

use caracal_deploy::core::answers::SecretSource;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::engine::seed::{Progress, SeedOutcome, SeedReport};
use caracal_deploy::engine::{Engine, Event, Request};
use caracal_deploy::tui::app::{
    DiffPhase, Effect, Msg, Screen, SecretProgress, SeedPhase, SeedResult, State, update,
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
    // Ctrl-R shows it, because the operator asked; again hides it.
    let reveal = |state: &mut State| ctrl(state, 'r');
    reveal(&mut state);
    let screen = draw(&state);
    assert!(screen.contains("hunter2-very-secret"), "{screen}");
    assert!(screen.contains("Input shown: Ctrl-R hides it"), "{screen}");
    reveal(&mut state);
    assert!(!draw(&state).contains("hunter2"));
    reveal(&mut state);
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(state.seed.phase, SeedPhase::Asking("redis.password".into()));
    for c in "another-one".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    assert!(
        !draw(&state).contains("another-one"),
        "the next value is hidden again"
    );
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
    run_for(runtime, driver, state, effects, 90, done)
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
    use caracal_deploy::core::catalog::remote_name;
    use caracal_deploy::core::secret_manager::RemoteState;
    use caracal_deploy::core::seed::{Action, KEK, KEK_PREVIOUS};
    use caracal_deploy::engine::narrate::{Line, seed_lines};
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
    for line in seed_lines(&wizard_plan, &path) {
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
        .flat_map(|e| seed_lines(e, &path))
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

// ---- The cluster steps: preflight, the typed confirmation, apply, install. ----

use caracal_deploy::core::checks::{Check, Report};
use caracal_deploy::engine::EngineError;
use caracal_deploy::engine::apply::{Applied, ApplyAction, ApplyOutcome, Condition};
use caracal_deploy::engine::install::{InstallOutcome, InstallProgress, JobState, Waits};
use caracal_deploy::tui::cluster::{ApplyPhase, InstallPhase, Recovery};

/// A frame wide enough that no line wraps, for assertions on whole lines.
fn draw_wide(state: &State) -> String {
    let mut terminal = Terminal::new(TestBackend::new(240, 60)).unwrap();
    terminal.draw(|f| view::draw(f, state)).unwrap();
    terminal.backend().to_string()
}

fn ctrl(state: &mut State, c: char) -> Vec<Effect> {
    let msg = key_to_msg(
        state,
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
    )
    .expect("mapped key");
    update(state, msg)
}

fn type_keys(state: &mut State, text: &str) {
    for c in text.chars() {
        press(state, KeyCode::Char(c));
    }
}

/// A report as `engine::preflight::run` writes it: the `kube-context` check's detail names the
/// context and the API server. With `failing`, one check fails with its hint.
fn report(context: &str, server: &str, failing: bool) -> Report {
    let mut r = Report::default();
    r.push(
        "kubernetes",
        Check::new("kube-context", "kubeconfig and context found")
            .success(format!("context {context}, API server {server}, EKS")),
    );
    r.push(
        "kubernetes",
        Check::new("kube-api", "API server reachable").success("v1.31.0"),
    );
    let crd = Check::new("crd-external-secrets", "External Secrets CRDs installed");
    r.push(
        "operators",
        if failing {
            crd.error(
                "external-secrets.io/v1 ClusterSecretStore is not served",
                "install External Secrets Operator 0.16 or newer (helm install external-secrets …)",
            )
        } else {
            crd.success("external-secrets.io/v1")
        },
    );
    r.push(
        "secrets",
        Check::new("secrets-seeded", "every catalog secret exists")
            .warning("2 secret(s) missing", "run step 1 (seed)"),
    );
    r
}

/// The AWS example wizard at the preflight screen, its request sent.
fn at_preflight() -> State {
    let mut state = resumed("aws");
    state.screen = Screen::Secrets;
    let effects = press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Preflight);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Preflight { .. })]
        ),
        "{effects:?}"
    );
    state
}

const SERVER: &str = "https://ABCD.gr7.us-east-1.eks.amazonaws.com";

/// Past preflight and the typed confirmation: the dry run is running.
fn at_apply() -> State {
    let mut state = at_preflight();
    update(
        &mut state,
        Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, false))),
    );
    press(&mut state, KeyCode::Enter);
    type_keys(&mut state, "prod-eks");
    let effects = press(&mut state, KeyCode::Enter);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply { dry_run: true, .. })]
        ),
        "{effects:?}"
    );
    state
}

fn applied(kind: &str, name: &str, action: ApplyAction) -> Applied {
    Applied {
        kind: kind.into(),
        name: name.into(),
        action,
    }
}

/// At the install screen with helm running after `previous` (None: a first install).
fn at_install(previous: Option<u64>) -> State {
    let mut state = at_apply();
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: true,
            objects: vec![],
            synced: false,
            interrupted: false,
        })),
    );
    press(&mut state, KeyCode::Char('a'));
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: false,
            objects: vec![],
            synced: true,
            interrupted: false,
        })),
    );
    let effects = press(&mut state, KeyCode::Enter);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Install { dry_run: false, .. })]
        ),
        "{effects:?}"
    );
    assert_eq!(state.screen, Screen::Install);
    update(
        &mut state,
        Msg::Engine(Event::InstallProgress(InstallProgress::HelmRunning {
            revision_after: previous,
            timeout: std::time::Duration::from_secs(900),
            waits: Some(Waits {
                hooks: vec!["caracal-caracal-migrate".into()],
                jobs: vec![],
                deployments: vec!["caracal-api".into(), "caracal-web".into()],
                stateful_sets: vec!["caracal-sts".into()],
            }),
        })),
    );
    state
}

fn failed_install(state: &mut State) {
    update(
        state,
        Msg::Engine(Event::InstallProgress(InstallProgress::Pod {
            name: "caracal-api-7d9c-x2".into(),
            reason: "api: ImagePullBackOff (Back-off pulling image \"x\")".into(),
        })),
    );
    update(
        state,
        Msg::Engine(Event::InstallDone(InstallOutcome::Failed {
            reason: "Error: UPGRADE FAILED: context deadline exceeded".into(),
            helm: "Error: UPGRADE FAILED: context deadline exceeded".into(),
            pods: vec!["caracal-api-7d9c-x2: api: ImagePullBackOff".into()],
            jobs: vec![],
            rolled_back_to: None,
            uninstalled: false,
        })),
    );
}

#[test]
fn preflight_failures_block_the_next_step_with_their_hints_and_r_reruns() {
    let mut state = at_preflight();
    assert!(draw_wide(&state).contains("… running the checks"));
    update(
        &mut state,
        Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, true))),
    );
    let screen = draw_wide(&state);
    for line in [
        "√ kubeconfig and context found [kube-context]: context prod-eks, API server",
        "× External Secrets CRDs installed [crd-external-secrets]: external-secrets.io/v1 ClusterSecretStore is not served",
        "    fix: install External Secrets Operator 0.16 or newer",
        "‼ every catalog secret exists [secrets-seeded]: 2 secret(s) missing",
        "    fix: run step 1 (seed)",
        "✗ 2 passed, 1 warning(s), 1 failed, 0 skipped",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    // A failure blocks going on, whatever key is pressed.
    for code in [KeyCode::Enter, KeyCode::PageDown, KeyCode::Char('c')] {
        assert!(press(&mut state, code).is_empty());
        assert_eq!(state.screen, Screen::Preflight);
    }
    assert!(matches!(&state.status, Some(Err(m)) if m.contains("block")));
    // r runs the checks again; meanwhile r does nothing more.
    let effects = press(&mut state, KeyCode::Char('r'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Engine(Request::Preflight { .. })]
    ));
    assert!(press(&mut state, KeyCode::Char('r')).is_empty());
    update(
        &mut state,
        Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, false))),
    );
    assert!(draw_wide(&state).contains("✓ 3 passed, 1 warning(s), 0 failed, 0 skipped"));
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(state.screen, Screen::Confirm);
}

#[test]
fn a_failed_preflight_request_shows_its_message_and_fix() {
    let mut state = at_preflight();
    update(
        &mut state,
        Msg::Engine(Event::Failed(EngineError::Cluster {
            message: "chart directory /nope does not exist".into(),
            fix: Some("set chart.ref to the chart's directory".into()),
        })),
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains("✗ chart directory /nope does not exist"),
        "{screen}"
    );
    assert!(screen.contains("  fix: set chart.ref to the chart's directory"));
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(state.screen, Screen::Preflight);
    assert!(
        state.seed.result.is_none(),
        "not the secrets screen's failure"
    );
}

#[test]
fn the_typed_confirmation_accepts_only_the_exact_context_name() {
    let mut state = at_preflight();
    update(
        &mut state,
        Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, false))),
    );
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, Screen::Confirm);
    let screen = draw_wide(&state);
    for line in [
        "Context     prod-eks",
        &format!("API server  {SERVER}"),
        "Namespace   caracal",
        "Type the context's name (prod-eks) to confirm:",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    // Near misses are refused with a message, and change nothing.
    for wrong in ["prod-ek", "prod-eks ", "PROD-EKS", "y"] {
        type_keys(&mut state, wrong);
        assert!(press(&mut state, KeyCode::Enter).is_empty(), "{wrong:?}");
        assert_eq!(state.screen, Screen::Confirm);
        assert!(
            matches!(&state.status, Some(Err(m)) if m.contains("is not the context's name")),
            "{:?}",
            state.status
        );
        assert!(draw_wide(&state).contains("is not the context's name"));
        ctrl(&mut state, 'u');
    }
    // Esc goes back to preflight, and the typing starts over.
    type_keys(&mut state, "prod-eks");
    assert!(press(&mut state, KeyCode::Esc).is_empty());
    assert_eq!(state.screen, Screen::Preflight);
    assert!(!state.confirm_quit);
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, Screen::Confirm);
    assert_eq!(state.confirm.typed, "");
    type_keys(&mut state, "prod-eks");
    assert!(draw_wide(&state).contains("prod-eks▏"));
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, Screen::Apply);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply { dry_run: true, .. })]
        ),
        "the first request after the confirmation is the dry run: {effects:?}"
    );
}

#[test]
fn the_apply_screen_shows_the_diff_then_each_object_and_condition() {
    let mut state = at_apply();
    assert!(draw_wide(&state).contains("… asking the API server what would change"));
    for a in [
        applied("Namespace", "caracal", ApplyAction::Unchanged),
        applied(
            "ServiceAccount",
            "caracal/external-secrets",
            ApplyAction::WouldChange(vec![
                "metadata.annotations.eks.amazonaws.com/role-arn".into(),
            ]),
        ),
        applied(
            "ClusterSecretStore",
            "caracal-aws",
            ApplyAction::WouldCreate,
        ),
    ] {
        update(&mut state, Msg::Engine(Event::Applied(a)));
    }
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: true,
            objects: vec![],
            synced: false,
            interrupted: false,
        })),
    );
    assert_eq!(state.apply.phase, ApplyPhase::Previewed);
    let screen = draw_wide(&state);
    for line in [
        "Dry run (nothing changed):",
        "= Namespace caracal: unchanged",
        "~ ServiceAccount caracal/external-secrets: would change",
        "    metadata.annotations.eks.amazonaws.com/role-arn",
        "~ ClusterSecretStore caracal-aws: would be created",
        "a applies these changes to the cluster.",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    // The dry run changed nothing, so install is not yet offered.
    assert!(press(&mut state, KeyCode::PageDown).is_empty());
    assert_eq!(state.screen, Screen::Apply);
    let effects = press(&mut state, KeyCode::Char('a'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply { dry_run: false, .. })]
        ),
        "{effects:?}"
    );
    update(
        &mut state,
        Msg::Engine(Event::Applied(applied(
            "ClusterSecretStore",
            "caracal-aws",
            ApplyAction::Created,
        ))),
    );
    for (kind, ready, reason, message) in [
        (
            "ClusterSecretStore",
            false,
            "InvalidProviderConfig",
            "unable to assume role",
        ),
        ("ClusterSecretStore", true, "Valid", "store validated"),
        ("ExternalSecret", true, "SecretSynced", "secret synced"),
    ] {
        update(
            &mut state,
            Msg::Engine(Event::StoreCondition(Condition {
                kind: kind.into(),
                name: "caracal-aws".into(),
                ready,
                reason: reason.into(),
                message: message.into(),
            })),
        );
    }
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: false,
            objects: vec![],
            synced: true,
            interrupted: false,
        })),
    );
    let screen = draw_wide(&state);
    for line in [
        "Applied:",
        "✓ ClusterSecretStore caracal-aws: created",
        "… ClusterSecretStore caracal-aws: InvalidProviderConfig: unable to assume role",
        "✓ ClusterSecretStore caracal-aws: Valid: store validated",
        "✓ ExternalSecret caracal-aws: SecretSynced: secret synced",
        "✓ the store is Ready and the ExternalSecret synced",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    insta::assert_snapshot!("aws_12_apply_synced", draw(&state));
}

#[test]
fn an_apply_error_shows_its_message_and_fix() {
    let mut state = at_apply();
    update(
        &mut state,
        Msg::Engine(Event::Failed(EngineError::Cluster {
            message: "forbidden: cannot create clustersecretstores".into(),
            fix: Some("grant the verbs preflight lists".into()),
        })),
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains("✗ forbidden: cannot create clustersecretstores"),
        "{screen}"
    );
    assert!(screen.contains("  fix: grant the verbs preflight lists"));
    assert!(
        press(&mut state, KeyCode::Enter).len() == 1,
        "a applies again"
    );
}

#[test]
fn esc_during_apply_and_install_cancels_and_the_screen_says_what_was_done() {
    let mut state = at_apply();
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: true,
            objects: vec![],
            synced: false,
            interrupted: false,
        })),
    );
    press(&mut state, KeyCode::Char('a'));
    assert_eq!(state.apply.phase, ApplyPhase::Applying);
    assert_eq!(press(&mut state, KeyCode::Esc), vec![Effect::Cancel]);
    assert!(!state.confirm_quit, "a stop, not a quit");
    assert_eq!(ctrl(&mut state, 'c'), vec![Effect::Cancel]);
    let done = vec![
        applied("Namespace", "caracal", ApplyAction::Created),
        applied(
            "ServiceAccount",
            "caracal/external-secrets",
            ApplyAction::Created,
        ),
    ];
    for a in &done {
        update(&mut state, Msg::Engine(Event::Applied(a.clone())));
    }
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: false,
            objects: done,
            synced: false,
            interrupted: true,
        })),
    );
    let screen = draw_wide(&state);
    assert!(screen.contains("✓ Namespace caracal: created"), "{screen}");
    assert!(
        screen.contains("✗ stopped after 2 object(s) applied; a (apply) again finishes the job"),
        "{screen}"
    );
    // Stopped: Esc now asks before quitting.
    assert!(press(&mut state, KeyCode::Esc).is_empty());
    assert!(state.confirm_quit);

    let mut state = at_install(Some(3));
    assert_eq!(press(&mut state, KeyCode::Esc), vec![Effect::Cancel]);
    update(
        &mut state,
        Msg::Engine(Event::Failed(EngineError::Stopped {
            message: "interrupted: helm was stopped; the release may be left pending".into(),
            fix: "run install again: it explains the pending state".into(),
        })),
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains("✗ interrupted: helm was stopped; the release may be left pending"),
        "{screen}"
    );
    assert!(screen.contains("  fix: run install again: it explains the pending state"));
    assert!(screen.contains("b rolls back to revision 3"), "{screen}");
}

#[test]
fn a_failed_upgrade_offers_the_rollback_to_the_previous_revision() {
    let mut state = at_install(Some(4));
    update(
        &mut state,
        Msg::Engine(Event::InstallProgress(InstallProgress::Workload {
            kind: "Deployment".into(),
            name: "caracal-api".into(),
            ready: 1,
            desired: 2,
        })),
    );
    update(
        &mut state,
        Msg::Engine(Event::InstallProgress(InstallProgress::Pod {
            name: "caracal-sts-0".into(),
            reason: "Pending: 0/3 nodes are available".into(),
        })),
    );
    update(
        &mut state,
        Msg::Engine(Event::InstallProgress(InstallProgress::Job {
            name: "caracal-caracal-migrate".into(),
            hook: true,
            state: JobState::Failed,
            reason: "BackoffLimitExceeded".into(),
        })),
    );
    let screen = draw_wide(&state);
    for line in [
        "… helm upgrade --install caracal (after revision 4), waiting up to 900s for hook Jobs caracal-caracal-migrate, 2 Deployments and 1 StatefulSet",
        "✗ hook Job caracal-caracal-migrate failed: BackoffLimitExceeded",
        "… Deployment caracal-api: 1/2 ready",
        "✗ pod caracal-sts-0: Pending: 0/3 nodes are available",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    assert!(
        press(&mut state, KeyCode::Char('b')).is_empty(),
        "no rollback while helm runs"
    );
    failed_install(&mut state);
    let screen = draw_wide(&state);
    assert_eq!(
        screen.matches("caracal-api-7d9c-x2").count(),
        1,
        "the outcome names the pods, once: {screen}"
    );
    for line in [
        "✗ caracal failed: Error: UPGRADE FAILED: context deadline exceeded",
        "    pod caracal-api-7d9c-x2: api: ImagePullBackOff",
        "b rolls back to revision 4",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    insta::assert_snapshot!("aws_13_install_failed_upgrade", draw(&state));
    // An upgrade is never uninstalled.
    assert!(press(&mut state, KeyCode::Char('u')).is_empty());
    assert!(!state.install.confirm_uninstall);
    let effects = press(&mut state, KeyCode::Char('b'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Rollback { revision: 4, .. })]
        ),
        "{effects:?}"
    );
    assert_eq!(state.install.phase, InstallPhase::RollingBack(4));
    assert!(draw_wide(&state).contains("… rolling caracal back to revision 4"));
    update(&mut state, Msg::Engine(Event::RolledBack { revision: 4 }));
    assert_eq!(state.install.recovery, Some(Recovery::RolledBack(4)));
    let screen = draw_wide(&state);
    assert!(screen.contains("✓ rolled back to revision 4"), "{screen}");
    assert!(!screen.contains("b rolls back"), "offered once: {screen}");
    assert!(press(&mut state, KeyCode::Char('b')).is_empty());
}

#[test]
fn a_failed_first_install_is_uninstalled_only_on_explicit_keys() {
    let mut state = at_install(None);
    failed_install(&mut state);
    let screen = draw_wide(&state);
    assert!(
        screen.contains("this first install is kept as it is; u uninstalls it, only if you ask"),
        "{screen}"
    );
    assert!(!screen.contains("rolls back"), "{screen}");
    // Nothing to roll back to; no other key uninstalls.
    for code in [
        KeyCode::Char('b'),
        KeyCode::Char('y'),
        KeyCode::Enter,
        KeyCode::PageDown,
    ] {
        assert!(press(&mut state, code).is_empty(), "{code:?}");
    }
    // u asks; anything but y keeps the release.
    assert!(press(&mut state, KeyCode::Char('u')).is_empty());
    assert!(draw_wide(&state).contains("Uninstall caracal from namespace caracal? y uninstalls"));
    assert!(press(&mut state, KeyCode::Char('n')).is_empty());
    assert!(!state.install.confirm_uninstall);
    assert!(
        press(&mut state, KeyCode::Char('y')).is_empty(),
        "y alone does nothing"
    );
    press(&mut state, KeyCode::Char('u'));
    let effects = press(&mut state, KeyCode::Char('y'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Uninstall { .. })]
        ),
        "{effects:?}"
    );
    update(
        &mut state,
        Msg::Engine(Event::Uninstalled {
            release: "caracal".into(),
        }),
    );
    assert!(draw_wide(&state).contains("✓ caracal uninstalled"));
}

#[test]
fn a_deployed_install_offers_no_way_back() {
    let mut state = at_install(Some(1));
    update(
        &mut state,
        Msg::Engine(Event::InstallDone(InstallOutcome::Deployed { revision: 2 })),
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains("✓ caracal deployed: revision 2"),
        "{screen}"
    );
    for code in [KeyCode::Char('b'), KeyCode::Char('u')] {
        assert!(press(&mut state, code).is_empty());
    }
    assert!(!state.install.confirm_uninstall);
}

#[test]
fn a_pending_release_is_cleared_only_when_the_operator_presses_f() {
    let mut state = at_install(Some(3));
    // f means nothing while the release is not pending.
    assert!(press(&mut state, KeyCode::Char('f')).is_empty());
    update(
        &mut state,
        Msg::Engine(Event::Failed(EngineError::PendingRelease {
            release: "caracal".into(),
            namespace: "caracal".into(),
            state: "pending-upgrade".into(),
        })),
    );
    let screen = draw_wide(&state);
    for line in [
        "release caracal is stuck in pending-upgrade",
        "f clears the pending-upgrade release: it rolls back to the last deployed revision, then installs",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    let effects = press(&mut state, KeyCode::Char('f'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Install {
                recover: true,
                dry_run: false,
                ..
            })]
        ),
        "{effects:?}"
    );
    // Installing again by hand (i) does not clear it.
    update(
        &mut state,
        Msg::Engine(Event::Failed(EngineError::PendingRelease {
            release: "caracal".into(),
            namespace: "caracal".into(),
            state: "pending-install".into(),
        })),
    );
    assert!(draw_wide(&state).contains("it uninstalls the release (it never deployed)"));
    let effects = press(&mut state, KeyCode::Char('i'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Install { recover: false, .. })]
        ),
        "{effects:?}"
    );
}

/// Runs the wizard's effects on the real engine until `done`, allowing `secs` between events.
fn run_for(
    runtime: &tokio::runtime::Runtime,
    driver: &mut Driver,
    state: &mut State,
    effects: Vec<Effect>,
    secs: u64,
    done: impl Fn(&Msg) -> bool,
) -> Vec<Event> {
    assert!(!driver.perform(state, effects));
    let mut seen = Vec::new();
    loop {
        let msg = runtime
            .block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(secs),
                    driver.next_engine_msg(),
                )
                .await
            })
            .unwrap_or_else(|_| panic!("the engine answered within {secs} s: {seen:?}"))
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

/// The real engine behind the wizard on the bed: preflight's real report (its context and API
/// server in the confirmation), the real dry run, then the real apply and External Secrets'
/// real sync, each drawn from the events the engine sent.
#[test]
fn the_wizard_runs_preflight_and_apply_on_the_bed() {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = bed_answers("aws");
    answers.secret_manager.prefix = support::unique("wzap");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = support::caracal_with(&["seed"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out.stderr));

    let doc: serde_json::Value = serde_saphyr::from_str(&answers.to_yaml()).unwrap();
    let mut state = State::resume(&doc, path.clone(), dir.path().join("bundle"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    state.screen = Screen::Secrets;
    let effects = press(&mut state, KeyCode::PageDown);
    run_for(&runtime, &mut driver, &mut state, effects, 120, |m| {
        matches!(m, Msg::Engine(Event::PreflightDone(_) | Event::Failed(_)))
    });
    assert!(
        state.preflight.passed(),
        "{:?}\n{}",
        state.preflight.error,
        draw_wide(&state)
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains("[kube-context]: context caracal-testbed, API server https://127.0.0.1:"),
        "{screen}"
    );
    assert!(screen.contains(" failed, "), "the summary: {screen}");

    press(&mut state, KeyCode::Enter);
    let target = state.target().expect("preflight found the cluster");
    assert_eq!(target.context, "caracal-testbed");
    assert_eq!(target.namespace, answers.namespace);
    let screen = draw_wide(&state);
    assert!(
        screen.contains(&format!("API server  {}", target.server)),
        "{screen}"
    );
    type_keys(&mut state, "caracal-testbe");
    assert!(
        press(&mut state, KeyCode::Enter).is_empty(),
        "a near miss is refused"
    );
    type_keys(&mut state, "d");
    let effects = press(&mut state, KeyCode::Enter);
    run_for(&runtime, &mut driver, &mut state, effects, 90, |m| {
        matches!(m, Msg::Engine(Event::ApplyDone(_) | Event::Failed(_)))
    });
    assert_eq!(
        state.apply.phase,
        ApplyPhase::Previewed,
        "{:?}",
        state.apply.error
    );
    let kinds: Vec<&str> = state
        .apply
        .preview
        .iter()
        .map(|a| a.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterSecretStore",
            "ExternalSecret"
        ]
    );
    // This prefix is new: the ExternalSecret's remote keys are the changed fields (or it is new).
    let es = &state.apply.preview[3];
    assert!(
        matches!(&es.action, ApplyAction::WouldCreate)
            || es.action.fields().iter().any(|f| f.contains("remoteRef")),
        "{es:?}"
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains(&format!(
            "ExternalSecret {}/caracal-runtime: {}",
            answers.namespace,
            es.action.verb()
        )),
        "{screen}"
    );

    let effects = press(&mut state, KeyCode::Char('a'));
    let events = run_for(&runtime, &mut driver, &mut state, effects, 150, |m| {
        matches!(m, Msg::Engine(Event::ApplyDone(_) | Event::Failed(_)))
    });
    assert!(
        state.apply.synced(),
        "{:?}\n{}",
        state.apply.error,
        draw_wide(&state)
    );
    assert_eq!(state.apply.applied.len(), 4);
    let synced = state
        .apply
        .conditions
        .iter()
        .find(|c| c.kind == "ExternalSecret" && c.ready)
        .expect("the ExternalSecret's Ready condition");
    assert_eq!(synced.reason, "SecretSynced");
    let screen = draw_wide(&state);
    assert!(
        screen.contains(&format!(
            "✓ ExternalSecret {}: SecretSynced: {}",
            synced.name, synced.message
        )),
        "{screen}"
    );
    assert!(screen.contains("✓ the store is Ready and the ExternalSecret synced"));
    // Every object the engine reported is on the screen.
    for e in &events {
        if let Event::Applied(a) = e {
            assert!(
                screen.contains(&format!("{} {}: {}", a.kind, a.name, a.action.verb())),
                "{a:?}"
            );
        }
    }
}

/// `helm history` of a release, newest last: (revision, status, description).
fn helm_history(answers: &caracal_deploy::core::answers::Answers) -> Vec<(u64, String, String)> {
    support::helm_history(&support::helm(), answers)
}

/// A namespace of this test's own with the release's namespace object in it (as step 2 makes
/// it), and the wizard at the install screen of those answers (preflight and the confirmation
/// as an operator passes them, with the real engine).
fn wizard_at_install(
    tag: &str,
    storage_class: &str,
    runtime: &tokio::runtime::Runtime,
    driver: &mut Driver,
) -> (State, caracal_deploy::core::answers::Answers) {
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique(tag);
    answers.storage_class = Some(storage_class.into());
    runtime.block_on(support::make_namespace(&answers));
    let doc: serde_json::Value = serde_saphyr::from_str(&answers.to_yaml()).unwrap();
    let mut state = State::resume(&doc, "a.yaml".into(), "b".into());
    state.install_timeout = std::time::Duration::from_secs(300);
    state.screen = Screen::Secrets;
    let effects = press(&mut state, KeyCode::PageDown);
    run_for(runtime, driver, &mut state, effects, 120, |m| {
        matches!(m, Msg::Engine(Event::PreflightDone(_) | Event::Failed(_)))
    });
    let target = state.target().expect("preflight found the cluster");
    state.screen = Screen::Confirm;
    type_keys(&mut state, &target.context);
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(state.confirm.confirmed.as_deref(), Some("caracal-testbed"));
    // The dry run's answer is not needed here: straight to the install screen.
    run_for(runtime, driver, &mut state, effects, 90, |m| {
        matches!(m, Msg::Engine(Event::ApplyDone(_) | Event::Failed(_)))
    });
    (state, answers)
}

fn install_done(m: &Msg) -> bool {
    matches!(m, Msg::Engine(Event::InstallDone(_) | Event::Failed(_)))
}

/// The wizard's rollback, for real: install (revision 1), an upgrade the API server refuses
/// (a StatefulSet's claim template cannot change), then `b` sends `Request::Rollback` to the
/// real engine; `helm history` is the oracle.
#[test]
fn the_wizard_rolls_a_failed_upgrade_back_with_the_real_engine() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    let (mut state, mut answers) = wizard_at_install("wzrb", "gp3", &runtime, &mut driver);
    state.screen = Screen::Install;
    let effects = press(&mut state, KeyCode::Char('i'));
    run_for(
        &runtime,
        &mut driver,
        &mut state,
        effects,
        300,
        install_done,
    );
    assert_eq!(
        state.install.outcome,
        Some(InstallOutcome::Deployed { revision: 1 }),
        "{:?}",
        state.install.error
    );
    assert!(draw_wide(&state).contains(&format!("✓ {} deployed: revision 1", answers.release)));
    assert!(
        state.install.rollback_to().is_none(),
        "nothing to roll back"
    );

    // The second install, with another storage class: helm fails, the wizard offers revision 1.
    answers.storage_class = Some("premium-rwo".into());
    update(&mut state, Msg::Set("storageClass", "premium-rwo".into()));
    assert_eq!(
        state.valid.as_ref().unwrap().storage_class,
        answers.storage_class
    );
    let effects = press(&mut state, KeyCode::Char('i'));
    run_for(
        &runtime,
        &mut driver,
        &mut state,
        effects,
        300,
        install_done,
    );
    assert!(
        matches!(&state.install.outcome, Some(InstallOutcome::Failed { reason, .. }) if !reason.is_empty()),
        "{:?} {:?}",
        state.install.outcome,
        state.install.error
    );
    assert_eq!(state.install.rollback_to(), Some(1));
    let screen = draw_wide(&state);
    assert!(screen.contains("b rolls back to revision 1"), "{screen}");
    assert_eq!(helm_history(&answers).last().unwrap().1, "failed");

    let effects = press(&mut state, KeyCode::Char('b'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Engine(Request::Rollback { revision: 1, .. })]
    ));
    run_for(&runtime, &mut driver, &mut state, effects, 300, |m| {
        matches!(m, Msg::Engine(Event::RolledBack { .. } | Event::Failed(_)))
    });
    assert_eq!(state.install.recovery, Some(Recovery::RolledBack(1)));
    assert!(draw_wide(&state).contains("✓ rolled back to revision 1"));
    let h = helm_history(&answers);
    let last = h.last().unwrap();
    assert_eq!(last.1, "deployed", "{h:?}");
    assert!(last.2.contains("Rollback to 1"), "{h:?}");
    assert_eq!(h.len(), 3, "{h:?}");
}

/// `Request::Uninstall` for real: a first install that cannot schedule fails, is kept, and is
/// removed only after `u` then `y`; helm then knows no such release.
#[test]
fn the_wizard_uninstalls_a_failed_first_install_only_when_asked() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    let (mut state, answers) = wizard_at_install("wzun", "no-such-class", &runtime, &mut driver);
    state.install_timeout = std::time::Duration::from_secs(30);
    state.screen = Screen::Install;
    let effects = press(&mut state, KeyCode::Char('i'));
    run_for(
        &runtime,
        &mut driver,
        &mut state,
        effects,
        120,
        install_done,
    );
    assert!(
        matches!(&state.install.outcome, Some(InstallOutcome::Failed { .. })),
        "{:?} {:?}",
        state.install.outcome,
        state.install.error
    );
    assert_eq!(
        helm_history(&answers).len(),
        1,
        "a failed first install is kept"
    );
    assert!(state.install.may_uninstall());
    assert!(press(&mut state, KeyCode::Char('b')).is_empty());
    press(&mut state, KeyCode::Char('u'));
    let effects = press(&mut state, KeyCode::Char('y'));
    run_for(&runtime, &mut driver, &mut state, effects, 300, |m| {
        matches!(m, Msg::Engine(Event::Uninstalled { .. } | Event::Failed(_)))
    });
    assert_eq!(
        state.install.recovery,
        Some(Recovery::Uninstalled),
        "{:?}",
        state.install.recovery
    );
    assert!(
        helm_history(&answers).is_empty(),
        "helm knows no such release"
    );
}

/// After a deployed install, Enter starts step 4 (verify following the cluster); the screen
/// shows the engine's pictures, `c` asks the running verify for the canary, Enter moves on to
/// the summary (the watch is stopped), which leaves with Enter and goes back with `v`.
#[test]
fn after_the_install_the_wizard_verifies_live_then_sums_up() {
    use caracal_deploy::core::checks::{Check, Report};
    use caracal_deploy::core::live::Live;
    use caracal_deploy::engine::verify::Mode;

    let mut state = at_install(None);
    update(
        &mut state,
        Msg::Engine(Event::InstallDone(InstallOutcome::Deployed { revision: 1 })),
    );
    assert!(draw_wide(&state).contains("Enter/v verify (live)"));
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, Screen::Verify);
    let trigger = match effects.as_slice() {
        [
            Effect::Engine(Request::Verify {
                mode: Mode::Follow(t),
                ..
            }),
        ] => t.clone(),
        other => panic!("{other:?}"),
    };
    assert!(draw_wide(&state).contains("reading the cluster…"));

    let picture = |canary: Check| {
        let mut report = Report::default();
        report.push(
            "store",
            Check::new("store-synced", "ExternalSecret synced").success("SecretSynced"),
        );
        report.push("canary", canary);
        Box::new(Live {
            report,
            ..Live::default()
        })
    };
    update(
        &mut state,
        Msg::Engine(Event::VerifyProgress(picture(
            Check::new("canary", "canary").error("Gateway: HTTP 403", "its decision is audited"),
        ))),
    );
    let screen = draw_wide(&state);
    assert!(screen.contains("× 1 error"), "{screen}");
    assert!(screen.contains("› √ ok      store-synced"), "{screen}");
    assert!(screen.contains("│  × error   canary"), "{screen}");
    // `/` filters the checks as on the dashboard: the keys typed are the filter's (`c` too,
    // no canary run), Enter keeps it, Esc clears it, and a second Esc is the wizard's again.
    press(&mut state, KeyCode::Char('/'));
    for c in "sync".chars() {
        assert_eq!(press(&mut state, KeyCode::Char(c)), vec![]);
    }
    assert!(draw_wide(&state).contains("filter: sync▏"));
    press(&mut state, KeyCode::Enter);
    let screen = draw_wide(&state);
    assert!(screen.contains("store-synced"), "{screen}");
    assert!(!screen.contains("× error   canary"), "{screen}");
    assert!(screen.contains("filter “sync”: Esc clears it"), "{screen}");
    assert_eq!(
        state.screen,
        Screen::Verify,
        "Enter kept the filter, no summary"
    );
    press(&mut state, KeyCode::Esc);
    assert!(draw_wide(&state).contains("× error   canary"));
    assert!(!state.confirm_quit);
    press(&mut state, KeyCode::Esc);
    assert!(state.confirm_quit, "Esc with no filter asks before leaving");
    press(&mut state, KeyCode::Char('n'));
    // ↓ selects the canary; c asks the running verify for it (the same trigger).
    press(&mut state, KeyCode::Down);
    assert_eq!(state.dashboard.selected_check().unwrap().id, "canary");
    assert!(draw_wide(&state).contains("its decision is audited"));
    assert_eq!(
        press(&mut state, KeyCode::Char('c')),
        vec![Effect::RunCanary(trigger.clone())]
    );
    update(
        &mut state,
        Msg::Engine(Event::VerifyProgress(picture(
            Check::new("canary", "canary").success("request 1 through …: allowed"),
        ))),
    );
    assert!(draw_wide(&state).contains("✓ no check in error: Enter for the summary"));

    // Enter: the summary; the follow is cancelled, and its cancel coming back is nobody's
    // failure (not the seeding's, as it once was).
    assert_eq!(press(&mut state, KeyCode::Enter), vec![Effect::Cancel]);
    assert_eq!(state.screen, Screen::Done);
    let seed_before = format!("{:?}", state.seed.result);
    update(
        &mut state,
        Msg::Engine(Event::Failed(
            caracal_deploy::engine::EngineError::Interrupted,
        )),
    );
    assert_eq!(format!("{:?}", state.seed.result), seed_before);
    assert_eq!(state.dashboard.failed, None);
    let screen = draw_wide(&state);
    assert!(screen.contains("is installed and verified in"), "{screen}");
    assert!(
        screen.contains("caracal-deploy dashboard -f caracal-answers.yaml"),
        "{screen}"
    );
    // v watches again (a new follow); Enter on the summary leaves.
    let effects = press(&mut state, KeyCode::Char('v'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Engine(Request::Verify { .. })]
    ));
    assert_eq!(state.screen, Screen::Verify);
    press(&mut state, KeyCode::Enter);
    assert_eq!(press(&mut state, KeyCode::Enter), vec![Effect::Quit]);
}

/// A deterministic stream of keys (xorshift): letters, digits, the keys the wizard maps, and
/// Ctrl combinations.
fn key_storm(seed: u64, n: usize) -> Vec<KeyEvent> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let codes = [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Backspace,
        KeyCode::Home,
        KeyCode::Delete,
        KeyCode::F(1),
    ];
    (0..n)
        .map(|_| {
            let r = next();
            let code = match r % 4 {
                0 | 1 => codes[(r >> 8) as usize % codes.len()],
                _ => KeyCode::Char(
                    char::from_u32(0x20 + ((r >> 8) % 0x5f) as u32)
                        .or(['é', '✓', '界'].get((r >> 20) as usize % 3).copied())
                        .unwrap(),
                ),
            };
            let modifiers = if (r >> 40) % 10 == 0 {
                KeyModifiers::CONTROL
            } else {
                KeyModifiers::NONE
            };
            KeyEvent::new(code, modifiers)
        })
        .collect()
}

/// Thousands of random keys on every screen (the state machine and its drawing at sizes from
/// 10×5 to 200×60; engine requests are not run): never a panic, and the state stays drawable.
#[test]
fn a_random_key_storm_on_every_screen_never_panics() {
    use caracal_deploy::core::checks::{Check, Report};
    use caracal_deploy::core::live::Live;
    let mut starts: Vec<State> = vec![
        State::new(form::defaults(), "a.yaml".into(), "b".into()),
        resumed("aws"),
        resumed("gcp"),
        resumed("azure"),
        at_preflight(),
        at_apply(),
        at_install(Some(1)),
    ];
    let mut verifying = at_install(None);
    update(
        &mut verifying,
        Msg::Engine(Event::InstallDone(InstallOutcome::Deployed { revision: 1 })),
    );
    press(&mut verifying, KeyCode::Enter);
    let mut report = Report::default();
    report.push("canary", Check::new("canary", "canary").error("x", "y"));
    update(
        &mut verifying,
        Msg::Engine(Event::VerifyProgress(Box::new(Live {
            report,
            ..Live::default()
        }))),
    );
    starts.push(verifying);
    // An upgrade (a downgrade, with a StatefulSet to recreate): the box and the gates too.
    let mut upgrading = found_a_release();
    upgrade_planned(
        &mut upgrading,
        upgrade_plan("1.0.0", VersionStep::Backward, true),
    );
    starts.push(upgrading);
    let sizes = [(10, 5), (40, 12), (79, 23), (80, 24), (120, 40), (200, 60)];
    for (i, start) in starts.into_iter().enumerate() {
        let mut state = start;
        for (k, key) in key_storm(0x9e37_79b9_7f4a_7c15 ^ i as u64, 3000)
            .into_iter()
            .enumerate()
        {
            if let Some(msg) = key_to_msg(&state, key) {
                // Effects are not run (no save, no engine): only the state machine is stormed.
                let _ = update(&mut state, msg);
            }
            if k % 50 == 0 {
                let (w, h) = sizes[(k / 50) % sizes.len()];
                let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
                t.draw(|f| view::draw(f, &state)).unwrap();
            }
        }
    }
}

#[test]
fn below_80x24_the_wizard_says_how_big_it_must_be_and_keeps_everything() {
    let mut state = resumed("aws");
    for (w, h) in [(79, 24), (80, 23), (20, 4)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::draw(f, &state)).unwrap();
        let screen = t.backend().to_string();
        if w >= 40 {
            assert!(screen.contains("needs at least 80×24"), "{screen}");
            assert!(screen.contains(&format!("{w}×{h}")), "{screen}");
        }
        assert!(!screen.contains("Steps"), "{screen}");
    }
    // Keys still work meanwhile; back at 80×24 the screen is whole again.
    press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Questions(1));
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| view::draw(f, &state)).unwrap();
    assert!(t.backend().to_string().contains("Steps"));
}

/// `?` (or F1) shows the keys of the screen and those that work everywhere; any key closes it.
/// In a text field `?` is typed, F1 still helps.
#[test]
fn the_help_overlay_lists_the_keys_and_never_eats_a_typed_question_mark() {
    let mut state = resumed("aws");
    assert_eq!(state.focused().unwrap().path, "cloud");
    press(&mut state, KeyCode::Char('?'));
    assert!(state.help);
    for (w, h) in [(80, 24), (200, 60)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::draw(f, &state)).unwrap();
        insta::assert_snapshot!(format!("help_cloud_{w}x{h}"), t.backend().to_string());
    }
    let screen = draw_wide(&state);
    assert!(screen.contains("Cloud — keys"), "{screen}");
    assert!(
        screen.contains("Ctrl-S          save the answers"),
        "{screen}"
    );
    // Any key closes it (Esc only closes; PgDn closes and acts).
    press(&mut state, KeyCode::Esc);
    assert!(!state.help && !state.confirm_quit);
    press(&mut state, KeyCode::F(1));
    assert!(state.help);
    press(&mut state, KeyCode::PageDown);
    assert!(!state.help);
    assert_eq!(state.screen, Screen::Questions(1));
    // A text field: `?` is typed into it.
    press(&mut state, KeyCode::PageUp);
    while state.focused().unwrap().path != "namespace" {
        press(&mut state, KeyCode::Tab);
    }
    press(&mut state, KeyCode::Char('?'));
    assert!(!state.help);
    assert!(state.text("namespace").ends_with('?'));
    assert!(!state.problems_of("namespace").is_empty(), "and validated");
}

/// NO_COLOR: not one colour in any cell; what a background marked is reversed instead.
#[test]
fn no_color_draws_the_wizard_without_colour() {
    let mut state = resumed("aws");
    let cells = |state: &State| {
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| view::draw(f, state)).unwrap();
        t.backend().buffer().clone()
    };
    state.dashboard.palette.mono = false;
    let colour = cells(&state);
    assert!(
        colour
            .content()
            .iter()
            .any(|c| c.fg != ratatui::style::Color::Reset),
        "the colour theme has colours"
    );
    state.dashboard.palette.mono = true;
    let mono = cells(&state);
    assert!(
        mono.content()
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
    // The title bar was a coloured background: now reversed, still marked.
    assert!(
        mono.content()[1]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
    let text =
        |b: &ratatui::buffer::Buffer| b.content().iter().map(|c| c.symbol()).collect::<String>();
    assert_eq!(text(&colour), text(&mono), "the same glyphs and words");
}

fn draw_at(state: &State, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::draw(f, state)).unwrap();
    terminal.backend().to_string()
}

/// Every screen of questions and the review, for each cloud, at the smallest size the wizard
/// draws in (80×24) and a large one (200×60); and each cloud's questions with errors (a fresh
/// wizard of that cloud: every required field empty).
#[test]
fn every_screen_for_each_cloud_at_80x24_and_200x60_with_error_states() {
    for cloud in ["aws", "gcp", "azure"] {
        let mut state = resumed(cloud);
        for i in 0..=SCREENS.len() {
            for (w, h) in [(80, 24), (200, 60)] {
                insta::assert_snapshot!(
                    format!(
                        "sizes_{cloud}_{i:02}_{}_{w}x{h}",
                        state.screen.title().replace(' ', "_").to_lowercase()
                    ),
                    draw_at(&state, w, h)
                );
            }
            press(&mut state, KeyCode::PageDown);
        }
        // Errors: a fresh wizard switched to this cloud, each screen of questions.
        let mut fresh = State::new(form::defaults(), "a.yaml".into(), "b".into());
        while fresh.cloud().to_string() != cloud {
            update(&mut fresh, Msg::Cycle(1));
        }
        for i in 0..SCREENS.len() {
            for (w, h) in [(80, 24), (200, 60)] {
                insta::assert_snapshot!(
                    format!("errors_{cloud}_{i:02}_{w}x{h}"),
                    draw_at(&fresh, w, h)
                );
            }
            press(&mut fresh, KeyCode::PageDown);
        }
    }
}

/// Help and problems wrap under the value's column: every line starts there, none is wider
/// than the pane, and no word is lost or reordered.
#[test]
fn wrapped_help_stays_indented_under_its_field() {
    let text = "project id holding the secrets, e.g. my-project; a-very-long-word-that-cannot-fit-anywhere-at-all-in-this-narrow-pane";
    for width in [40, 53, 80, 120] {
        let lines = view::indented(text, 23, width);
        for l in &lines {
            assert!(l.starts_with(&" ".repeat(23)), "{l:?}");
            assert!(l.chars().count() <= width.max(33), "{width}: {l:?}");
            assert!(!l[23..].starts_with(' '), "{l:?}");
        }
        let joined: String = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        let rejoined: String = joined.split_whitespace().collect::<String>();
        assert_eq!(
            rejoined,
            text.split_whitespace().collect::<String>(),
            "{width}"
        );
    }
    // On screen, at 80×24: the focused field's help wraps under the value, not the margin.
    let mut fresh = State::new(form::defaults(), "a.yaml".into(), "b".into());
    update(&mut fresh, Msg::Cycle(1));
    press(&mut fresh, KeyCode::PageDown);
    let screen = draw_at(&fresh, 80, 24);
    assert!(
        screen.contains("│                       secrets, e.g. my-project"),
        "{screen}"
    );
}

/// `:` then a step's number or name: the questions and the review directly, seeding with valid
/// answers; the cluster's steps only through their flow, each refusal saying why.
#[test]
fn colon_jumps_to_a_step_by_number_or_name() {
    let mut state = resumed("aws");
    // `:` off a text field, Ctrl-G anywhere.
    let jump = |state: &mut State, typed: &str| -> Vec<Effect> {
        let on_text = matches!(state.screen, Screen::Questions(_))
            && !matches!(
                state.focused().map(|f| f.kind),
                Some(form::FieldKind::Choice(_))
            );
        if on_text {
            ctrl(state, 'g');
        } else {
            press(state, KeyCode::Char(':'));
        }
        assert!(state.jump.is_some());
        assert!(draw_wide(state).contains(":"), "the prompt");
        type_keys(state, typed);
        press(state, KeyCode::Enter)
    };
    assert!(jump(&mut state, "6").is_empty());
    assert_eq!(state.screen, Screen::Questions(5));
    jump(&mut state, "rev");
    assert_eq!(state.screen, Screen::Review);
    // Enter on the review saves, but not while a jump is typed: it goes.
    jump(&mut state, "postg");
    assert_eq!(state.screen, Screen::Questions(3));
    let effects = jump(&mut state, "seed");
    assert_eq!(state.screen, Screen::Secrets);
    assert!(matches!(
        effects.as_slice(),
        [Effect::Engine(Request::PlanSeed { .. })]
    ));
    // Straight into a change of the cluster: refused, with the way there.
    jump(&mut state, "secret store");
    assert_eq!(state.screen, Screen::Secrets);
    assert!(
        matches!(&state.status, Some(Err(m)) if m.contains("reached through the steps before it")),
        "{:?}",
        state.status
    );
    jump(&mut state, "99");
    assert!(matches!(&state.status, Some(Err(m)) if m.contains("no step “99”")));
    // Esc cancels the prompt without leaving; in a text field `:` is typed.
    press(&mut state, KeyCode::Char(':'));
    press(&mut state, KeyCode::Esc);
    assert!(state.jump.is_none() && !state.confirm_quit);
    jump(&mut state, "1");
    while state.focused().unwrap().path != "namespace" {
        press(&mut state, KeyCode::Tab);
    }
    press(&mut state, KeyCode::Char(':'));
    assert!(state.jump.is_none());
    assert!(state.text("namespace").ends_with(':'));
}

/// A context named for production gets a banner on every screen (the typed confirmation still
/// guards its first change); others do not.
#[test]
fn a_production_context_is_bannered_on_every_screen() {
    let mut state = resumed("aws");
    assert_eq!(state.text("kubeContext"), "prod-eks");
    assert_eq!(state.production_context().as_deref(), Some("prod-eks"));
    for _ in 0..4 {
        let screen = draw_at(&state, 80, 24);
        assert!(
            screen
                .lines()
                .next()
                .unwrap()
                .contains("⚠ PRODUCTION: prod-eks"),
            "{screen}"
        );
        press(&mut state, KeyCode::PageDown);
    }
    for (context, production) in [
        ("staging-eks", false),
        ("caracal-testbed", false),
        ("eks_production_eu", true),
        ("products-dev", false),
        ("aks.prd", true),
    ] {
        update(&mut state, Msg::Set("kubeContext", context.into()));
        assert_eq!(
            state.production_context().is_some(),
            production,
            "{context}"
        );
    }
}

/// The steps after the questions at 80×24 and 200×60: preflight (passed and failed), the
/// confirmation, apply's dry run, a failed install, step 4 live and the summary.
#[test]
fn the_cluster_screens_at_80x24_and_200x60() {
    use caracal_deploy::core::checks::{Check, Report};
    use caracal_deploy::core::live::Live;
    let mut states: Vec<(&str, State)> = Vec::new();
    for (name, failing) in [("preflight_passed", false), ("preflight_failed", true)] {
        let mut s = at_preflight();
        update(
            &mut s,
            Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, failing))),
        );
        states.push((name, s));
    }
    let mut confirm = at_preflight();
    update(
        &mut confirm,
        Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, false))),
    );
    press(&mut confirm, KeyCode::Enter);
    type_keys(&mut confirm, "prod-e");
    states.push(("confirm", confirm));
    let mut apply = at_apply();
    update(
        &mut apply,
        Msg::Engine(Event::Applied(applied(
            "Namespace",
            "caracal",
            ApplyAction::Created,
        ))),
    );
    states.push(("apply", apply));
    let mut failed = at_install(Some(1));
    failed_install(&mut failed);
    states.push(("install_failed", failed));
    let mut verify = at_install(None);
    update(
        &mut verify,
        Msg::Engine(Event::InstallDone(InstallOutcome::Deployed { revision: 1 })),
    );
    press(&mut verify, KeyCode::Enter);
    let mut r = Report::default();
    r.push(
        "store",
        Check::new("store-synced", "ExternalSecret synced").error(
            "caracal-runtime: SecretSyncedError",
            "seed it: caracal-deploy seed",
        ),
    );
    update(
        &mut verify,
        Msg::Engine(Event::VerifyProgress(Box::new(Live {
            report: r,
            ..Live::default()
        }))),
    );
    states.push(("verify_error", verify.clone()));
    press(&mut verify, KeyCode::Enter);
    states.push(("done_with_errors", verify));
    for (name, state) in states {
        for (w, h) in [(80, 24), (200, 60)] {
            insta::assert_snapshot!(format!("cluster_{name}_{w}x{h}"), draw_at(&state, w, h));
        }
    }
}

/// The AWS example resumed on the bed's context, with what the real engine read of its cluster
/// at the start (the start's request for choices; the resume is not wanted here).
fn with_the_bed_choices() -> (tokio::runtime::Runtime, Driver, State) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    let mut state = resumed("aws");
    update(
        &mut state,
        Msg::Set("kubeContext", "caracal-testbed".into()),
    );
    let effects = state.start();
    assert!(matches!(
        effects.first(),
        Some(Effect::Engine(Request::ClusterChoices { context: Some(c) })) if c == "caracal-testbed"
    ));
    let effects: Vec<Effect> = effects
        .into_iter()
        .filter(|e| matches!(e, Effect::Engine(Request::ClusterChoices { .. })))
        .collect();
    run_for(&runtime, &mut driver, &mut state, effects, 60, |m| {
        matches!(m, Msg::Engine(Event::ClusterChoices(_)))
    });
    (runtime, driver, state)
}

/// The names the wizard offers come from the kubeconfig and the cluster (the real engine on the
/// bed; kubectl is the oracle), and ←/→ on such a field goes through them.
#[test]
fn the_cluster_offers_its_classes_issuers_and_dns_and_arrows_pick_them() {
    let (_runtime, _driver, state) = with_the_bed_choices();
    let mut state = state;
    let names = |kind: &str| -> Vec<String> {
        let out = std::process::Command::new("kubectl")
            .args(["get", kind, "-o", "jsonpath={.items[*].metadata.name}"])
            .output()
            .unwrap();
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let offered = |path: &str| -> Vec<String> {
        state
            .choices
            .for_field(path)
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(offered("storageClass"), names("storageclasses"));
    assert_eq!(offered("ingress.className"), names("ingressclasses"));
    assert_eq!(offered("ingress.clusterIssuer"), names("clusterissuers"));
    let dns = std::process::Command::new("kubectl")
        .args([
            "-n",
            "kube-system",
            "get",
            "svc",
            "kube-dns",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .output()
        .unwrap();
    assert_eq!(
        offered("network.dnsEgress"),
        [format!(
            "{}/32",
            String::from_utf8_lossy(&dns.stdout).trim()
        )]
    );
    assert!(offered("kubeContext").contains(&"caracal-testbed".to_string()));
    assert!(
        state.choices.unreadable.is_none(),
        "{:?}",
        state.choices.unreadable
    );

    // The first screen says what the wizard sees: the context and its API server (as the
    // kubeconfig names them) and why the cloud is not told (kwok's nodes name no provider).
    assert_eq!(state.screen, Screen::Questions(0));
    let screen = draw_wide(&state);
    let server = String::from_utf8_lossy(
        &std::process::Command::new("kubectl")
            .args([
                "config",
                "view",
                "--minify",
                "-o",
                "jsonpath={.clusters[0].cluster.server}",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        screen.contains(&format!("context caracal-testbed, API server {server}")),
        "{server}: {screen}"
    );
    assert!(
        screen.contains("cloud not detected: the nodes name no provider"),
        "{screen}"
    );
    // A cluster of another cloud than the answers': said, with the evidence.
    let mut other = state.clone();
    other.choices.cloud = Ok((
        caracal_deploy::core::cloud::Cloud::Gcp,
        "node providerID gce://p/z/n".into(),
    ));
    let screen = draw_wide(&other);
    assert!(
        screen.contains(
            "✗ the cluster is Google GKE (node providerID gce://p/z/n), the answers say aws"
        ),
        "{screen}"
    );

    // On the storage class field: shown with the profile's marked, and ←/→ picks.
    while state.screen != Screen::Questions(7) {
        press(&mut state, KeyCode::PageDown);
    }
    assert_eq!(state.focused().unwrap().path, "storageClass");
    let screen = draw_wide(&state);
    assert!(
        screen.contains("in the cluster: gp3 (profile's), managed-csi, premium-rwo"),
        "{screen}"
    );
    let before = state.text("storageClass").to_string();
    press(&mut state, KeyCode::Right);
    let after = state.text("storageClass").to_string();
    assert_ne!(before, after);
    assert!(names("storageclasses").contains(&after), "{after}");
    press(&mut state, KeyCode::Left);
    assert_eq!(state.text("storageClass"), before);
}

/// Only the engine's requests of some effects (the draft of the answers aside).
fn requests(effects: Vec<Effect>) -> Vec<Effect> {
    effects
        .into_iter()
        .filter(|e| matches!(e, Effect::Engine(_)))
        .collect()
}

/// Another context typed on its field: leaving the field reads what that context's cluster
/// offers (the real engine and kubeconfig: a context the kubeconfig lacks is unreadable, with
/// its name), leaving it unchanged reads nothing, and an answer for a context the field no
/// longer names is dropped.
#[test]
fn another_context_reads_the_choices_again_and_a_stale_answer_is_dropped() {
    let (runtime, mut driver, mut state) = with_the_bed_choices();
    assert!(!state.choices.storage_classes.is_empty());
    let read_for_testbed = state.choices.clone();

    // On the context's field: leaving it unchanged reads nothing.
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focused().unwrap().path, "kubeContext");
    assert_eq!(requests(press(&mut state, KeyCode::Tab)), vec![]);
    press(&mut state, KeyCode::BackTab);
    // Another name typed: leaving the field asks for it.
    update(&mut state, Msg::ClearField);
    for c in "nowhere".chars() {
        assert_eq!(press(&mut state, KeyCode::Char(c)), vec![]);
    }
    let effects = requests(press(&mut state, KeyCode::Tab));
    assert_eq!(
        effects,
        vec![Effect::Engine(Request::ClusterChoices {
            context: Some("nowhere".into())
        })]
    );
    run_for(&runtime, &mut driver, &mut state, effects, 60, |m| {
        matches!(m, Msg::Engine(Event::ClusterChoices(_)))
    });
    // The testbed's answer arriving late is stale now: dropped.
    update(
        &mut state,
        Msg::Engine(Event::ClusterChoices(Box::new(read_for_testbed.clone()))),
    );
    assert_eq!(state.choices.requested.as_deref(), Some("nowhere"));
    assert!(state.choices.storage_classes.is_empty());
    let why = state.choices.unreadable.clone().unwrap_or_default();
    assert!(why.contains("nowhere"), "{why}");

    // Back to the testbed's context by ←/→ (a kubeconfig's context): read at once.
    press(&mut state, KeyCode::BackTab);
    let effects = requests(press(&mut state, KeyCode::Right));
    assert_eq!(state.text("kubeContext"), "caracal-testbed");
    assert_eq!(
        effects,
        vec![Effect::Engine(Request::ClusterChoices {
            context: Some("caracal-testbed".into())
        })]
    );
    run_for(&runtime, &mut driver, &mut state, effects, 60, |m| {
        matches!(m, Msg::Engine(Event::ClusterChoices(_)))
    });
    assert_eq!(
        state.choices.storage_classes,
        read_for_testbed.storage_classes
    );
}

/// k9s habit: `q` leaves where nothing is typed (asking first when answers are unsaved), and is
/// a letter where text is typed (a text field, the context's name, a hidden value).
#[test]
fn q_leaves_where_nothing_is_typed_and_is_a_letter_elsewhere() {
    let mut state = State::new(form::defaults(), "a.yaml".into(), "bundle".into());
    // The cloud (a choice): q asks before leaving unsaved answers.
    assert_eq!(state.focused().unwrap().path, "cloud");
    assert!(press(&mut state, KeyCode::Char('q')).is_empty());
    assert!(state.confirm_quit);
    press(&mut state, KeyCode::Char('n'));
    assert!(!state.confirm_quit);
    // A text field: q is typed.
    press(&mut state, KeyCode::Tab);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focused().unwrap().path, "namespace");
    let before = state.text("namespace").to_string();
    press(&mut state, KeyCode::Char('q'));
    assert_eq!(state.text("namespace"), format!("{before}q"));
    assert!(!state.confirm_quit);
    // The review: q asks too.
    let mut state = resumed("aws");
    for _ in 0..SCREENS.len() {
        press(&mut state, KeyCode::PageDown);
    }
    assert_eq!(state.screen, Screen::Review);
    // The resumed answers are on disk: q leaves at once.
    assert!(state.saved);
    let effects = press(&mut state, KeyCode::Char('q'));
    assert_eq!(effects.last(), Some(&Effect::Quit), "{effects:?}");
}

/// The review's last entry is the cluster diff, read from the bed when it is shown (reads
/// only): a new namespace (everything would be created, helm would install), then one that
/// exists with nothing else in it (its labels would change, helm is asked). The
/// oracles: the cluster (kubectl) before and after — nothing was created — and the namespace
/// the dry run said exists.
#[test]
fn the_review_shows_the_cluster_diff_and_changes_nothing() {
    let mut answers = bed_answers("aws");
    answers.namespace = support::unique("rvd-");
    let doc: serde_json::Value = serde_saphyr::from_str(&answers.to_yaml()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .args(args)
            .output()
            .unwrap()
    };
    let ns = answers.namespace.clone();

    // A new namespace.
    let mut state = State::resume(&doc, dir.path().join("a.yaml"), dir.path().join("b"));
    state.screen = Screen::Questions(SCREENS.len() - 1);
    press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Review);
    let effects = press(&mut state, KeyCode::Left);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply { dry_run: true, .. })]
        ),
        "{effects:?}"
    );
    assert!(press(&mut state, KeyCode::PageDown).is_empty());
    assert_eq!(state.screen, Screen::Review, "leaving waits for the diff");
    run_for(&runtime, &mut driver, &mut state, effects, 120, |m| {
        matches!(m, Msg::Engine(Event::ApplyDone(_) | Event::Failed(_)))
    });
    assert_eq!(state.review.diff.phase, DiffPhase::Done);
    let screen = draw_wide(&state);
    for line in [
        format!("Namespace {ns}: would be created"),
        format!("ExternalSecret {ns}/caracal-runtime: would be created"),
        "Dry run: 4 would change, 0 unchanged; nothing was changed.".to_string(),
        "helm: would install caracal (its namespace is created by step 2)".to_string(),
        "▶ cluster diff".to_string(),
    ] {
        assert!(screen.contains(&line), "{line}: {screen}");
    }
    assert!(!kubectl(&["get", "namespace", &ns]).status.success());

    // The namespace exists (made by kubectl), nothing in it: helm is asked too.
    assert!(kubectl(&["create", "namespace", &ns]).status.success());
    let mut state = State::resume(&doc, dir.path().join("a.yaml"), dir.path().join("b"));
    state.screen = Screen::Questions(SCREENS.len() - 1);
    press(&mut state, KeyCode::PageDown);
    let effects = press(&mut state, KeyCode::Left);
    // The upgrade plan answers that there is no release (a first install): helm is asked.
    run_for(
        &runtime,
        &mut driver,
        &mut state,
        effects,
        120,
        |m| match m {
            Msg::Engine(Event::Failed(EngineError::NoRelease { .. })) => false,
            m => matches!(m, Msg::Engine(Event::InstallDone(_) | Event::Failed(_))),
        },
    );
    let screen = draw_wide(&state);
    kubectl(&["delete", "namespace", "--wait=false", &ns]);
    assert!(!state.upgrade_mode(), "no release: not an upgrade");
    assert_eq!(state.review.diff.phase, DiffPhase::Done, "{screen}");
    // kubectl's namespace lacks the labels the bundle sets: the dry run names them.
    for line in [
        format!("Namespace {ns}: would change"),
        "metadata.labels.app.kubernetes.io/managed-by".to_string(),
        format!("ExternalSecret {ns}/caracal-runtime: would be created"),
        "Dry run: helm would install the release; nothing was changed.".to_string(),
    ] {
        assert!(screen.contains(&line), "{line}: {screen}");
    }
    assert!(
        !kubectl(&["-n", &ns, "get", "externalsecret", "caracal-runtime"])
            .status
            .success()
    );
    assert!(press(&mut state, KeyCode::Right).is_empty());
    assert_eq!(state.review.file, 0, "→ wraps to the first file");
}

// ---- The upgrade: a release of these answers exists. ----

use caracal_deploy::core::catalog::VersionStep;
use caracal_deploy::core::seed::SeedPlan;
use caracal_deploy::core::upgrade_diff::{Change, FieldChange, FieldWhat, ObjectChange, Shown};
use caracal_deploy::engine::Detected;
use caracal_deploy::engine::upgrade::{Deployed, NewKey, UpgradePlan};
use caracal_deploy::tui::upgrade::EarlierStep;

/// What the engine's plan would say of a release at chart 2026.6.25-rc.1 (revision 3) moving
/// to `target`: one image changed, the StatefulSet recreated when `recreate`.
fn upgrade_plan(target: &str, step: VersionStep, recreate: bool) -> UpgradePlan {
    UpgradePlan {
        release: "caracal".into(),
        namespace: "caracal".into(),
        deployed: Deployed {
            revision: 3,
            status: "deployed".into(),
            chart_version: "2026.6.25-rc.1".into(),
            app_version: "2026.06.25-rc.1".into(),
        },
        target: target.into(),
        target_app: Some(target.into()),
        step,
        seed: SeedPlan::default(),
        objects: vec![ObjectChange {
            kind: "Deployment".into(),
            api_version: "apps/v1".into(),
            namespace: Some("caracal".into()),
            name: "caracal-api".into(),
            change: Change::Changed(vec![FieldChange {
                path: "spec.template.spec.containers[name=api].image".into(),
                what: FieldWhat::Changed {
                    from: Shown::Value("ghcr.io/garudex-labs/caracal-api:v2026.06.25-rc.1".into()),
                    to: Shown::Value(format!("ghcr.io/garudex-labs/caracal-api:v{target}")),
                },
            }]),
        }],
        values: vec![],
        new_keys: vec![NewKey {
            key: "secretStoreKek".into(),
            produced: true,
            optional: false,
        }],
        recreate: if recreate {
            vec![(
                "caracal-sts".into(),
                vec!["spec.volumeClaimTemplates[0].metadata.labels.helm.sh/chart".into()],
            )]
        } else {
            vec![]
        },
    }
}

/// The AWS example wizard started on a cluster where its release exists: it moves to the
/// review and reads the store's dry run (taken over, as an upgrade applies it).
fn found_a_release() -> State {
    let mut state = resumed("aws");
    state.start();
    let effects = update(
        &mut state,
        Msg::Engine(Event::Detected(Detected {
            seeded: Ok(true),
            synced: Ok(true),
            deployed: Ok(Some(3)),
            existing: Some("deployed".into()),
        })),
    );
    assert_eq!(state.screen, Screen::Review);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply {
                dry_run: true,
                take_over: true,
                ..
            })]
        ),
        "{effects:?}"
    );
    state
}

/// The store's dry run done: the upgrade plan is asked; then it arrives.
fn upgrade_planned(state: &mut State, plan: UpgradePlan) -> Vec<Effect> {
    let effects = update(
        state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: true,
            objects: vec![applied(
                "ExternalSecret",
                "caracal/caracal-runtime",
                ApplyAction::Unchanged,
            )],
            synced: false,
            interrupted: false,
        })),
    );
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::PlanUpgrade { .. })]
        ),
        "{effects:?}"
    );
    update(state, Msg::Engine(Event::UpgradePlanned(Box::new(plan))))
}

/// A release found at the start turns the wizard into an upgrade: the review shows what the
/// upgrade would change (read only) with the deployed chart and app against the target's in
/// the header; leaving waits for it, then goes on to seeding.
#[test]
fn a_release_found_at_the_start_turns_the_wizard_into_an_upgrade() {
    let mut state = found_a_release();
    assert!(press(&mut state, KeyCode::PageDown).is_empty());
    assert_eq!(state.screen, Screen::Review, "leaving waits for the diff");
    assert!(
        upgrade_planned(
            &mut state,
            upgrade_plan("1.0.0", VersionStep::Forward, false)
        )
        .is_empty()
    );
    assert_eq!(state.screen, Screen::Review);
    let screen = draw_wide(&state);
    for line in [
        "⇡ 2026.6.25-rc.1 → 1.0.0",
        "upgrade caracal: chart 2026.6.25-rc.1 (app 2026.06.25-rc.1) → 1.0.0 (app 1.0.0)",
        "Release caracal in caracal: revision 3 (deployed), chart 2026.6.25-rc.1 (app 2026.06.25-rc.1) → chart 1.0.0 (app 1.0.0): forward",
        "Dry run: 0 would change, 1 unchanged; nothing was changed.",
        "upgrade diff — what the upgrade would change (read only; nothing is changed)",
        "ghcr.io/garudex-labs/caracal-api:v1.0.0",
        "✓ secretStoreKek (the ExternalSecret produces it)",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    insta::assert_snapshot!("aws_upgrade_review", draw(&state));
    let effects = press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Secrets);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::PlanSeed { .. })]
        ),
        "{effects:?}"
    );
}

/// Resumed on a release the answers would not change: step 4, as before the upgrade existed.
#[test]
fn a_release_with_nothing_to_change_resumes_at_the_live_checks() {
    let mut state = found_a_release();
    let mut plan = upgrade_plan("1.0.0", VersionStep::Same, false);
    plan.objects.clear();
    plan.new_keys.clear();
    let effects = upgrade_planned(&mut state, plan);
    assert_eq!(state.screen, Screen::Verify);
    assert!(
        matches!(effects.as_slice(), [Effect::Engine(Request::Verify { .. })]),
        "{effects:?}"
    );
    assert!(
        matches!(&state.status, Some(Ok(s)) if s.contains("nothing to change; step 4 watches it live")),
        "{:?}",
        state.status
    );
}

/// A downgrade is refused until the operator types the target version: a wrong one is
/// refused with the reason, Esc stays, nothing is asked of the engine meanwhile.
#[test]
fn a_downgrade_needs_its_version_typed() {
    let mut state = found_a_release();
    let mut plan = upgrade_plan("1.0.0", VersionStep::Backward, false);
    plan.deployed.chart_version = "1.1.0".into();
    plan.deployed.app_version = "1.1.0".into();
    upgrade_planned(&mut state, plan);
    assert!(draw_wide(&state).contains("⇡ 1.1.0 → 1.0.0 DOWNGRADE"));
    assert!(
        matches!(&state.status, Some(Ok(s)) if s.contains("upgrade caracal: chart 1.1.0 (app 1.1.0) → 1.0.0 (app 1.0.0) · a DOWNGRADE")),
        "{:?}",
        state.status
    );
    assert!(press(&mut state, KeyCode::PageDown).is_empty());
    assert_eq!(state.screen, Screen::Review);
    assert_eq!(state.upgrade.downgrade_typed.as_deref(), Some(""));
    let screen = draw_wide(&state);
    for line in [
        "Chart 1.0.0 is not a step forward from the deployed 1.1.0.",
        "Type 1.0.0 to confirm its images work with 1.1.0's schema:",
        "Enter confirm    Esc stay (nothing is changed)",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    insta::assert_snapshot!("aws_upgrade_downgrade_box", draw(&state));
    // q is a letter here, not a way out.
    type_keys(&mut state, "1.0q");
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert!(
        matches!(&state.status, Some(Err(s)) if s.contains("\"1.0q\" is not the target version: type 1.0.0 exactly")),
        "{:?}",
        state.status
    );
    assert!(state.upgrade.downgrade_confirmed.is_none());
    // Ctrl-C, as Esc, closes the box and stays on the deployed chart.
    assert!(ctrl(&mut state, 'c').is_empty());
    assert!(state.upgrade.downgrade_typed.is_none());
    assert!(!state.confirm_quit);
    assert_eq!(state.screen, Screen::Review);
    // PgDn asks again; the version typed confirms; PgDn goes on.
    assert!(press(&mut state, KeyCode::PageDown).is_empty());
    type_keys(&mut state, "1.0.0");
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(state.upgrade.downgrade_confirmed.as_deref(), Some("1.0.0"));
    let effects = press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Secrets);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::PlanSeed { .. })]
        ),
        "{effects:?}"
    );
}

/// A key the target mounts that the ExternalSecret would not produce blocks the upgrade with
/// its name, before anything changes.
#[test]
fn a_mounted_key_nothing_produces_blocks_the_upgrade() {
    let mut state = found_a_release();
    let mut plan = upgrade_plan("1.0.0", VersionStep::Forward, false);
    plan.new_keys[0].produced = false;
    upgrade_planned(&mut state, plan);
    assert!(press(&mut state, KeyCode::PageDown).is_empty());
    assert_eq!(state.screen, Screen::Review);
    assert!(
        matches!(&state.status, Some(Err(s)) if s.contains("chart 1.0.0 mounts secretStoreKek from caracal-runtime, which the ExternalSecret would not produce")),
        "{:?}",
        state.status
    );
}

/// The cluster steps of an upgrade: the store is taken over, the StatefulSet that cannot change
/// in place is deleted (pods and volumes kept) before helm, and a failed helm run shows the
/// forward-only warning; b asks before rolling back, y rolls back.
#[test]
fn an_upgrade_recreates_what_must_be_and_rolls_back_only_after_the_warning() {
    let mut state = found_a_release();
    upgrade_planned(
        &mut state,
        upgrade_plan("1.0.0", VersionStep::Forward, true),
    );
    press(&mut state, KeyCode::PageDown);
    assert_eq!(state.screen, Screen::Secrets);
    state.seed.phase = SeedPhase::Done;
    let effects = press(&mut state, KeyCode::PageDown);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Preflight { .. })]
        ),
        "{effects:?}"
    );
    update(
        &mut state,
        Msg::Engine(Event::PreflightDone(report("prod-eks", SERVER, false))),
    );
    press(&mut state, KeyCode::Enter);
    type_keys(&mut state, "prod-eks");
    let effects = press(&mut state, KeyCode::Enter);
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply {
                dry_run: true,
                take_over: true,
                ..
            })]
        ),
        "{effects:?}"
    );
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: true,
            objects: vec![],
            synced: false,
            interrupted: false,
        })),
    );
    let effects = press(&mut state, KeyCode::Char('a'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Apply {
                dry_run: false,
                take_over: true,
                ..
            })]
        ),
        "{effects:?}"
    );
    update(
        &mut state,
        Msg::Engine(Event::ApplyDone(ApplyOutcome {
            dry_run: false,
            objects: vec![],
            synced: true,
            interrupted: false,
        })),
    );
    // The StatefulSet first, then helm.
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, Screen::Install);
    assert!(
        matches!(effects.as_slice(), [Effect::Engine(Request::OrphanStatefulSets { names, .. })] if names == &["caracal-sts".to_string()]),
        "{effects:?}"
    );
    let effects = update(
        &mut state,
        Msg::Engine(Event::Orphaned {
            names: vec!["caracal-sts".into()],
        }),
    );
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Install { dry_run: false, .. })]
        ),
        "{effects:?}"
    );
    assert!(
        draw_wide(&state).contains("StatefulSet(s) caracal-sts deleted, pods and volumes kept"),
        "{}",
        draw_wide(&state)
    );
    update(
        &mut state,
        Msg::Engine(Event::InstallProgress(InstallProgress::HelmRunning {
            revision_after: Some(3),
            timeout: std::time::Duration::from_secs(900),
            waits: None,
        })),
    );
    failed_install(&mut state);
    let screen = draw_wide(&state);
    for line in [
        "Caracal's database migrations are forward-only",
        "b rolls back to revision 3 (the last one helm started from): asks first",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    // b asks; any other key keeps the revision.
    assert!(press(&mut state, KeyCode::Char('b')).is_empty());
    assert!(state.install.confirm_rollback);
    assert!(draw_wide(&state).contains("Roll back to revision 3, knowing the warning above?"));
    insta::assert_snapshot!("aws_upgrade_rollback_asks", draw(&state));
    assert!(press(&mut state, KeyCode::Char('n')).is_empty());
    assert!(!state.install.confirm_rollback);
    assert_eq!(state.install.phase, InstallPhase::Done);
    press(&mut state, KeyCode::Char('b'));
    let effects = press(&mut state, KeyCode::Char('y'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::Rollback { revision: 3, .. })]
        ),
        "{effects:?}"
    );
}

/// After an upgrade, the earlier secret names are offered for deletion on the summary only
/// once every check is green (a warning is not), and only deleted on x then y: the request
/// reads the secret manager again; what it did is shown.
#[test]
fn the_earlier_names_are_deleted_only_after_a_green_verify_and_when_asked() {
    use caracal_deploy::core::live::Live;
    use caracal_deploy::core::seed::Earlier;
    use caracal_deploy::engine::seed::EarlierOutcome;
    use caracal_deploy::engine::verify::Mode;
    let mut state = found_a_release();
    let mut plan = upgrade_plan("1.0.0", VersionStep::Forward, false);
    plan.seed.earlier = vec![Earlier {
        remote: "caracal/zone-kek".into(),
        secret: "secret-store-kek".into(),
        current: "caracal/secret-store-kek".into(),
        digest: Some("hmac-sha256:0123456789abcdef".into()),
        same_value: true,
    }];
    upgrade_planned(&mut state, plan);
    let live = |result: &str| {
        let mut report = Report::default();
        let check = Check::new("monitoring-auth", "scraping sends the metrics bearer");
        report.push(
            "monitoring",
            if result == "warning" {
                check.warning("none sent", "add the bearer to the ServiceMonitors")
            } else {
                check.success("sent")
            },
        );
        Msg::Engine(Event::VerifyProgress(Box::new(Live {
            report,
            ..Live::default()
        })))
    };
    // A warning: the names stay, x does nothing.
    state.enter_verify(Mode::Wait(std::time::Duration::from_secs(60)));
    update(&mut state, live("warning"));
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, Screen::Done);
    let screen = draw_wide(&state);
    assert!(
        screen.contains("The earlier chart's secret names stay (caracal/zone-kek): they may be deleted only after every check is green"),
        "{screen}"
    );
    assert!(press(&mut state, KeyCode::Char('x')).is_empty());
    assert!(matches!(state.upgrade.earlier, EarlierStep::NotAsked));
    // Green: offered; n keeps them.
    press(&mut state, KeyCode::Char('v'));
    update(&mut state, live("success"));
    press(&mut state, KeyCode::Enter);
    let screen = draw_wide(&state);
    for line in [
        "caracal/zone-kek (its value is under caracal/secret-store-kek)",
        "x deletes them (asks first); until then a rollback to chart 2026.6.25-rc.1 still finds them",
        "x delete the earlier names (asks)  Enter/q leave",
    ] {
        assert!(screen.contains(line), "{line:?} not in\n{screen}");
    }
    assert!(press(&mut state, KeyCode::Char('x')).is_empty());
    assert!(draw_wide(&state).contains("Delete caracal/zone-kek from the secret manager?"));
    insta::assert_snapshot!("aws_upgrade_delete_earlier_asks", draw(&state));
    assert!(press(&mut state, KeyCode::Char('n')).is_empty());
    assert!(matches!(state.upgrade.earlier, EarlierStep::NotAsked));
    // x, y: the request; what it did, shown; nothing more offered.
    press(&mut state, KeyCode::Char('x'));
    let effects = press(&mut state, KeyCode::Char('y'));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Engine(Request::DeleteEarlier { .. })]
        ),
        "{effects:?}"
    );
    assert!(draw_wide(&state).contains("… reading the secret manager again, then deleting"));
    update(
        &mut state,
        Msg::Engine(Event::EarlierDeleted(Box::new(EarlierOutcome {
            deleted: vec!["caracal/zone-kek".into()],
            kept: vec![],
            failed: 0,
        }))),
    );
    let screen = draw_wide(&state);
    assert!(
        screen.contains("✓ caracal/zone-kek: deleted (its current name holds the same value)"),
        "{screen}"
    );
    assert!(!screen.contains("x deletes them"), "{screen}");
    assert!(press(&mut state, KeyCode::Char('x')).is_empty());
}
