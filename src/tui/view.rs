//! Draws a snapshot of the state. No I/O, no waiting: the same input always draws the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::core::profiles::CloudProfile;

use crate::core::checks::Outcome;
use crate::core::troubleshooting::explain_command;
use crate::engine::EngineError;
use crate::engine::apply::ApplyAction;
use crate::engine::install::InstallOutcome;

use super::app::{Screen, SecretProgress, SeedPhase, SeedResult, State, rotates_kek};
use super::cluster::{ApplyPhase, InstallPhase, Recovery};
use super::form::{FieldKind, SCREENS};
use super::theme::{monochrome, outcome_style};

const ACCENT: Color = Color::Cyan;
const BAD: Color = Color::Red;
const GOOD: Color = Color::Green;
const DIM: Color = Color::DarkGray;

pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    if area.width < super::dashboard::MIN_WIDTH || area.height < super::dashboard::MIN_HEIGHT {
        // Nothing is lost meanwhile: the answers and any running step carry on.
        let mut text = format!(
            "caracal-deploy needs at least {}×{}; this terminal is {}×{}. Enlarge it: every answer \
             is kept, and a running step carries on.",
            super::dashboard::MIN_WIDTH,
            super::dashboard::MIN_HEIGHT,
            area.width,
            area.height
        );
        if state.confirm_quit {
            text.push_str(" Quit? y leaves, n stays.");
        }
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    let profile = CloudProfile::get(state.cloud());
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                " caracal-deploy ",
                Style::new()
                    .fg(Color::Black)
                    .bg(ACCENT)
                    .add_modifier(Modifier::BOLD),
            ),
            // First, so that no width cuts it.
            match state.production_context() {
                Some(context) => Span::styled(
                    format!(" ⚠ PRODUCTION: {context} "),
                    Style::new()
                        .fg(Color::White)
                        .bg(BAD)
                        .add_modifier(Modifier::BOLD),
                ),
                None => Span::raw(""),
            },
            match state.upgrade_plan() {
                Some(plan) => Span::styled(
                    format!(" {} ", super::upgrade::badge(plan)),
                    Style::new().fg(Color::Black).bg(Color::Yellow),
                ),
                None => Span::raw(""),
            },
            Span::raw(format!(
                " step {}/{}: {}  ·  {}",
                state.screen.position() + 1,
                Screen::count(),
                state.screen.title(),
                profile.display_name
            )),
        ])),
        header,
    );
    let [steps, main] =
        Layout::horizontal([Constraint::Length(27), Constraint::Min(30)]).areas(body);
    draw_steps(frame, state, steps);
    match state.screen {
        Screen::Secrets => draw_secrets(frame, state, main),
        Screen::Preflight => draw_preflight(frame, state, main),
        Screen::Confirm => draw_confirmation(frame, state, main),
        Screen::Apply => draw_apply(frame, state, main),
        Screen::Install => draw_install(frame, state, main),
        Screen::Verify => draw_verify(frame, state, main),
        Screen::Done => draw_done(frame, state, main),
        Screen::Review => draw_review(frame, state, main),
        Screen::Questions(0) => {
            let [fields, cluster] =
                Layout::vertical([Constraint::Min(8), Constraint::Length(7)]).areas(main);
            draw_fields(frame, state, 0, fields);
            draw_cluster_seen(frame, state, cluster);
        }
        Screen::Questions(i) => draw_fields(frame, state, i, main),
    }
    draw_footer(frame, state, footer);
    if state.help {
        draw_help(frame, state);
    }
    if state.confirm_quit {
        draw_confirm(frame, state);
    }
    if let (Some(typed), Some(plan)) = (&state.upgrade.downgrade_typed, state.upgrade_plan()) {
        draw_downgrade(frame, plan, typed);
    }
    if state.dashboard.palette.mono {
        monochrome(frame.buffer_mut());
    }
}

/// `?` / F1: the keys of this screen, and those that work everywhere.
fn draw_help(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let width = 70.min(area.width);
    let mut lines: Vec<Line> = vec![
        Line::styled(
            format!("{} — keys", state.screen.title()),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Line::raw(""),
    ];
    for part in keys_of(state).split("  ").filter(|p| !p.trim().is_empty()) {
        lines.push(Line::raw(format!("  {}", part.trim())));
    }
    lines.push(Line::raw(""));
    for global in [
        "PgDn / PgUp     next / previous screen (back always works)",
        "Ctrl-S          save the answers (never a secret value)",
        "Esc / Ctrl-C    stop what runs, or ask before leaving",
        "q               the same, where nothing is typed",
        "? / F1          this help (? types itself in a text field)",
        ": / Ctrl-G      jump to a step by its number or name",
        "Results         ✓ done  ✗ failed  · not yet; √ ok ‼ warning × error - skipped",
    ] {
        lines.push(Line::raw(format!("  {global}")));
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" help (any key closes) "))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

fn draw_steps(frame: &mut Frame, state: &State, area: Rect) {
    let mut lines = Vec::new();
    for screen in Screen::all() {
        let problems = state.screen_problems(screen);
        let (glyph, style) = match screen {
            Screen::Secrets => match (&state.seed.phase, &state.seed.result) {
                (SeedPhase::Done, Some(r)) if r.is_success() => ("✓", Style::new().fg(GOOD)),
                (SeedPhase::Done, Some(_)) => ("✗", Style::new().fg(BAD)),
                _ => ("·", Style::new().fg(DIM)),
            },
            Screen::Preflight => match (state.preflight.running, &state.preflight.report) {
                (false, Some(_)) if state.preflight.passed() => ("✓", Style::new().fg(GOOD)),
                (false, Some(_)) => ("✗", Style::new().fg(BAD)),
                _ if state.preflight.error.is_some() => ("✗", Style::new().fg(BAD)),
                _ => ("·", Style::new().fg(DIM)),
            },
            Screen::Confirm if state.confirm.confirmed.is_some() => ("✓", Style::new().fg(GOOD)),
            Screen::Confirm => ("·", Style::new().fg(DIM)),
            Screen::Apply if state.apply.synced() => ("✓", Style::new().fg(GOOD)),
            Screen::Apply if state.apply.phase == ApplyPhase::Done => ("✗", Style::new().fg(BAD)),
            Screen::Apply => ("·", Style::new().fg(DIM)),
            Screen::Install => match (&state.install.phase, &state.install.outcome) {
                (
                    InstallPhase::Done,
                    Some(InstallOutcome::Deployed { .. } | InstallOutcome::UpToDate { .. }),
                ) => ("✓", Style::new().fg(GOOD)),
                (InstallPhase::Done, _) => ("✗", Style::new().fg(BAD)),
                _ => ("·", Style::new().fg(DIM)),
            },
            Screen::Done if state.screen != Screen::Done => ("·", Style::new().fg(DIM)),
            Screen::Verify | Screen::Done => match &state.dashboard.live {
                Some(l) if l.report.success() => ("✓", Style::new().fg(GOOD)),
                Some(_) => ("✗", Style::new().fg(BAD)),
                None => ("·", Style::new().fg(DIM)),
            },
            Screen::Review if state.problems.is_empty() => ("✓", Style::new().fg(GOOD)),
            Screen::Review => ("·", Style::new().fg(DIM)),
            Screen::Questions(_) if problems == 0 => ("✓", Style::new().fg(GOOD)),
            Screen::Questions(_) => ("✗", Style::new().fg(BAD)),
        };
        let marker = if screen == state.screen { "▶" } else { " " };
        let mut label = format!("{marker} {glyph} {}", screen.title());
        if problems > 0 {
            label.push_str(&format!(" ({problems})"));
        }
        let style = if screen == state.screen {
            style.add_modifier(Modifier::BOLD)
        } else {
            style
        };
        lines.push(Line::styled(label, style));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Steps ")),
        area,
    );
}

/// The first screen's welcome: what the wizard sees of the kubeconfig and the cluster, and
/// what is already done for these answers.
fn draw_cluster_seen(frame: &mut Frame, state: &State, area: Rect) {
    let c = &state.choices;
    let mut lines = Vec::new();
    match (&c.context, &c.server) {
        (Some(context), Some(server)) => {
            lines.push(Line::raw(format!("context {context}, API server {server}")))
        }
        _ => lines.push(Line::styled(
            match &c.unreadable {
                Some(why) => format!("✗ the cluster cannot be read: {why}"),
                None => "reading the kubeconfig and the cluster…".into(),
            },
            Style::new().fg(DIM),
        )),
    }
    match &c.cloud {
        Ok((cloud, evidence)) if *cloud != state.cloud() => lines.push(Line::styled(
            format!(
                "✗ the cluster is {} ({evidence}), the answers say {}: ←/→ on Cloud",
                CloudProfile::get(*cloud).display_name,
                state.cloud()
            ),
            Style::new().fg(BAD),
        )),
        Ok((cloud, evidence)) => lines.push(Line::styled(
            format!("✓ {} ({evidence})", CloudProfile::get(*cloud).display_name),
            Style::new().fg(GOOD),
        )),
        Err(why) if c.context.is_some() => {
            lines.push(Line::raw(format!("cloud not detected: {why}")))
        }
        Err(_) => {}
    }
    if let Some(found) = &state.found {
        lines.push(Line::raw(match &found.deployed {
            Ok(Some(rev)) => format!("release deployed here: revision {rev}"),
            Ok(None) => "no release of these answers yet".into(),
            Err(e) => format!("release not known: {e}"),
        }));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" What the wizard sees ")),
        area,
    );
}

fn draw_fields(frame: &mut Frame, state: &State, index: usize, area: Rect) {
    let screen = &SCREENS[index];
    let mut lines: Vec<Line> = vec![
        Line::styled(screen.intro, Style::new().fg(DIM)),
        Line::raw(""),
    ];
    for (i, field) in state.fields().iter().enumerate() {
        let focused = i == state.focus;
        let text = state.text(field.path);
        let problems = state.problems_of(field.path);
        let (glyph, glyph_style) = if problems.is_empty() {
            ("✓", Style::new().fg(GOOD))
        } else {
            ("✗", Style::new().fg(BAD))
        };
        let value = match field.kind {
            FieldKind::Choice(_) => format!("◀ {text} ▶"),
            _ if focused => format!("{text}▏"),
            _ if text.is_empty() => "(empty)".to_string(),
            _ => text.to_string(),
        };
        let label_style = if focused {
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let value_style = if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(glyph, glyph_style),
            Span::raw(" "),
            Span::styled(format!("{:<21}", field.label), label_style),
            Span::styled(value, value_style),
        ]));
        // Help and problems wrap under the value's column, never back to the margin.
        let inner = usize::from(area.width.saturating_sub(2));
        if focused {
            for l in indented(field.help, VALUE_COLUMN, inner) {
                lines.push(Line::styled(l, Style::new().fg(DIM)));
            }
            let offered = state.choices.for_field(field.path);
            if !offered.is_empty() && !matches!(field.kind, FieldKind::Choice(_)) {
                let profile = CloudProfile::get(state.cloud());
                let names: Vec<String> = offered
                    .iter()
                    .map(|c| {
                        let mut notes: Vec<&str> = Vec::new();
                        if !c.note.is_empty() {
                            notes.push(&c.note);
                        }
                        if (field.path == "storageClass" && c.name == profile.storage_class)
                            || (field.path == "ingress.className"
                                && c.name == profile.ingress_class_name)
                        {
                            notes.push("profile's");
                        }
                        if notes.is_empty() {
                            c.name.clone()
                        } else {
                            format!("{} ({})", c.name, notes.join(", "))
                        }
                    })
                    .collect();
                let text = format!("in the cluster: {} · ←/→ picks", names.join(", "));
                for l in indented(&text, VALUE_COLUMN, inner) {
                    lines.push(Line::styled(l, Style::new().fg(ACCENT)));
                }
            }
        }
        for p in problems {
            for l in indented(&format!("✗ {}: {}", p.message, p.fix), VALUE_COLUMN, inner) {
                lines.push(Line::styled(l, Style::new().fg(BAD)));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {} ", screen.title))),
        area,
    );
}

/// Where a field's value starts: the glyph, a space, the label's 21 columns.
const VALUE_COLUMN: usize = 23;

/// `text` wrapped at word boundaries to `width` columns, every line starting `indent` columns
/// in (a word longer than the room left is cut, never spilled to the margin).
pub fn indented(text: &str, indent: usize, width: usize) -> Vec<String> {
    let room = width.saturating_sub(indent).max(10);
    let pad = " ".repeat(indent);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: String = word.to_string();
        loop {
            let used = line.chars().count();
            let need = word.chars().count() + usize::from(used > 0);
            if used + need <= room {
                if used > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if used > 0 {
                out.push(format!("{pad}{line}"));
                line.clear();
                continue;
            }
            // A single word wider than the room: cut it.
            let head: String = word.chars().take(room).collect();
            let tail: String = word.chars().skip(room).collect();
            out.push(format!("{pad}{head}"));
            if tail.is_empty() {
                break;
            }
            word = tail;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(format!("{pad}{line}"));
    }
    out
}

fn draw_review(frame: &mut Frame, state: &State, area: Rect) {
    let Some(bundle) = &state.bundle else {
        let mut lines = vec![
            Line::styled(
                format!(
                    "✗ {} problem(s) to fix before the bundle can be rendered:",
                    state.problems.len()
                ),
                Style::new().fg(BAD),
            ),
            Line::raw(""),
        ];
        for p in &state.problems {
            lines.push(Line::raw(format!("  {p}")));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Review ")),
            area,
        );
        return;
    };
    let [list, content] =
        Layout::horizontal([Constraint::Length(30), Constraint::Min(20)]).areas(area);
    let items: Vec<Line> = bundle
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == state.review.file {
                Line::styled(
                    format!("▶ {}", f.name),
                    Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
                )
            } else {
                Line::raw(format!("  {}", f.name))
            }
        })
        .collect();
    let mut list_lines = items;
    let diff_shown = state.review.file >= bundle.files.len();
    list_lines.push(if diff_shown {
        Line::styled(
            "▶ cluster diff",
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
        )
    } else {
        Line::raw("  cluster diff")
    });
    list_lines.push(Line::raw(""));
    list_lines.push(Line::styled(
        format!("answers → {}", state.answers_path.display()),
        Style::new().fg(DIM),
    ));
    list_lines.push(Line::styled(
        format!("bundle  → {}/", state.out_dir.display()),
        Style::new().fg(DIM),
    ));
    frame.render_widget(
        Paragraph::new(list_lines).block(Block::bordered().title(" Bundle ")),
        list,
    );
    if diff_shown {
        draw_cluster_diff(frame, state, content);
        return;
    }
    let file = &bundle.files[state.review.file];
    frame.render_widget(
        Paragraph::new(Text::raw(file.content.as_str()))
            .scroll((state.review.scroll, 0))
            .block(Block::bordered().title(format!(" {} — {} ", file.name, file.summary))),
        content,
    );
}

/// The review's last entry: what steps 2 and 3 would change, read from the cluster (reads only).
fn draw_cluster_diff(frame: &mut Frame, state: &State, area: Rect) {
    use super::app::DiffPhase;
    let diff = &state.review.diff;
    let mut lines: Vec<Line> = diff.lines.iter().map(|l| Line::raw(l.as_str())).collect();
    match diff.phase {
        DiffPhase::NotRead => lines.push(Line::raw("not read yet")),
        DiffPhase::Store => lines.push(Line::styled(
            "… the store's objects: server-side dry run",
            Style::new().fg(DIM),
        )),
        DiffPhase::Upgrade => lines.push(Line::styled(
            "… the release: helm's record against the target chart (every object and value)",
            Style::new().fg(DIM),
        )),
        DiffPhase::Helm => lines.push(Line::styled(
            "… helm: the deployed release's values and chart",
            Style::new().fg(DIM),
        )),
        DiffPhase::Done => {}
    }
    for (i, l) in diff.error.iter().enumerate() {
        lines.push(if i == 0 {
            Line::styled(format!("✗ {l}"), Style::new().fg(BAD))
        } else {
            Line::raw(l.as_str())
        });
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((state.review.scroll, 0))
            .block(Block::bordered().title(if state.upgrade_mode() {
                " upgrade diff — what the upgrade would change (read only; nothing is changed) "
            } else {
                " cluster diff — what steps 2 and 3 would change (read only; nothing is changed) "
            })),
        area,
    );
}

fn draw_secrets(frame: &mut Frame, state: &State, area: Rect) {
    let seed = &state.seed;
    let mut lines: Vec<Line> = vec![
        Line::styled(
            "Step 1: every secret Caracal needs, in the cloud's secret manager. Existing secrets are kept.",
            Style::new().fg(DIM),
        ),
        Line::raw(""),
    ];
    if let Some(target) = &seed.target {
        lines.push(Line::raw(format!("Secret manager: {target}")));
        lines.push(Line::raw(""));
    }
    match (&seed.phase, &seed.plan) {
        (SeedPhase::Idle, _) => lines.push(Line::raw("Press r to read the secret manager.")),
        (SeedPhase::Reading, _) => lines.push(Line::raw("… reading the secret manager")),
        (_, Some(plan)) => {
            let width = plan
                .items
                .iter()
                .map(|i| i.remote_name.len())
                .max()
                .unwrap_or(0);
            let choosing = seed.phase == SeedPhase::Planned;
            for (row, item) in plan.items.iter().enumerate() {
                let (status, style) = match seed.progress.get(&item.remote_name) {
                    Some(SecretProgress::Writing) => ("… writing".to_string(), Style::new()),
                    Some(SecretProgress::Done { verb, digest }) => {
                        (format!("✓ {verb} ({digest})"), Style::new().fg(GOOD))
                    }
                    Some(SecretProgress::Failed { message, fix }) => (
                        match fix {
                            Some(fix) => format!("✗ {message} — fix: {fix}"),
                            None => format!("✗ {message}"),
                        },
                        Style::new().fg(BAD),
                    ),
                    Some(SecretProgress::NotStarted) => {
                        ("· not started".to_string(), Style::new().fg(DIM))
                    }
                    None => {
                        let mut s = item.action.verb().to_string();
                        // The digest of what is kept; a rotation replaces it.
                        if let Some(d) = item.digest.as_ref().filter(|_| !item.action.writes()) {
                            s.push_str(&format!(" ({d})"));
                        }
                        let style =
                            if matches!(item.action, crate::core::seed::Action::WrongShape(_)) {
                                Style::new().fg(BAD)
                            } else if item.action.writes() {
                                Style::new().fg(ACCENT)
                            } else {
                                Style::new()
                            };
                        (s, style)
                    }
                };
                let marked = if seed.rotate.contains(&item.secret.name) {
                    "[r]"
                } else {
                    "[ ]"
                };
                let cursor = if choosing && row == seed.cursor {
                    "▶"
                } else {
                    " "
                };
                let name_style = if choosing && row == seed.cursor {
                    Style::new().add_modifier(Modifier::BOLD)
                } else {
                    Style::new()
                };
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{cursor}{marked} {:width$}  ", item.remote_name),
                        name_style,
                    ),
                    Span::styled(status, style),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!("{} to write.", plan.writes())));
            if rotates_kek(plan) {
                lines.push(Line::styled(
                    "KEK rotation: the current key is kept as secret-store-kek-previous before the new one is written; \
                     afterwards kekRotation is set to true so the services read both keys until the re-seal sweep completes.",
                    Style::new().fg(Color::Yellow),
                ));
            }
        }
        _ => {}
    }
    if let Some(result) = &seed.result {
        match result {
            SeedResult::Finished(o) if result.is_success() => lines.push(Line::styled(
                format!("✓ {}", o.summary),
                Style::new().fg(GOOD),
            )),
            SeedResult::Finished(o) => {
                let mut text = format!("✗ {}", o.summary);
                if o.interrupted {
                    text.push_str(
                        ": every secret is untouched or complete; r re-reads, a finishes",
                    );
                }
                lines.push(Line::styled(text, Style::new().fg(BAD)));
            }
            SeedResult::Failed(e) => {
                lines.push(Line::styled(format!("✗ {e}"), Style::new().fg(BAD)));
                if let Some(fix) = e.fix() {
                    lines.push(Line::raw(format!("  fix: {fix}")));
                }
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Seed secrets ")),
        area,
    );
    if let SeedPhase::Asking(field) = &seed.phase {
        let width = 60.min(area.width);
        let rect = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + area.height / 2 - 2,
            width,
            5,
        );
        frame.render_widget(Clear, rect);
        // Shown only on the operator's Ctrl-R, borrowed from the state (no copy of it made).
        let (typed, title) = if seed.reveal {
            (
                Line::from(vec![
                    Span::styled(
                        seed.typed.0.as_str(),
                        Style::new().add_modifier(Modifier::REVERSED),
                    ),
                    Span::styled("▏", Style::new().add_modifier(Modifier::REVERSED)),
                ]),
                " Input shown: Ctrl-R hides it ",
            )
        } else {
            (
                Line::styled(
                    format!("{}▏", "•".repeat(seed.typed.0.chars().count())),
                    Style::new().add_modifier(Modifier::REVERSED),
                ),
                " Hidden input ",
            )
        };
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(format!("{field} (the answers say `prompt`)")),
                typed,
            ])
            .block(Block::bordered().title(title)),
            rect,
        );
    }
}

/// An engine error: its message, and its fix on the next line.
fn error_lines(lines: &mut Vec<Line<'static>>, e: &EngineError) {
    lines.push(Line::styled(format!("✗ {e}"), Style::new().fg(BAD)));
    if let Some(fix) = e.fix() {
        lines.push(Line::raw(format!("  fix: {fix}")));
    }
}

fn panel(frame: &mut Frame, lines: Vec<Line<'static>>, title: &str, area: Rect) {
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {title} "))),
        area,
    );
}

fn draw_preflight(frame: &mut Frame, state: &State, area: Rect) {
    let pf = &state.preflight;
    let mut lines: Vec<Line<'static>> = vec![
        Line::styled(
            "The checks that must pass before anything in the cluster is changed (they only read).",
            Style::new().fg(DIM),
        ),
        Line::raw(""),
    ];
    if pf.running {
        lines.push(Line::raw("… running the checks"));
    }
    if let Some(report) = &pf.report {
        for (category, checks) in &report.categories {
            lines.push(Line::styled(
                category.clone(),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            for c in checks {
                let mut text = format!("{} {} [{}]", c.result.glyph(), c.description, c.id);
                if !c.detail.is_empty() {
                    text.push_str(&format!(": {}", c.detail));
                }
                lines.push(Line::styled(text, outcome_style(c.result)));
                if matches!(c.result, Outcome::Error | Outcome::Warning) {
                    if !c.fix().is_empty() {
                        lines.push(Line::raw(format!("    fix: {}", c.fix())));
                    }
                    if !c.see().is_empty() {
                        // The whole pointer where it fits on a line; else the command alone,
                        // so a narrow screen keeps room for the other checks.
                        let whole = format!("    {}", c.see());
                        let text = if whole.chars().count() + 2 <= usize::from(area.width) {
                            whole
                        } else {
                            format!("    see `{}`", explain_command(&c.id))
                        };
                        lines.push(Line::styled(text, Style::new().fg(DIM)));
                    }
                }
            }
        }
        lines.push(Line::raw(""));
        let (ok, warnings, errors, skipped) = pf.counts();
        let summary =
            format!("{ok} passed, {warnings} warning(s), {errors} failed, {skipped} skipped");
        if pf.passed() {
            lines.push(Line::styled(
                format!("✓ {summary}: Enter continues"),
                Style::new().fg(GOOD),
            ));
        } else {
            lines.push(Line::styled(
                format!(
                    "✗ {summary}: the failed checks block the next step; fix them, then r re-runs"
                ),
                Style::new().fg(BAD),
            ));
        }
    }
    if let Some(e) = &pf.error {
        error_lines(&mut lines, e);
    }
    panel(frame, lines, "Preflight checks", area);
}

fn draw_confirmation(frame: &mut Frame, state: &State, area: Rect) {
    let mut lines: Vec<Line<'static>> = vec![
        Line::styled(
            "The next steps change this cluster: step 2 applies the secret store, step 3 installs the release.",
            Style::new().fg(DIM),
        ),
        Line::raw(""),
    ];
    match state.target() {
        Some(t) => {
            for (label, value) in [
                ("Context", &t.context),
                ("API server", &t.server),
                ("Namespace", &t.namespace),
            ] {
                lines.push(Line::from(vec![
                    Span::styled(format!("{label:<12}"), Style::new().fg(ACCENT)),
                    Span::styled(value.clone(), Style::new().add_modifier(Modifier::BOLD)),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!(
                "Type the context's name ({}) to confirm:",
                t.context
            )));
            lines.push(Line::styled(
                format!("{}▏", state.confirm.typed),
                Style::new().add_modifier(Modifier::REVERSED),
            ));
        }
        None => lines.push(Line::styled(
            "✗ preflight has not found the cluster: go back (Esc) and run it",
            Style::new().fg(BAD),
        )),
    }
    panel(frame, lines, "Confirm the cluster", area);
}

/// Changed fields shown per object; the rest are counted, so the conditions stay on screen.
const MAX_FIELDS: usize = 6;

fn applied_lines(lines: &mut Vec<Line<'static>>, objects: &[crate::engine::apply::Applied]) {
    for a in objects {
        let style = match a.action {
            ApplyAction::Unchanged => Style::new(),
            _ => Style::new().fg(ACCENT),
        };
        let glyph = match a.action {
            ApplyAction::Created | ApplyAction::Configured(_) => "✓",
            ApplyAction::Unchanged => "=",
            ApplyAction::WouldCreate | ApplyAction::WouldChange(_) => "~",
        };
        lines.push(Line::styled(
            format!("{glyph} {} {}: {}", a.kind, a.name, a.action.verb()),
            style,
        ));
        let fields = a.action.fields();
        for f in fields.iter().take(MAX_FIELDS) {
            lines.push(Line::raw(format!("    {f}")));
        }
        if fields.len() > MAX_FIELDS {
            lines.push(Line::styled(
                format!(
                    "    … and {} more (`caracal-deploy apply --dry-run` lists them all)",
                    fields.len() - MAX_FIELDS
                ),
                Style::new().fg(DIM),
            ));
        }
    }
}

fn draw_apply(frame: &mut Frame, state: &State, area: Rect) {
    let ap = &state.apply;
    let mut lines: Vec<Line<'static>> = vec![
        Line::styled(
            "Step 2: namespace, External Secrets service account, ClusterSecretStore, ExternalSecret; then the sync.",
            Style::new().fg(DIM),
        ),
        Line::raw(""),
    ];
    // Once applying starts, the applied objects carry their own changes: the preview goes.
    if matches!(ap.phase, ApplyPhase::DryRunning | ApplyPhase::Previewed)
        && (ap.phase == ApplyPhase::DryRunning || !ap.preview.is_empty())
    {
        lines.push(Line::styled(
            "Dry run (nothing changed):",
            Style::new().add_modifier(Modifier::BOLD),
        ));
        applied_lines(&mut lines, &ap.preview);
        if ap.phase == ApplyPhase::DryRunning {
            lines.push(Line::raw("… asking the API server what would change"));
        }
        lines.push(Line::raw(""));
    }
    if matches!(ap.phase, ApplyPhase::Applying | ApplyPhase::Done) && ap.outcome.is_some()
        || ap.phase == ApplyPhase::Applying
        || !ap.applied.is_empty()
    {
        lines.push(Line::styled(
            "Applied:",
            Style::new().add_modifier(Modifier::BOLD),
        ));
        applied_lines(&mut lines, &ap.applied);
    }
    for c in &ap.conditions {
        let (glyph, style) = if c.ready {
            ("✓", Style::new().fg(GOOD))
        } else {
            ("…", Style::new())
        };
        lines.push(Line::styled(
            format!("{glyph} {} {}: {}: {}", c.kind, c.name, c.reason, c.message),
            style,
        ));
    }
    if ap.phase == ApplyPhase::Applying && ap.applied.len() >= 4 {
        lines.push(Line::raw(
            "… waiting for the store to be Ready and the ExternalSecret synced",
        ));
    }
    if let Some(o) = &ap.outcome {
        lines.push(Line::raw(""));
        if o.synced {
            lines.push(Line::styled(
                "✓ the store is Ready and the ExternalSecret synced: Enter runs helm install",
                Style::new().fg(GOOD),
            ));
        } else if o.interrupted {
            lines.push(Line::styled(
                format!(
                    "✗ stopped after {} object(s) applied; a (apply) again finishes the job",
                    o.objects.len()
                ),
                Style::new().fg(BAD),
            ));
        }
    }
    if ap.phase == ApplyPhase::Previewed {
        lines.push(Line::raw("a applies these changes to the cluster."));
    }
    if let Some(e) = &ap.error {
        lines.push(Line::raw(""));
        error_lines(&mut lines, e);
    }
    panel(frame, lines, "Secret store", area);
}

/// Progress lines kept on the install screen.
const MAX_LOG: usize = 8;

fn draw_install(frame: &mut Frame, state: &State, area: Rect) {
    let inst = &state.install;
    let release = state
        .valid
        .as_ref()
        .map(|a| a.release.clone())
        .unwrap_or_default();
    let mut lines: Vec<Line<'static>> = vec![
        Line::styled(
            "Step 3: helm upgrade --install of the chart, watched from the cluster.",
            Style::new().fg(DIM),
        ),
        Line::raw(""),
    ];
    if inst.phase == InstallPhase::Running && inst.helm.is_none() {
        lines.push(Line::raw(format!("… checking release {release}")));
    }
    if let Some((after, timeout)) = inst.helm {
        let running = if inst.phase == InstallPhase::Running {
            "… "
        } else {
            ""
        };
        lines.push(Line::raw(format!(
            "{running}helm upgrade --install {release} ({}), waiting up to {}s for {}",
            match after {
                Some(r) => format!("after revision {r}"),
                None => "first install".into(),
            },
            timeout.as_secs(),
            if inst.waits.is_empty() {
                "the hooks and every workload"
            } else {
                inst.waits.as_str()
            }
        )));
    }
    // The latest Jobs, warnings and log lines; the command's output has them all.
    let skip = inst.log.len().saturating_sub(MAX_LOG);
    for line in &inst.log[skip..] {
        lines.push(Line::raw(line.clone()));
    }
    for ((kind, name), (ready, desired)) in &inst.workloads {
        let (glyph, style) = if ready >= desired {
            ("✓", Style::new().fg(GOOD))
        } else {
            ("…", Style::new())
        };
        lines.push(Line::styled(
            format!("{glyph} {kind} {name}: {ready}/{desired} ready"),
            style,
        ));
    }
    // Once the step ended, its outcome names the failing pods.
    for (pod, reason) in inst.pods.iter().filter(|_| inst.outcome.is_none()) {
        lines.push(Line::styled(
            format!("✗ pod {pod}: {reason}"),
            Style::new().fg(BAD),
        ));
    }
    if let Some(outcome) = &inst.outcome {
        lines.push(Line::raw(""));
        match outcome {
            InstallOutcome::UpToDate { revision } => lines.push(Line::styled(
                format!("✓ {release} is up to date (revision {revision}: same chart version, same values); nothing was changed"),
                Style::new().fg(GOOD),
            )),
            InstallOutcome::Deployed { revision } => lines.push(Line::styled(
                format!("✓ {release} deployed: revision {revision}"),
                Style::new().fg(GOOD),
            )),
            InstallOutcome::WouldChange { from, fields } => lines.push(Line::raw(format!(
                "dry run: helm would make a new revision after {from:?}; values that differ: {}",
                fields.join(", ")
            ))),
            InstallOutcome::Failed {
                reason,
                pods,
                rolled_back_to,
                ..
            } => {
                lines.push(Line::styled(
                    format!("✗ {release} failed: {reason}"),
                    Style::new().fg(BAD),
                ));
                for p in pods {
                    lines.push(Line::raw(format!("    pod {p}")));
                }
                if let Some(r) = rolled_back_to {
                    lines.push(Line::raw(format!("  rolled back to revision {r}")));
                }
            }
        }
    }
    if let Some(e) = &inst.error {
        lines.push(Line::raw(""));
        error_lines(&mut lines, e);
    }
    // An upgrade that failed after helm ran: the way back is not free.
    if state.upgrade_mode() && inst.failed_after_helm() {
        lines.push(Line::styled(
            crate::engine::narrate::FORWARD_ONLY,
            Style::new().fg(Color::Yellow),
        ));
    }
    match &inst.phase {
        InstallPhase::RollingBack(r) => lines.push(Line::raw(format!(
            "… rolling {release} back to revision {r}"
        ))),
        InstallPhase::Uninstalling => lines.push(Line::raw(format!("… uninstalling {release}"))),
        _ => {}
    }
    match &inst.recovery {
        Some(Recovery::RolledBack(r)) => lines.push(Line::styled(
            format!("✓ rolled back to revision {r}"),
            Style::new().fg(GOOD),
        )),
        Some(Recovery::Uninstalled) => lines.push(Line::styled(
            format!(
                "✓ {release} uninstalled (the namespace, the store and the runtime Secret stay)"
            ),
            Style::new().fg(GOOD),
        )),
        Some(Recovery::Failed(e)) => error_lines(&mut lines, e),
        None => {}
    }
    if inst.confirm_uninstall {
        lines.push(Line::styled(
            format!(
                "Uninstall {release} from namespace {}? y uninstalls, any other key keeps it",
                state
                    .valid
                    .as_ref()
                    .map(|a| a.namespace.as_str())
                    .unwrap_or("")
            ),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    } else if let Some(state) = inst.pending() {
        let undo = if state == "pending-install" {
            "uninstalls the release (it never deployed)"
        } else {
            "rolls back to the last deployed revision"
        };
        lines.push(Line::styled(
            format!("f clears the {state} release: it {undo}, then installs"),
            Style::new().fg(Color::Yellow),
        ));
    } else if let (Some(r), true) = (inst.rollback_to(), inst.confirm_rollback) {
        lines.push(Line::styled(
            format!(
                "Roll back to revision {r}, knowing the warning above? y rolls back, any other key keeps this revision"
            ),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    } else if let Some(r) = inst.rollback_to() {
        lines.push(Line::styled(
            format!(
                "b rolls back to revision {r} (the last one helm started from){}",
                if state.upgrade_mode() {
                    ": asks first"
                } else {
                    ""
                }
            ),
            Style::new().fg(Color::Yellow),
        ));
    } else if inst.may_uninstall() {
        lines.push(Line::styled(
            "this first install is kept as it is; u uninstalls it, only if you ask",
            Style::new().fg(Color::Yellow),
        ));
    }
    panel(frame, lines, "Helm install", area);
}

fn draw_verify(frame: &mut Frame, state: &State, area: Rect) {
    let [head, panes] = Layout::vertical([Constraint::Length(2), Constraint::Min(8)]).areas(area);
    let verdict = super::dashboard::verdict(&state.dashboard)
        .unwrap_or_else(|| "reading the cluster…".into());
    let mut lines = vec![Line::from(format!(
        "Release {} in {}: {verdict}",
        state.dashboard.release, state.dashboard.namespace
    ))];
    let d = &state.dashboard;
    if d.filtering {
        lines.push(Line::from(format!(
            "filter: {}▏  Enter keep · Esc clear",
            d.filter
        )));
    } else if !d.filter.is_empty() {
        lines.push(Line::styled(
            format!("filter “{}”: Esc clears it", d.filter),
            Style::new().fg(DIM),
        ));
    } else if let Some(why) = &d.failed {
        lines.push(Line::styled(
            format!("✗ stopped: {why}"),
            Style::new().fg(BAD),
        ));
    } else if state
        .dashboard
        .live
        .as_ref()
        .is_some_and(|l| l.report.success())
    {
        lines.push(Line::styled(
            "✓ no check in error: Enter for the summary",
            Style::new().fg(GOOD),
        ));
    } else {
        lines.push(Line::styled(
            "live: each change is shown as the cluster reports it",
            Style::new().fg(DIM),
        ));
    }
    frame.render_widget(Paragraph::new(lines), head);
    super::dashboard::draw_panes(frame, &state.dashboard, panes);
}

fn draw_done(frame: &mut Frame, state: &State, area: Rect) {
    let d = &state.dashboard;
    let answers = state.answers_path.display();
    let verdict = super::dashboard::verdict(d).unwrap_or_else(|| "not verified".into());
    let green = d.live.as_ref().is_some_and(|l| l.report.success());
    let mut lines = vec![
        if green {
            Line::styled(
                format!(
                    "✓ Caracal ({}) is installed and verified in {}",
                    d.release, d.namespace
                ),
                Style::new().fg(GOOD).add_modifier(Modifier::BOLD),
            )
        } else {
            Line::styled(
                format!(
                    "✗ Caracal ({}) in {} has checks in error",
                    d.release, d.namespace
                ),
                Style::new().fg(BAD).add_modifier(Modifier::BOLD),
            )
        },
        Line::raw(format!("  checks: {verdict}")),
        Line::raw(format!("  answers: {answers} (no secret value is in it)")),
        Line::raw(format!("  bundle:  {}/", state.out_dir.display())),
        Line::raw(""),
        Line::styled("Next", Style::new().add_modifier(Modifier::BOLD)),
    ];
    for (command, what) in crate::engine::narrate::next_steps(&state.answers_path) {
        lines.push(Line::raw(format!("  {command}")));
        lines.push(Line::styled(format!("      {what}"), Style::new().fg(DIM)));
    }
    if !green {
        lines.push(Line::raw(""));
        lines.push(Line::raw(
            "  v goes back to the live checks: each failing one has its fix",
        ));
    }
    draw_earlier(&mut lines, state);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" Done "))
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// After an upgrade: the earlier secret names, deleted only when asked after a green verify.
fn draw_earlier<'a>(lines: &mut Vec<Line<'a>>, state: &'a State) {
    use super::upgrade::EarlierStep;
    let offered = state.earlier_to_delete();
    match &state.upgrade.earlier {
        EarlierStep::Done(outcome) => {
            lines.push(Line::raw(""));
            lines.extend(
                crate::engine::narrate::earlier_lines(outcome)
                    .into_iter()
                    .map(Line::raw),
            );
        }
        EarlierStep::Failed(error) => {
            lines.push(Line::raw(""));
            for (i, l) in error.iter().enumerate() {
                lines.push(if i == 0 {
                    Line::styled(format!("✗ {l}"), Style::new().fg(BAD))
                } else {
                    Line::raw(l.as_str())
                });
            }
        }
        EarlierStep::Deleting => {
            lines.push(Line::raw(""));
            lines.push(Line::raw(
                "… reading the secret manager again, then deleting the earlier names",
            ));
        }
        EarlierStep::Asking if !offered.is_empty() => {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!(
                    "Delete {} from the secret manager? Each is deleted only if its current name still holds the same value. y deletes, any other key keeps them",
                    offered
                        .iter()
                        .map(|(old, _)| old.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
        EarlierStep::NotAsked | EarlierStep::Asking if !offered.is_empty() => {
            lines.push(Line::raw(""));
            lines.push(Line::raw(
                "The earlier chart's secret names are still there:",
            ));
            for (old, current) in &offered {
                lines.push(Line::raw(format!("  {old} (its value is under {current})")));
            }
            lines.push(Line::styled(
                format!(
                    "  x deletes them (asks first); until then a rollback to chart {} still finds them",
                    state
                        .upgrade_plan()
                        .map(|p| p.deployed.chart_version.as_str())
                        .unwrap_or("the earlier one")
                ),
                Style::new().fg(Color::Yellow),
            ));
        }
        EarlierStep::NotAsked | EarlierStep::Asking => {
            let kept = state.earlier_names();
            if !kept.is_empty() {
                lines.push(Line::raw(""));
                lines.push(Line::raw(format!(
                    "The earlier chart's secret names stay ({}): they may be deleted only after every check is green (v: the live checks)",
                    kept.iter()
                        .map(|(old, _)| old.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
}

/// The keys of the screen as it is now (the footer, and the help overlay).
fn keys_of(state: &State) -> &'static str {
    match state.screen {
        Screen::Secrets => match state.seed.phase {
            SeedPhase::Asking(_) => {
                "type the value (hidden)  Ctrl-R show/hide  Enter confirm  Ctrl-U clear  Esc cancel"
            }
            SeedPhase::Writing | SeedPhase::Reading => "Esc stop (writes in flight complete)",
            SeedPhase::Planned => {
                "a/Enter apply  ↑/↓ select  space rotate (new version)  r re-read  PgUp back  Esc quit"
            }
            _ => "r re-read  PgUp back  PgDn preflight  Esc quit",
        },
        Screen::Preflight if state.preflight.running => "Esc stop (the checks only read)",
        Screen::Preflight => "Enter continue (every check passed)  r re-run  PgUp back  Esc quit",
        Screen::Confirm => "type the context's name  Enter confirm  Ctrl-U clear  Esc back",
        Screen::Apply if state.apply.running() => "Esc stop (the object in flight completes)",
        Screen::Apply if state.apply.synced() => {
            "Enter/i helm install  d dry run again  PgUp back  Esc quit"
        }
        Screen::Apply => "a/Enter apply  d dry run again  PgUp back  Esc quit",
        Screen::Install if state.install.running() => "Esc stop (says what was done)",
        Screen::Install if state.install.confirm_uninstall => {
            "y uninstall  any other key keeps the release"
        }
        Screen::Install if state.install.confirm_rollback => {
            "y roll back (forward-only: read the warning)  any other key keeps this revision"
        }
        Screen::Install if state.install.pending().is_some() => {
            "f clear the pending release and install  PgUp back  Esc quit"
        }
        Screen::Verify => {
            "↑/↓ select  c run the canary  / filter  Enter summary  PgUp back  Esc quit"
        }
        Screen::Done if matches!(state.upgrade.earlier, super::upgrade::EarlierStep::Asking) => {
            "y delete the earlier names  any other key keeps them"
        }
        Screen::Done if !state.earlier_to_delete().is_empty() => {
            "x delete the earlier names (asks)  Enter/q leave  v live checks again"
        }
        Screen::Done => "Enter/q leave  v live checks again",
        Screen::Install
            if matches!(
                state.install.outcome,
                Some(InstallOutcome::Deployed { .. } | InstallOutcome::UpToDate { .. })
            ) =>
        {
            "Enter/v verify (live)  i install again  PgUp back  Esc quit"
        }
        Screen::Install => match (state.install.rollback_to(), state.install.may_uninstall()) {
            (Some(_), _) => "b roll back  i install again  PgUp back  Esc quit",
            (None, true) => "u uninstall (asks first)  i install again  PgUp back  Esc quit",
            _ => "i install again  PgUp back  Esc quit",
        },
        Screen::Review => "←/→ file  ↑/↓ scroll  Ctrl-S save  PgDn seed secrets  Esc quit",
        Screen::Questions(_) => {
            "Tab/↓ next  Shift-Tab/↑ previous  ←/→ choose  Ctrl-U clear  PgDn/PgUp screen  Ctrl-S save  Esc quit"
        }
    }
}

fn draw_footer(frame: &mut Frame, state: &State, area: Rect) {
    let status = match &state.status {
        Some(Ok(msg)) => Line::styled(format!("✓ {msg}"), Style::new().fg(GOOD)),
        Some(Err(msg)) => Line::styled(format!("✗ {msg}"), Style::new().fg(BAD)),
        None if state.problems.is_empty() => {
            Line::styled("✓ all answers valid", Style::new().fg(GOOD))
        }
        None => Line::styled(
            format!("✗ {} problem(s) in the answers", state.problems.len()),
            Style::new().fg(BAD),
        ),
    };
    let jump = state
        .jump
        .as_ref()
        .map(|t| format!(":{t}▏  step number or name, Enter go, Esc cancel"));
    let keys = jump.as_deref().unwrap_or(keys_of(state));
    frame.render_widget(
        Paragraph::new(vec![status, Line::styled(keys, Style::new().fg(DIM))]),
        area,
    );
}

/// A box of `width` x `height` (at most the area's) in the middle of `area`.
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let (w, h) = (width.min(area.width), height.min(area.height));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height / 2).saturating_sub(height / 2),
        w,
        h,
    )
}

/// The downgrade box: the target version typed confirms it.
fn draw_downgrade(frame: &mut Frame, plan: &crate::engine::upgrade::UpgradePlan, typed: &str) {
    let rect = centred(frame.area(), 76, 14);
    frame.render_widget(Clear, rect);
    let lines = vec![
        Line::raw(format!(
            "Chart {} is not a step forward from the deployed {}.",
            plan.target, plan.deployed.chart_version
        )),
        Line::styled(crate::engine::narrate::FORWARD_ONLY, Style::new().fg(DIM)),
        Line::raw(""),
        Line::raw(format!(
            "Type {} to confirm its images work with {}'s schema:",
            plan.target, plan.deployed.chart_version
        )),
        Line::styled(
            format!("> {typed}▏"),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Line::raw(""),
        Line::styled(
            "Enter confirm    Esc stay (nothing is changed)",
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Downgrade ")),
        rect,
    );
}

fn draw_confirm(frame: &mut Frame, state: &State) {
    // The question, three lines of detail at most, a blank line and the keys.
    let rect = centred(frame.area(), 60, 8);
    frame.render_widget(Clear, rect);
    let (question, detail) = if !state.saved {
        (
            "Quit without saving?".to_string(),
            format!(
                "{} is unchanged; the answers are kept in {}, resumed on the next start.",
                state.answers_path.display(),
                super::app::draft_path(&state.answers_path).display()
            ),
        )
    } else {
        (
            format!("Leave in the middle of “{}”?", state.screen.title()),
            "What was done stays; starting again with the same answers resumes here.".to_string(),
        )
    };
    let lines = vec![
        Line::raw(question),
        Line::styled(detail, Style::new().fg(DIM)),
        Line::raw(""),
        Line::styled(
            "y / Ctrl-C quit    n / Esc stay",
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Quit ")),
        rect,
    );
}
