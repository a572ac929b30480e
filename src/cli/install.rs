//! `caracal-deploy install`: step 3, headless. Progress from the cluster on stderr while helm
//! runs; the result (text, or `-o json`) on stdout. Changes a cluster only with `--yes`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::engine::install::{InstallOutcome, InstallProgress};
use crate::engine::{Event, Request};
use crate::exit::Exit;

use super::apply::parse_duration;
use super::preflight::Format;

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// Say whether helm would make a new revision, and which values differ; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Confirm changing the cluster of the answers' context (headless commands never ask).
    #[arg(long)]
    yes: bool,
    /// On failure, roll the release back to its previous revision.
    #[arg(long)]
    rollback_on_failure: bool,
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
            pods,
            rolled_back_to,
        } => json!({
            "result": "failed", "reason": reason, "pods": pods, "rolledBackTo": rolled_back_to,
        }),
    }
}

fn text_of(outcome: &InstallOutcome, release: &str) -> String {
    match outcome {
        InstallOutcome::UpToDate { revision } => format!(
            "{release} is up to date (revision {revision}: same chart version, same values); nothing was changed."
        ),
        InstallOutcome::Deployed { revision } => {
            format!("{release} deployed: revision {revision}.")
        }
        InstallOutcome::WouldChange { from, fields } => {
            let mut t = match from {
                Some(r) => format!("Dry run: helm would make a new revision after {r}"),
                None => "Dry run: helm would install the release".to_string(),
            };
            if fields.is_empty() {
                t.push_str("; nothing was changed.");
            } else {
                t.push_str(&format!(
                    "; values that differ:\n  {}\nnothing was changed.",
                    fields.join("\n  ")
                ));
            }
            t
        }
        InstallOutcome::Failed {
            reason,
            pods,
            rolled_back_to,
        } => {
            let mut t = format!("{release} failed: {reason}");
            for p in pods {
                t.push_str(&format!("\n  {p}"));
            }
            match rolled_back_to {
                Some(r) => t.push_str(&format!("\nRolled back to revision {r}.")),
                None => t.push_str(
                    "\nNot rolled back: --rollback-on-failure returns to the previous revision (a first install is never removed unless you run helm uninstall).",
                ),
            }
            t
        }
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
        dry_run: args.dry_run,
    };
    super::drive(
        request,
        "interrupted: stopping helm; the release may be left pending (install again explains it)…",
        "Interrupted before helm ran: nothing was changed.",
        |event| match event {
            Event::InstallProgress(InstallProgress::HelmRunning {
                revision_after,
                timeout,
            }) => {
                eprintln!(
                    "helm upgrade --install {release} ({}): waiting up to {}s for the migration hooks and every Deployment and StatefulSet to be ready…",
                    match revision_after {
                        Some(r) => format!("after revision {r}"),
                        None => "first install".into(),
                    },
                    timeout.as_secs()
                );
                None
            }
            Event::InstallProgress(InstallProgress::Workload {
                kind,
                name,
                ready,
                desired,
            }) => {
                eprintln!("  {kind} {name}: {ready}/{desired} ready");
                None
            }
            Event::InstallProgress(InstallProgress::Pod { name, reason }) => {
                if reason.is_empty() {
                    eprintln!("  pod {name}: recovered");
                } else {
                    eprintln!("  ✗ pod {name}: {reason}");
                }
                None
            }
            Event::InstallDone(outcome) => {
                match args.output {
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&json_of(&outcome)).unwrap_or_default()
                    ),
                    Format::Text => println!("{}", text_of(&outcome, &release)),
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
