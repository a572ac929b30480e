//! Draws a snapshot of the state. No I/O, no waiting: the same input always draws the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::core::profiles::CloudProfile;

use super::app::{REVIEW, SECRETS, SeedPhase, State};
use super::form::{FieldKind, SCREENS};

const ACCENT: Color = Color::Cyan;
const BAD: Color = Color::Red;
const GOOD: Color = Color::Green;
const DIM: Color = Color::DarkGray;

fn screen_title(index: usize) -> &'static str {
    match index {
        REVIEW => "Review and save",
        SECRETS => "Seed secrets",
        i => SCREENS.get(i).map(|s| s.title).unwrap_or(""),
    }
}

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
                state.screen + 1,
                SECRETS + 1,
                screen_title(state.screen),
                profile.display_name
            )),
        ])),
        header,
    );
    let [steps, main] =
        Layout::horizontal([Constraint::Length(27), Constraint::Min(30)]).areas(body);
    draw_steps(frame, state, steps);
    if state.screen == SECRETS {
        draw_secrets(frame, state, main);
    } else if state.screen == REVIEW {
        draw_review(frame, state, main);
    } else {
        draw_fields(frame, state, main);
    }
    draw_footer(frame, state, footer);
    if state.confirm_quit {
        draw_confirm(frame, state);
    }
}

fn draw_steps(frame: &mut Frame, state: &State, area: Rect) {
    let mut lines = Vec::new();
    for i in 0..=SECRETS {
        let problems = state.screen_problems(i);
        let (glyph, style) = if i == SECRETS {
            match (&state.seed.phase, &state.seed.result) {
                (SeedPhase::Done, Some(Ok(_))) => ("✓", Style::new().fg(GOOD)),
                (SeedPhase::Done, Some(Err(_))) => ("✗", Style::new().fg(BAD)),
                _ => ("·", Style::new().fg(DIM)),
            }
        } else if i == REVIEW {
            if state.problems.is_empty() {
                ("✓", Style::new().fg(GOOD))
            } else {
                ("·", Style::new().fg(DIM))
            }
        } else if problems == 0 {
            ("✓", Style::new().fg(GOOD))
        } else {
            ("✗", Style::new().fg(BAD))
        };
        let marker = if i == state.screen { "▶" } else { " " };
        let mut label = format!("{marker} {glyph} {}", screen_title(i));
        if i < REVIEW && problems > 0 {
            label.push_str(&format!(" ({problems})"));
        }
        let style = if i == state.screen {
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

fn draw_fields(frame: &mut Frame, state: &State, area: Rect) {
    let screen = &SCREENS[state.screen];
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
            if i == state.review_file {
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
    let file = &bundle.files[state.review_file];
    frame.render_widget(
        Paragraph::new(Text::raw(file.content.as_str()))
            .scroll((state.review_scroll, 0))
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
            for item in &plan.items {
                let status = seed
                    .progress
                    .get(&item.remote_name)
                    .cloned()
                    .unwrap_or_else(|| {
                        let mut s = item.action.verb().to_string();
                        if let Some(d) = &item.digest {
                            s.push_str(&format!(" ({d})"));
                        }
                        s
                    });
                let style = if status.starts_with('✗') || status.starts_with("wrong shape") {
                    Style::new().fg(BAD)
                } else if status.starts_with('✓') {
                    Style::new().fg(GOOD)
                } else {
                    Style::new()
                };
                lines.push(Line::from(vec![
                    Span::raw(format!("{:width$}  ", item.remote_name)),
                    Span::styled(status, style),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!("{} to write.", plan.writes())));
        }
        _ => {}
    }
    if let Some(result) = &seed.result {
        lines.push(match result {
            Ok(m) => Line::styled(format!("✓ {m}"), Style::new().fg(GOOD)),
            Err(m) => Line::styled(format!("✗ {m}"), Style::new().fg(BAD)),
        });
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
    let keys = if state.screen == SECRETS {
        match state.seed.phase {
            SeedPhase::Asking(_) => {
                "type the value (hidden)  Enter confirm  Ctrl-U clear  Esc cancel"
            }
            SeedPhase::Writing => "Esc stop (writes in flight complete)",
            _ => "a/Enter apply the plan  r re-read  PgUp back  Esc quit",
        }
    } else if state.screen == REVIEW {
        "←/→ file  ↑/↓ scroll  Ctrl-S save  PgDn seed secrets  Esc quit"
    } else {
        "Tab/↓ next  Shift-Tab/↑ previous  ←/→ choose  Ctrl-U clear  PgDn/PgUp screen  Ctrl-S save  Esc quit"
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
