//! `caracal-deploy install`: step 3, headless. Progress from the cluster on stderr while helm
//! runs; the result (text, or `-o json`) on stdout. Changes a cluster only with `--yes`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::engine::install::{InstallOutcome, progress_lines};
use crate::engine::narrate::install_text;
use crate::engine::{Event, Request};
use crate::exit::Exit;

use super::apply::parse_duration;
use super::preflight::Format;

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The answers file (see docs/answers.md).
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// Say whether helm would make a new revision, and which values differ; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Confirm changing the cluster of the answers' context (headless commands never ask).
    #[arg(long)]
    yes: bool,
    /// On failure, roll the release back to its last deployed revision.
    #[arg(long)]
    rollback_on_failure: bool,
    /// On the failure of a release that never deployed (a first install), uninstall it. Never
    /// done without this flag.
    #[arg(long)]
    uninstall_on_failure: bool,
    /// Clear a release a stopped helm run left pending-* before installing: pending-upgrade or
    /// pending-rollback are rolled back to the last deployed revision, pending-install (nothing
    /// ever deployed) is uninstalled.
    #[arg(long)]
    recover: bool,
    /// Output format of the result.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    output: Format,
    /// How long helm waits for hooks and workloads.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    timeout: Duration,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    log_file: Option<PathBuf>,
}

fn json_of(outcome: &InstallOutcome) -> serde_json::Value {
    match outcome {
        InstallOutcome::UpToDate { revision } => {
            json!({ "result": "up to date", "revision": revision })
        }
        InstallOutcome::Deployed { revision } => {
            json!({ "result": "deployed", "revision": revision })
        }
        InstallOutcome::WouldChange { from, fields } => {
            json!({ "result": "would change", "fromRevision": from, "fields": fields })
        }
        InstallOutcome::Failed {
            reason,
            helm,
            pods,
            jobs,
            rolled_back_to,
            uninstalled,
        } => json!({
            "result": "failed", "reason": reason, "helm": helm, "pods": pods, "jobs": jobs,
            "rolledBackTo": rolled_back_to, "uninstalled": uninstalled,
        }),
    }
}

pub fn run(args: &InstallArgs) -> Exit {
    let answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let context = super::context_of(&answers);
    let what = format!("install of release {}", answers.release);
    if let Err(exit) = super::confirmed(&answers, &what, args.dry_run, args.yes) {
        return exit;
    }
    crate::logging::init(args.log_file.as_deref());
    let release = answers.release.clone();
    eprintln!("Checking release {release} in {context}…");
    let request = Request::Install {
        answers: Box::new(answers),
        timeout: args.timeout,
        rollback_on_failure: args.rollback_on_failure,
        uninstall_on_failure: args.uninstall_on_failure,
        recover: args.recover,
        dry_run: args.dry_run,
    };
    super::drive(
        request,
        "interrupted: asking helm to stop (SIGTERM; it marks the release failed, not pending; killed after 30 s)…",
        "Interrupted before helm ran: nothing was changed.",
        |event| match event {
            Event::InstallProgress(p) => {
                for line in progress_lines(&release, &p) {
                    eprintln!("{line}");
                }
                None
            }
            Event::InstallDone(outcome) => {
                match args.output {
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&json_of(&outcome)).unwrap_or_default()
                    ),
                    Format::Text => println!("{}", install_text(&outcome, &release)),
                }
                Some(match outcome {
                    InstallOutcome::Failed { .. } => Exit::CheckFailed,
                    _ => Exit::Success,
                })
            }
            _ => None,
        },
    )
}
