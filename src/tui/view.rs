//! Draws a snapshot of the state. No I/O, no waiting: the same input always draws the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::core::profiles::CloudProfile;

use super::app::{Screen, SecretProgress, SeedPhase, SeedResult, State, rotates_kek};
use super::form::{FieldKind, SCREENS};

const ACCENT: Color = Color::Cyan;
const BAD: Color = Color::Red;
const GOOD: Color = Color::Green;
const DIM: Color = Color::DarkGray;

pub fn draw(frame: &mut Frame, state: &State) {
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
        Screen::Review => draw_review(frame, state, main),
        Screen::Questions(i) => draw_fields(frame, state, i, main),
    }
    draw_footer(frame, state, footer);
    if state.confirm_quit {
        draw_confirm(frame, state);
    }
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
        if focused {
            lines.push(Line::styled(
                format!("  {:<21}{}", "", field.help),
                Style::new().fg(DIM),
            ));
        }
        for p in problems {
            lines.push(Line::styled(
                format!("  {:<21}✗ {}: {}", "", p.message, p.fix),
                Style::new().fg(BAD),
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {} ", screen.title))),
        area,
    );
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
    let file = &bundle.files[state.review.file];
    frame.render_widget(
        Paragraph::new(Text::raw(file.content.as_str()))
            .scroll((state.review.scroll, 0))
            .block(Block::bordered().title(format!(" {} — {} ", file.name, file.summary))),
        content,
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
        let dots = "•".repeat(seed.typed.0.chars().count());
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(format!("{field} (the answers say `prompt`)")),
                Line::styled(
                    format!("{dots}▏"),
                    Style::new().add_modifier(Modifier::REVERSED),
                ),
            ])
            .block(Block::bordered().title(" Hidden input ")),
            rect,
        );
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
    let keys = match state.screen {
        Screen::Secrets => match state.seed.phase {
            SeedPhase::Asking(_) => {
                "type the value (hidden)  Enter confirm  Ctrl-U clear  Esc cancel"
            }
            SeedPhase::Writing | SeedPhase::Reading => "Esc stop (writes in flight complete)",
            SeedPhase::Planned => {
                "a/Enter apply  ↑/↓ select  space rotate (new version)  r re-read  PgUp back  Esc quit"
            }
            _ => "r re-read  PgUp back  Esc quit",
        },
        Screen::Review => "←/→ file  ↑/↓ scroll  Ctrl-S save  PgDn seed secrets  Esc quit",
        Screen::Questions(_) => {
            "Tab/↓ next  Shift-Tab/↑ previous  ←/→ choose  Ctrl-U clear  PgDn/PgUp screen  Ctrl-S save  Esc quit"
        }
    };
    frame.render_widget(
        Paragraph::new(vec![status, Line::styled(keys, Style::new().fg(DIM))]),
        area,
    );
}

fn draw_confirm(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let width = 56.min(area.width);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + area.height / 2 - 3,
        width,
        6,
    );
    frame.render_widget(Clear, rect);
    let lines = vec![
        Line::raw("Quit without saving?"),
        Line::styled(
            format!(
                "Unsaved answers are lost; {} is unchanged.",
                state.answers_path.display()
            ),
            Style::new().fg(DIM),
        ),
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
