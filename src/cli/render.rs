//! `caracal-deploy render`: offline, every manifest, the values file and the helm command.

use std::io::IsTerminal;
use std::path::Path;

use crate::adapters::helm::Helm;
use crate::core::external_secret::RUNTIME_SECRET;
use crate::core::render::render;
use crate::engine::chart_check::{ChartCheck, check_against_chart};
use crate::engine::output::write_bundle;
use crate::exit::Exit;

pub fn run(answers_path: &Path, out: &Path) -> Exit {
    let answers = match super::load(answers_path) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let bundle = render(&answers);
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    if std::io::stderr().is_terminal() {
        eprintln!("Checking the bundle against the chart with helm template…");
    }
    match runtime.block_on(check_against_chart(&answers, &bundle, &Helm::from_env())) {
        ChartCheck::Covered { mounted } => eprintln!(
            "✓ chart renders in stable mode; the ExternalSecret produces all {mounted} keys its workloads mount from {RUNTIME_SECRET}"
        ),
        ChartCheck::Skipped(why) => {
            eprintln!("note: did not check the bundle against the chart: {why}")
        }
        ChartCheck::Refused(stderr) => {
            eprintln!("error: the chart refuses these values: {stderr}");
            eprintln!("nothing was written.");
            return Exit::CheckFailed;
        }
        ChartCheck::Missing(keys) => {
            eprintln!(
                "error: the chart mounts keys of {RUNTIME_SECRET} that the ExternalSecret would not produce: {}",
                keys.join(", ")
            );
            eprintln!(
                "this chart version differs from what caracal-deploy knows; nothing was written."
            );
            return Exit::CheckFailed;
        }
    }
    if let Err(e) = write_bundle(&bundle, out) {
        eprintln!("error: {e}");
        eprintln!("nothing was written.");
        return Exit::Other;
    }
    print!(
        "{}",
        bundle.index(
            &out.display().to_string(),
            &answers_path.display().to_string()
        )
    );
    Exit::Success
}
