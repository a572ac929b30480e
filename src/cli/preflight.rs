//! `caracal-deploy preflight`: the checks that must pass before any change, headless. Results
//! on stdout (text, or `-o json`), nothing changed anywhere.

use std::path::PathBuf;

use crate::engine::{Event, Request};
use crate::exit::Exit;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The arguments of a command that prints a checks report (preflight, verify).
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The answers file (see docs/answers.md).
    #[arg(short = 'f', long = "answers")]
    pub answers: PathBuf,
    /// Output format of the results.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Exit 3 instead of 4 when there are warnings only.
    #[arg(long)]
    pub fail_on_warning: bool,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    pub log_file: Option<PathBuf>,
}

impl ReportArgs {
    /// Prints the report on stdout in the chosen format; returns the contract's exit.
    pub fn print(&self, report: &crate::core::checks::Report) -> Exit {
        match self.output {
            Format::Text => print!("{}", report.to_text()),
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&report.to_json()).unwrap_or_else(|_| "{}".into())
            ),
        }
        report.exit(self.fail_on_warning)
    }
}

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: &PreflightArgs) -> Exit {
    let args = &args.report;
    let answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    crate::logging::init(args.log_file.as_deref());
    eprintln!("Running the preflight checks (reads only; nothing is changed)…");
    super::drive(
        Request::Preflight {
            answers: Box::new(answers),
        },
        "interrupted: nothing was changed (preflight only reads).",
        "Interrupted: nothing was changed (preflight only reads).",
        |event| match event {
            Event::PreflightDone(report) => Some(args.print(&report)),
            _ => None,
        },
    )
}
