//! The one theme of the wizard and the dashboard: the colour of each result, and NO_COLOR
//! (every colour removed after drawing; glyphs and words already carry every meaning).

use ratatui::style::{Color, Modifier, Style};

use crate::core::checks::Outcome;

/// The colour of a check's result.
pub fn outcome_style(result: Outcome) -> Style {
    Style::new().fg(match result {
        Outcome::Success => Color::Green,
        Outcome::Warning => Color::Yellow,
        Outcome::Error => Color::Red,
        Outcome::Skipped => Color::DarkGray,
    })
}

/// NO_COLOR: every colour removed after drawing; what a background marked is reversed instead,
/// so it still stands out. Glyphs and words already carry every meaning.
pub fn monochrome(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut() {
        if cell.bg != Color::Reset {
            cell.modifier |= Modifier::REVERSED;
        }
        cell.fg = Color::Reset;
        cell.bg = Color::Reset;
    }
}
