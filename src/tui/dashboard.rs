//! `caracal-deploy dashboard`: the checks of `verify`, live from its watches, full screen; the
//! rollout of each workload, the namespace's recent warnings, and the canary's last run with
//! its evidence. `c` runs the canary again.
//!
//! Elm-style like the wizard: keys and engine events become [`DashMsg`]s, [`Dashboard::update`]
//! changes the state and returns [`DashEffect`]s, [`draw`] draws a snapshot. The loop in
//! [`run`] never waits on the network: the engine follows the cluster on its own task.

use std::io::IsTerminal;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::core::answers::Answers;
use crate::core::checks::{Check, Outcome, Report};
use crate::core::live::Live;
use crate::engine::verify::{CanaryTrigger, Mode};
use crate::engine::{Engine, EngineError, Event, Request};
use crate::exit::Exit;

use super::theme::{monochrome, outcome_style};

/// The shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(33);

/// Draws only after a change, at most once per FRAME (the dashboard's and the wizard's loops).
pub struct Pacer {
    pub dirty: bool,
    next: tokio::time::Instant,
}

impl Default for Pacer {
    fn default() -> Pacer {
        Pacer {
            dirty: true,
            next: tokio::time::Instant::now(),
        }
    }
}

impl Pacer {
    /// Whether to draw now.
    pub fn due(&self) -> bool {
        self.dirty && tokio::time::Instant::now() >= self.next
    }

    pub fn drawn(&mut self) {
        self.dirty = false;
        self.next = tokio::time::Instant::now() + FRAME;
    }

    /// Ready when a pending change may be drawn; never, with nothing pending.
    pub async fn ready(&self) {
        if self.dirty {
            tokio::time::sleep_until(self.next).await
        } else {
            std::future::pending().await
        }
    }
}

/// The smallest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Colours, or none (`NO_COLOR`): glyphs and words carry every meaning either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    pub mono: bool,
}

impl Palette {
    /// `NO_COLOR` set (to anything non-empty) means monochrome (no-color.org).
    pub fn from_env() -> Palette {
        Palette {
            mono: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DashMsg {
    /// A new picture from the engine.
    Live(Box<Live>),
    /// The engine stopped (it cannot reach the cluster, the answers are invalid…).
    Failed(String),
    Down,
    Up,
    RerunCanary,
    ToggleHelp,
    /// `/`: type a filter on the checks' ids and details; Enter keeps it, Esc clears it.
    FilterStart,
    FilterChar(char),
    FilterBackspace,
    FilterDone,
    FilterClear,
    Quit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DashEffect {
    RerunCanary,
    Quit,
}

/// The dashboard's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dashboard {
    pub release: String,
    pub namespace: String,
    pub live: Option<Live>,
    /// Index into [`Dashboard::visible`].
    pub selected: usize,
    pub help: bool,
    pub filter: String,
    pub filtering: bool,
    pub failed: Option<String>,
    pub palette: Palette,
}

impl Dashboard {
    /// A dashboard of no release yet (the wizard's, before step 4).
    pub fn empty(palette: Palette) -> Dashboard {
        Dashboard {
            release: String::new(),
            namespace: String::new(),
            live: None,
            selected: 0,
            help: false,
            filter: String::new(),
            filtering: false,
            failed: None,
            palette,
        }
    }

    pub fn new(answers: &Answers, palette: Palette) -> Dashboard {
        Dashboard {
            release: answers.release.clone(),
            namespace: answers.namespace.clone(),
            live: None,
            selected: 0,
            help: false,
            filter: String::new(),
            filtering: false,
            failed: None,
            palette,
        }
    }

    /// The checks shown, (category, check), in the report's order, the filter applied.
    pub fn visible(&self) -> Vec<(&str, &Check)> {
        let Some(live) = &self.live else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        live.report
            .categories
            .iter()
            .flat_map(|(cat, checks)| checks.iter().map(move |c| (cat.as_str(), c)))
            .filter(|(cat, c)| {
                needle.is_empty()
                    || c.id.contains(&needle)
                    || cat.contains(&needle)
                    || c.description.to_lowercase().contains(&needle)
                    || c.detail.to_lowercase().contains(&needle)
            })
            .collect()
    }

    pub fn selected_check(&self) -> Option<&Check> {
        self.visible().get(self.selected).map(|(_, c)| *c)
    }

    /// The exit of the contract for the last picture: 0 all green, 4 warnings, 3 errors; 1 when
    /// there is none (nothing was observed).
    pub fn exit(&self) -> Exit {
        match &self.live {
            None => Exit::Other,
            Some(l) => l.report.exit(false),
        }
    }

    pub fn update(&mut self, msg: DashMsg) -> Vec<DashEffect> {
        match msg {
            DashMsg::Live(live) => {
                // The selection stays on the same check when it can.
                let id = self.selected_check().map(|c| c.id.clone());
                self.live = Some(*live);
                self.failed = None;
                let visible = self.visible();
                self.selected = id
                    .and_then(|id| visible.iter().position(|(_, c)| c.id == id))
                    .unwrap_or(self.selected)
                    .min(visible.len().saturating_sub(1));
            }
            DashMsg::Failed(why) => self.failed = Some(why),
            DashMsg::Down => {
                let n = self.visible().len();
                if n > 0 {
                    self.selected = (self.selected + 1).min(n - 1);
                }
            }
            DashMsg::Up => self.selected = self.selected.saturating_sub(1),
            DashMsg::RerunCanary => {
                let running = self.live.as_ref().is_some_and(|l| l.canary_running);
                if !running && self.live.is_some() {
                    return vec![DashEffect::RerunCanary];
                }
            }
            DashMsg::ToggleHelp => self.help = !self.help,
            DashMsg::FilterStart => {
                self.filtering = true;
                self.help = false;
            }
            DashMsg::FilterChar(c) => {
                self.filter.push(c);
                self.selected = 0;
            }
            DashMsg::FilterBackspace => {
                self.filter.pop();
                self.selected = 0;
            }
            DashMsg::FilterDone => self.filtering = false,
            DashMsg::FilterClear => {
                self.filter.clear();
                self.filtering = false;
                self.selected = 0;
            }
            DashMsg::Quit => return vec![DashEffect::Quit],
        }
        Vec::new()
    }
}

/// A key as a message (k9s habits: ↑/↓ or j/k, `/` filter, `?` help, `q` quit).
pub fn key_to_msg(state: &Dashboard, key: KeyEvent) -> Option<DashMsg> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(DashMsg::Quit);
    }
    if state.filtering {
        return match key.code {
            KeyCode::Enter => Some(DashMsg::FilterDone),
            KeyCode::Esc => Some(DashMsg::FilterClear),
            KeyCode::Backspace => Some(DashMsg::FilterBackspace),
            KeyCode::Char(c) if !ctrl => Some(DashMsg::FilterChar(c)),
            _ => None,
        };
    }
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => Some(DashMsg::Down),
        KeyCode::Up | KeyCode::Char('k') => Some(DashMsg::Up),
        KeyCode::Char('c') => Some(DashMsg::RerunCanary),
        KeyCode::Char('?') => Some(DashMsg::ToggleHelp),
        KeyCode::Char('/') => Some(DashMsg::FilterStart),
        KeyCode::Esc if state.help => Some(DashMsg::ToggleHelp),
        KeyCode::Esc if !state.filter.is_empty() => Some(DashMsg::FilterClear),
        KeyCode::Char('q') | KeyCode::Esc => Some(DashMsg::Quit),
        _ => None,
    }
}

fn counts(report: &Report) -> String {
    let n = |o: Outcome| report.checks().filter(|c| c.result == o).count();
    format!(
        "{} {} ok  {} {} warning  {} {} error  {} {} skipped",
        Outcome::Success.glyph(),
        n(Outcome::Success),
        Outcome::Warning.glyph(),
        n(Outcome::Warning),
        Outcome::Error.glyph(),
        n(Outcome::Error),
        Outcome::Skipped.glyph(),
        n(Outcome::Skipped),
    )
}

pub fn draw(frame: &mut Frame, state: &Dashboard) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        frame.render_widget(
            Paragraph::new(format!(
                "The dashboard needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. \
                 Enlarge it, or run `caracal-deploy verify --wait 10m`. q quits.",
                area.width, area.height
            ))
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(10),
        Constraint::Length(1),
    ])
    .areas(area);
    let verdict = match &state.live {
        None => "reading the cluster…".to_string(),
        Some(l) => counts(&l.report),
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled(
                    " caracal-deploy dashboard ",
                    Style::new()
                        .fg(Color::Black)
                        .bg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(" release {} in {}", state.release, state.namespace)),
            ]),
            Line::from(format!(" {verdict}")),
        ]),
        header,
    );
    draw_panes(frame, state, body);
    let footer_text = if state.filtering {
        format!(" filter: {}▏  Enter keep · Esc clear", state.filter)
    } else if let Some(why) = &state.failed {
        format!(" stopped: {why} · q quit")
    } else {
        let filter = if state.filter.is_empty() {
            String::new()
        } else {
            format!("filter “{}” · ", state.filter)
        };
        format!(" {filter}↑/↓ select · c run the canary · / filter · ? help · q quit")
    };
    frame.render_widget(Paragraph::new(footer_text), footer);
    if state.help {
        draw_help(frame, area);
    }
    if state.palette.mono {
        monochrome(frame.buffer_mut());
    }
}

/// The checks, the selected one's details, the rollout and the warnings, in `area` (the
/// dashboard's body; the wizard's step 4).
pub fn draw_panes(frame: &mut Frame, state: &Dashboard, area: Rect) {
    // Narrow (the wizard's step 4 at 80 columns): the list keeps room for the ids.
    let list = if area.width < 100 { 55 } else { 45 };
    let [left, right] = Layout::horizontal([
        Constraint::Percentage(list),
        Constraint::Percentage(100 - list),
    ])
    .areas(area);
    draw_checks(frame, state, left);
    let [details, rollout, warnings] = Layout::vertical([
        Constraint::Percentage(45),
        Constraint::Percentage(30),
        Constraint::Percentage(25),
    ])
    .areas(right);
    draw_details(frame, state, details);
    draw_rollout(frame, state, rollout);
    draw_warnings(frame, state, warnings);
}

/// The counts of a picture, e.g. `√ 12 ok  ‼ 1 warning  × 0 error  - 0 skipped`.
pub fn verdict(state: &Dashboard) -> Option<String> {
    state.live.as_ref().map(|l| counts(&l.report))
}

/// A bordered pane of wrapped lines.
fn pane(frame: &mut Frame, title: &str, lines: Vec<Line>, area: Rect) {
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title))
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn block(title: &str) -> Block<'_> {
    Block::bordered().title(format!(" {title} "))
}

fn draw_checks(frame: &mut Frame, state: &Dashboard, area: Rect) {
    let visible = state.visible();
    let mut lines = Vec::new();
    let mut selected_line = 0;
    let mut last_category = "";
    for (i, (cat, c)) in visible.iter().enumerate() {
        if *cat != last_category {
            lines.push(Line::styled(
                cat.to_string(),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            last_category = cat;
        }
        let chosen = i == state.selected;
        if chosen {
            selected_line = lines.len();
        }
        let marker = if chosen { "›" } else { " " };
        let mut line = Line::from(vec![
            Span::raw(format!("{marker} ")),
            Span::styled(
                format!("{} {:<7}", c.result.glyph(), c.result.word()),
                outcome_style(c.result),
            ),
            Span::raw(format!(" {}", c.id)),
        ]);
        if chosen {
            line = line.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    if visible.is_empty() {
        lines.push(Line::from(match (&state.live, state.filter.is_empty()) {
            (None, _) => "listing the release's objects…".to_string(),
            (Some(_), false) => format!("no check matches “{}”", state.filter),
            (Some(_), true) => "no checks".to_string(),
        }));
    }
    let inner = area.height.saturating_sub(2) as usize;
    let scroll = selected_line.saturating_sub(inner.saturating_sub(1));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block("checks"))
            .scroll((scroll as u16, 0)),
        area,
    );
}

fn draw_details(frame: &mut Frame, state: &Dashboard, area: Rect) {
    let mut lines = Vec::new();
    if let Some(c) = state.selected_check() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} {} ", c.result.glyph(), c.result.word()),
                outcome_style(c.result),
            ),
            Span::styled(
                c.description.clone(),
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ]));
        lines.push(Line::from(format!("[{}]", c.id)));
        if c.id == "canary" && state.live.as_ref().is_some_and(|l| l.canary_running) {
            lines.push(Line::from("running now… (this shows the previous run)"));
        }
        if !c.detail.is_empty() {
            lines.push(Line::from(c.detail.clone()));
        }
        if !c.fix().is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::styled("fix: ", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(c.fix().to_string()),
            ]));
        }
        if !c.see().is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::from(c.see().to_string()));
        }
    }
    pane(frame, "details", lines, area);
}

fn draw_rollout(frame: &mut Frame, state: &Dashboard, area: Rect) {
    let lines: Vec<Line> = match &state.live {
        None => vec![Line::from("…")],
        Some(l) if l.rollout.is_empty() => vec![Line::from("no workloads of the release yet")],
        Some(l) => l
            .rollout
            .iter()
            .map(|r| {
                let (o, word) = if r.done {
                    (Outcome::Success, "rolled out")
                } else {
                    (Outcome::Warning, "rolling")
                };
                let kind = if r.kind == "StatefulSet" {
                    "sts"
                } else {
                    "deploy"
                };
                Line::from(vec![
                    Span::styled(format!("{} {word:<10}", o.glyph()), outcome_style(o)),
                    Span::raw(format!(
                        " {}/{} ready {kind}/{} ({} updated)",
                        r.ready, r.desired, r.name, r.updated
                    )),
                ])
            })
            .collect(),
    };
    pane(frame, "rollout", lines, area);
}

fn draw_warnings(frame: &mut Frame, state: &Dashboard, area: Rect) {
    let lines: Vec<Line> = match &state.live {
        None => vec![Line::from("…")],
        Some(l) if l.warnings.is_empty() => vec![Line::from("no Warning events")],
        Some(l) => l
            .warnings
            .iter()
            .map(|w| {
                Line::from(format!(
                    "{} ×{} {} {}: {}",
                    w.last_seen.get(11..19).unwrap_or(&w.last_seen),
                    w.count,
                    w.object,
                    w.reason,
                    w.message
                ))
            })
            .collect(),
    };
    pane(frame, "recent warnings", lines, area);
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let w = 56.min(area.width);
    let h = 12.min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from("↑/↓, k/j   select a check (its details on the right)"),
            Line::from("c          run the canary again"),
            Line::from("/          filter the checks; Enter keeps, Esc clears"),
            Line::from("?          this help; Esc closes it"),
            Line::from("q, Esc     quit (exit 0 green, 4 warnings, 3 errors)"),
            Line::from("Ctrl-C     quit"),
            Line::from(""),
            Line::from("Results: √ ok  ‼ warning  × error  - skipped"),
        ])
        .block(block("keys")),
        r,
    );
}

/// Runs the dashboard until the operator quits; the exit follows the last picture.
pub fn run(answers: Answers) -> Exit {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "error: the dashboard needs a terminal. Headless: `caracal-deploy verify -f ANSWERS --wait 10m`."
        );
        return Exit::InvalidInput;
    }
    crate::logging::init(None);
    let runtime = match crate::engine::start_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Other;
        }
    };
    let (engine, mut events) = Engine::new(runtime.handle().clone());
    let mut state = Dashboard::new(&answers, Palette::from_env());
    let trigger = CanaryTrigger::default();
    let token = engine.submit(Request::Verify {
        answers: Box::new(answers),
        mode: Mode::Follow(trigger.clone()),
    });
    let mut terminal = ratatui::init();
    // Input is an async stream beside the engine's events: nothing polls, nothing is drawn
    // without a change, and redraws are at most one per FRAME.
    let outcome: Result<(), String> = runtime.block_on(async {
        use futures::StreamExt;
        let mut input = crossterm::event::EventStream::new();
        let mut pacer = Pacer::default();
        loop {
            if pacer.due() {
                terminal
                    .draw(|f| draw(f, &state))
                    .map_err(|e| format!("cannot draw: {e}"))?;
                pacer.drawn();
            }
            let msgs: Vec<DashMsg> = tokio::select! {
                key = input.next() => match key {
                    Some(Ok(TermEvent::Key(key))) if key.kind == KeyEventKind::Press => {
                        key_to_msg(&state, key).into_iter().collect()
                    }
                    Some(Ok(TermEvent::Resize(..))) => {
                        pacer.dirty = true;
                        Vec::new()
                    }
                    Some(Ok(_)) => Vec::new(),
                    Some(Err(e)) => return Err(format!("cannot read the terminal: {e}")),
                    None => return Err("the terminal's input ended".into()),
                },
                event = events.recv() => match event {
                    Some(Event::VerifyProgress(live)) => vec![DashMsg::Live(live)],
                    Some(Event::Failed(EngineError::Interrupted)) | None => Vec::new(),
                    Some(Event::Failed(e)) => vec![DashMsg::Failed(e.to_string())],
                    Some(_) => Vec::new(),
                },
                () = pacer.ready() => Vec::new(),
            };
            for msg in msgs {
                pacer.dirty = true;
                for effect in state.update(msg) {
                    match effect {
                        DashEffect::RerunCanary => trigger.pull(),
                        DashEffect::Quit => return Ok(()),
                    }
                }
            }
        }
    });
    if let Err(e) = outcome {
        ratatui::restore();
        eprintln!("error: {e}");
        token.cancel();
        return Exit::Other;
    }
    // The canary cleans up what it created on the cancel; it gets a moment to.
    token.cancel();
    runtime.shutdown_timeout(Duration::from_secs(10));
    ratatui::restore();
    let exit = state.exit();
    if let Some(live) = &state.live {
        println!("{}", counts(&live.report));
    }
    exit
}
