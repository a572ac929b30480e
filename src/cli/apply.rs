//! `caracal-deploy apply`: step 2, headless. Progress on stderr; the result (text, or `-o
//! json`) on stdout. Changes a cluster only with `--yes`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::engine::apply::ApplyOutcome;
use crate::engine::narrate::{applied_lines, apply_summary, condition_line};
use crate::engine::{Event, Request};
use crate::exit::Exit;

use super::preflight::Format;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The answers file (see docs/answers.md).
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// Show what would change, field by field; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Confirm changing the cluster of the answers' context (headless commands never ask).
    #[arg(long)]
    yes: bool,
    /// Output format of the result.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    output: Format,
    /// How long to wait for the store to be Ready and the ExternalSecret synced.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    log_file: Option<PathBuf>,
}

/// `90s`, `5m`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write e.g. 90s, 5m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}`: the unit is s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

fn json_of(outcome: &ApplyOutcome) -> serde_json::Value {
    json!({
        "dryRun": outcome.dry_run,
        "synced": outcome.synced,
        "interrupted": outcome.interrupted,
        "objects": outcome.objects.iter().map(|o| json!({
            "kind": o.kind,
            "name": o.name,
            "action": o.action.verb(),
            "fields": o.action.fields(),
        })).collect::<Vec<_>>(),
    })
}

pub fn run(args: &ApplyArgs) -> Exit {
    let answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let context = super::context_of(&answers);
    if let Err(exit) = super::confirmed(&answers, "apply", args.dry_run, args.yes) {
        return exit;
    }
    crate::logging::init(args.log_file.as_deref());
    eprintln!(
        "{} the secret store in {context}, namespace {}…",
        if args.dry_run {
            "Comparing"
        } else {
            "Applying"
        },
        answers.namespace
    );
    let request = Request::Apply {
        answers: Box::new(answers),
        dry_run: args.dry_run,
        timeout: args.timeout,
        take_over: false,
    };
    super::drive(
        request,
        "interrupted: the object being applied completes, no other starts…",
        "Interrupted before any change: nothing was changed.",
        |event| match event {
            Event::Applied(a) => {
                applied_lines(&a).iter().for_each(|l| eprintln!("{l}"));
                None
            }
            Event::StoreCondition(c) => {
                eprintln!("{}", condition_line(&c));
                None
            }
            Event::ApplyDone(outcome) => {
                match args.output {
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&json_of(&outcome)).unwrap_or_default()
                    ),
                    Format::Text => println!("{}", apply_summary(&outcome)),
                }
                Some(if outcome.interrupted {
                    Exit::Other
                } else {
                    Exit::Success
                })
            }
            _ => None,
        },
    )
}
