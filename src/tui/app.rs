//! The wizard's state and its only way to change: `update(state, msg) -> effects`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::core::answers::{Answers, Cloud};
use crate::core::problem::Problem;
use crate::core::render::{Bundle, render};

use super::form::{self, Field, FieldKind, SCREENS};

/// Index of the review screen (after the question screens).
pub const REVIEW: usize = SCREENS.len();

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
    Quit,
}

#[derive(Clone, Debug)]
pub struct State {
    pub texts: BTreeMap<&'static str, String>,
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
}

impl State {
    pub fn new(
        texts: BTreeMap<&'static str, String>,
        answers_path: PathBuf,
        out_dir: PathBuf,
    ) -> State {
        let mut state = State {
            texts,
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
        };
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
        match Answers::from_value(&form::document(&self.texts)) {
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

    fn go_to(&mut self, screen: usize) {
        self.screen = screen.min(REVIEW);
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
            Msg::ConfirmQuit | Msg::RequestQuit => return vec![Effect::Quit],
            Msg::CancelQuit => state.confirm_quit = false,
            _ => {}
        }
        return vec![];
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
        Msg::RequestQuit => {
            if state.saved {
                return vec![Effect::Quit];
            }
            state.confirm_quit = true;
        }
        Msg::ConfirmQuit | Msg::CancelQuit => {}
    }
    vec![]
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
