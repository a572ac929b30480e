//! `caracal-deploy --plain`: the wizard as linear prompts (dialoguer), for screen readers, dumb
//! terminals and logs. The same state, `update` and engine as the full-screen wizard: each
//! answer goes through the same message, each step is the same engine request, and what the
//! engine reports is told with the headless commands' narration (`engine::narrate`).
//!
//! The steps: the questions (each validated before the next), the review and save, step 1
//! (the plan, rotations, masked values, the writes), the preflight, the typed confirmation of
//! the context, step 2 (the dry run, then the apply and the sync), step 3 (helm) and step 4
//! (verify, waiting until no check is in error). Ctrl-C during a step stops it the way Esc
//! does in the full-screen wizard (what is in flight completes, nothing new starts); at a
//! prompt it leaves, with the answers saved so far kept.

use std::path::Path;
use std::time::Duration;

use dialoguer::{Confirm, Input, Password};
use zeroize::Zeroizing;

use super::app::{Effect, Msg, Screen, SeedPhase, SeedResult, State, rotates_kek, update};
use super::cluster::{ApplyPhase, InstallPhase};
use super::{Driver, form};
use crate::core::checks::{Outcome, Report};
use crate::engine::install::{InstallOutcome, progress_lines};
use crate::engine::narrate::{
    CheckChanges, Line, applied_lines, apply_summary, condition_line, error_lines, install_text,
    next_steps, seed_lines,
};
use crate::engine::verify::Mode;
use crate::engine::{EngineError, Event};
use crate::exit::Exit;

/// How long step 4 waits for every check to pass (`verify --wait`'s usual figure).
pub const VERIFY_WAIT: Duration = Duration::from_secs(10 * 60);

/// How long the start waits for the cluster's names before asking without them.
const CHOICES_WAIT: Duration = Duration::from_secs(15);

/// Why the plain wizard stopped before the end.
struct Stop(Exit);

/// SIGINT is the plain wizard's from its start: a Ctrl-C at a prompt (the prompt raises it and
/// returns an error, which leaves) or during a step (which stops it) is handled, never the
/// default kill that would cut a step's account short.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new(runtime: &tokio::runtime::Runtime) -> std::io::Result<Interrupts> {
        let _runtime = runtime.enter();
        Ok(Interrupts {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The engine's events, told as they come; the state changes through `update` as in the
/// full-screen wizard.
struct Plain<'a> {
    state: &'a mut State,
    driver: &'a mut Driver,
    runtime: &'a tokio::runtime::Runtime,
    interrupts: Interrupts,
    changes: CheckChanges,
    /// The last report of step 4.
    verified: Option<Report>,
    interrupted: bool,
}

/// Runs the wizard as prompts; returns the exit of the contract: 0 when the install is
/// verified with no check in error, 3 when step 4 ends with checks in error or a step fails
/// on the cluster, 1 when the operator stops.
pub fn run(state: &mut State, driver: &mut Driver, runtime: &tokio::runtime::Runtime) -> Exit {
    let interrupts = match Interrupts::new(runtime) {
        Ok(i) => i,
        Err(e) => {
            say(format!("error: cannot handle Ctrl-C: {e}"));
            return Exit::Other;
        }
    };
    let mut plain = Plain {
        state,
        driver,
        runtime,
        interrupts,
        changes: CheckChanges::default(),
        verified: None,
        interrupted: false,
    };
    let exit = match plain.steps() {
        Ok(exit) | Err(Stop(exit)) => exit,
    };
    // A prompt left by Ctrl-C may have hidden the cursor.
    let _ = dialoguer::console::Term::stderr().show_cursor();
    exit
}

fn say(line: impl AsRef<str>) {
    eprintln!("{}", line.as_ref());
}

fn heading(screen: Screen) {
    say(format!(
        "\n== step {}/{}: {} ==",
        screen.position() + 1,
        Screen::count(),
        screen.title()
    ));
}

/// A prompt the operator left (Ctrl-C, Esc, the end of input): nothing more is done.
fn left(what: &str) -> Stop {
    say(format!(
        "\nstopped at {what}: the answers saved so far are kept."
    ));
    Stop(Exit::Other)
}

fn confirm(prompt: &str, default: bool) -> Result<bool, Stop> {
    Confirm::new()
        .with_prompt(prompt)
        .default(default)
        .interact()
        .map_err(|_| left(prompt))
}

impl Plain<'_> {
    fn steps(&mut self) -> Result<Exit, Stop> {
        say(format!(
            "caracal-deploy: answers are saved to {}; secret values are never written to it.",
            self.state.answers_path.display()
        ));
        self.start()?;
        let resumed = self.state.valid.is_some()
            && self.state.saved
            && confirm(
                "The answers file is complete: go on to the steps without asking the questions again?",
                true,
            )?;
        if !resumed {
            self.questions()?;
            self.review_and_save()?;
        }
        if self.state.upgrade_mode() {
            self.upgrade()?;
        }
        self.seed()?;
        self.preflight()?;
        self.confirm_context()?;
        self.apply()?;
        self.install()?;
        self.verify()
    }

    /// Waits on the engine until `done` holds, telling each event. Ctrl-C stops the request
    /// the way Esc does on the full-screen wizard; the step then ends as it reports.
    fn pump(&mut self, done: impl Fn(&State) -> bool) -> Result<(), Stop> {
        while !done(self.state) {
            let msg = self.runtime.block_on(async {
                tokio::select! {
                    msg = self.driver.next_engine_msg() => Some(msg),
                    () = self.interrupts.next() => None,
                }
            });
            match msg {
                Some(Some(Msg::Engine(event))) => {
                    self.tell(&event);
                    let effects = update(self.state, Msg::Engine(event));
                    self.driver.perform(self.state, effects);
                }
                Some(_) => {
                    say("error: the engine stopped");
                    return Err(Stop(Exit::Other));
                }
                None if self.interrupted => {}
                None => {
                    self.interrupted = true;
                    say(
                        "\ninterrupted: stopping; what is in flight completes, nothing new starts…",
                    );
                    self.driver.perform(self.state, vec![Effect::Cancel]);
                }
            }
        }
        if self.interrupted {
            say("stopped: run `caracal-deploy --plain` again to go on from here.");
            return Err(Stop(Exit::Other));
        }
        Ok(())
    }

    /// Tells one engine event the way the headless commands do.
    fn tell(&mut self, event: &Event) {
        let release = self
            .state
            .valid
            .as_ref()
            .map(|a| a.release.clone())
            .unwrap_or_default();
        let lines: Vec<String> = match event {
            Event::SeedReading { .. }
            | Event::SeedPlanned { .. }
            | Event::SeedProgress(_)
            | Event::SeedFinished(_) => seed_lines(event, &self.state.answers_path)
                .into_iter()
                .map(|l| match l {
                    Line::Out(l) | Line::Err(l) => l,
                })
                .collect(),
            Event::PreflightDone(report) => vec![report.to_text()],
            Event::Applied(a) => applied_lines(a),
            Event::StoreCondition(c) => vec![condition_line(c)],
            Event::ApplyDone(o) => vec![apply_summary(o)],
            Event::InstallProgress(p) => progress_lines(&release, p),
            Event::InstallDone(o) => vec![install_text(o, &release)],
            Event::VerifyProgress(live) => self.changes.lines(&live.report),
            Event::VerifyDone(outcome) => {
                self.verified = Some(outcome.report.clone());
                let mut lines = vec![];
                if outcome.timed_out {
                    lines.push(format!(
                        "The wait ended with checks still not green: {}",
                        crate::engine::narrate::not_green(&outcome.report).join(", ")
                    ));
                }
                lines.push(outcome.report.to_text());
                lines
            }
            Event::Failed(EngineError::Interrupted) => vec!["stopped.".into()],
            // No release after all: a first install (the review's diff goes on with helm's).
            Event::Failed(EngineError::NoRelease { .. }) => vec![],
            Event::Failed(e) => error_lines(e),
            Event::RolledBack { revision } => {
                vec![format!("{release} rolled back to revision {revision}.")]
            }
            Event::Uninstalled { .. } => vec![format!("{release} uninstalled.")],
            Event::UpgradePlanned(plan) => crate::engine::narrate::upgrade_lines(plan),
            Event::Orphaned { names } => vec![format!(
                "StatefulSet(s) {} deleted, pods and volumes kept (helm creates them again)",
                names.join(", ")
            )],
            Event::EarlierDeleted(outcome) => crate::engine::narrate::earlier_lines(outcome),
            Event::Detected(_) | Event::ClusterChoices(_) => vec![],
        };
        for line in lines {
            say(line.trim_end());
        }
    }

    /// What the cluster offers (the names shown beside their questions) and, for a complete
    /// answers file, what is already done.
    fn start(&mut self) -> Result<(), Stop> {
        // Resumed or not, the plain wizard goes through every step in order: each says what
        // it finds done.
        self.state.touched = true;
        let detecting = self.state.valid.is_some();
        let effects = self.state.start();
        self.driver.perform(self.state, effects);
        let deadline = std::time::Instant::now() + CHOICES_WAIT;
        say("Reading the kubeconfig and the cluster…");
        while std::time::Instant::now() < deadline {
            let loaded = self.state.choices.context.is_some()
                || self.state.choices.unreadable.is_some()
                || !self.state.choices.contexts.is_empty();
            if loaded && (!detecting || self.state.found.is_some()) {
                break;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let msg = self.runtime.block_on(async {
                tokio::time::timeout(left, self.driver.next_engine_msg()).await
            });
            if let Ok(Some(msg)) = msg {
                let effects = update(self.state, msg);
                self.driver.perform(self.state, effects);
            }
        }
        let c = &self.state.choices;
        match (&c.context, &c.server) {
            (Some(context), Some(server)) => {
                say(format!("  context {context}, API server {server}"))
            }
            _ => say(format!(
                "  no cluster read{}",
                c.unreadable
                    .as_ref()
                    .map(|u| format!(": {u}"))
                    .unwrap_or_default()
            )),
        }
        match &c.cloud {
            Ok((cloud, evidence)) => say(format!("  cloud: {} ({evidence})", cloud)),
            Err(why) => say(format!("  cloud: not told ({why})")),
        }
        if let Some(Ok(status)) = &self.state.status
            && self.state.found.is_some()
        {
            say(format!("  {status}"));
        }
        if let Some(Err(problem)) = &self.state.status {
            say(format!("error: {problem}"));
            return Err(Stop(Exit::InvalidInput));
        }
        Ok(())
    }

    /// Every question in order, each validated before the next; the whole set again while
    /// answers conflict.
    fn questions(&mut self) -> Result<(), Stop> {
        loop {
            for screen in 0..form::SCREENS.len() {
                self.state.screen = Screen::Questions(screen);
                heading(self.state.screen);
                say(form::SCREENS[screen].intro);
                let mut i = 0;
                while i < self.state.fields().len() {
                    self.state.focus = i;
                    let field = self.state.fields()[i];
                    let total = self.state.fields().len();
                    let names: Vec<String> = self
                        .state
                        .choices
                        .for_field(field.path)
                        .iter()
                        .map(|c| {
                            if c.note.is_empty() {
                                c.name.clone()
                            } else {
                                format!("{} ({})", c.name, c.note)
                            }
                        })
                        .collect();
                    // The full screen's "←/→" hint means nothing here: the value is typed.
                    let help = field
                        .help
                        .split("←/→")
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches([' ', ':', ';']);
                    let mut prompt = format!(
                        "{}.{}/{} {} ({help})",
                        screen + 1,
                        i + 1,
                        total,
                        field.label,
                    );
                    if !names.is_empty() {
                        prompt.push_str(&format!("; the cluster has: {}", names.join(", ")));
                    }
                    let current = self.state.text(field.path).to_string();
                    let value: String = Input::new()
                        .with_prompt(prompt)
                        .with_initial_text(current)
                        .allow_empty(true)
                        .interact_text()
                        .map_err(|_| left("the questions"))?;
                    // Kept as a draft as it is given, as on the full screen.
                    let effects =
                        update(self.state, Msg::Set(field.path, value.trim().to_string()));
                    self.driver.perform(self.state, effects);
                    let problems = self.state.problems_of(field.path);
                    if problems.is_empty() {
                        i += 1;
                    } else {
                        for p in problems {
                            say(format!("  ✗ {}: {}", p.message, p.fix));
                        }
                    }
                }
            }
            if self.state.problems.is_empty() {
                return Ok(());
            }
            for p in &self.state.problems {
                say(format!("  ✗ {p}"));
            }
            say("Some answers conflict; going through the questions again.");
        }
    }

    /// The files the answers make, then the save (answers file and bundle).
    fn review_and_save(&mut self) -> Result<(), Stop> {
        update(self.state, Msg::NextScreen);
        self.state.screen = Screen::Review;
        heading(Screen::Review);
        let Some(bundle) = self.state.bundle.clone() else {
            return Err(Stop(Exit::Other));
        };
        for f in &bundle.files {
            say(format!("  {:<28} {}", f.name, f.summary));
        }
        let prompt = format!(
            "Save the answers to {} and the bundle to {}/?",
            self.state.answers_path.display(),
            self.state.out_dir.display()
        );
        let mut prompt = prompt;
        loop {
            if !confirm(&prompt, true)? {
                say("nothing saved.");
                return Err(Stop(Exit::Other));
            }
            let effects = update(self.state, Msg::Save);
            self.driver.perform(self.state, effects);
            match &self.state.status {
                Some(Ok(msg)) => {
                    say(format!("✓ {msg}"));
                    return Ok(());
                }
                // A file that cannot keep its text: the next save rewrites it, with a backup.
                Some(Err(_)) if self.state.rewrite_armed => {
                    say(format!(
                        "  ✗ {} cannot keep its text (it fails validation, or cannot be edited in place); nothing was written.",
                        self.state.answers_path.display()
                    ));
                    prompt = format!(
                        "Rewrite it? Its original is kept as {}.bak",
                        self.state.answers_path.display()
                    );
                }
                Some(Err(msg)) => {
                    say(format!("error: {msg}"));
                    return Err(Stop(Exit::Other));
                }
                None => return Err(Stop(Exit::Other)),
            }
        }
    }

    /// A release exists: what the upgrade changes, read and told before anything changes; a
    /// downgrade only with the target version typed.
    fn upgrade(&mut self) -> Result<(), Stop> {
        say(format!(
            "\n== Upgrade: release {} exists ==",
            self.state
                .valid
                .as_ref()
                .map(|a| a.release.as_str())
                .unwrap_or_default()
        ));
        say("Reading what the upgrade would change (reads only; nothing is changed)…");
        let effects = self.state.review_upgrade();
        self.driver.perform(self.state, effects);
        self.pump(|s| s.job.is_none())?;
        if !self.state.review.diff.error.is_empty() {
            for l in &self.state.review.diff.error {
                say(l);
            }
            return Err(Stop(Exit::CheckFailed));
        }
        let Some(plan) = self.state.upgrade_plan().cloned() else {
            // helm knows no release after all: a first install.
            return Ok(());
        };
        say(super::upgrade::header(&plan));
        if let Some(why) = super::upgrade::blocked(&plan) {
            say(format!("error: {why}"));
            return Err(Stop(Exit::CheckFailed));
        }
        if super::upgrade::is_downgrade(&plan) {
            say(format!(
                "Chart {} is not a step forward from the deployed {}. {}",
                plan.target,
                plan.deployed.chart_version,
                crate::engine::narrate::FORWARD_ONLY
            ));
            let typed: String = Input::new()
                .with_prompt(format!(
                    "Type {} to confirm its images work with {}'s schema (Enter alone stops)",
                    plan.target, plan.deployed.chart_version
                ))
                .allow_empty(true)
                .interact_text()
                .map_err(|_| left("the downgrade: nothing was changed"))?;
            self.state.upgrade.downgrade_typed = Some(String::new());
            for c in typed.chars() {
                update(self.state, Msg::Char(c));
            }
            update(self.state, Msg::NextField);
            if self.state.upgrade.downgrade_confirmed.as_deref() != Some(plan.target.as_str()) {
                self.state.upgrade.downgrade_typed = None;
                say(format!(
                    "downgrade not confirmed ({typed:?} is not {}): nothing was changed.",
                    plan.target
                ));
                return Err(Stop(Exit::InvalidInput));
            }
        }
        if !confirm(
            "Go on with the upgrade (seed, check, apply, helm, verify)?",
            true,
        )? {
            say("nothing was changed.");
            return Err(Stop(Exit::Other));
        }
        Ok(())
    }

    /// Step 1: the plan, the rotations asked for, the masked values, the writes.
    fn seed(&mut self) -> Result<(), Stop> {
        self.state.screen = Screen::Review;
        let effects = update(self.state, Msg::NextScreen);
        self.driver.perform(self.state, effects);
        heading(Screen::Secrets);
        let planned = |s: &State| matches!(s.seed.phase, SeedPhase::Planned | SeedPhase::Done);
        self.pump(planned)?;
        self.seed_failed()?;
        let existing: Vec<String> = self
            .state
            .seed
            .plan
            .iter()
            .flat_map(|p| &p.items)
            .filter(|i| i.digest.is_some())
            .map(|i| i.secret.name.clone())
            .collect();
        if !existing.is_empty() {
            self.ask_rotations(&existing)?;
        }
        let Some(plan) = self.state.seed.plan.clone() else {
            return Err(Stop(Exit::Other));
        };
        if plan.writes() == 0 {
            say("Every secret is in place: nothing to write.");
            return Ok(());
        }
        if rotates_kek(&plan) {
            say(
                "The KEK gets a new version and the previous one is kept: kekRotation is set to true, \
                 so the services read both keys until the re-seal sweep completes.",
            );
        }
        let target = self.state.seed.target.clone().unwrap_or_default();
        if !confirm(
            &format!("Write {} secret(s) to {target}?", plan.writes()),
            true,
        )? {
            say("nothing was written.");
            return Err(Stop(Exit::Other));
        }
        let effects = update(self.state, Msg::NextField);
        self.driver.perform(self.state, effects);
        while let SeedPhase::Asking(field) = self.state.seed.phase.clone() {
            let value = Password::new()
                .with_prompt(format!("{field} (input hidden)"))
                .with_confirmation("Repeat it", "The two entries differ")
                .interact()
                .map(Zeroizing::new)
                .map_err(|_| left("a secret's value: nothing was written"))?;
            for c in value.chars() {
                update(self.state, Msg::Char(c));
            }
            let effects = update(self.state, Msg::NextField);
            self.driver.perform(self.state, effects);
        }
        self.pump(|s| s.seed.phase == SeedPhase::Done)?;
        self.seed_failed()?;
        if self.state.extra.get("kekRotation") == Some(&serde_json::Value::Bool(true))
            && !self.state.saved
        {
            let effects = update(self.state, Msg::Save);
            self.driver.perform(self.state, effects);
            match &self.state.status {
                Some(Ok(msg)) => say(format!("✓ kekRotation: true; {msg}")),
                _ => say(format!(
                    "error: set `kekRotation: true` in {} before step 2: the save failed",
                    self.state.answers_path.display()
                )),
            }
            // The save shows the review on the full-screen wizard; here the steps go on.
            self.state.screen = Screen::Secrets;
        }
        Ok(())
    }

    /// Names typed to get a new version (comma-separated), each marked as space does on the
    /// full-screen plan; the plan is read again with them.
    fn ask_rotations(&mut self, existing: &[String]) -> Result<(), Stop> {
        loop {
            let typed: String = Input::new()
                .with_prompt(format!(
                    "Rotate (a new version of) any of these? Names separated by commas, Enter for none: {}",
                    existing.join(", ")
                ))
                .allow_empty(true)
                .interact_text()
                .map_err(|_| left("the rotations: nothing was written"))?;
            let names: Vec<&str> = typed
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if let Some(unknown) = names.iter().find(|n| !existing.iter().any(|e| e == *n)) {
                say(format!(
                    "  ✗ {unknown} is not one of the existing secrets: type names from the list"
                ));
                continue;
            }
            for name in names {
                let Some(row) = self
                    .state
                    .seed
                    .plan
                    .as_ref()
                    .and_then(|p| p.items.iter().position(|i| i.secret.name == name))
                else {
                    continue;
                };
                if self.state.seed.rotate.contains(name) {
                    continue;
                }
                self.state.seed.cursor = row;
                let effects = update(self.state, Msg::ToggleRotate);
                self.driver.perform(self.state, effects);
                self.pump(|s| matches!(s.seed.phase, SeedPhase::Planned | SeedPhase::Done))?;
                self.seed_failed()?;
            }
            return Ok(());
        }
    }

    fn seed_failed(&self) -> Result<(), Stop> {
        match &self.state.seed.result {
            Some(SeedResult::Failed(e)) => Err(Stop(e.exit())),
            Some(r @ SeedResult::Finished(o)) if !r.is_success() => {
                Err(Stop(match o.exit(false) {
                    Exit::Success | Exit::Warnings => Exit::CheckFailed,
                    exit => exit,
                }))
            }
            _ => Ok(()),
        }
    }

    /// The preflight: read-only checks; failed ones can be fixed and run again.
    fn preflight(&mut self) -> Result<(), Stop> {
        heading(Screen::Preflight);
        say("Running the preflight checks (reads only; nothing is changed)…");
        let effects = update(self.state, Msg::NextScreen);
        self.driver.perform(self.state, effects);
        loop {
            self.pump(|s| !s.preflight.running)?;
            if let Some(e) = &self.state.preflight.error {
                return Err(Stop(e.exit()));
            }
            if self.state.preflight.passed() {
                return Ok(());
            }
            if !confirm(
                "Failed checks block the next step. Follow their fixes, then run the checks again?",
                true,
            )? {
                return Err(Stop(Exit::CheckFailed));
            }
            let effects = update(self.state, Msg::Char('r'));
            self.driver.perform(self.state, effects);
        }
    }

    /// The typed confirmation: the context's name, before any change to the cluster.
    fn confirm_context(&mut self) -> Result<(), Stop> {
        let effects = update(self.state, Msg::NextField);
        self.driver.perform(self.state, effects);
        heading(Screen::Confirm);
        let Some(target) = self.state.target() else {
            return Err(Stop(Exit::Other));
        };
        if let Some(context) = self.state.production_context() {
            say(format!("PRODUCTION: {context}"));
        }
        say(format!(
            "The next steps change the cluster: context {}, API server {}, namespace {}.",
            target.context, target.server, target.namespace
        ));
        while self.state.screen == Screen::Confirm {
            let typed: String = Input::new()
                .with_prompt(format!(
                    "Type the context's name ({}) to confirm",
                    target.context
                ))
                .allow_empty(true)
                .interact_text()
                .map_err(|_| left("the confirmation: nothing was changed"))?;
            if typed.is_empty() {
                return Err(left("the confirmation: nothing was changed"));
            }
            update(self.state, Msg::ClearField);
            for c in typed.chars() {
                update(self.state, Msg::Char(c));
            }
            let effects = update(self.state, Msg::NextField);
            self.driver.perform(self.state, effects);
            if self.state.screen == Screen::Confirm {
                say(format!(
                    "  ✗ {typed:?} is not the context's name: type {} exactly to change this cluster, \
                     or Enter alone to stop here",
                    target.context
                ));
            }
        }
        Ok(())
    }

    /// Step 2: the server-side dry run, then the apply and the sync.
    fn apply(&mut self) -> Result<(), Stop> {
        heading(Screen::Apply);
        say("Comparing the secret store with the cluster (server-side dry run)…");
        let settled = |s: &State| matches!(s.apply.phase, ApplyPhase::Previewed | ApplyPhase::Done);
        self.pump(settled)?;
        if let Some(e) = &self.state.apply.error {
            return Err(Stop(e.exit()));
        }
        if !confirm("Apply these changes?", true)? {
            say("nothing was changed.");
            return Err(Stop(Exit::Other));
        }
        let effects = update(self.state, Msg::Char('a'));
        self.driver.perform(self.state, effects);
        say("Applying; then waiting for External Secrets to sync the runtime Secret…");
        self.pump(|s| s.apply.phase == ApplyPhase::Done)?;
        if let Some(e) = &self.state.apply.error {
            return Err(Stop(e.exit()));
        }
        if !self.state.apply.synced() {
            say("The store is not synced: install needs the runtime Secret.");
            return Err(Stop(Exit::CheckFailed));
        }
        Ok(())
    }

    /// Step 3: helm, waiting for hooks and workloads.
    fn install(&mut self) -> Result<(), Stop> {
        heading(Screen::Install);
        if !confirm("Run helm upgrade --install now?", true)? {
            return Err(left("step 3: helm was not run"));
        }
        let effects = update(self.state, Msg::Char('i'));
        self.driver.perform(self.state, effects);
        self.pump(|s| s.install.phase == InstallPhase::Done)?;
        if let Some(e) = &self.state.install.error {
            return Err(Stop(e.exit()));
        }
        match &self.state.install.outcome {
            Some(InstallOutcome::Deployed { .. } | InstallOutcome::UpToDate { .. }) => Ok(()),
            _ => {
                if self.state.upgrade_mode() {
                    say(crate::engine::narrate::FORWARD_ONLY);
                }
                say(
                    "Step 3 failed. `caracal-deploy install -f ANSWERS --yes --rollback-on-failure` \
                     returns to the last deployed revision; the full-screen wizard offers it too.",
                );
                Err(Stop(Exit::CheckFailed))
            }
        }
    }

    /// Step 4: verify, waiting until no check is in error; then the summary.
    fn verify(&mut self) -> Result<Exit, Stop> {
        heading(Screen::Verify);
        say(format!(
            "Verifying; waiting up to {} min for every check to pass…",
            VERIFY_WAIT.as_secs() / 60
        ));
        let effects = self.state.enter_verify(Mode::Wait(VERIFY_WAIT));
        self.driver.perform(self.state, effects);
        self.pump(|s| s.job.is_none())?;
        let Some(report) = self.verified.clone() else {
            return Err(Stop(Exit::CheckFailed));
        };
        heading(Screen::Done);
        let errors = report
            .checks()
            .filter(|c| c.result == Outcome::Error)
            .count();
        let answers = self.state.valid.clone().ok_or(Stop(Exit::Other))?;
        if errors == 0 {
            say(format!(
                "✓ Caracal ({}) is installed and verified in {}",
                answers.release, answers.namespace
            ));
        } else {
            say(format!(
                "✗ Caracal ({}) in {} has {errors} check(s) in error: each has its fix above",
                answers.release, answers.namespace
            ));
        }
        summary(&self.state.answers_path, &self.state.out_dir);
        self.earlier(&report)?;
        Ok(if errors == 0 {
            Exit::Success
        } else {
            Exit::CheckFailed
        })
    }
}

impl Plain<'_> {
    /// After an upgrade: the earlier secret names, deleted only when asked, only after verify
    /// ended with every check green.
    fn earlier(&mut self, report: &Report) -> Result<(), Stop> {
        let names = self.state.earlier_names();
        if names.is_empty() {
            return Ok(());
        }
        say("The earlier chart's secret names are still there:");
        for (old, current) in &names {
            say(format!("  {old} (its value is under {current})"));
        }
        if !super::upgrade::all_green(report) {
            say(
                "They are deleted only after verify ends with every check green; once it does, \
                 `caracal-deploy upgrade -f ANSWERS --yes --delete-earlier` deletes them.",
            );
            return Ok(());
        }
        if !confirm(
            "Delete them? Each is deleted only if its current name still holds the same value",
            false,
        )? {
            say("kept.");
            return Ok(());
        }
        let effects = self.state.delete_earlier();
        self.driver.perform(self.state, effects);
        self.pump(|s| s.job.is_none())?;
        match &self.state.upgrade.earlier {
            super::upgrade::EarlierStep::Done(o) if o.failed == 0 => Ok(()),
            super::upgrade::EarlierStep::Done(_) => Err(Stop(Exit::CheckFailed)),
            super::upgrade::EarlierStep::Failed(lines) => {
                for l in lines {
                    say(l);
                }
                Err(Stop(Exit::CheckFailed))
            }
            _ => Err(Stop(Exit::Other)),
        }
    }
}

fn summary(answers: &Path, out: &Path) {
    say(format!(
        "  answers: {} (no secret value is in it)",
        answers.display()
    ));
    say(format!("  bundle:  {}/", out.display()));
    say("Next:");
    for (command, what) in next_steps(answers) {
        say(format!("  {command}\n      {what}"));
    }
}
