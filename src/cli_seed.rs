//! `caracal-deploy seed`: step 1, headless. Plan on stdout, progress on stderr.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use secrecy::SecretString;

use crate::adapters::connect_secret_manager;
use crate::cli::{exit, load_answers, print_problems};
use crate::core::catalog::SecretCatalog;
use crate::core::secret_manager::SecretManagerError;
use crate::core::seed::{Action, KEK, plan};
use crate::engine::seed::{Progress, SourceError, apply, observe, value_for};

fn prompt_masked(field: &str) -> Option<Result<SecretString, SourceError>> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return None;
    }
    let answer = dialoguer::Password::new()
        .with_prompt(format!("{field} (input hidden)"))
        .with_confirmation("Repeat it", "The two entries differ")
        .interact();
    Some(
        answer
            .map(SecretString::from)
            .map_err(|_| SourceError::Cancelled {
                field: field.into(),
            }),
    )
}

fn exit_for(error: &SecretManagerError) -> u8 {
    match error {
        SecretManagerError::Invalid(_) => exit::INVALID_INPUT,
        _ => exit::CHECK_FAILED,
    }
}

pub fn run(
    answers_path: &Path,
    dry_run: bool,
    rotate: &[String],
    concurrency: usize,
    fail_on_warning: bool,
    log: Option<&Path>,
) -> u8 {
    let answers = match load_answers(answers_path) {
        Ok(a) => a,
        Err(problems) => {
            print_problems(answers_path, &problems);
            return exit::INVALID_INPUT;
        }
    };
    if let Some(path) = crate::logging::init(log) {
        tracing::info!(log = %path.display(), "seed started");
    }
    let Some(runtime) = crate::engine::start_runtime() else {
        return exit::OTHER;
    };
    runtime.block_on(async move {
        // Ctrl-C is safe at any moment: before the writes nothing has changed; during them,
        // no new write starts and those in flight complete.
        let stop = Arc::new(AtomicBool::new(false));
        let interrupted = Arc::new(tokio::sync::Notify::new());
        let watcher = {
            let (stop, interrupted) = (stop.clone(), interrupted.clone());
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.store(true, Ordering::SeqCst);
                    interrupted.notify_one();
                    eprintln!("\ninterrupted: finishing the writes in flight, starting no new one…");
                }
            })
        };
        let nothing_written = || {
            println!("Interrupted before any write: nothing was changed.");
            exit::OTHER
        };
        let catalog = SecretCatalog::for_chart(&answers.chart.version).expect("validated chart version");
        let sm = match connect_secret_manager(&answers).await {
            Ok(sm) => sm,
            Err(e) => {
                eprintln!("error: {e}");
                return exit_for(&e);
            }
        };
        eprintln!("Reading {} secrets from {}…", catalog.seeded().count(), sm.describe());
        let observed = tokio::select! {
            o = observe(sm.as_ref(), catalog, &answers, concurrency) => o,
            () = interrupted.notified() => return nothing_written(),
        };
        let observed = match observed {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "reading the remote state failed");
                eprintln!("error: reading the secrets failed: {e}");
                return exit_for(&e);
            }
        };
        let plan = match plan(catalog, &answers, &observed, rotate) {
            Ok(p) => p,
            Err(problems) => {
                for p in &problems {
                    eprintln!("error: {p}");
                }
                return exit::INVALID_INPUT;
            }
        };
        println!("Plan for {} ({} to write):", sm.describe(), plan.writes());
        for line in plan.lines() {
            println!("  {line}");
        }
        for item in &plan.items {
            tracing::info!(secret = %item.remote_name, action = item.action.verb(), digest = item.digest.as_deref().unwrap_or("-"), "plan");
        }
        let errors = plan.errors().len();
        let warnings = plan.warnings().len();
        if dry_run {
            println!("Dry run: nothing was changed.");
            return outcome(errors, warnings, fail_on_warning);
        }
        // Values only for what will be written: nothing is asked for a secret that exists.
        let mut values = BTreeMap::new();
        for item in plan.items.iter().filter(|i| i.action.writes()) {
            match value_for(&item.secret, &answers, &prompt_masked) {
                Ok(v) => {
                    values.insert(item.secret.name.clone(), v);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("nothing was written.");
                    return exit::INVALID_INPUT;
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            return nothing_written();
        }
        let progress = |p: Progress| match p {
            Progress::Started { remote } => tracing::debug!(secret = %remote, "writing"),
            Progress::Done { remote, verb, digest } => {
                tracing::info!(secret = %remote, verb, digest = %digest, "written");
                eprintln!("  ✓ {remote}: {verb} ({digest})");
            }
            Progress::Failed { remote, error } => {
                tracing::warn!(secret = %remote, error = %error, "failed");
                eprintln!("  ✗ {remote}: {error}");
            }
            Progress::NotStarted { remote } => eprintln!("  · {remote}: not started"),
        };
        let report = apply(sm.as_ref(), &plan, &values, &answers, concurrency, stop.clone(), &progress).await;
        drop(values);
        watcher.abort();
        println!("{}.", report.summary(&plan));
        if plan.items.iter().any(|i| i.action == Action::RotateKek) && report.failed.is_empty() {
            println!(
                "The KEK was rotated and the previous key kept. Set `kekRotation: true` in {} and re-apply \
                 and install, so the services read both keys until the re-seal sweep completes.",
                answers_path.display()
            );
            tracing::info!(secret = KEK, "kek rotated");
        }
        if stop.load(Ordering::SeqCst) {
            println!("Interrupted: every secret is either untouched or complete. Run the same command again to finish.");
            return exit::OTHER;
        }
        if let Some((_, e)) = report.failed.first() {
            return exit_for(e).max(exit::CHECK_FAILED);
        }
        outcome(errors, warnings, fail_on_warning)
    })
}

fn outcome(errors: usize, warnings: usize, fail_on_warning: bool) -> u8 {
    if errors > 0 {
        exit::CHECK_FAILED
    } else if warnings > 0 {
        if fail_on_warning {
            exit::CHECK_FAILED
        } else {
            exit::WARNINGS
        }
    } else {
        exit::OK
    }
}
