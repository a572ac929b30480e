//! The full-screen wizard (ratatui), and the same questions as linear prompts (`--plain`).
//!
//! Elm-style: keys become `Msg`s, `app::update` changes the state and returns `Effect`s,
//! `run_effect` performs them and answers with a `Msg`, `view::draw` draws a snapshot.

pub mod app;
pub mod cluster;
pub mod dashboard;
pub mod form;
pub mod plain;
pub mod theme;
pub mod upgrade;
pub mod view;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::core::answers::Answers;
use crate::core::answers_text::{edit_answers_text, save_text};
use crate::core::render::Bundle;
use crate::engine::output::{write_atomic, write_bundle};
use crate::engine::{Engine, Event as EngineEvent};
use crate::exit::Exit;
use app::{Effect, Msg, Screen, SeedPhase, State, update};
use form::FieldKind;

/// The answers file the wizard saves to when none is given.
pub const DEFAULT_ANSWERS: &str = "caracal-answers.yaml";

/// Maps a key to a message, given the state (the review screen scrolls with ↑/↓; the plan of
/// the secrets screen selects with ↑/↓ and marks for rotation with space).
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
    // `:` typing a step, or the downgrade box typing the target version: letters, Backspace,
    // Enter (go) and Esc (cancel) only.
    if state.jump.is_some() || state.upgrade.downgrade_typed.is_some() {
        return match key.code {
            KeyCode::Enter => Some(Msg::NextField),
            // Ctrl-C as Esc: it closes what is being typed, nothing else.
            KeyCode::Esc => Some(Msg::RequestQuit),
            KeyCode::Char('c') if ctrl => Some(Msg::RequestQuit),
            KeyCode::Backspace => Some(Msg::Backspace),
            KeyCode::Char(c) if !ctrl => Some(Msg::Char(c)),
            _ => None,
        };
    }
    // Step 4's live checks: `/` filters them as on the dashboard; while typing the filter,
    // the keys are the filter's (Ctrl-C stays the wizard's).
    let live_filter = state.dashboard.filtering
        || key.code == KeyCode::Char('/')
        || (key.code == KeyCode::Esc && !state.dashboard.filter.is_empty());
    if state.screen == Screen::Verify && live_filter && !ctrl && !state.help {
        return dashboard::key_to_msg(&state.dashboard, key).map(|m| Msg::Dashboard(Box::new(m)));
    }
    let review = state.screen == Screen::Review;
    let live = state.screen == Screen::Verify;
    let plan = state.screen == Screen::Secrets && state.seed.phase == SeedPhase::Planned;
    let secrets = state.screen == Screen::Secrets;
    // `?` is the help off a text field (where it may be typed); F1 everywhere.
    let typing = matches!(state.screen, Screen::Questions(_) | Screen::Confirm)
        && !matches!(state.focused().map(|f| f.kind), Some(FieldKind::Choice(_)))
        || matches!(state.seed.phase, SeedPhase::Asking(_)) && secrets;
    match key.code {
        KeyCode::F(1) => Some(Msg::ToggleHelp),
        KeyCode::Char('?') if !typing && state.jump.is_none() => Some(Msg::ToggleHelp),
        KeyCode::Char(':') if !typing && state.jump.is_none() => Some(Msg::JumpStart),
        KeyCode::Char('g') if ctrl => Some(Msg::JumpStart),
        KeyCode::Char('c') if ctrl => Some(Msg::RequestQuit),
        KeyCode::Char('r') if ctrl && matches!(state.seed.phase, SeedPhase::Asking(_)) => {
            Some(Msg::ToggleReveal)
        }
        // k9s: q leaves (asking first in the middle of a change) where nothing is typed.
        KeyCode::Char('q') if !typing && !ctrl && state.screen != Screen::Confirm => {
            Some(Msg::RequestQuit)
        }
        KeyCode::Char('s') if ctrl => Some(Msg::Save),
        KeyCode::Char('u') if ctrl => Some(Msg::ClearField),
        KeyCode::Esc => Some(Msg::RequestQuit),
        KeyCode::Char(' ') if plan => Some(Msg::ToggleRotate),
        KeyCode::Down if review || plan || live => Some(Msg::ScrollDown),
        KeyCode::Up if review || plan || live => Some(Msg::ScrollUp),
        KeyCode::Enter if secrets => Some(Msg::NextField),
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

/// Carries out the wizard's effects: engine requests on the engine (their events come back
/// through `next_engine_msg`), local ones at once. The terminal loop and the tests use it alike.
pub struct Driver {
    engine: Engine,
    events: UnboundedReceiver<EngineEvent>,
    running: Vec<CancellationToken>,
}

impl Driver {
    pub fn new(engine: Engine, events: UnboundedReceiver<EngineEvent>) -> Driver {
        Driver {
            engine,
            events,
            running: Vec::new(),
        }
    }

    /// Runs every effect in order, feeding local answers back through `update`. Returns true
    /// when the wizard should quit.
    pub fn perform(&mut self, state: &mut State, effects: Vec<Effect>) -> bool {
        let mut pending: VecDeque<Effect> = effects.into();
        while let Some(effect) = pending.pop_front() {
            match effect {
                Effect::Quit => return true,
                Effect::Engine(request) => {
                    self.running.retain(|t| !t.is_cancelled());
                    self.running.push(self.engine.submit(request));
                }
                Effect::Cancel => {
                    for token in self.running.drain(..) {
                        token.cancel();
                    }
                }
                local => {
                    if let Some(reply) = run_effect(&local) {
                        pending.extend(update(state, reply));
                    }
                }
            }
        }
        false
    }

    /// The next engine event as a message, if one is already waiting.
    pub fn try_engine_msg(&mut self) -> Option<Msg> {
        self.events.try_recv().ok().map(Msg::Engine)
    }

    /// Waits for the next engine event, as a message.
    pub async fn next_engine_msg(&mut self) -> Option<Msg> {
        self.events.recv().await.map(Msg::Engine)
    }
}

/// Performs a local effect; the answer goes back through `update`.
pub fn run_effect(effect: &Effect) -> Option<Msg> {
    match effect {
        Effect::Quit | Effect::Engine(_) | Effect::Cancel => None,
        Effect::Draft { path, text } => write_atomic(path, text).err().map(|e| {
            Msg::Saved(Err(format!(
                "the unsaved answers could not be kept in {}: {e}; Ctrl-S saves them",
                path.display()
            )))
        }),
        Effect::RunCanary(trigger) => {
            trigger.pull();
            None
        }
        Effect::Save {
            answers,
            answers_path,
            bundle,
            out_dir,
            rewrite,
        } => Some(save(answers, answers_path, bundle, out_dir, *rewrite)),
    }
}

/// Writes the answers (keeping the file's comments and order) and the bundle. A file on disk
/// that fails validation or cannot be edited in place is never rewritten unless the operator
/// confirmed it, and then a copy is kept beside it.
fn save(answers: &Answers, path: &Path, bundle: &Bundle, out_dir: &Path, rewrite: bool) -> Msg {
    let original = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Msg::Saved(Err(format!(
                "nothing saved: cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let text = match (save_text(original.as_deref(), answers), &original) {
        (Ok(text), _) => text,
        (Err(why), Some(original)) if rewrite => {
            let backup = PathBuf::from(format!("{}.bak", path.display()));
            if let Err(e) = write_atomic(&backup, original) {
                return Msg::Saved(Err(format!("nothing saved: cannot keep a copy: {e}")));
            }
            tracing::info!(reason = %why, backup = %backup.display(), "answers file rewritten on request");
            edit_answers_text(original, &answers.to_value()).unwrap_or_else(|_| answers.to_yaml())
        }
        (Err(why), _) => return Msg::SaveRefused(format!("{}: {why}", path.display())),
    };
    let result = write_bundle(bundle, out_dir)
        .and_then(|()| write_atomic(path, &text))
        .map(|()| {
            // Saved: the draft has nothing more to keep.
            let _ = std::fs::remove_file(app::draft_path(path));
        })
        .map(|()| {
            format!(
                "saved answers to {} and the bundle to {}/ (resume with caracal-deploy -f {})",
                path.display(),
                out_dir.display(),
                path.display()
            )
        })
        .map_err(|e| format!("nothing saved: {e}"));
    Msg::Saved(result)
}

/// The unsaved answers a previous run kept beside the answers file, at the step it showed;
/// None when there is no draft, or the answers file was changed after it (the file wins).
fn from_draft(path: &Path, out: &Path) -> Result<Option<State>, String> {
    let draft = app::draft_path(path);
    let Ok(text) = std::fs::read_to_string(&draft) else {
        return Ok(None);
    };
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(file), Some(kept)) = (modified(path), modified(&draft))
        && file > kept
    {
        return Ok(None);
    }
    let doc: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| {
        format!(
            "{}: is not valid YAML: {}; remove it to start from {}",
            draft.display(),
            e.to_string().lines().next().unwrap_or(""),
            path.display()
        )
    })?;
    let mut state = State::resume(&doc["answers"], path.to_path_buf(), out.to_path_buf());
    state.saved = false;
    state.from_draft = true;
    let step = doc["wizardStep"].as_u64().unwrap_or(1) as usize;
    if let Some(screen) = Screen::all()
        .filter(|s| matches!(s, Screen::Questions(_) | Screen::Review))
        .find(|s| s.position() + 1 == step)
    {
        state.screen = screen;
        if screen == Screen::Review {
            state.bundle = state.valid.as_ref().map(crate::core::render::render);
        }
    }
    state.status = Some(Ok(format!(
        "resumed the unsaved answers kept in {} (Ctrl-S saves them to {})",
        draft.display(),
        path.display()
    )));
    Ok(Some(state))
}

/// The starting state: a draft of unsaved answers, defaults, or the answers file to resume
/// from.
fn initial_state(answers: Option<PathBuf>, out: PathBuf) -> Result<State, String> {
    let path = answers.unwrap_or_else(|| PathBuf::from(DEFAULT_ANSWERS));
    if let Some(state) = from_draft(&path, &out)? {
        return Ok(state);
    }
    if !path.exists() {
        return Ok(State::new(form::defaults(), path, out));
    }
    let text = crate::engine::answers::read_text(&path).map_err(|p| {
        p.iter()
            .map(|p| format!("{}: {}", path.display(), p.message))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| {
        format!(
            "{}: is not valid YAML: {}",
            path.display(),
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    let mut state = State::resume(&doc, path, out);
    // The same file-system checks every command runs (chart directory, CA bundle).
    if let Some(answers) = &state.valid {
        let problems = crate::engine::answers::check_files(answers);
        if !problems.is_empty() {
            state.status = Some(Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")));
        }
    }
    Ok(state)
}

/// Runs the wizard; returns the exit of the contract.
pub fn run(answers: Option<PathBuf>, out: PathBuf, plain: bool) -> Exit {
    let mut state = match initial_state(answers, out) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::InvalidInput;
        }
    };
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "error: the wizard needs a terminal. Headless: `caracal-deploy render -f ANSWERS --out DIR` \
             (start from examples/answers-aws.yaml)."
        );
        return Exit::InvalidInput;
    }
    // The screen belongs to the wizard: what happens is logged to a file, never printed.
    crate::logging::init(None);
    let runtime = match crate::engine::start_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Other;
        }
    };
    let (engine, events) = Engine::new(runtime.handle().clone());
    let mut driver = Driver::new(engine, events);
    if plain {
        let exit = plain::run(&mut state, &mut driver, &runtime);
        // Writes in flight get a moment to complete; none starts after the cancel.
        driver.perform(&mut state, vec![Effect::Cancel]);
        runtime.shutdown_timeout(Duration::from_secs(10));
        return exit;
    }
    // The cluster's names; resumed from a valid file, also what is done, to go on from there.
    let effects = state.start();
    driver.perform(&mut state, effects);
    let mut terminal = ratatui::init();
    // The render loop never waits on the network: the engine runs requests on tasks; input is
    // an async stream beside the engine's events; a change is drawn at most once per FRAME.
    let outcome: Result<Exit, String> = runtime.block_on(async {
        use futures::StreamExt;
        let mut input = crossterm::event::EventStream::new();
        let mut pacer = dashboard::Pacer::default();
        loop {
            if pacer.due() {
                terminal
                    .draw(|f| view::draw(f, &state))
                    .map_err(|e| format!("cannot draw: {e}"))?;
                pacer.drawn();
            }
            let mut inbox: Vec<Msg> = Vec::new();
            tokio::select! {
                key = input.next() => match key {
                    Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                        inbox.extend(key_to_msg(&state, key))
                    }
                    Some(Ok(Event::Resize(..))) => pacer.dirty = true,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("cannot read the terminal: {e}")),
                    None => return Err("the terminal's input ended".into()),
                },
                msg = driver.next_engine_msg() => inbox.extend(msg),
                () = pacer.ready() => {}
            }
            inbox.extend(std::iter::from_fn(|| driver.try_engine_msg()));
            let mut quit = false;
            for msg in inbox {
                pacer.dirty = true;
                let effects = update(&mut state, msg);
                quit |= driver.perform(&mut state, effects);
            }
            if quit {
                return Ok(if state.saved {
                    Exit::Success
                } else {
                    Exit::Other
                });
            }
        }
    });
    let exit = match outcome {
        Ok(exit) => exit,
        Err(e) => {
            ratatui::restore();
            eprintln!("error: {e}");
            return Exit::Other;
        }
    };
    // Writes in flight get a moment to complete; none starts after the cancel.
    runtime.shutdown_timeout(Duration::from_secs(10));
    ratatui::restore();
    if let Some(Ok(msg)) = &state.status {
        println!("{msg}");
    }
    exit
}
