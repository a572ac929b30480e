//! Every wizard screen drawn on ratatui's TestBackend, driven by messages as a person would.

mod support;

use caracal_deploy::tui::app::{Effect, Msg, REVIEW, State, update};
use caracal_deploy::tui::form::{self, SCREENS};
use caracal_deploy::tui::{key_to_msg, run_effect, view};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::repo;

fn resumed(cloud: &str) -> State {
    let text =
        std::fs::read_to_string(repo().join(format!("examples/answers-{cloud}.yaml"))).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    State::new(
        form::texts_from_value(&doc),
        "caracal-answers.yaml".into(),
        "caracal-bundle".into(),
    )
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
    assert_eq!(press(&mut state, KeyCode::Char('y')), vec![Effect::Quit]);
}

#[test]
fn saving_writes_the_answers_and_the_bundle_and_the_answers_resume() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/answers-azure.yaml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let answers_path = dir.path().join("answers.yaml");
    let out = dir.path().join("bundle");
    let mut state = State::new(
        form::texts_from_value(&doc),
        answers_path.clone(),
        out.clone(),
    );
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
    assert_eq!(press(&mut state, KeyCode::Esc), vec![Effect::Quit]);
}
