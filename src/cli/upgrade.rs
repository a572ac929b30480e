//! `caracal-deploy upgrade`: roll an existing install forward, headless. First what would
//! change (read only: the release and its chart version against the target, the secret layout
//! carried over, every object and value helm would change, the keys newly mounted); then, with
//! `--yes`, the same steps as a first install over the same engine requests: the secrets
//! (copied, amended or created; never deleted, never regenerated), the store and ExternalSecret,
//! `helm upgrade`, and verify. A downgrade is refused unless `--allow-downgrade`. The earlier
//! chart's secret names are deleted only with `--delete-earlier`, only after verify ends green,
//! and only where the current name holds the same value.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::apply::parse_duration;
use crate::core::catalog::VersionStep;
use crate::engine::install::{InstallOutcome, progress_lines};
use crate::engine::narrate::{
    CheckChanges, FORWARD_ONLY, Line, applied_lines, apply_summary, condition_line, earlier_lines,
    earlier_plan_lines, error_lines, install_text, not_green, seed_lines, upgrade_lines,
};
use crate::engine::seed::{EarlierOutcome, Prompted, prompts_needed};
use crate::engine::verify::Mode;
use crate::engine::{Engine, EngineError, Event, Request};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The answers file (see docs/answers.md).
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// The chart version to move to (default: the answers' `chart.version`). The chart the
    /// answers name must be that version.
    #[arg(long = "to", value_name = "VERSION")]
    to: Option<String>,
    /// Show what would change; change nothing (no secret written, no object applied, no helm
    /// revision).
    #[arg(long)]
    dry_run: bool,
    /// Confirm the changes (headless commands never ask).
    #[arg(long)]
    yes: bool,
    /// Move to an older chart (or one whose order is not known): only when its images are
    /// known to work with the database schema the newer one migrated to.
    #[arg(long)]
    allow_downgrade: bool,
    /// When helm fails, return to the last deployed revision. Only while that revision's
    /// images work with the schema the failed run's migrations may have left (they are
    /// forward-only): the failure says which Job ran.
    #[arg(long)]
    rollback_on_failure: bool,
    /// After verify ends with every check green, delete the earlier chart's secret names
    /// (`formerly`, e.g. zone-kek) whose current name holds the same value (read again just
    /// before); others are kept, with why. With --dry-run: which would be deleted. Run again on
    /// an upgraded install to delete them later.
    #[arg(long)]
    delete_earlier: bool,
    /// How long helm waits for hooks and workloads.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    timeout: Duration,
    /// How long verify waits for every check to pass afterwards.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    wait: Duration,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    log_file: Option<PathBuf>,
}

fn say(lines: impl IntoIterator<Item = String>) {
    for l in lines {
        eprintln!("{l}");
    }
}

/// An engine failure: told with its fix; the exit of the contract.
fn failed(e: &EngineError) -> Exit {
    if matches!(e, EngineError::Interrupted) {
        eprintln!("Interrupted: the step in progress completed what it had started.");
        return Exit::Other;
    }
    say(error_lines(e));
    e.exit()
}

pub fn run(args: &UpgradeArgs) -> Exit {
    let mut answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    if let Some(to) = &args.to {
        let to = to.trim_start_matches('v');
        if to != answers.chart.version {
            eprintln!(
                "error: --to {to}: the answers install chart {} from {}; nothing was changed.",
                answers.chart.version, answers.chart.reference
            );
            eprintln!(
                "  fix: set chart.version: {to} in {} (and chart.ref to that chart), then run upgrade again",
                args.answers.display()
            );
            return Exit::InvalidInput;
        }
        answers.chart.version = to.to_string();
    }
    if let Err(exit) = super::confirmed(
        &answers,
        &format!("upgrade of release {}", answers.release),
        args.dry_run,
        args.yes,
    ) {
        return exit;
    }
    crate::logging::init(args.log_file.as_deref());
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let (engine, mut rx) = Engine::new(runtime.handle().clone());
    runtime.block_on(async move {
        let (stop, watcher) = super::on_ctrl_c(
            "interrupted: the step in progress completes what it started, nothing new starts…",
        );
        let exit = upgrade(&engine, &mut rx, &stop, answers, args).await;
        watcher.abort();
        exit
    })
}

async fn upgrade(
    engine: &Engine,
    rx: &mut UnboundedReceiver<Event>,
    stop: &CancellationToken,
    answers: crate::core::answers::Answers,
    args: &UpgradeArgs,
) -> Exit {
    eprintln!(
        "Reading release {} in {} and what chart {} would change (reads only)…",
        answers.release, answers.namespace, answers.chart.version
    );
    let submit = |request: Request| engine.submit_with(request, stop.child_token());
    submit(Request::PlanUpgrade {
        answers: Box::new(answers.clone()),
    });
    let plan = match super::until(rx, |_| {}, |e| matches!(e, Event::UpgradePlanned(_))).await {
        Some(Event::UpgradePlanned(plan)) => plan,
        Some(Event::Failed(e)) => return failed(&e),
        _ => return Exit::Other,
    };
    for line in upgrade_lines(&plan) {
        println!("{line}");
    }
    if matches!(plan.step, VersionStep::Backward | VersionStep::Unknown) && !args.allow_downgrade {
        eprintln!(
            "error: chart {} is not a step forward from the deployed {}; nothing was changed.",
            plan.target, plan.deployed.chart_version
        );
        eprintln!("  {FORWARD_ONLY}");
        eprintln!(
            "  fix: upgrade to a newer chart; --allow-downgrade only if {}'s images are known to work with {}'s schema",
            plan.target, plan.deployed.chart_version
        );
        return Exit::InvalidInput;
    }
    if !plan.seed.errors().is_empty() {
        eprintln!(
            "error: {} secret(s) cannot be used as they are (above); nothing was changed.",
            plan.seed.errors().len()
        );
        return Exit::CheckFailed;
    }
    if let Some(k) = plan.new_keys.iter().find(|k| !k.produced && !k.optional) {
        eprintln!(
            "error: chart {} mounts {} from caracal-runtime, which the ExternalSecret would not produce; nothing was changed.",
            plan.target, k.key
        );
        return Exit::CheckFailed;
    }
    if args.dry_run {
        if args.delete_earlier {
            for line in earlier_plan_lines(&plan.seed) {
                println!("{line}");
            }
        }
        println!(
            "Dry run: nothing was changed (no secret written or deleted, no object applied, no helm revision)."
        );
        return Exit::Success;
    }

    // The secrets: carried over, amended, created. Values are asked only for what is created.
    if plan.seed.writes() > 0 {
        if !prompts_needed(&plan.seed, &answers).is_empty() {
            eprintln!(
                "error: the answers ask for typed values (`prompt`); run `caracal-deploy seed -f {}` first, then upgrade",
                args.answers.display()
            );
            return Exit::InvalidInput;
        }
        submit(Request::WriteSeed {
            answers: Box::new(answers.clone()),
            plan: Box::new(plan.seed.clone()),
            prompted: Prompted::default(),
        });
        let tell = |e: &Event| {
            for line in seed_lines(e, &args.answers) {
                match line {
                    Line::Out(l) | Line::Err(l) => eprintln!("{l}"),
                }
            }
        };
        match super::until(rx, tell, |e| matches!(e, Event::SeedFinished(_))).await {
            Some(Event::SeedFinished(o)) if o.exit(false) == Exit::Success => {}
            Some(Event::SeedFinished(o)) => return o.exit(false),
            Some(Event::Failed(e)) => return failed(&e),
            _ => return Exit::Other,
        }
    }

    // The store and the ExternalSecret of the target chart's layout, synced.
    eprintln!("Applying the secret store and the ExternalSecret…");
    submit(Request::Apply {
        answers: Box::new(answers.clone()),
        dry_run: false,
        timeout: Duration::from_secs(5 * 60),
        // Objects an operator applied by hand (the pre-1.0 guide) become the product's: the
        // diff above showed what changes, and --yes confirmed it.
        take_over: true,
    });
    let tell = |e: &Event| match e {
        Event::Applied(a) => say(applied_lines(a)),
        Event::StoreCondition(c) => eprintln!("{}", condition_line(c)),
        Event::ApplyDone(o) => eprintln!("{}", apply_summary(o)),
        _ => {}
    };
    match super::until(rx, tell, |e| matches!(e, Event::ApplyDone(_))).await {
        Some(Event::ApplyDone(o)) if o.synced => {}
        Some(Event::ApplyDone(_)) => return Exit::Other,
        Some(Event::Failed(e)) => return failed(&e),
        _ => return Exit::Other,
    }

    // StatefulSets whose spec cannot change in place: deleted, their pods and volumes kept;
    // helm creates them again and they adopt them.
    if !plan.recreate.is_empty() {
        let names: Vec<String> = plan.recreate.iter().map(|(n, _)| n.clone()).collect();
        eprintln!(
            "Deleting StatefulSet(s) {} with their pods and volumes kept (helm creates them again)…",
            names.join(", ")
        );
        submit(Request::OrphanStatefulSets {
            answers: Box::new(answers.clone()),
            names,
        });
        match super::until(rx, |_| {}, |e| matches!(e, Event::Orphaned { .. })).await {
            Some(Event::Orphaned { .. }) => {}
            Some(Event::Failed(e)) => return failed(&e),
            _ => return Exit::Other,
        }
    }

    // helm upgrade, pinned to the target, watched.
    let release = answers.release.clone();
    submit(Request::Install {
        answers: Box::new(answers.clone()),
        timeout: args.timeout,
        rollback_on_failure: args.rollback_on_failure,
        uninstall_on_failure: false,
        recover: false,
        dry_run: false,
    });
    let tell = |e: &Event| {
        if let Event::InstallProgress(p) = e {
            say(progress_lines(&release, p));
        }
    };
    match super::until(rx, tell, |e| matches!(e, Event::InstallDone(_))).await {
        Some(Event::InstallDone(o @ InstallOutcome::Failed { .. })) => {
            println!("{}", install_text(&o, &release));
            eprintln!("{FORWARD_ONLY}");
            return Exit::CheckFailed;
        }
        Some(Event::InstallDone(o)) => println!("{}", install_text(&o, &release)),
        Some(Event::Failed(e)) => return failed(&e),
        _ => return Exit::Other,
    }

    // Verify, waiting until every check passes.
    eprintln!(
        "Verifying; waiting up to {}s for every check to pass…",
        args.wait.as_secs()
    );
    submit(Request::Verify {
        answers: Box::new(answers.clone()),
        mode: Mode::Wait(args.wait),
    });
    let mut changes = CheckChanges::default();
    let (exit, report_not_green) = match super::until(
        rx,
        |e| {
            if let Event::VerifyProgress(live) = e {
                say(changes.lines(&live.report));
            }
        },
        |e| matches!(e, Event::VerifyDone(_)),
    )
    .await
    {
        Some(Event::VerifyDone(o)) => {
            print!("{}", o.report.to_text());
            let ids: Vec<String> = not_green(&o.report)
                .into_iter()
                .map(str::to_string)
                .collect();
            (o.report.exit(false), ids)
        }
        Some(Event::Failed(e)) => return failed(&e),
        _ => return Exit::Other,
    };
    let earlier: Vec<&str> = plan
        .seed
        .earlier
        .iter()
        .map(|e| e.remote.as_str())
        .collect();
    if earlier.is_empty() {
        if args.delete_earlier {
            for line in earlier_lines(&EarlierOutcome::default()) {
                println!("{line}");
            }
        }
        return exit;
    }
    if !args.delete_earlier {
        let rollback = match plan.step {
            VersionStep::Same => "an earlier chart".to_string(),
            _ => format!("chart {}", plan.deployed.chart_version),
        };
        println!(
            "Kept in the secret manager: {} (the earlier names; nothing is deleted). Delete them once \
             you no longer need to roll back to {rollback}: run upgrade again with --delete-earlier.",
            earlier.join(", ")
        );
        return exit;
    }
    // Nothing old is deleted unless the install it was carried into is verified.
    if exit != Exit::Success {
        println!(
            "Kept in the secret manager: {} (the earlier names; nothing is deleted): --delete-earlier \
             deletes them only after verify ends with every check green, and it ended with exit {}{}. \
             Once it is green, run upgrade again with --yes --delete-earlier.",
            earlier.join(", "),
            exit.code(),
            match &report_not_green[..] {
                [] => String::new(),
                ids => format!(" ({} not green)", ids.join(", ")),
            }
        );
        return exit;
    }
    eprintln!("Verified green: deleting the earlier names whose value is under the current name…");
    submit(Request::DeleteEarlier {
        answers: Box::new(answers.clone()),
    });
    match super::until(rx, |_| {}, |e| matches!(e, Event::EarlierDeleted(_))).await {
        Some(Event::EarlierDeleted(outcome)) => {
            for line in earlier_lines(&outcome) {
                println!("{line}");
            }
            if outcome.failed > 0 {
                Exit::CheckFailed
            } else {
                exit
            }
        }
        Some(Event::Failed(e)) => failed(&e),
        _ => Exit::Other,
    }
}
