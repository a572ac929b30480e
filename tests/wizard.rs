//! Every wizard screen drawn on ratatui's TestBackend, driven by messages as a person would.

mod support;

use caracal_deploy::core::answers::SecretSource;
use caracal_deploy::core::catalog::SecretCatalog;
use caracal_deploy::tui::app::{Effect, Msg, REVIEW, SECRETS, SeedPhase, State, update};
use caracal_deploy::tui::form::{self, SCREENS};
use caracal_deploy::tui::{key_to_msg, run_effect, spawn_effect, view};
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
        assert_eq!(state.screen, i);
        insta::assert_snapshot!(
            format!("aws_{i}_{}", screen.title.replace(' ', "_").to_lowercase()),
            draw(&state)
        );
        press(&mut state, KeyCode::PageDown);
    }
    assert_eq!(state.screen, REVIEW);
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
        [Effect::Quit]
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
    assert_eq!(state.screen, SECRETS);
    assert!(
        matches!(effects.as_slice(), [Effect::ReadSecrets { .. }]),
        "entering the screen reads the remote state"
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
    update(&mut state, Msg::SecretsRead(Ok(plan)));
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
    assert!(matches!(effects.as_slice(), [Effect::WriteSecrets { .. }]));
    assert_eq!(state.seed.phase, SeedPhase::Writing);
    update(
        &mut state,
        Msg::SeedProgress(caracal_deploy::engine::seed::Progress::Done {
            remote: "caracal/postgres".into(),
            verb: "created",
            digest: "sha256:0123456789abcdef".into(),
        }),
    );
    update(
        &mut state,
        Msg::SeedFinished(Ok("13 written, 0 unchanged, 0 failed".into())),
    );
    insta::assert_snapshot!("aws_9_secrets_done", draw(&state));
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
    let (tx, rx) = std::sync::mpsc::channel();
    let run = |effects: Vec<Effect>| {
        for e in effects {
            assert!(
                spawn_effect(runtime.handle(), &tx, &e),
                "{e:?} is network work"
            );
        }
    };
    state.screen = REVIEW;
    let effects = press(&mut state, KeyCode::PageDown);
    run(effects);
    let msg = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    update(&mut state, msg);
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
    run(effects);
    loop {
        let msg = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
        let finished = matches!(msg, Msg::SeedFinished(_));
        update(&mut state, msg);
        if finished {
            break;
        }
    }
    assert_eq!(
        state.seed.result,
        Some(Ok("13 written, 0 unchanged, 0 failed".into()))
    );
    assert_eq!(state.seed.progress.len(), 13);
    assert!(
        state.seed.progress.values().all(|l| l.starts_with('✓')),
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
