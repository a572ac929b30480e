//! `caracal-deploy verify`: step 4, headless. The preflight checks, then the live checks from
//! watches of the release's namespace. Changes as they are seen go to stderr; the final report
//! to stdout (text, or `-o json` in the contract's shape). It changes nothing in the cluster;
//! the canary creates its zone, application, resource and policy through the Admin API and
//! deletes them again.

use std::time::Duration;

use super::apply::parse_duration;
use super::preflight::ReportArgs;
use crate::engine::narrate::{CheckChanges, not_green};
use crate::engine::verify::Mode;
use crate::engine::{Event, Request};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Keep watching until no check is in error (then exit at once: 0, or 4 with warnings), or
    /// until this long has passed (then exit 3 with what is still red): e.g. 90s, 10m.
    #[arg(long, value_parser = parse_duration)]
    wait: Option<Duration>,
}

pub fn run(args: &VerifyArgs) -> Exit {
    let (wait, args) = (args.wait, &args.report);
    let answers = match super::load(&args.answers) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    crate::logging::init(args.log_file.as_deref());
    match wait {
        Some(w) => eprintln!(
            "Verifying release {} in {}; waiting up to {}s for every check to pass…",
            answers.release,
            answers.namespace,
            w.as_secs()
        ),
        None => eprintln!(
            "Verifying release {} in {}…",
            answers.release, answers.namespace
        ),
    }
    let mut changes = CheckChanges::default();
    super::drive(
        Request::Verify {
            answers: Box::new(answers),
            mode: wait.map_or(Mode::Once, Mode::Wait),
        },
        "interrupted: nothing was changed in the cluster (the canary deletes what it created).",
        "Interrupted: nothing was changed in the cluster (the canary deletes what it created).",
        |event| match event {
            Event::VerifyProgress(live) => {
                if wait.is_some() {
                    changes
                        .lines(&live.report)
                        .iter()
                        .for_each(|l| eprintln!("{l}"));
                }
                None
            }
            Event::VerifyDone(outcome) => {
                if outcome.timed_out {
                    eprintln!(
                        "The wait ended with checks still not green: {}",
                        not_green(&outcome.report).join(", ")
                    );
                }
                Some(args.print(&outcome.report))
            }
            _ => None,
        },
    )
}
