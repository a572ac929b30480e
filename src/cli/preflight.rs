//! `caracal-deploy preflight`: the checks that must pass before any change, headless. Results
//! on stdout (text, or `-o json`), nothing changed anywhere.

use std::path::PathBuf;

use crate::engine::{Engine, EngineError, Event, Request};
use crate::exit::Exit;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// Output format of the results.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Exit 3 instead of 4 when there are warnings only.
    #[arg(long)]
    fail_on_warning: bool,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    log_file: Option<PathBuf>,
}

pub fn run(args: &PreflightArgs) -> Exit {
    let answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    crate::logging::init(args.log_file.as_deref());
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let (engine, mut events) = Engine::new(runtime.handle().clone());
    runtime.block_on(async move {
        eprintln!("Running the preflight checks (reads only; nothing is changed)…");
        let token = engine.submit(Request::Preflight {
            answers: Box::new(answers),
        });
        let watcher = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                token.cancel();
            }
        });
        let exit = loop {
            match events.recv().await {
                Some(Event::PreflightDone(report)) => {
                    match args.output {
                        Format::Text => print!("{}", report.to_text()),
                        Format::Json => println!(
                            "{}",
                            serde_json::to_string_pretty(&report.to_json())
                                .unwrap_or_else(|_| "{}".into())
                        ),
                    }
                    break report.exit(args.fail_on_warning);
                }
                Some(Event::Failed(EngineError::Interrupted)) => {
                    eprintln!("interrupted: nothing was changed (preflight only reads).");
                    break Exit::Other;
                }
                Some(Event::Failed(e)) => {
                    super::print_error(&e);
                    break e.exit();
                }
                Some(_) => {}
                None => break Exit::Other,
            }
        };
        watcher.abort();
        exit
    })
}
