//! `caracal-deploy seed`: step 1, headless, over the engine. The plan goes to stdout, progress
//! to stderr; nothing is asked for a secret that is kept.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::core::answers::Answers;
use crate::core::seed::SeedPlan;
use crate::engine::narrate::{Line, seed_lines};
use crate::engine::seed::{DEFAULT_CONCURRENCY, Prompted, prompts_needed};
use crate::engine::source::SourceError;
use crate::engine::{CloudConnector, Engine, EngineError, Event, Request};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// The answers file (see docs/answers.md).
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Add a new version of this catalog secret (repeatable). `secret-store-kek` keeps the
    /// current key as `secret-store-kek-previous`.
    #[arg(long = "rotate", value_name = "NAME")]
    rotate: Vec<String>,
    /// How many secrets are read and written at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Exit 3 instead of 4 when there are warnings only.
    #[arg(long)]
    fail_on_warning: bool,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    log_file: Option<PathBuf>,
}

fn print(lines: Vec<Line>) {
    for line in lines {
        match line {
            Line::Out(l) => println!("{l}"),
            Line::Err(l) => eprintln!("{l}"),
        }
    }
}

/// Asks the masked value of a `prompt` source at the terminal.
fn prompt_masked(field: &str) -> Result<SecretString, SourceError> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(SourceError::NoTerminal {
            field: field.into(),
        });
    }
    dialoguer::Password::new()
        .with_prompt(format!("{field} (input hidden)"))
        .with_confirmation("Repeat it", "The two entries differ")
        .interact()
        .map(SecretString::from)
        .map_err(|_| SourceError::Cancelled {
            field: field.into(),
        })
}

/// Waits for the event that ends the current request, printing every event on the way.
async fn until_done(rx: &mut UnboundedReceiver<Event>, answers_path: &Path) -> Option<Event> {
    super::until(
        rx,
        |event| print(seed_lines(event, answers_path)),
        |event| matches!(event, Event::SeedPlanned { .. } | Event::SeedFinished(_)),
    )
    .await
}

pub fn run(args: &SeedArgs) -> Exit {
    let answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    if let Some(path) = crate::logging::init(args.log_file.as_deref()) {
        tracing::info!(log = %path.display(), "seed started");
    }
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let (engine, mut rx) = Engine::with(
        runtime.handle().clone(),
        Box::new(CloudConnector),
        usize::from(args.concurrency),
    );
    runtime.block_on(async move {
        // Ctrl-C is safe at any moment: before the writes nothing has changed; during them,
        // no new write starts and those in flight complete.
        let (stop, watcher) =
            super::on_ctrl_c("interrupted: no new write starts; those in flight complete…");
        let exit = seed(&engine, &mut rx, &stop, answers, args).await;
        watcher.abort();
        exit
    })
}

async fn seed(
    engine: &Engine,
    rx: &mut UnboundedReceiver<Event>,
    stop: &CancellationToken,
    answers: Answers,
    args: &SeedArgs,
) -> Exit {
    engine.submit_with(
        Request::PlanSeed {
            answers: Box::new(answers.clone()),
            rotate: args.rotate.clone(),
        },
        stop.child_token(),
    );
    let plan: SeedPlan = match until_done(rx, &args.answers).await {
        Some(Event::SeedPlanned { plan, .. }) => plan,
        Some(Event::Failed(e)) => return e.exit(),
        _ => return Exit::Other,
    };
    if args.dry_run {
        println!("Dry run: nothing was changed.");
        return Exit::from_findings(
            plan.errors().len(),
            plan.warnings().len(),
            args.fail_on_warning,
        );
    }
    // Values are asked only for what will be written.
    let mut typed = BTreeMap::new();
    for field in prompts_needed(&plan, &answers) {
        match prompt_masked(&field) {
            Ok(v) => {
                typed.insert(field, v);
            }
            Err(e) => {
                print(seed_lines(
                    &Event::Failed(EngineError::Source(e)),
                    &args.answers,
                ));
                return Exit::InvalidInput;
            }
        }
    }
    engine.submit_with(
        Request::WriteSeed {
            answers: Box::new(answers),
            plan: Box::new(plan),
            prompted: Prompted::new(typed),
        },
        stop.child_token(),
    );
    match until_done(rx, &args.answers).await {
        Some(Event::SeedFinished(outcome)) => outcome.exit(args.fail_on_warning),
        Some(Event::Failed(e)) => e.exit(),
        _ => Exit::Other,
    }
}
