//! The wizard's state and its only way to change: `update(state, msg) -> effects`. Network
//! work is an `Effect::Engine` request; its events come back as `Msg::Engine`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::core::answers::Answers;
use crate::core::cloud::Cloud;
use crate::core::problem::Problem;
use crate::core::render::{Bundle, render};
use crate::core::seed::{Action, KEK, SeedPlan};
use crate::engine::apply::ApplyAction;
use crate::engine::narrate;
use crate::engine::seed::{Progress, Prompted, SeedOutcome, prompts_needed};
use crate::engine::{EngineError, Event, Request};

use super::cluster::{
    APPLY_TIMEOUT, ApplyPhase, ApplyView, ConfirmView, INSTALL_TIMEOUT, InstallPhase, InstallView,
    Job, PreflightView, Recovery, Target, install_request, target_of,
};
use super::form::{self, Field, FieldKind, SCREENS};
use crate::engine::install::{InstallOutcome, InstallProgress};
use crate::engine::verify::{CanaryTrigger, Mode};

use super::dashboard::{DashEffect, DashMsg, Dashboard, Palette};
use super::upgrade::{self as upgrade, UpgradeView};
use crate::engine::choices::Choices;

/// Where the wizard is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// A screen of questions (an index into `form::SCREENS`).
    Questions(usize),
    /// The rendered bundle, then save.
    Review,
    /// Step 1 of the live install: seeding.
    Secrets,
    /// The checks that must pass before the cluster is changed.
    Preflight,
    /// The typed confirmation of the cluster before its first change.
    Confirm,
    /// Step 2: the store's objects.
    Apply,
    /// Step 3: the helm release.
    Install,
    /// Step 4: the live checks (the dashboard), the canary included.
    Verify,
    /// The summary and what to run next.
    Done,
}

impl Screen {
    /// Every screen, in order.
    pub fn all() -> impl Iterator<Item = Screen> {
        (0..SCREENS.len())
            .map(Screen::Questions)
            .chain(CLUSTER_SCREENS)
    }

    /// A screen of the cluster steps (`cluster.rs`).
    pub fn is_cluster(self) -> bool {
        CLUSTER_SCREENS[2..].contains(&self)
    }

    /// Position in `all()`, from 0.
    pub fn position(self) -> usize {
        match self {
            Screen::Questions(i) => i,
            Screen::Review => SCREENS.len(),
            other => {
                SCREENS.len()
                    + CLUSTER_SCREENS
                        .iter()
                        .position(|s| *s == other)
                        .unwrap_or(0)
            }
        }
    }

    /// How many screens there are.
    pub fn count() -> usize {
        SCREENS.len() + CLUSTER_SCREENS.len()
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Questions(i) => SCREENS.get(i).map(|s| s.title).unwrap_or(""),
            Screen::Review => "Review and save",
            Screen::Secrets => "Seed secrets",
            Screen::Preflight => "Preflight checks",
            Screen::Confirm => "Confirm the cluster",
            Screen::Apply => "Secret store",
            Screen::Install => "Helm install",
            Screen::Verify => "Verify (live)",
            Screen::Done => "Done",
        }
    }

    fn next(self) -> Screen {
        match self {
            Screen::Questions(i) if i + 1 < SCREENS.len() => Screen::Questions(i + 1),
            Screen::Questions(_) => Screen::Review,
            Screen::Review => Screen::Secrets,
            Screen::Secrets | Screen::Preflight => Screen::Preflight,
            Screen::Confirm => Screen::Confirm,
            Screen::Apply => Screen::Apply,
            Screen::Install => Screen::Install,
            Screen::Verify => Screen::Done,
            Screen::Done => Screen::Done,
        }
    }

    fn previous(self) -> Screen {
        match self {
            Screen::Questions(i) => Screen::Questions(i.saturating_sub(1)),
            Screen::Review => Screen::Questions(SCREENS.len() - 1),
            Screen::Secrets => Screen::Review,
            Screen::Preflight => Screen::Secrets,
            Screen::Confirm | Screen::Apply => Screen::Preflight,
            Screen::Install => Screen::Apply,
            Screen::Verify => Screen::Install,
            Screen::Done => Screen::Verify,
        }
    }
}

/// The screens after the questions, in order.
const CLUSTER_SCREENS: [Screen; 8] = [
    Screen::Review,
    Screen::Secrets,
    Screen::Preflight,
    Screen::Confirm,
    Screen::Apply,
    Screen::Install,
    Screen::Verify,
    Screen::Done,
];

/// A value typed into a masked field. Its Debug never shows it; it is zeroized on drop. Its
/// buffer is allocated once at its full size, so typing never moves the value and leaves no
/// unwiped copy behind a reallocation.
#[derive(Clone)]
pub struct Masked(pub Zeroizing<String>);

/// The longest value a masked field takes (bytes).
pub const MASKED_CAPACITY: usize = 1024;

impl Default for Masked {
    fn default() -> Masked {
        Masked(Zeroizing::new(String::with_capacity(MASKED_CAPACITY)))
    }
}

impl Masked {
    /// Adds a character unless the field is full.
    pub fn push(&mut self, c: char) -> bool {
        if self.0.len() + c.len_utf8() > MASKED_CAPACITY {
            return false;
        }
        self.0.push(c);
        true
    }
}

impl std::fmt::Debug for Masked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masked({} chars)", self.0.chars().count())
    }
}

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

/// One secret's write, as data; the view decides how it looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretProgress {
    Writing,
    Done {
        verb: &'static str,
        digest: String,
    },
    Failed {
        message: String,
        fix: Option<String>,
    },
    NotStarted,
}

/// How the last seeding request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedResult {
    Finished(SeedOutcome),
    Failed(EngineError),
}

impl SeedResult {
    /// Every secret written (or kept) as planned.
    pub fn is_success(&self) -> bool {
        match self {
            SeedResult::Finished(o) => {
                o.report.failed.is_empty() && o.report.not_started.is_empty() && o.errors == 0
            }
            SeedResult::Failed(_) => false,
        }
    }
}

/// The secrets screen: the plan (with the rows the operator marked for rotation), then live
/// progress per secret.
#[derive(Clone, Debug, Default)]
pub struct SeedView {
    pub phase: SeedPhase,
    /// The secret manager, as the engine describes it.
    pub target: Option<String>,
    pub plan: Option<SeedPlan>,
    /// The selected row of the plan.
    pub cursor: usize,
    /// Catalog names marked for a new version (`secret-store-kek`: the KEK flow).
    pub rotate: BTreeSet<String>,
    /// Per remote name.
    pub progress: BTreeMap<String, SecretProgress>,
    pub result: Option<SeedResult>,
    pub typed: Masked,
    /// The value being typed is shown (Ctrl-R), because the operator asked; hidden again for
    /// the next value.
    pub reveal: bool,
    pub prompted: BTreeMap<String, Masked>,
}

/// The review screen: which file of the bundle is shown (one past the last: the cluster diff),
/// and how far it is scrolled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewView {
    pub file: usize,
    pub scroll: u16,
    pub diff: ClusterDiff,
}

/// What steps 2 and 3 would change in the cluster, read when the review shows it (reads only:
/// the store's server-side dry run, then helm's comparison with the deployed release).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterDiff {
    pub phase: DiffPhase,
    pub lines: Vec<String>,
    /// Why it could not be read, with the fix.
    pub error: Vec<String>,
    /// The store's dry run would change an object.
    pub store_changes: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiffPhase {
    #[default]
    NotRead,
    Store,
    /// A release exists: the upgrade plan (every object and value helm would change).
    Upgrade,
    Helm,
    Done,
}

/// What the operator did, or what the engine reported.
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
    /// Space on the plan: mark or unmark the selected secret for rotation.
    ToggleRotate,
    /// Write the answers file and the bundle (review screen).
    Save,
    /// Esc / Ctrl-C: ask before leaving.
    RequestQuit,
    ConfirmQuit,
    CancelQuit,
    /// The result of `Effect::Save`.
    Saved(Result<String, String>),
    /// The answers file on disk cannot keep its text (it fails validation, or cannot be edited
    /// in place): nothing was written, and the next save may rewrite it, keeping a backup.
    SaveRefused(String),
    /// What the engine reported.
    Engine(Event),
    /// `?` (off a text field) or F1: show or hide the keys of this screen.
    ToggleHelp,
    /// `:` (off a text field): type a step's number or name, Enter goes there.
    JumpStart,
    /// Ctrl-R on a hidden input: show or hide what is typed.
    ToggleReveal,
    /// A key of step 4's live checks that the dashboard handles (`/` and the filter typed).
    Dashboard(Box<DashMsg>),
}

/// Work outside the state; results come back as messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Save {
        answers: Box<Answers>,
        answers_path: PathBuf,
        bundle: Box<Bundle>,
        out_dir: PathBuf,
        /// The operator confirmed rewriting a file that cannot keep its text (a `.bak` copy
        /// of it is kept).
        rewrite: bool,
    },
    /// A request for the engine (network: runs on a task, answers with `Msg::Engine`).
    Engine(Request),
    /// Keep the unsaved answers (never a secret value: the answers hold none) beside the
    /// answers file, to resume from on the next start.
    Draft {
        path: PathBuf,
        text: String,
    },
    /// Stop the engine's requests: reading stops, no new write starts.
    Cancel,
    /// Run the canary of the following verify now.
    RunCanary(CanaryTrigger),
    Quit,
}

#[derive(Clone, Debug)]
pub struct State {
    pub texts: BTreeMap<&'static str, String>,
    /// Answers the form does not ask (`secrets`, `kekRotation`), kept as they were.
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub screen: Screen,
    pub focus: usize,
    pub problems: Vec<Problem>,
    pub valid: Option<Answers>,
    pub bundle: Option<Bundle>,
    pub review: ReviewView,
    pub answers_path: PathBuf,
    pub out_dir: PathBuf,
    pub status: Option<Result<String, String>>,
    pub confirm_quit: bool,
    /// The help overlay (the keys) is shown.
    pub help: bool,
    /// The operator has pressed a key since the start (a resume then no longer moves them).
    pub touched: bool,
    /// `:` typed: the step being typed.
    pub jump: Option<String>,
    /// Names offered from the kubeconfig and the cluster (←/→ picks one on its field).
    pub choices: Choices,
    /// The context (as its field said) the choices were last asked for.
    pub choices_for: Option<String>,
    /// What was found done at the start (a resumed answers file).
    pub found: Option<crate::engine::Detected>,
    /// Saved since the last edit.
    pub saved: bool,
    /// Answers changed since the draft (`draft_path`) was last written.
    pub draft_dirty: bool,
    /// Started from a draft: what was found done is not read (the questions are not done).
    pub from_draft: bool,
    /// The last save was refused because the file on disk cannot keep its text; the next
    /// save rewrites it (with a backup).
    pub rewrite_armed: bool,
    pub seed: SeedView,
    /// The engine request the wizard waits on.
    pub job: Option<Job>,
    pub preflight: PreflightView,
    pub confirm: ConfirmView,
    pub apply: ApplyView,
    pub install: InstallView,
    /// How long step 2 waits for the sync, and helm for the release.
    pub apply_timeout: Duration,
    pub install_timeout: Duration,
    /// Step 4, live.
    pub dashboard: Dashboard,
    pub canary: CanaryTrigger,
    /// A release exists: the flow upgrades it (`upgrade.rs`).
    pub upgrade: UpgradeView,
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
            screen: Screen::Questions(0),
            focus: 0,
            problems: Vec::new(),
            valid: None,
            bundle: None,
            review: ReviewView::default(),
            answers_path,
            out_dir,
            status: None,
            confirm_quit: false,
            help: false,
            touched: false,
            jump: None,
            choices: Choices::default(),
            choices_for: None,
            found: None,
            saved: false,
            draft_dirty: false,
            from_draft: false,
            rewrite_armed: false,
            seed: SeedView::default(),
            job: None,
            preflight: PreflightView::default(),
            confirm: ConfirmView::default(),
            apply: ApplyView::default(),
            install: InstallView::default(),
            apply_timeout: APPLY_TIMEOUT,
            install_timeout: INSTALL_TIMEOUT,
            dashboard: Dashboard::empty(Palette::from_env()),
            canary: CanaryTrigger::default(),
            upgrade: UpgradeView::default(),
        };
        state.revalidate();
        state
    }

    /// Resumes from an answers document: the fields the form asks, and the rest kept as is.
    pub fn resume(doc: &serde_json::Value, answers_path: PathBuf, out_dir: PathBuf) -> State {
        let mut state = State::new(form::texts_from_value(doc), answers_path, out_dir);
        state.extra = form::passthrough(doc);
        state.revalidate();
        // What was read is what the file holds: nothing is unsaved yet.
        state.saved = true;
        state
    }

    /// On every start: the names the cluster offers. From a valid answers file, also what is
    /// already done (reads only), to resume there (`resume_at`).
    pub fn start(&mut self) -> Vec<Effect> {
        let mut effects = self.context_choices();
        // A file that failed its checks (chart, CA bundle) says so first; nothing is resumed.
        if self.status.as_ref().is_some_and(Result::is_err) {
            return effects;
        }
        let Some(answers) = self.valid.clone().filter(|_| !self.from_draft) else {
            return effects;
        };
        self.status = Some(Ok(
            "reading what is already done (the secret manager, the cluster, helm)…".into(),
        ));
        effects.push(Effect::Engine(Request::Detect {
            answers: Box::new(answers),
        }));
        effects
    }

    /// Asks the engine what the cluster of the context's field offers, unless it was already
    /// asked for that context.
    fn context_choices(&mut self) -> Vec<Effect> {
        let context = self.text("kubeContext").to_string();
        if self.choices_for.as_ref() == Some(&context) {
            return vec![];
        }
        self.choices_for = Some(context.clone());
        vec![Effect::Engine(Request::ClusterChoices {
            context: Some(context).filter(|c| !c.is_empty()),
        })]
    }

    /// Goes to the first step not done yet, unless the operator has started moving: seeding
    /// when a secret is missing; the preflight (then the typed confirmation) when the store or
    /// the release is not there yet; step 4 when everything is.
    fn resume_at(&mut self, found: crate::engine::Detected) -> Vec<Effect> {
        self.found = Some(found.clone());
        let known = |r: &Result<bool, String>, yes: &str, no: &str| match r {
            Ok(true) => yes.to_string(),
            Ok(false) => no.to_string(),
            Err(e) => format!("not known ({e})"),
        };
        let release = match &found.deployed {
            Ok(Some(rev)) => format!("release deployed (revision {rev})"),
            Ok(None) => "no deployed release".into(),
            Err(e) => format!("release not known ({e})"),
        };
        let summary = format!(
            "{}, {}, {release}",
            known(&found.seeded, "secrets seeded", "secrets to seed"),
            known(&found.synced, "store synced", "store not synced"),
        );
        if self.touched || self.screen != Screen::Questions(0) {
            self.status = Some(Ok(format!("found: {summary}")));
            return vec![];
        }
        if let Some(status) = &found.existing {
            // A release exists: what an upgrade to these answers changes is read first.
            self.go_to(Screen::Review);
            self.upgrade.resuming = true;
            let effects = self.show_diff();
            self.status = Some(Ok(format!(
                "found release {} ({status}): reading what the upgrade to chart {} would change (reads only)…",
                self.valid
                    .as_ref()
                    .map(|a| a.release.as_str())
                    .unwrap_or_default(),
                self.valid
                    .as_ref()
                    .map(|a| a.chart.version.as_str())
                    .unwrap_or_default(),
            )));
            return effects;
        }
        let (effects, step) = if found.installed() {
            (self.enter_cluster(Screen::Verify), "step 4 watches it live")
        } else if found.seeded == Ok(true) {
            (
                self.enter_cluster(Screen::Preflight),
                "the preflight, then the cluster steps",
            )
        } else if found.seeded == Ok(false) {
            self.go_to(Screen::Secrets);
            (self.read_secrets(), "step 1 seeds what is missing")
        } else {
            self.status = Some(Ok(format!("found: {summary}")));
            return vec![];
        };
        self.status = Some(Ok(format!("resumed: {summary}: {step}")));
        effects
    }

    pub fn cloud(&self) -> Cloud {
        self.texts
            .get("cloud")
            .and_then(|c| Cloud::parse(c))
            .unwrap_or(Cloud::Aws)
    }

    /// The fields of the current screen (none on the review and secrets screens).
    pub fn fields(&self) -> Vec<&'static Field> {
        match self.screen {
            Screen::Questions(i) => SCREENS
                .get(i)
                .map(|s| form::fields_for(s, self.cloud()))
                .unwrap_or_default(),
            _ => vec![],
        }
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

    /// Problems of every field of a screen of questions (0 for the others).
    pub fn screen_problems(&self, screen: Screen) -> usize {
        match screen {
            Screen::Questions(i) => SCREENS
                .get(i)
                .map(|s| {
                    form::fields_for(s, self.cloud())
                        .iter()
                        .map(|f| self.problems_of(f.path).len())
                        .sum()
                })
                .unwrap_or(0),
            _ => 0,
        }
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
        self.draft_dirty = true;
        self.status = None;
        let cloud_before = self.cloud();
        self.revalidate();
        if field.path == "cloud" && self.cloud() != cloud_before {
            self.focus = 0;
        }
    }

    /// The draft of the unsaved answers, when they changed since it was written: the answers
    /// as the fields say (valid or not) and the step shown, to resume there.
    pub fn draft(&mut self) -> Vec<Effect> {
        if !self.draft_dirty || self.saved {
            return vec![];
        }
        self.draft_dirty = false;
        let doc = serde_json::json!({
            "wizardStep": self.screen.position() + 1,
            "answers": form::document_with(&self.texts, &self.extra),
        });
        let text = format!(
            "# caracal-deploy: answers not saved yet (choices only, never secret values).\n\
             # `caracal-deploy -f {}` resumes them; saving there removes this file.\n{}",
            self.answers_path.display(),
            crate::core::yaml::to_string(&doc)
        );
        vec![Effect::Draft {
            path: draft_path(&self.answers_path),
            text,
        }]
    }

    /// Quits at once when saved and nothing runs; otherwise asks first.
    fn ask_quit(&mut self) -> Vec<Effect> {
        if self.saved && self.job.is_none() && !self.mid_change() {
            return vec![Effect::Quit];
        }
        self.confirm_quit = true;
        vec![]
    }

    /// `:` then a step's number (as in "step N/M") or the start of its title: the questions,
    /// the review and seeding are reached directly; the cluster's steps only through the flow
    /// (the preflight and the typed confirmation come first), step 4 when the release is
    /// deployed.
    fn jump_to(&mut self, typed: &str) -> Vec<Effect> {
        let typed = typed.trim().to_lowercase();
        let target = Screen::all().find(|s| {
            typed.parse::<usize>().ok() == Some(s.position() + 1)
                || (!typed.is_empty() && s.title().to_lowercase().starts_with(&typed))
        });
        let Some(target) = target else {
            self.status = Some(Err(format!(
                "no step “{typed}”: type its number (1-{}) or the start of its name",
                Screen::count()
            )));
            return vec![];
        };
        let deployed = matches!(
            self.install.outcome,
            Some(InstallOutcome::Deployed { .. } | InstallOutcome::UpToDate { .. })
        );
        match target {
            Screen::Questions(_) | Screen::Review => {
                self.go_to(target);
                vec![]
            }
            Screen::Secrets if self.valid.is_some() => {
                self.go_to(Screen::Secrets);
                self.read_secrets()
            }
            Screen::Preflight if self.valid.is_some() => self.enter_cluster(Screen::Preflight),
            Screen::Verify if deployed => self.enter_cluster(Screen::Verify),
            other => {
                self.status = Some(Err(format!(
                    "“{}” is reached through the steps before it (fix the answers, then PgDn; \
                     the cluster's steps start at the preflight)",
                    other.title()
                )));
                vec![]
            }
        }
    }

    /// On a step that changes the cluster, and that step is not complete (stopped, failed, or
    /// not run): leaving asks first, even with everything saved.
    pub fn mid_change(&self) -> bool {
        match self.screen {
            Screen::Apply => !self.apply.synced(),
            Screen::Install => !matches!(
                self.install.outcome,
                Some(InstallOutcome::Deployed { .. } | InstallOutcome::UpToDate { .. })
            ),
            _ => false,
        }
    }

    /// The `prompt` sources the writes of the plan need, as field paths.
    pub fn prompts_needed(&self) -> Vec<String> {
        match (&self.valid, &self.seed.plan) {
            (Some(answers), Some(plan)) => prompts_needed(plan, answers),
            _ => vec![],
        }
    }

    fn start_writing(&mut self) -> Vec<Effect> {
        if let Err(effects) = self.upgrade_gate() {
            return effects;
        }
        let (Some(answers), Some(plan)) = (&self.valid, &self.seed.plan) else {
            return vec![];
        };
        self.seed.phase = SeedPhase::Writing;
        self.job = Some(Job::Seed);
        self.seed.progress.clear();
        self.seed.result = None;
        // The typed values leave the state here; the Masked copies are zeroized on drop.
        let typed = std::mem::take(&mut self.seed.prompted);
        let prompted = Prompted::new(
            typed
                .iter()
                .map(|(field, m)| (field.clone(), SecretString::from(m.0.as_str())))
                .collect(),
        );
        vec![Effect::Engine(Request::WriteSeed {
            answers: Box::new(answers.clone()),
            plan: Box::new(plan.clone()),
            prompted,
        })]
    }

    /// Reads the remote state and plans, with the rotations marked so far.
    fn read_secrets(&mut self) -> Vec<Effect> {
        let Some(answers) = &self.valid else {
            return vec![];
        };
        self.seed.phase = SeedPhase::Reading;
        self.job = Some(Job::Seed);
        self.seed.progress.clear();
        self.seed.result = None;
        self.seed.typed = Masked::default();
        self.seed.prompted.clear();
        vec![Effect::Engine(Request::PlanSeed {
            answers: Box::new(answers.clone()),
            rotate: self.seed.rotate.iter().cloned().collect(),
        })]
    }

    fn go_to(&mut self, screen: Screen) {
        self.screen = screen;
        self.focus = 0;
        if self.screen == Screen::Review {
            self.bundle = self.valid.as_ref().map(render);
            self.review = ReviewView::default();
        }
    }

    /// The engine reported something about seeding.
    fn on_engine(&mut self, event: Event) -> Vec<Effect> {
        let event = if self.job == Some(Job::ReviewDiff) {
            match self.on_diff_event(event) {
                Ok(effects) => return effects,
                Err(event) => *event,
            }
        } else {
            event
        };
        // The StatefulSets an upgrade recreates are gone (pods and volumes kept): helm now.
        if let Event::Orphaned { names } = event {
            self.install.log.push(format!(
                "StatefulSet(s) {} deleted, pods and volumes kept",
                names.join(", ")
            ));
            self.upgrade.orphaned = Some(names);
            let Some(answers) = self.valid.clone() else {
                return vec![];
            };
            let request = install_request(&answers, self.install_timeout, false);
            return self.submit(Job::Install, request);
        }
        let event = match self.on_cluster_event(event) {
            Ok(()) => return vec![],
            Err(event) => *event,
        };
        if matches!(
            event,
            Event::SeedPlanned { .. } | Event::SeedFinished(_) | Event::Failed(_)
        ) {
            self.job = None;
        }
        match event {
            Event::SeedReading { target, .. } => self.seed.target = Some(target),
            Event::SeedPlanned { target, plan } => {
                self.seed.target = Some(target);
                self.seed.cursor = self.seed.cursor.min(plan.items.len().saturating_sub(1));
                self.seed.plan = Some(plan);
                self.seed.phase = SeedPhase::Planned;
            }
            Event::SeedProgress(p) => {
                let (remote, progress) = match p {
                    Progress::Started { remote } => (remote, SecretProgress::Writing),
                    Progress::Done {
                        remote,
                        verb,
                        digest,
                    } => (remote, SecretProgress::Done { verb, digest }),
                    Progress::Failed { remote, error } => (
                        remote,
                        SecretProgress::Failed {
                            message: error.to_string(),
                            fix: error.fix().map(str::to_string),
                        },
                    ),
                    Progress::NotStarted { remote } => (remote, SecretProgress::NotStarted),
                };
                self.seed.progress.insert(remote, progress);
            }
            Event::SeedFinished(outcome) => {
                if outcome.kek_rotated {
                    // The services must read both keys until the re-seal sweep completes.
                    self.extra
                        .insert("kekRotation".into(), serde_json::Value::Bool(true));
                    self.saved = false;
                    self.revalidate();
                    self.status = Some(Ok(
                        "KEK rotated, previous key kept: kekRotation is now true; save (Ctrl-S), then re-apply and install".into(),
                    ));
                }
                self.seed.rotate.clear();
                self.seed.phase = SeedPhase::Done;
                self.seed.result = Some(SeedResult::Finished(outcome));
            }
            // Handled by `on_cluster_event`.
            Event::PreflightDone(_)
            | Event::Applied(_)
            | Event::StoreCondition(_)
            | Event::ApplyDone(_)
            | Event::InstallProgress(_)
            | Event::InstallDone(_)
            | Event::RolledBack { .. }
            | Event::Uninstalled { .. }
            | Event::VerifyProgress(_)
            | Event::VerifyDone(_) => {}
            Event::Detected(found) => return self.resume_at(found),
            // An answer for a context the field no longer names is stale.
            Event::ClusterChoices(choices)
                if self.choices_for.is_none()
                    || self.choices_for.as_deref()
                        == Some(choices.requested.as_deref().unwrap_or_default()) =>
            {
                self.choices = *choices
            }
            Event::ClusterChoices(_) => {}
            Event::EarlierDeleted(outcome) => {
                self.job = None;
                self.upgrade.earlier = upgrade::EarlierStep::Done(outcome);
            }
            // The plan comes through the review's diff, Orphaned before helm (above).
            Event::UpgradePlanned(_) | Event::Orphaned { .. } => {}
            Event::Failed(error) => {
                self.seed.phase = SeedPhase::Done;
                self.seed.result = Some(SeedResult::Failed(error));
            }
        }
        vec![]
    }
}

/// The one place state changes.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    // Answers are kept as they are given: leaving a field, a screen or the wizard writes the
    // draft first (before a Quit).
    let leaving = matches!(
        msg,
        Msg::NextField
            | Msg::PrevField
            | Msg::NextScreen
            | Msg::PrevScreen
            | Msg::Cycle(_)
            | Msg::Set(..)
            | Msg::RequestQuit
            | Msg::ConfirmQuit
    );
    let screen = state.screen;
    let mut effects = update_state(state, msg);
    // The draft says the step too: the next start resumes there.
    if state.screen != screen && !state.saved {
        state.draft_dirty = true;
    }
    if leaving {
        let draft = state.draft();
        effects.splice(0..0, draft);
    }
    effects
}

/// The path of the draft of an answers file: `ANSWERS.draft`.
pub fn draft_path(answers: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.draft", answers.display()))
}

fn update_state(state: &mut State, msg: Msg) -> Vec<Effect> {
    // The review's cluster diff answers to the review: the screen stays until it is read.
    if state.screen == Screen::Review
        && state.job == Some(Job::ReviewDiff)
        && matches!(
            msg,
            Msg::NextScreen | Msg::PrevScreen | Msg::PrevField | Msg::JumpStart | Msg::Save
        )
    {
        state.status = Some(Err(
            "the cluster diff is being read (reads only): a moment, or Esc to leave".into(),
        ));
        return vec![];
    }
    if let Msg::Engine(event) = msg {
        return state.on_engine(event);
    }
    state.touched = true;
    let from_keys = !matches!(
        msg,
        Msg::Saved(_) | Msg::SaveRefused(_) | Msg::Set(..) | Msg::ConfirmQuit | Msg::CancelQuit
    );
    if let Some(typed) = state.jump.as_mut().filter(|_| from_keys) {
        match msg {
            Msg::Char(c) => typed.push(c),
            Msg::Backspace => {
                typed.pop();
            }
            Msg::NextField | Msg::NextScreen => {
                let typed = state.jump.take().unwrap_or_default();
                return state.jump_to(&typed);
            }
            _ => state.jump = None,
        }
        return vec![];
    }
    if msg == Msg::JumpStart {
        state.jump = Some(String::new());
        state.help = false;
        return vec![];
    }
    // The help overlay: its key closes it, as does Esc; any other key closes it and acts.
    if state.help {
        state.help = false;
        if matches!(msg, Msg::ToggleHelp | Msg::RequestQuit) {
            return vec![];
        }
    } else if msg == Msg::ToggleHelp {
        state.help = true;
        return vec![];
    }
    if let Some(typed) = state.upgrade.downgrade_typed.take() {
        return downgrade_box(state, msg, typed);
    }
    if state.confirm_quit {
        match msg {
            Msg::ConfirmQuit | Msg::RequestQuit => {
                // Writes in flight complete; no new one starts.
                return vec![Effect::Cancel, Effect::Quit];
            }
            Msg::CancelQuit => state.confirm_quit = false,
            _ => {}
        }
        return vec![];
    }
    if state.screen.is_cluster()
        && !matches!(
            msg,
            Msg::Save | Msg::Saved(_) | Msg::SaveRefused(_) | Msg::Set(..)
        )
    {
        return update_cluster(state, msg);
    }
    if state.screen == Screen::Secrets
        && let Some(effects) = update_secrets(state, &msg)
    {
        return effects;
    }
    let field_count = state.fields().len();
    // Leaving the context's field with another context (or picking one with ←/→): what the
    // cluster offers is read again, for that context.
    let on_context = state.focused().map(|f| f.path) == Some("kubeContext");
    let picking = matches!(msg, Msg::Cycle(_));
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
            state.draft_dirty = true;
            state.revalidate();
        }
        Msg::NextField => {
            if state.focus + 1 < field_count {
                state.focus += 1;
            } else if let Screen::Questions(_) = state.screen {
                state.go_to(state.screen.next());
            }
        }
        Msg::PrevField => {
            if state.focus > 0 {
                state.focus -= 1;
            } else if state.screen != Screen::Questions(0) {
                state.go_to(state.screen.previous());
                state.focus = state.fields().len().saturating_sub(1);
            }
        }
        Msg::Cycle(step) => {
            if state.screen == Screen::Review {
                if let Some(b) = &state.bundle {
                    // The bundle's files, then the cluster diff.
                    let n = b.files.len() + 1;
                    state.review.file =
                        (state.review.file + n).wrapping_add_signed(step as isize) % n;
                    state.review.scroll = 0;
                    if state.review.file == b.files.len()
                        && state.review.diff.phase == DiffPhase::NotRead
                    {
                        return state.read_diff();
                    }
                }
            } else if let Some(field) = state.focused()
                && !matches!(field.kind, FieldKind::Choice(_))
                && !state.choices.for_field(field.path).is_empty()
            {
                // A name the cluster has: ←/→ goes through them.
                let names: Vec<String> = state
                    .choices
                    .for_field(field.path)
                    .iter()
                    .map(|c| c.name.clone())
                    .collect();
                let next = match names.iter().position(|n| n == state.text(field.path)) {
                    Some(i) => (i + names.len()).wrapping_add_signed(step as isize) % names.len(),
                    None if step < 0 => names.len() - 1,
                    None => 0,
                };
                let value = names[next].clone();
                state.edit(|t| *t = value);
            } else if let Some(Field {
                kind: FieldKind::Choice(options),
                path,
                ..
            }) = state.focused()
            {
                let current = options
                    .iter()
                    .position(|o| *o == state.text(path))
                    .unwrap_or(0);
                let next =
                    (current + options.len()).wrapping_add_signed(step as isize) % options.len();
                let value = options[next].to_string();
                state.edit(|t| *t = value);
            }
        }
        Msg::NextScreen if state.screen == Screen::Review => {
            if state.valid.is_some() {
                if let Err(effects) = state.upgrade_gate() {
                    return effects;
                }
                state.go_to(Screen::Secrets);
                return state.read_secrets();
            }
            state.status = Some(Err(
                "fix the problems first: seeding needs valid answers".into()
            ));
        }
        Msg::NextScreen if state.screen == Screen::Secrets => {
            if matches!(state.seed.phase, SeedPhase::Writing | SeedPhase::Reading) {
                state.status = Some(Err(
                    "seeding is still running: wait for it, or Esc stops it".into(),
                ));
            } else if state.valid.is_some() {
                return state.enter_cluster(Screen::Preflight);
            }
        }
        Msg::NextScreen => state.go_to(state.screen.next()),
        Msg::PrevScreen => state.go_to(state.screen.previous()),
        Msg::ScrollDown => state.review.scroll = state.review.scroll.saturating_add(1),
        Msg::ScrollUp => state.review.scroll = state.review.scroll.saturating_sub(1),
        Msg::ToggleRotate => {}
        Msg::Save => {
            if state.screen != Screen::Review {
                state.go_to(Screen::Review);
            }
            match (&state.valid, &state.bundle) {
                (Some(answers), Some(bundle)) => {
                    return vec![Effect::Save {
                        answers: Box::new(answers.clone()),
                        answers_path: state.answers_path.clone(),
                        bundle: Box::new(bundle.clone()),
                        out_dir: state.out_dir.clone(),
                        rewrite: state.rewrite_armed,
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
            state.rewrite_armed = false;
            state.status = Some(result);
        }
        Msg::SaveRefused(why) => {
            state.rewrite_armed = true;
            state.status = Some(Err(format!(
                "{why}; nothing was written. Ctrl-S again rewrites it (the original is kept as {}.bak), \
                 or quit and resume with another -f",
                state.answers_path.display()
            )));
        }
        Msg::RequestQuit => return state.ask_quit(),
        Msg::ConfirmQuit
        | Msg::CancelQuit
        | Msg::Engine(_)
        | Msg::ToggleHelp
        | Msg::JumpStart
        | Msg::ToggleReveal
        | Msg::Dashboard(_) => {}
    }
    let left_context = state.focused().map(|f| f.path) != Some("kubeContext");
    if on_context && (picking || left_context) {
        return state.context_choices();
    }
    vec![]
}

/// Returns the release to the revision helm started from.
fn rollback(state: &mut State) -> Vec<Effect> {
    match (state.install.rollback_to(), state.valid.clone()) {
        (Some(revision), Some(answers)) => {
            state.install.phase = InstallPhase::RollingBack(revision);
            state.status = None;
            state.submit(
                Job::Rollback(revision),
                Request::Rollback {
                    answers: Box::new(answers),
                    revision,
                },
            )
        }
        _ => vec![],
    }
}

/// The downgrade box: the target version typed confirms it (Enter); Esc closes it, nothing
/// changed.
fn downgrade_box(state: &mut State, msg: Msg, mut typed: String) -> Vec<Effect> {
    let target = state
        .upgrade_plan()
        .map(|p| p.target.clone())
        .unwrap_or_default();
    match msg {
        Msg::Char(c) => typed.push(c),
        Msg::Backspace => {
            typed.pop();
        }
        Msg::ClearField => typed.clear(),
        Msg::NextField | Msg::NextScreen if typed.trim() == target && !target.is_empty() => {
            state.upgrade.downgrade_typed = None;
            state.upgrade.downgrade_confirmed = Some(target.clone());
            state.status = Some(Ok(format!(
                "downgrade to chart {target} confirmed as schema-compatible; PgDn goes on"
            )));
            return vec![];
        }
        Msg::NextField | Msg::NextScreen => {
            state.status = Some(Err(format!(
                "{:?} is not the target version: type {target} exactly, or Esc to stay on the deployed chart",
                typed.trim()
            )));
        }
        Msg::RequestQuit | Msg::CancelQuit => {
            state.upgrade.downgrade_typed = None;
            state.status = Some(Ok("downgrade not confirmed: nothing was changed".into()));
            return vec![];
        }
        _ => {}
    }
    state.upgrade.downgrade_typed = Some(typed);
    vec![]
}

/// Keys on the secrets screen; None lets the general handling run.
fn update_secrets(state: &mut State, msg: &Msg) -> Option<Vec<Effect>> {
    if let SeedPhase::Asking(field) = state.seed.phase.clone() {
        match msg {
            Msg::Char(c) if !state.seed.typed.push(*c) => {
                state.status = Some(Err(format!(
                    "a value is {MASKED_CAPACITY} bytes at most; use file:PATH for a longer one"
                )));
            }
            Msg::Char(_) => {}
            Msg::Backspace => {
                state.seed.typed.0.pop();
            }
            Msg::ClearField => state.seed.typed = Masked::default(),
            Msg::ToggleReveal => state.seed.reveal = !state.seed.reveal,
            Msg::NextField if state.seed.typed.0.is_empty() => {}
            Msg::NextField => {
                state.seed.reveal = false;
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
                state.seed.reveal = false;
                state.seed.typed = Masked::default();
                state.seed.prompted.clear();
                state.seed.phase = SeedPhase::Planned;
            }
            _ => {}
        }
        return Some(vec![]);
    }
    let rows = state.seed.plan.as_ref().map_or(0, |p| p.items.len());
    match (msg, &state.seed.phase) {
        (Msg::Char('r'), SeedPhase::Planned | SeedPhase::Done | SeedPhase::Idle) => {
            Some(state.read_secrets())
        }
        (Msg::ScrollDown, SeedPhase::Planned) => {
            state.seed.cursor = (state.seed.cursor + 1).min(rows.saturating_sub(1));
            Some(vec![])
        }
        (Msg::ScrollUp, SeedPhase::Planned) => {
            state.seed.cursor = state.seed.cursor.saturating_sub(1);
            Some(vec![])
        }
        (Msg::ToggleRotate, SeedPhase::Planned) => {
            let Some(item) = state
                .seed
                .plan
                .as_ref()
                .and_then(|p| p.items.get(state.seed.cursor))
            else {
                return Some(vec![]);
            };
            // Only what exists can get a new version; a missing secret is created anyway.
            let exists = item.digest.is_some();
            let name = item.secret.name.clone();
            if !state.seed.rotate.remove(&name) {
                if !exists {
                    state.status = Some(Err(format!(
                        "{name} does not exist yet: it is created, there is nothing to rotate"
                    )));
                    return Some(vec![]);
                }
                state.seed.rotate.insert(name);
            }
            state.status = None;
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
        (Msg::RequestQuit, SeedPhase::Writing | SeedPhase::Reading) => {
            state.status = Some(Err(
                "stopping: the writes in flight finish, no new one starts".into(),
            ));
            Some(vec![Effect::Cancel])
        }
        (
            Msg::Char(_)
            | Msg::Backspace
            | Msg::ClearField
            | Msg::Cycle(_)
            | Msg::NextField
            | Msg::PrevField
            | Msg::ScrollDown
            | Msg::ScrollUp
            | Msg::ToggleRotate,
            _,
        ) => Some(vec![]),
        _ => None,
    }
}

/// Whether the plan rotates the KEK (the view warns what that means).
pub fn rotates_kek(plan: &SeedPlan) -> bool {
    plan.items
        .iter()
        .any(|i| i.secret.name == KEK && i.action == Action::RotateKek)
}

// ---- The cluster steps (their screens' state is in `cluster.rs`). ----

impl State {
    /// The cluster preflight found, with the answers' namespace.
    pub fn target(&self) -> Option<Target> {
        let answers = self.valid.as_ref()?;
        target_of(self.preflight.report.as_ref()?, &answers.namespace)
    }

    /// The context, when its name says production (`prod`, `production`, `prd` as a word of
    /// it): the wizard then shows a banner on every screen.
    pub fn production_context(&self) -> Option<String> {
        let context = self
            .target()
            .map(|t| t.context)
            .or_else(|| Some(self.text("kubeContext").to_string()))
            .filter(|c| !c.is_empty())?;
        let production = context
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| matches!(w, "prod" | "production" | "prd"));
        production.then_some(context)
    }

    /// Whether the cluster screens wait on the engine.
    pub fn cluster_running(&self) -> bool {
        self.preflight.running || self.apply.running() || self.install.running()
    }

    fn submit(&mut self, job: Job, request: Request) -> Vec<Effect> {
        self.job = Some(job);
        vec![Effect::Engine(request)]
    }

    /// Runs the preflight checks (reads only).
    fn run_preflight(&mut self) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        self.preflight = PreflightView {
            running: true,
            ..Default::default()
        };
        self.submit(
            Job::Preflight,
            Request::Preflight {
                answers: Box::new(answers),
            },
        )
    }

    fn run_apply(&mut self, dry_run: bool) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        if !dry_run && !self.confirmed() {
            self.screen = Screen::Confirm;
            return vec![];
        }
        if !dry_run && let Err(effects) = self.upgrade_gate() {
            return effects;
        }
        let (phase, job) = if dry_run {
            self.apply.preview.clear();
            (ApplyPhase::DryRunning, Job::DryRun)
        } else {
            (ApplyPhase::Applying, Job::Apply)
        };
        self.apply.phase = phase;
        self.apply.applied.clear();
        self.apply.conditions.clear();
        self.apply.outcome = None;
        self.apply.error = None;
        // An upgrade takes over the objects an operator applied by hand (the pre-1.0 guide):
        // the review's diff showed what changes, the typed context confirmed it.
        let take_over = self.upgrade_mode();
        self.submit(
            job,
            Request::Apply {
                answers: Box::new(answers),
                dry_run,
                timeout: self.apply_timeout,
                take_over,
            },
        )
    }

    fn run_install(&mut self, recover: bool) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        if !self.confirmed() {
            self.screen = Screen::Confirm;
            return vec![];
        }
        if let Err(effects) = self.upgrade_gate() {
            return effects;
        }
        self.install = InstallView {
            phase: InstallPhase::Running,
            ..Default::default()
        };
        // StatefulSets whose spec cannot change in place: deleted first, their pods and
        // volumes kept; helm creates them again and they adopt them.
        let recreate: Vec<String> = self
            .upgrade_plan()
            .map(|p| p.recreate.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        if !recreate.is_empty() && self.upgrade.orphaned.as_ref() != Some(&recreate) {
            self.install.log.push(format!(
                "Deleting StatefulSet(s) {} with their pods and volumes kept (helm creates them again)…",
                recreate.join(", ")
            ));
            return self.submit(
                Job::Install,
                Request::OrphanStatefulSets {
                    answers: Box::new(answers),
                    names: recreate,
                },
            );
        }
        let request = install_request(&answers, self.install_timeout, recover);
        self.submit(Job::Install, request)
    }

    /// The operator typed the name of the context preflight found (and it is still the one).
    fn confirmed(&self) -> bool {
        match (&self.confirm.confirmed, self.target()) {
            (Some(c), Some(t)) => *c == t.context,
            _ => false,
        }
    }

    /// Goes to a cluster screen, starting its work.
    fn enter_cluster(&mut self, screen: Screen) -> Vec<Effect> {
        self.screen = screen;
        self.focus = 0;
        self.status = None;
        match screen {
            Screen::Preflight => self.run_preflight(),
            Screen::Confirm => {
                self.confirm.typed.clear();
                vec![]
            }
            Screen::Apply => self.run_apply(true),
            Screen::Install => self.run_install(false),
            Screen::Verify => self.run_verify(),
            _ => vec![],
        }
    }

    /// The review's cluster diff: the store's dry run first.
    fn read_diff(&mut self) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        self.review.diff = ClusterDiff {
            phase: DiffPhase::Store,
            ..Default::default()
        };
        let take_over = self.upgrade_mode();
        self.submit(
            Job::ReviewDiff,
            Request::Apply {
                answers: Box::new(answers),
                dry_run: true,
                timeout: self.apply_timeout,
                take_over,
            },
        )
    }

    /// After an upgrade verified with every check green: the earlier secret names whose value
    /// is under the current name (from the seeding this run wrote, else the upgrade's plan),
    /// with that current name. Empty otherwise, and once deleted.
    pub fn earlier_to_delete(&self) -> Vec<(String, String)> {
        let green = self
            .dashboard
            .live
            .as_ref()
            .is_some_and(|l| upgrade::all_green(&l.report));
        if !green {
            return vec![];
        }
        self.earlier_names()
    }

    /// Deletes the earlier secret names whose value is under the current name (the engine
    /// reads the secret manager again first). Only on the operator's word, after a green
    /// verify: the front ends ask.
    pub fn delete_earlier(&mut self) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        self.upgrade.earlier = upgrade::EarlierStep::Deleting;
        self.submit(
            Job::DeleteEarlier,
            Request::DeleteEarlier {
                answers: Box::new(answers),
            },
        )
    }

    /// In an upgrade, until deleted: the earlier secret names whose value is under the
    /// current name (from the seeding this run wrote, else the upgrade's plan), each with that
    /// current name. Whether verify is green is the caller's to say.
    pub fn earlier_names(&self) -> Vec<(String, String)> {
        if !self.upgrade_mode() || matches!(self.upgrade.earlier, upgrade::EarlierStep::Done(_)) {
            return vec![];
        }
        match (&self.seed.plan, self.upgrade.plan.as_ref()) {
            (Some(plan), _) => upgrade::deletable(plan),
            (None, Some((plan, _))) => upgrade::deletable(&plan.seed),
            (None, None) => vec![],
        }
    }

    /// A release of these answers exists (found at the start, or by the review's diff): the
    /// flow is an upgrade.
    pub fn upgrade_mode(&self) -> bool {
        self.upgrade.plan.is_some()
            || (!self.upgrade.no_release
                && self.found.as_ref().is_some_and(|f| f.existing.is_some()))
    }

    /// The plan of the current answers, when a release exists and it was read.
    pub fn upgrade_plan(&self) -> Option<&crate::engine::upgrade::UpgradePlan> {
        self.upgrade.current(self.valid.as_ref())
    }

    /// The review, showing the upgrade's diff (read again unless it is current).
    pub fn review_upgrade(&mut self) -> Vec<Effect> {
        self.go_to(Screen::Review);
        self.show_diff()
    }

    /// The review shows its cluster diff, read again unless it is current.
    fn show_diff(&mut self) -> Vec<Effect> {
        if let Some(bundle) = &self.bundle {
            self.review.file = bundle.files.len();
            self.review.scroll = 0;
        }
        let stale = self.upgrade_mode() && self.upgrade_plan().is_none();
        if self.job != Some(Job::ReviewDiff)
            && (self.review.diff.phase == DiffPhase::NotRead || stale)
        {
            return self.read_diff();
        }
        vec![]
    }

    /// Before anything changes in an upgrade: the plan of these answers was read and shown,
    /// nothing blocks it, and a downgrade was confirmed by typing its version. Err holds what
    /// to do instead (read the plan; open the downgrade box), with the status saying why.
    fn upgrade_gate(&mut self) -> Result<(), Vec<Effect>> {
        if !self.upgrade_mode() {
            return Ok(());
        }
        let Some(plan) = self.upgrade_plan().cloned() else {
            if self.screen != Screen::Review {
                self.go_to(Screen::Review);
            }
            let effects = self.show_diff();
            self.status = Some(Err(
                "a release exists: what the upgrade changes is read and shown first (reads only); PgDn once you have read it"
                    .into(),
            ));
            return Err(effects);
        };
        if let Some(why) = upgrade::blocked(&plan) {
            self.status = Some(Err(why));
            return Err(vec![]);
        }
        if upgrade::is_downgrade(&plan)
            && self.upgrade.downgrade_confirmed.as_deref() != Some(plan.target.as_str())
        {
            if self.screen != Screen::Review {
                self.go_to(Screen::Review);
            }
            self.upgrade.downgrade_typed = Some(String::new());
            self.status = None;
            return Err(vec![]);
        }
        Ok(())
    }

    /// An event of the review's cluster diff; given back when it is not one.
    fn on_diff_event(&mut self, event: Event) -> Result<Vec<Effect>, Box<Event>> {
        let release = self
            .valid
            .as_ref()
            .map(|a| a.release.clone())
            .unwrap_or_default();
        let diff = &mut self.review.diff;
        match event {
            Event::Applied(a) => diff.lines.extend(narrate::applied_lines(&a)),
            Event::ApplyDone(o) => {
                diff.lines.push(narrate::apply_summary(&o));
                diff.store_changes = o.objects.iter().any(|a| a.action != ApplyAction::Unchanged);
                let new_namespace = o
                    .objects
                    .iter()
                    .any(|a| a.kind == "Namespace" && a.action == ApplyAction::WouldCreate);
                let answers = self.valid.clone();
                match answers {
                    // helm compares with a release in the namespace; a new one has none.
                    Some(_) if new_namespace => {
                        diff.lines.push(format!(
                            "helm: would install {release} (its namespace is created by step 2)"
                        ));
                        diff.phase = DiffPhase::Done;
                        self.job = None;
                    }
                    // A release may exist: the upgrade plan says what helm would change (and
                    // answers that there is none, for a first install).
                    Some(answers) => {
                        diff.phase = DiffPhase::Upgrade;
                        return Ok(self.submit(
                            Job::ReviewDiff,
                            Request::PlanUpgrade {
                                answers: Box::new(answers),
                            },
                        ));
                    }
                    None => {
                        diff.phase = DiffPhase::Done;
                        self.job = None;
                    }
                }
            }
            Event::InstallProgress(p) => {
                diff.lines
                    .extend(crate::engine::install::progress_lines(&release, &p));
            }
            Event::InstallDone(o) => {
                diff.lines.push(narrate::install_text(&o, &release));
                diff.phase = DiffPhase::Done;
                self.job = None;
            }
            Event::UpgradePlanned(plan) => {
                diff.lines.extend(narrate::upgrade_lines(&plan));
                diff.phase = DiffPhase::Done;
                let store_changes = diff.store_changes;
                self.job = None;
                return Ok(self.on_upgrade_planned(plan, store_changes));
            }
            // No release: a first install; helm's own comparison says so.
            Event::Failed(EngineError::NoRelease { .. }) => {
                diff.phase = DiffPhase::Helm;
                // Gone since the start (uninstalled meanwhile): not an upgrade after all.
                self.upgrade.no_release = true;
                let Some(answers) = self.valid.clone() else {
                    return Ok(vec![]);
                };
                let mut request = install_request(&answers, self.install_timeout, false);
                if let Request::Install { dry_run, .. } = &mut request {
                    *dry_run = true;
                }
                return Ok(self.submit(Job::ReviewDiff, request));
            }
            Event::Failed(e) => {
                diff.error = narrate::error_lines(&e);
                diff.phase = DiffPhase::Done;
                self.job = None;
            }
            other => return Err(Box::new(other)),
        }
        Ok(vec![])
    }

    /// The upgrade plan of the current answers was read: the flow is an upgrade. Resumed on
    /// the release with nothing to change, the wizard goes on to step 4 as before.
    fn on_upgrade_planned(
        &mut self,
        plan: Box<crate::engine::upgrade::UpgradePlan>,
        store_changes: bool,
    ) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        let resuming = std::mem::take(&mut self.upgrade.resuming);
        let nothing = upgrade::changes_nothing(&plan) && !store_changes;
        let title = upgrade::header(&plan);
        let blocked = upgrade::blocked(&plan);
        self.upgrade.plan = Some((plan, Box::new(answers)));
        self.upgrade.orphaned = None;
        self.upgrade.no_release = false;
        if resuming && nothing && !self.touched {
            let effects = self.enter_cluster(Screen::Verify);
            self.status = Some(Ok(format!(
                "resumed: {title}: nothing to change; step 4 watches it live"
            )));
            return effects;
        }
        self.status = Some(match blocked {
            Some(why) => Err(why),
            None if nothing => Ok(format!(
                "{title}: nothing would change; PgDn goes through the steps (each keeps what is done)"
            )),
            None => Ok(format!(
                "{title}: read what would change (↑/↓), then PgDn to seed, check and upgrade"
            )),
        });
        vec![]
    }

    /// Step 4: verify, following the cluster until the operator moves on.
    fn run_verify(&mut self) -> Vec<Effect> {
        self.canary = CanaryTrigger::default();
        self.verify_with(Mode::Follow(self.canary.clone()))
    }

    /// Step 4 in another mode (the plain wizard waits until every check passes).
    pub fn enter_verify(&mut self, mode: Mode) -> Vec<Effect> {
        self.screen = Screen::Verify;
        self.status = None;
        self.verify_with(mode)
    }

    fn verify_with(&mut self, mode: Mode) -> Vec<Effect> {
        let Some(answers) = self.valid.clone() else {
            return vec![];
        };
        self.dashboard = Dashboard::new(&answers, self.dashboard.palette);
        self.submit(
            Job::Verify,
            Request::Verify {
                answers: Box::new(answers),
                mode,
            },
        )
    }

    /// An event of the cluster steps; given back when it is not one.
    fn on_cluster_event(&mut self, event: Event) -> Result<(), Box<Event>> {
        // A request's last event: what the status said while it ran is stale.
        if matches!(
            event,
            Event::PreflightDone(_)
                | Event::ApplyDone(_)
                | Event::InstallDone(_)
                | Event::RolledBack { .. }
                | Event::Uninstalled { .. }
        ) || (matches!(event, Event::Failed(_)) && self.screen.is_cluster())
        {
            self.status = None;
        }
        match event {
            Event::PreflightDone(report) => {
                self.job = None;
                self.preflight.running = false;
                self.preflight.report = Some(report);
            }
            Event::Applied(a) => {
                if self.apply.phase == ApplyPhase::DryRunning {
                    self.apply.preview.push(a);
                } else {
                    self.apply.applied.push(a);
                }
            }
            Event::StoreCondition(c) => self.apply.conditions.push(c),
            Event::ApplyDone(outcome) => {
                self.job = None;
                if outcome.dry_run {
                    self.apply.phase = ApplyPhase::Previewed;
                } else {
                    self.apply.phase = ApplyPhase::Done;
                    self.apply.outcome = Some(outcome);
                }
            }
            Event::InstallProgress(p) => match p {
                InstallProgress::HelmRunning {
                    revision_after,
                    timeout,
                    waits,
                } => {
                    self.install.waits = crate::engine::install::waits_text(waits.as_ref());
                    self.install.helm = Some((revision_after, timeout));
                }
                p @ (InstallProgress::Job { .. }
                | InstallProgress::Warning { .. }
                | InstallProgress::Logs { .. }
                | InstallProgress::Recovered { .. }) => {
                    let release = self
                        .valid
                        .as_ref()
                        .map(|a| a.release.clone())
                        .unwrap_or_default();
                    self.install
                        .log
                        .extend(crate::engine::install::progress_lines(&release, &p));
                }
                InstallProgress::Workload {
                    kind,
                    name,
                    ready,
                    desired,
                } => {
                    self.install
                        .workloads
                        .insert((kind, name), (ready, desired));
                }
                InstallProgress::Pod { name, reason } if reason.is_empty() => {
                    self.install.pods.remove(&name);
                }
                InstallProgress::Pod { name, reason } => {
                    self.install.pods.insert(name, reason);
                }
            },
            Event::InstallDone(outcome) => {
                self.job = None;
                self.install.phase = InstallPhase::Done;
                self.install.outcome = Some(outcome);
            }
            Event::VerifyProgress(live) => {
                self.dashboard.update(DashMsg::Live(live));
            }
            // A follow ends only when cancelled (the operator moved on).
            Event::VerifyDone(_) => self.job = None,
            Event::RolledBack { revision } => {
                self.job = None;
                self.install.phase = InstallPhase::Done;
                self.install.recovery = Some(Recovery::RolledBack(revision));
            }
            Event::Uninstalled { .. } => {
                self.job = None;
                self.install.phase = InstallPhase::Done;
                self.install.recovery = Some(Recovery::Uninstalled);
            }
            Event::Failed(e) => {
                let job = self.job.take().or(match self.screen {
                    Screen::Preflight => Some(Job::Preflight),
                    Screen::Apply => Some(Job::Apply),
                    Screen::Install => Some(Job::Install),
                    Screen::Verify => Some(Job::Verify),
                    _ => None,
                });
                match job {
                    Some(Job::Preflight) => {
                        self.preflight.running = false;
                        self.preflight.error = Some(e);
                    }
                    Some(Job::DryRun | Job::Apply) => {
                        self.apply.phase = ApplyPhase::Done;
                        self.apply.error = Some(e);
                    }
                    Some(Job::Install) => {
                        self.install.phase = InstallPhase::Done;
                        self.install.error = Some(e);
                    }
                    Some(Job::Rollback(_) | Job::Uninstall) => {
                        self.install.phase = InstallPhase::Done;
                        self.install.recovery = Some(Recovery::Failed(e));
                    }
                    Some(Job::Verify) => {
                        if !matches!(e, EngineError::Interrupted) {
                            self.dashboard.update(DashMsg::Failed(e.to_string()));
                        }
                    }
                    Some(Job::DeleteEarlier) => {
                        self.upgrade.earlier =
                            upgrade::EarlierStep::Failed(narrate::error_lines(&e));
                    }
                    // The review's diff takes its events before this (`on_diff_event`).
                    Some(Job::Seed | Job::ReviewDiff) | None => {
                        self.job = job;
                        return Err(Box::new(Event::Failed(e)));
                    }
                }
            }
            other => return Err(Box::new(other)),
        }
        Ok(())
    }
}

/// Keys on the cluster screens.
fn update_cluster(state: &mut State, msg: Msg) -> Vec<Effect> {
    match state.screen {
        Screen::Preflight => update_preflight(state, msg),
        Screen::Confirm => update_confirm(state, msg),
        Screen::Apply => update_apply(state, msg),
        Screen::Install => update_install(state, msg),
        Screen::Verify => update_verify(state, msg),
        Screen::Done => update_done(state, msg),
        _ => vec![],
    }
}

/// The live checks: ↑/↓ select, c runs the canary, Enter goes on to the summary.
fn update_verify(state: &mut State, msg: Msg) -> Vec<Effect> {
    let to_dashboard = match msg {
        Msg::ScrollDown => Some(DashMsg::Down),
        Msg::ScrollUp => Some(DashMsg::Up),
        Msg::Char('c') => Some(DashMsg::RerunCanary),
        Msg::Dashboard(ref m) => Some((**m).clone()),
        _ => None,
    };
    if let Some(m) = to_dashboard {
        return state
            .dashboard
            .update(m)
            .into_iter()
            .filter_map(|e| match e {
                DashEffect::RerunCanary => Some(Effect::RunCanary(state.canary.clone())),
                DashEffect::Quit => None,
            })
            .collect();
    }
    match msg {
        // The follow's job stays until its cancel comes back as `Interrupted` (ignored then);
        // cleared here, that event would be taken for another step's failure.
        Msg::NextField | Msg::NextScreen => {
            state.screen = Screen::Done;
            state.status = None;
            vec![Effect::Cancel]
        }
        Msg::PrevScreen => {
            state.screen = Screen::Install;
            vec![Effect::Cancel]
        }
        Msg::RequestQuit => state.ask_quit(),
        _ => vec![],
    }
}

/// The summary: Enter or q leaves (exit 0: the run is complete), v watches again. After an
/// upgrade verified green, x then y deletes the earlier secret names.
fn update_done(state: &mut State, msg: Msg) -> Vec<Effect> {
    if matches!(state.upgrade.earlier, upgrade::EarlierStep::Asking) {
        if msg == Msg::Char('y') {
            return state.delete_earlier();
        }
        state.upgrade.earlier = upgrade::EarlierStep::NotAsked;
        state.status = Some(Ok("the earlier names are kept".into()));
        return vec![];
    }
    if matches!(state.upgrade.earlier, upgrade::EarlierStep::Deleting) {
        return match msg {
            Msg::RequestQuit => stop(state, "the deletes in flight complete, no new one starts"),
            _ => vec![],
        };
    }
    match msg {
        Msg::Char('x') if !state.earlier_to_delete().is_empty() => {
            state.upgrade.earlier = upgrade::EarlierStep::Asking;
            vec![]
        }
        Msg::NextField | Msg::NextScreen | Msg::Char('q') => vec![Effect::Quit],
        Msg::Char('v') | Msg::PrevScreen => state.enter_cluster(Screen::Verify),
        Msg::RequestQuit => vec![Effect::Quit],
        _ => vec![],
    }
}

/// Esc or Ctrl-C while a request runs: stop it; the screen then shows what was done.
fn stop(state: &mut State, what: &str) -> Vec<Effect> {
    state.status = Some(Err(format!("stopping: {what}")));
    vec![Effect::Cancel]
}

fn update_preflight(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::RequestQuit if state.preflight.running => {
            stop(state, "the checks only read, nothing is changed")
        }
        Msg::Char('r') if !state.preflight.running => state.run_preflight(),
        Msg::NextField | Msg::NextScreen | Msg::Char('c') => {
            if state.preflight.passed() {
                state.enter_cluster(Screen::Confirm)
            } else {
                state.status = Some(Err(if state.preflight.running {
                    "the checks are still running".into()
                } else {
                    "the failed checks block the next step: follow their fixes, then r re-runs"
                        .into()
                }));
                vec![]
            }
        }
        Msg::PrevScreen if !state.preflight.running => {
            state.screen = Screen::Secrets;
            vec![]
        }
        Msg::RequestQuit => state.ask_quit(),
        _ => vec![],
    }
}

fn update_confirm(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Char(c) => {
            state.confirm.typed.push(c);
            state.status = None;
        }
        Msg::Backspace => {
            state.confirm.typed.pop();
        }
        Msg::ClearField => state.confirm.typed.clear(),
        Msg::NextField | Msg::NextScreen => {
            let Some(target) = state.target() else {
                state.status = Some(Err("run preflight first: it finds the context".into()));
                state.screen = Screen::Preflight;
                return vec![];
            };
            if state.confirm.typed == target.context {
                state.confirm.confirmed = Some(target.context);
                return state.enter_cluster(Screen::Apply);
            }
            state.status = Some(Err(format!(
                "{:?} is not the context's name: type {} exactly to change this cluster, or Esc to go back",
                state.confirm.typed, target.context
            )));
        }
        Msg::RequestQuit | Msg::PrevScreen => {
            state.confirm.typed.clear();
            state.screen = Screen::Preflight;
        }
        _ => {}
    }
    vec![]
}

fn update_apply(state: &mut State, msg: Msg) -> Vec<Effect> {
    let running = state.apply.running();
    match msg {
        Msg::RequestQuit if running => stop(
            state,
            "the object being applied completes, no new one starts",
        ),
        Msg::Char('d') if !running => state.run_apply(true),
        Msg::Char('a') | Msg::NextField
            if matches!(state.apply.phase, ApplyPhase::Previewed)
                || (state.apply.phase == ApplyPhase::Done && !state.apply.synced()) =>
        {
            state.run_apply(false)
        }
        Msg::Char('i') | Msg::NextField | Msg::NextScreen if state.apply.synced() => {
            state.enter_cluster(Screen::Install)
        }
        Msg::NextScreen if !running => {
            state.status = Some(Err(
                "the store is not synced yet: install needs the runtime Secret (a applies)".into(),
            ));
            vec![]
        }
        Msg::PrevScreen if !running => {
            state.screen = Screen::Preflight;
            vec![]
        }
        Msg::RequestQuit => state.ask_quit(),
        _ => vec![],
    }
}

fn update_install(state: &mut State, msg: Msg) -> Vec<Effect> {
    // An upgrade's rollback asks first: migrations are forward-only.
    if std::mem::take(&mut state.install.confirm_rollback) {
        if msg == Msg::Char('y') {
            return rollback(state);
        }
        state.status = Some(Ok("this revision is kept".into()));
        return vec![];
    }
    if state.install.confirm_uninstall {
        state.install.confirm_uninstall = false;
        if let (Msg::Char('y'), Some(answers)) = (&msg, state.valid.clone())
            && state.install.may_uninstall()
        {
            state.install.phase = InstallPhase::Uninstalling;
            state.status = None;
            return state.submit(
                Job::Uninstall,
                Request::Uninstall {
                    answers: Box::new(answers),
                },
            );
        }
        state.status = Some(Ok("the release is kept".into()));
        return vec![];
    }
    let running = state.install.running();
    match msg {
        Msg::RequestQuit if running => stop(
            state,
            "helm is stopped; the screen says what was done and how to finish",
        ),
        Msg::Char('b') if state.upgrade_mode() && state.install.rollback_to().is_some() => {
            state.install.confirm_rollback = true;
            vec![]
        }
        Msg::Char('b') => rollback(state),
        Msg::Char('u') if state.install.may_uninstall() => {
            state.install.confirm_uninstall = true;
            vec![]
        }
        Msg::Char('v') | Msg::NextField | Msg::NextScreen
            if !running
                && matches!(
                    state.install.outcome,
                    Some(InstallOutcome::Deployed { .. } | InstallOutcome::UpToDate { .. })
                ) =>
        {
            state.enter_cluster(Screen::Verify)
        }
        Msg::Char('i') if !running => state.run_install(false),
        Msg::Char('f') if state.install.pending().is_some() => state.run_install(true),
        Msg::PrevScreen if !running => {
            state.screen = Screen::Apply;
            vec![]
        }
        Msg::RequestQuit => state.ask_quit(),
        _ => vec![],
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
        assert_eq!(s.screen, Screen::Questions(1));
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
    fn a_masked_value_never_outgrows_its_first_buffer() {
        let mut m = Masked::default();
        let start = m.0.as_ptr();
        while m.push('x') {}
        assert_eq!(m.0.len(), MASKED_CAPACITY);
        assert_eq!(m.0.as_ptr(), start, "the value was never moved");
        assert!(!m.push('é'));
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
        // Asking keeps the unsaved answers as a draft (the save moved to the review), and
        // does not leave.
        let effects = update(&mut s, Msg::RequestQuit);
        assert!(
            effects.iter().all(|e| matches!(e, Effect::Draft { .. })),
            "{effects:?}"
        );
        assert!(s.confirm_quit);
        update(&mut s, Msg::CancelQuit);
        assert!(!s.confirm_quit);
        update(&mut s, Msg::RequestQuit);
        assert_eq!(
            update(&mut s, Msg::ConfirmQuit),
            vec![Effect::Cancel, Effect::Quit]
        );
    }
}
