//! The full-screen wizard (ratatui), and the same questions as linear prompts (`--plain`).
//!
//! Elm-style: keys become `Msg`s, `app::update` changes the state and returns `Effect`s,
//! `run_effect` performs them and answers with a `Msg`, `view::draw` draws a snapshot.

pub mod app;
pub mod form;
pub mod view;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures::FutureExt;

use crate::adapters::connect_secret_manager;
use crate::cli::exit;
use crate::core::answers::Answers;
use crate::core::catalog::SecretCatalog;
use crate::core::seed::{SeedPlan, plan};
use crate::engine::output::{write_atomic, write_bundle};
use crate::engine::seed::{DEFAULT_CONCURRENCY, apply, observe, value_for};
use app::{Effect, Msg, Prompted, REVIEW, SECRETS, State, StopFlag, update};

/// The answers file the wizard saves to when none is given.
pub const DEFAULT_ANSWERS: &str = "caracal-answers.yaml";

/// Maps a key to a message, given the state (the review screen scrolls with ↑/↓).
pub fn key_to_msg(state: &State, key: KeyEvent) -> Option<Msg> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if state.confirm_quit {
        return match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Some(Msg::ConfirmQuit),
            KeyCode::Char('c') if ctrl => Some(Msg::ConfirmQuit),
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Some(Msg::CancelQuit),
            _ => None,
        };
    }
    let review = state.screen == REVIEW;
    let secrets = state.screen == SECRETS;
    match key.code {
        KeyCode::Char('c') if ctrl => Some(Msg::RequestQuit),
        KeyCode::Char('s') if ctrl => Some(Msg::Save),
        KeyCode::Char('u') if ctrl => Some(Msg::ClearField),
        KeyCode::Esc => Some(Msg::RequestQuit),
        KeyCode::Enter if secrets => Some(Msg::NextField),
        KeyCode::Down if review => Some(Msg::ScrollDown),
        KeyCode::Up if review => Some(Msg::ScrollUp),
        KeyCode::Enter if review => Some(Msg::Save),
        KeyCode::Tab | KeyCode::Down | KeyCode::Enter => Some(Msg::NextField),
        KeyCode::BackTab | KeyCode::Up => Some(Msg::PrevField),
        KeyCode::Left => Some(Msg::Cycle(-1)),
        KeyCode::Right => Some(Msg::Cycle(1)),
        KeyCode::PageDown => Some(Msg::NextScreen),
        KeyCode::PageUp => Some(Msg::PrevScreen),
        KeyCode::Backspace => Some(Msg::Backspace),
        KeyCode::Char(c) if !ctrl => Some(Msg::Char(c)),
        _ => None,
    }
}

async fn read_plan(answers: Answers) -> Result<SeedPlan, String> {
    let sm = connect_secret_manager(&answers)
        .await
        .map_err(|e| e.to_string())?;
    let catalog =
        SecretCatalog::for_chart(&answers.chart.version).ok_or("unsupported chart version")?;
    let observed = observe(sm.as_ref(), catalog, &answers, DEFAULT_CONCURRENCY)
        .await
        .map_err(|e| e.to_string())?;
    plan(catalog, &answers, &observed, &[]).map_err(|p| {
        p.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

async fn write_plan(
    answers: Answers,
    plan: SeedPlan,
    prompted: Prompted,
    stop: StopFlag,
    tx: Sender<Msg>,
) -> Result<String, String> {
    let sm = connect_secret_manager(&answers)
        .await
        .map_err(|e| e.to_string())?;
    let prompt = app::prompter(&prompted);
    let mut values = BTreeMap::new();
    for item in plan.items.iter().filter(|i| i.action.writes()) {
        let value = value_for(&item.secret, &answers, &prompt)
            .map_err(|e| format!("nothing written: {e}"))?;
        values.insert(item.secret.name.clone(), value);
    }
    drop(prompted);
    let progress = move |p| {
        let _ = tx.send(Msg::SeedProgress(p));
    };
    let report = apply(
        sm.as_ref(),
        &plan,
        &values,
        &answers,
        DEFAULT_CONCURRENCY,
        stop.0.clone(),
        &progress,
    )
    .await;
    let mut summary = report.summary(&plan);
    if !report.not_started.is_empty() {
        summary.push_str(": run again to finish");
    }
    if report.failed.is_empty() && report.not_started.is_empty() {
        Ok(summary)
    } else {
        Err(summary)
    }
}

/// Starts a network effect on the runtime; its result comes back through `tx`. Returns false
/// for effects that are not network work.
pub fn spawn_effect(runtime: &tokio::runtime::Handle, tx: &Sender<Msg>, effect: &Effect) -> bool {
    match effect {
        Effect::ReadSecrets { answers } => {
            let (answers, tx) = ((**answers).clone(), tx.clone());
            runtime.spawn(async move {
                // A panic in the task must not leave the screen waiting forever.
                let result = AssertUnwindSafe(read_plan(answers))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err("internal error while reading the secret manager (see the log)".into())
                    });
                let _ = tx.send(Msg::SecretsRead(result));
            });
            true
        }
        Effect::WriteSecrets {
            answers,
            plan,
            prompted,
            stop,
        } => {
            let (answers, plan, prompted, stop, tx) = (
                (**answers).clone(),
                (**plan).clone(),
                prompted.clone(),
                stop.clone(),
                tx.clone(),
            );
            runtime.spawn(async move {
                let result = AssertUnwindSafe(write_plan(answers, plan, prompted, stop, tx.clone()))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err("internal error while writing; every secret is untouched or complete: run again".into())
                    });
                let _ = tx.send(Msg::SeedFinished(result));
            });
            true
        }
        _ => false,
    }
}

/// Performs a local effect; the answer goes back through `update`.
pub fn run_effect(effect: &Effect) -> Option<Msg> {
    match effect {
        Effect::Quit | Effect::ReadSecrets { .. } | Effect::WriteSecrets { .. } => None,
        Effect::Save {
            answers,
            answers_path,
            bundle,
            out_dir,
        } => {
            let result = write_bundle(bundle, out_dir)
                .and_then(|()| write_atomic(answers_path, &answers.to_yaml()))
                .map(|()| {
                    format!(
                        "saved answers to {} and the bundle to {}/ (resume with caracal-deploy -f {})",
                        answers_path.display(),
                        out_dir.display(),
                        answers_path.display()
                    )
                })
                .map_err(|e| format!("nothing saved: {e}"));
            Some(Msg::Saved(result))
        }
    }
}

/// The starting state: defaults, or the answers file to resume from.
fn initial_state(answers: Option<PathBuf>, out: PathBuf) -> Result<State, String> {
    let path = answers.unwrap_or_else(|| PathBuf::from(DEFAULT_ANSWERS));
    if !path.exists() {
        return Ok(State::new(form::defaults(), path, out));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| {
        format!(
            "{}: is not valid YAML: {}",
            path.display(),
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    Ok(State::resume(&doc, path, out))
}

/// Runs the wizard; returns the process exit code.
pub fn run(answers: Option<PathBuf>, out: PathBuf, plain: bool) -> u8 {
    let mut state = match initial_state(answers, out) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "error: the wizard needs a terminal. Headless: `caracal-deploy render -f ANSWERS --out DIR` \
             (start from examples/answers-aws.yaml)."
        );
        return exit::INVALID_INPUT;
    }
    // The screen belongs to the wizard: what happens is logged to a file, never printed.
    crate::logging::init(None);
    if plain {
        return run_plain(&mut state);
    }
    let Some(runtime) = crate::engine::start_runtime() else {
        return exit::OTHER;
    };
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let mut terminal = ratatui::init();
    let mut dirty = true;
    let code = 'outer: loop {
        // The render loop never waits on the network: effects run on tasks and answer here.
        if dirty && let Err(e) = terminal.draw(|f| view::draw(f, &state)) {
            ratatui::restore();
            eprintln!("error: cannot draw: {e}");
            return exit::OTHER;
        }
        dirty = false;
        let mut inbox: Vec<Msg> = rx.try_iter().collect();
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => match event::read() {
                Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                    inbox.extend(key_to_msg(&state, key))
                }
                Ok(Event::Resize(..)) => dirty = true,
                Ok(_) => {}
                Err(e) => {
                    ratatui::restore();
                    eprintln!("error: cannot read the terminal: {e}");
                    return exit::OTHER;
                }
            },
            Ok(false) => {}
            Err(e) => {
                ratatui::restore();
                eprintln!("error: cannot read the terminal: {e}");
                return exit::OTHER;
            }
        }
        for msg in inbox {
            dirty = true;
            let mut pending = update(&mut state, msg);
            while let Some(effect) = pending.pop() {
                if effect == Effect::Quit {
                    break 'outer if state.saved { exit::OK } else { exit::OTHER };
                }
                if spawn_effect(runtime.handle(), &tx, &effect) {
                    continue;
                }
                if let Some(reply) = run_effect(&effect) {
                    pending.extend(update(&mut state, reply));
                }
            }
        }
    };
    // Writes in flight get a moment to complete; none starts after the stop flag.
    runtime.shutdown_timeout(Duration::from_secs(10));
    ratatui::restore();
    if let Some(Ok(msg)) = &state.status {
        println!("{msg}");
    }
    code
}

/// The same questions as linear prompts; each answer is validated before the next.
fn run_plain(state: &mut State) -> u8 {
    use dialoguer::{Confirm, Input};
    eprintln!(
        "caracal-deploy: answers are saved to {}; secret values are never asked here.",
        state.answers_path.display()
    );
    loop {
        for screen in 0..REVIEW {
            state.screen = screen;
            eprintln!(
                "\n== {} ==\n{}",
                form::SCREENS[screen].title,
                form::SCREENS[screen].intro
            );
            let mut i = 0;
            while i < state.fields().len() {
                state.focus = i;
                let field = state.fields()[i];
                let current = state.text(field.path).to_string();
                let input: Result<String, _> = Input::new()
                    .with_prompt(format!("{} ({})", field.label, field.help))
                    .with_initial_text(current)
                    .allow_empty(true)
                    .interact_text();
                let Ok(value) = input else {
                    eprintln!("\ninterrupted: nothing saved.");
                    return exit::OTHER;
                };
                update(state, Msg::Set(field.path, value.trim().to_string()));
                let problems = state.problems_of(field.path);
                if problems.is_empty() {
                    i += 1;
                } else {
                    for p in problems {
                        eprintln!("  ✗ {}: {}", p.message, p.fix);
                    }
                }
            }
        }
        if state.problems.is_empty() {
            break;
        }
        for p in &state.problems {
            eprintln!("  ✗ {p}");
        }
        eprintln!("Some answers conflict; going through the questions again.");
    }
    update(state, Msg::NextScreen);
    let Some(bundle) = &state.bundle else {
        return exit::OTHER;
    };
    for f in &bundle.files {
        eprintln!("  {:<28} {}", f.name, f.summary);
    }
    let save = Confirm::new()
        .with_prompt(format!(
            "Save the answers to {} and the bundle to {}/?",
            state.answers_path.display(),
            state.out_dir.display()
        ))
        .default(true)
        .interact()
        .unwrap_or(false);
    if !save {
        eprintln!("nothing saved.");
        return exit::OTHER;
    }
    for effect in update(state, Msg::Save) {
        if let Some(reply) = run_effect(&effect) {
            update(state, reply);
        }
    }
    match &state.status {
        Some(Ok(msg)) => {
            println!("{msg}");
            exit::OK
        }
        Some(Err(msg)) => {
            eprintln!("error: {msg}");
            exit::OTHER
        }
        None => exit::OTHER,
    }
}
