//! The wizard's state and its only way to change: `update(state, msg) -> effects`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::core::answers::{Answers, SecretSource};
use crate::core::cloud::Cloud;
use crate::core::problem::Problem;
use crate::core::render::{Bundle, render};
use crate::core::seed::SeedPlan;
use crate::engine::seed::Progress;

use super::form::{self, Field, FieldKind, SCREENS};

/// Index of the review screen (after the question screens).
pub const REVIEW: usize = SCREENS.len();
/// Index of the secrets screen (step 1 of the live install: seeding).
pub const SECRETS: usize = REVIEW + 1;

/// A value typed into a masked field. Its Debug never shows it; it is zeroized on drop.
#[derive(Clone, Default)]
pub struct Masked(pub Zeroizing<String>);

impl std::fmt::Debug for Masked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masked({} chars)", self.0.chars().count())
    }
}

/// Values typed at the wizard's masked prompts, handed to the seeding task.
#[derive(Clone, Debug, Default)]
pub struct Prompted(pub Arc<BTreeMap<String, Masked>>);

impl PartialEq for Prompted {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Prompted {}

/// Set to stop starting new writes (Ctrl-C / quit while seeding).
#[derive(Clone, Debug, Default)]
pub struct StopFlag(pub Arc<AtomicBool>);

impl PartialEq for StopFlag {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for StopFlag {}

/// Where the secrets screen is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SeedPhase {
    #[default]
    Idle,
    Reading,
    Planned,
    /// Asking the masked value of a `prompt` source (field path).
    Asking(String),
    Writing,
    Done,
}

/// The secrets screen: the plan, then live progress per secret.
#[derive(Clone, Debug, Default)]
pub struct SeedView {
    pub phase: SeedPhase,
    pub plan: Option<SeedPlan>,
    /// Per remote name: the latest progress line.
    pub progress: BTreeMap<String, String>,
    pub result: Option<Result<String, String>>,
    pub typed: Masked,
    pub prompted: BTreeMap<String, Masked>,
    pub stop: StopFlag,
}

/// What the operator did, or what an effect reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Char(char),
    Backspace,
    ClearField,
    /// Sets a field's whole text (the plain prompts answer a field at once).
    Set(&'static str, String),
    NextField,
    PrevField,
    /// ←/→ on a choice field; on the review screen, the previous/next file.
    Cycle(i8),
    NextScreen,
    PrevScreen,
    ScrollDown,
    ScrollUp,
    /// Write the answers file and the bundle (review screen).
    Save,
    /// Esc / Ctrl-C: ask before leaving.
    RequestQuit,
    ConfirmQuit,
    CancelQuit,
    /// The result of `Effect::Save`.
    Saved(Result<String, String>),
    /// The plan read from the secret manager (`Effect::ReadSecrets`).
    SecretsRead(Result<SeedPlan, String>),
    /// One secret's progress while writing.
    SeedProgress(Progress),
    /// Seeding ended: the summary, or why it failed.
    SeedFinished(Result<String, String>),
}

/// Work for the engine; results come back as messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Save {
        answers: Box<Answers>,
        answers_path: PathBuf,
        bundle: Box<Bundle>,
        out_dir: PathBuf,
    },
    /// Read the remote state and plan (network: runs on a task).
    ReadSecrets {
        answers: Box<Answers>,
    },
    /// Write what the plan says (network: runs on a task, reports `SeedProgress`).
    WriteSecrets {
        answers: Box<Answers>,
        plan: Box<SeedPlan>,
        prompted: Prompted,
        stop: StopFlag,
    },
    Quit,
}

#[derive(Clone, Debug)]
pub struct State {
    pub texts: BTreeMap<&'static str, String>,
    /// Answers the form does not ask (`secrets`, `kekRotation`), kept as they were.
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub screen: usize,
    pub focus: usize,
    pub problems: Vec<Problem>,
    pub valid: Option<Answers>,
    pub bundle: Option<Bundle>,
    pub review_file: usize,
    pub review_scroll: u16,
    pub answers_path: PathBuf,
    pub out_dir: PathBuf,
    pub status: Option<Result<String, String>>,
    pub confirm_quit: bool,
    /// Saved since the last edit.
    pub saved: bool,
    pub seed: SeedView,
}

impl State {
    pub fn new(
        texts: BTreeMap<&'static str, String>,
        answers_path: PathBuf,
        out_dir: PathBuf,
    ) -> State {
        let mut state = State {
            texts,
            extra: serde_json::Map::new(),
            screen: 0,
            focus: 0,
            problems: Vec::new(),
            valid: None,
            bundle: None,
            review_file: 0,
            review_scroll: 0,
            answers_path,
            out_dir,
            status: None,
            confirm_quit: false,
            saved: false,
            seed: SeedView::default(),
        };
        state.revalidate();
        state
    }

    /// Resumes from an answers document: the fields the form asks, and the rest kept as is.
    pub fn resume(doc: &serde_json::Value, answers_path: PathBuf, out_dir: PathBuf) -> State {
        let mut state = State::new(form::texts_from_value(doc), answers_path, out_dir);
        state.extra = form::passthrough(doc);
        state.revalidate();
        state
    }

    pub fn cloud(&self) -> Cloud {
        self.texts
            .get("cloud")
            .and_then(|c| Cloud::parse(c))
            .unwrap_or(Cloud::Aws)
    }

    /// The fields of the current screen (empty on the review screen).
    pub fn fields(&self) -> Vec<&'static Field> {
        SCREENS
            .get(self.screen)
            .map(|s| form::fields_for(s, self.cloud()))
            .unwrap_or_default()
    }

    pub fn focused(&self) -> Option<&'static Field> {
        self.fields().get(self.focus).copied()
    }

    pub fn text(&self, path: &str) -> &str {
        self.texts.get(path).map(String::as_str).unwrap_or("")
    }

    /// Problems of one field.
    pub fn problems_of(&self, path: &str) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|p| form::belongs(&p.path, path))
            .collect()
    }

    /// Problems of every field of a screen.
    pub fn screen_problems(&self, screen: usize) -> usize {
        SCREENS
            .get(screen)
            .map(|s| {
                form::fields_for(s, self.cloud())
                    .iter()
                    .map(|f| self.problems_of(f.path).len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn revalidate(&mut self) {
        match Answers::from_value(&form::document_with(&self.texts, &self.extra)) {
            Ok(a) => {
                self.problems.clear();
                self.valid = Some(a);
            }
            Err(p) => {
                self.problems = p;
                self.valid = None;
            }
        }
    }

    fn edit(&mut self, change: impl FnOnce(&mut String)) {
        let Some(field) = self.focused() else { return };
        let entry = self.texts.entry(field.path).or_default();
        change(entry);
        self.saved = false;
        self.status = None;
        let cloud_before = self.cloud();
        self.revalidate();
        if field.path == "cloud" && self.cloud() != cloud_before {
            self.focus = 0;
        }
    }

    /// The `prompt` sources the writes of the plan need, as field paths.
    pub fn prompts_needed(&self) -> Vec<String> {
        let (Some(answers), Some(plan)) = (&self.valid, &self.seed.plan) else {
            return vec![];
        };
        plan.items
            .iter()
            .filter(|i| i.action.writes())
            .filter_map(|i| match i.secret.name.as_str() {
                "postgres" => (answers.postgres.password == SecretSource::Prompt)
                    .then(|| "postgres.password".to_string()),
                "redis" => (answers.redis.password == SecretSource::Prompt)
                    .then(|| "redis.password".to_string()),
                name => (answers.secret_source(name) == SecretSource::Prompt)
                    .then(|| format!("secrets.{name}")),
            })
            .collect()
    }

    fn start_writing(&mut self) -> Vec<Effect> {
        let (Some(answers), Some(plan)) = (&self.valid, &self.seed.plan) else {
            return vec![];
        };
        self.seed.phase = SeedPhase::Writing;
        self.seed.progress.clear();
        self.seed.stop = StopFlag::default();
        let prompted = Prompted(Arc::new(std::mem::take(&mut self.seed.prompted)));
        vec![Effect::WriteSecrets {
            answers: Box::new(answers.clone()),
            plan: Box::new(plan.clone()),
            prompted,
            stop: self.seed.stop.clone(),
        }]
    }

    fn read_secrets(&mut self) -> Vec<Effect> {
        match &self.valid {
            Some(answers) => {
                self.seed = SeedView {
                    phase: SeedPhase::Reading,
                    ..SeedView::default()
                };
                vec![Effect::ReadSecrets {
                    answers: Box::new(answers.clone()),
                }]
            }
            None => vec![],
        }
    }

    fn go_to(&mut self, screen: usize) {
        self.screen = screen.min(SECRETS);
        self.focus = 0;
        if self.screen == REVIEW {
            self.bundle = self.valid.as_ref().map(render);
            self.review_file = 0;
            self.review_scroll = 0;
        }
    }
}

/// The one place state changes.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    if state.confirm_quit {
        match msg {
            Msg::ConfirmQuit | Msg::RequestQuit => {
                // Writes in flight complete; no new one starts.
                state.seed.stop.0.store(true, Ordering::SeqCst);
                return vec![Effect::Quit];
            }
            Msg::CancelQuit => state.confirm_quit = false,
            _ => {}
        }
        return vec![];
    }
    if state.screen == SECRETS
        && let Some(effects) = update_secrets(state, &msg)
    {
        return effects;
    }
    let field_count = state.fields().len();
    match msg {
        Msg::Char(c) => match state.focused().map(|f| f.kind) {
            Some(FieldKind::Choice(_)) | None => {}
            Some(_) => state.edit(|t| t.push(c)),
        },
        Msg::Backspace => {
            if !matches!(state.focused().map(|f| f.kind), Some(FieldKind::Choice(_))) {
                state.edit(|t| {
                    t.pop();
                });
            }
        }
        Msg::ClearField => {
            if !matches!(state.focused().map(|f| f.kind), Some(FieldKind::Choice(_))) {
                state.edit(String::clear);
            }
        }
        Msg::Set(path, text) => {
            state.texts.insert(path, text);
            state.saved = false;
            state.revalidate();
        }
        Msg::NextField => {
            if state.focus + 1 < field_count {
                state.focus += 1;
            } else if state.screen < REVIEW {
                state.go_to(state.screen + 1);
            }
        }
        Msg::PrevField => {
            if state.focus > 0 {
                state.focus -= 1;
            } else if state.screen > 0 {
                state.go_to(state.screen - 1);
                state.focus = state.fields().len().saturating_sub(1);
            }
        }
        Msg::Cycle(step) => {
            if state.screen == REVIEW {
                if let Some(b) = &state.bundle {
                    let n = b.files.len();
                    state.review_file =
                        (state.review_file + n).wrapping_add_signed(step as isize) % n;
                    state.review_scroll = 0;
                }
            } else if let Some(Field {
                kind: FieldKind::Choice(options),
                ..
            }) = state.focused()
            {
                let current = options
                    .iter()
                    .position(|o| *o == state.text(state.focused().map(|f| f.path).unwrap_or("")))
                    .unwrap_or(0);
                let next =
                    (current + options.len()).wrapping_add_signed(step as isize) % options.len();
                let value = options[next].to_string();
                state.edit(|t| *t = value);
            }
        }
        Msg::NextScreen if state.screen == REVIEW => {
            if state.valid.is_some() {
                state.go_to(SECRETS);
                return state.read_secrets();
            }
            state.status = Some(Err(
                "fix the problems first: seeding needs valid answers".into()
            ));
        }
        Msg::NextScreen => state.go_to(state.screen + 1),
        Msg::PrevScreen => state.go_to(state.screen.saturating_sub(1)),
        Msg::ScrollDown => state.review_scroll = state.review_scroll.saturating_add(1),
        Msg::ScrollUp => state.review_scroll = state.review_scroll.saturating_sub(1),
        Msg::Save => {
            if state.screen != REVIEW {
                state.go_to(REVIEW);
            }
            match (&state.valid, &state.bundle) {
                (Some(answers), Some(bundle)) => {
                    return vec![Effect::Save {
                        answers: Box::new(answers.clone()),
                        answers_path: state.answers_path.clone(),
                        bundle: Box::new(bundle.clone()),
                        out_dir: state.out_dir.clone(),
                    }];
                }
                _ => {
                    state.status = Some(Err(format!(
                        "{} problem(s) left: fix them before saving (the screens marked ✗)",
                        state.problems.len()
                    )))
                }
            }
        }
        Msg::Saved(result) => {
            state.saved = result.is_ok();
            state.status = Some(result);
        }
        Msg::SecretsRead(result) => match result {
            Ok(plan) => {
                state.seed.plan = Some(plan);
                state.seed.phase = SeedPhase::Planned;
            }
            Err(e) => {
                state.seed.phase = SeedPhase::Done;
                state.seed.result = Some(Err(e));
            }
        },
        Msg::SeedProgress(p) => {
            let (remote, line) = match p {
                Progress::Started { remote } => (remote, "… writing".to_string()),
                Progress::Done {
                    remote,
                    verb,
                    digest,
                } => (remote, format!("✓ {verb} ({digest})")),
                Progress::Failed { remote, error } => (remote, format!("✗ {error}")),
                Progress::NotStarted { remote } => (remote, "· not started".to_string()),
            };
            state.seed.progress.insert(remote, line);
        }
        Msg::SeedFinished(result) => {
            state.seed.phase = SeedPhase::Done;
            state.seed.result = Some(result);
        }
        Msg::RequestQuit => {
            if state.saved && state.seed.phase != SeedPhase::Writing {
                return vec![Effect::Quit];
            }
            state.confirm_quit = true;
        }
        Msg::ConfirmQuit | Msg::CancelQuit => {}
    }
    vec![]
}

/// Keys on the secrets screen; None lets the general handling run.
fn update_secrets(state: &mut State, msg: &Msg) -> Option<Vec<Effect>> {
    if let SeedPhase::Asking(field) = state.seed.phase.clone() {
        match msg {
            Msg::Char(c) => state.seed.typed.0.push(*c),
            Msg::Backspace => {
                state.seed.typed.0.pop();
            }
            Msg::ClearField => state.seed.typed = Masked::default(),
            Msg::NextField if state.seed.typed.0.is_empty() => {}
            Msg::NextField => {
                let typed = std::mem::take(&mut state.seed.typed);
                state.seed.prompted.insert(field, typed);
                let next = state
                    .prompts_needed()
                    .into_iter()
                    .find(|f| !state.seed.prompted.contains_key(f));
                return Some(match next {
                    Some(f) => {
                        state.seed.phase = SeedPhase::Asking(f);
                        vec![]
                    }
                    None => state.start_writing(),
                });
            }
            Msg::RequestQuit => {
                state.seed.typed = Masked::default();
                state.seed.prompted.clear();
                state.seed.phase = SeedPhase::Planned;
            }
            _ => {}
        }
        return Some(vec![]);
    }
    match (msg, &state.seed.phase) {
        (Msg::Char('r'), SeedPhase::Planned | SeedPhase::Done | SeedPhase::Idle) => {
            Some(state.read_secrets())
        }
        (Msg::Char('a') | Msg::NextField, SeedPhase::Planned) => {
            let needed = state.prompts_needed();
            Some(match needed.into_iter().next() {
                Some(first) => {
                    state.seed.phase = SeedPhase::Asking(first);
                    vec![]
                }
                None => state.start_writing(),
            })
        }
        (Msg::RequestQuit, SeedPhase::Writing) => {
            state.seed.stop.0.store(true, Ordering::SeqCst);
            state.status = Some(Err(
                "stopping: the writes in flight finish, no new one starts".into(),
            ));
            Some(vec![])
        }
        (
            Msg::Char(_)
            | Msg::Backspace
            | Msg::ClearField
            | Msg::Cycle(_)
            | Msg::NextField
            | Msg::PrevField,
            _,
        ) => Some(vec![]),
        _ => None,
    }
}

/// The masked values as the seeding engine's prompt callback.
pub fn prompter(
    prompted: &Prompted,
) -> impl Fn(&str) -> Option<Result<SecretString, crate::engine::seed::SourceError>> + Send + Sync + use<>
{
    let values = prompted.0.clone();
    move |field: &str| {
        values
            .get(field)
            .map(|m| Ok(SecretString::from(m.0.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> State {
        State::new(form::defaults(), "a.yaml".into(), "bundle".into())
    }

    fn type_text(state: &mut State, text: &str) {
        for c in text.chars() {
            update(state, Msg::Char(c));
        }
    }

    #[test]
    fn typing_validates_inline() {
        let mut s = fresh();
        update(&mut s, Msg::NextScreen);
        assert_eq!(s.focused().unwrap().path, "secretManager.region");
        assert_eq!(
            s.problems_of("secretManager.region")[0].message,
            "is required"
        );
        type_text(&mut s, "us-east");
        assert!(
            s.problems_of("secretManager.region")[0]
                .message
                .contains("not an AWS region")
        );
        type_text(&mut s, "-1");
        assert!(s.problems_of("secretManager.region").is_empty());
    }

    #[test]
    fn cycling_the_cloud_changes_the_questions() {
        let mut s = fresh();
        update(&mut s, Msg::Cycle(1));
        assert_eq!(s.cloud(), Cloud::Gcp);
        update(&mut s, Msg::NextScreen);
        assert_eq!(s.fields()[0].path, "secretManager.project");
        update(&mut s, Msg::PrevScreen);
        update(&mut s, Msg::Cycle(1));
        assert_eq!(s.cloud(), Cloud::Azure);
        update(&mut s, Msg::Cycle(1));
        assert_eq!(s.cloud(), Cloud::Aws);
    }

    #[test]
    fn save_is_refused_while_problems_remain_and_quit_asks_first() {
        let mut s = fresh();
        assert!(update(&mut s, Msg::Save).is_empty());
        assert!(matches!(s.status, Some(Err(_))));
        assert!(update(&mut s, Msg::RequestQuit).is_empty());
        assert!(s.confirm_quit);
        update(&mut s, Msg::CancelQuit);
        assert!(!s.confirm_quit);
        update(&mut s, Msg::RequestQuit);
        assert_eq!(update(&mut s, Msg::ConfirmQuit), vec![Effect::Quit]);
    }
}
