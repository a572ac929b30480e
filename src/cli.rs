//! The command line. Headless commands print progress to stderr and results to stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::adapters::helm::{Helm, HelmError};
use crate::core::answers::Answers;
use crate::core::external_secret::{RUNTIME_SECRET, produced_keys};
use crate::core::mounts::secret_mounts;
use crate::core::problem::Problem;
use crate::core::render::{Bundle, VALUES_FILE, render};
use crate::core::yaml;
use crate::engine::output::write_bundle;

/// Exit codes of the contract.
pub mod exit {
    pub const OK: u8 = 0;
    pub const OTHER: u8 = 1;
    pub const INVALID_INPUT: u8 = 2;
    pub const CHECK_FAILED: u8 = 3;
    pub const WARNINGS: u8 = 4;
}

/// The Kubernetes version `render` assumes when it checks the chart offline.
const RENDER_KUBE_VERSION: &str = "1.34.0";

#[derive(Debug, Parser)]
#[command(
    name = "caracal-deploy",
    version,
    about = "From an empty managed Kubernetes cluster (EKS, GKE, AKS) to a verified Caracal install",
    long_about = "Without a command, opens the full-screen wizard. The wizard saves its answers (never \
                  secret values) and the rendered bundle, and can resume from an answers file."
)]
pub struct Cli {
    /// Answers file to resume from (wizard) and to save to.
    #[arg(short = 'f', long = "answers", global = false)]
    answers: Option<PathBuf>,
    /// Directory the wizard writes the rendered bundle to.
    #[arg(long, default_value = "caracal-bundle")]
    out: PathBuf,
    /// Run the wizard as linear prompts instead of full screen.
    #[arg(long)]
    plain: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline: write every manifest, the values file and the helm command to a directory.
    Render {
        #[arg(short = 'f', long = "answers")]
        answers: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Step 1: seed the secrets into the cloud's secret manager.
    Seed(SeedArgs),
    /// Step 2: namespace, External Secrets service account, store and ExternalSecret.
    Apply(LiveArgs),
    /// Step 3: helm upgrade --install of the chart.
    Install(LiveArgs),
    /// Step 4: verify the install.
    Verify(LiveArgs),
    /// Step 4 as a live full-screen dashboard.
    Dashboard(LiveArgs),
    /// Roll an existing install forward.
    Upgrade(LiveArgs),
    /// The troubleshooting entry of a check.
    Explain { check_id: String },
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Add a new version of this catalog secret (repeatable). `secret-store-kek` keeps the
    /// current key as `secret-store-kek-previous`.
    #[arg(long = "rotate", value_name = "NAME")]
    rotate: Vec<String>,
    /// How many secrets are written at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Exit 3 instead of 4 when there are warnings only.
    #[arg(long)]
    fail_on_warning: bool,
    /// Log file (never holds secret values).
    #[arg(long, env = "CARACAL_DEPLOY_LOG")]
    log_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct LiveArgs {
    #[arg(short = 'f', long = "answers")]
    answers: PathBuf,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Render { answers, out }) => run_render(&answers, &out),
        Some(Command::Seed(args)) => crate::cli_seed::run(
            &args.answers,
            args.dry_run,
            &args.rotate,
            usize::from(args.concurrency),
            args.fail_on_warning,
            args.log_file.as_deref(),
        ),
        Some(other) => not_yet(&other),
        None => crate::tui::run(cli.answers, cli.out, cli.plain),
    };
    ExitCode::from(code)
}

fn not_yet(command: &Command) -> u8 {
    let name = format!("{command:?}");
    let name = name
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("")
        .to_lowercase();
    eprintln!(
        "error: `caracal-deploy {name}` is not available in this build ({}) yet. \
         `caracal-deploy seed` seeds the secrets; `caracal-deploy render` writes the bundle and \
         prints the commands that apply and install it.",
        env!("CARGO_PKG_VERSION")
    );
    exit::OTHER
}

/// Prints problems one per line, each naming the file and the field.
pub fn print_problems(file: &Path, problems: &[Problem]) {
    for p in problems {
        eprintln!("error: {}: {p}", file.display());
    }
    eprintln!(
        "{} problem{} in {}; nothing was written.",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        file.display()
    );
}

/// Reads and validates an answers file, including the checks that need the file system.
pub fn load_answers(path: &Path) -> Result<Answers, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Problem::new(
            "(file)",
            format!("cannot be read: {e}"),
            "check the path given with -f, or create one with the wizard (`caracal-deploy`)",
        )]
    })?;
    let answers = Answers::from_yaml(&text)?;
    let mut problems = Vec::new();
    if answers.chart.is_local()
        && !Path::new(&answers.chart.reference)
            .join("Chart.yaml")
            .is_file()
    {
        problems.push(Problem::new(
            "chart.ref",
            format!("`{}` is not a chart directory (no Chart.yaml)", answers.chart.reference),
            "give the path of the unpacked chart, or the OCI reference oci://ghcr.io/garudex-labs/charts/caracal",
        ));
    }
    if let Some(ca) = &answers.secret_manager.ca_bundle
        && !ca.is_file()
    {
        problems.push(Problem::new(
            "secretManager.caBundle",
            format!("`{}` does not exist", ca.display()),
            "give the path of a PEM file with the CA certificates to trust, or remove the field",
        ));
    }
    if problems.is_empty() {
        Ok(answers)
    } else {
        Err(problems)
    }
}

/// What checking the bundle against the real chart found.
pub enum ChartCheck {
    /// Every required key is produced.
    Covered { mounted: usize },
    /// Keys the chart mounts that the ExternalSecret would not produce.
    Missing(Vec<String>),
    /// The check could not run (offline chart, no helm); the reason.
    Skipped(String),
    /// helm refused the values (e.g. stable-mode validation).
    Refused(String),
}

/// Renders the chart with the bundle's values and compares the keys its workloads mount
/// from the runtime Secret with the keys the ExternalSecret produces.
pub async fn check_against_chart(answers: &Answers, bundle: &Bundle, helm: &Helm) -> ChartCheck {
    if !answers.chart.is_local() {
        return ChartCheck::Skipped(format!(
            "chart {} is remote and render stays offline",
            answers.chart.reference
        ));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return ChartCheck::Skipped(format!("no temporary directory: {e}")),
    };
    let values_path = dir.path().join(VALUES_FILE);
    if let Err(e) = std::fs::write(&values_path, yaml::to_string(&bundle.values)) {
        return ChartCheck::Skipped(format!("could not write temporary values: {e}"));
    }
    let rendered = helm
        .template(
            &answers.release,
            &answers.chart.reference,
            &answers.namespace,
            &values_path,
            RENDER_KUBE_VERSION,
        )
        .await;
    let text = match rendered {
        Ok(t) => t,
        Err(e @ HelmError::NotFound(_)) => return ChartCheck::Skipped(e.to_string()),
        Err(HelmError::Failed { stderr, .. }) => return ChartCheck::Refused(stderr),
        Err(e) => return ChartCheck::Skipped(e.to_string()),
    };
    let docs = match yaml::from_documents(&text) {
        Ok(d) => d,
        Err(e) => return ChartCheck::Refused(format!("helm template output is not YAML: {e}")),
    };
    let mounts = secret_mounts(&docs, RUNTIME_SECRET);
    let produced = produced_keys(answers);
    let missing: Vec<String> = mounts
        .required
        .iter()
        .filter(|k| !produced.contains(k))
        .cloned()
        .collect();
    if missing.is_empty() {
        ChartCheck::Covered {
            mounted: mounts.required.len(),
        }
    } else {
        ChartCheck::Missing(missing)
    }
}

fn run_render(answers_path: &Path, out: &Path) -> u8 {
    let answers = match load_answers(answers_path) {
        Ok(a) => a,
        Err(problems) => {
            print_problems(answers_path, &problems);
            return exit::INVALID_INPUT;
        }
    };
    let bundle = render(&answers);
    let Some(runtime) = crate::engine::start_runtime() else {
        return exit::OTHER;
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
            return exit::CHECK_FAILED;
        }
        ChartCheck::Missing(keys) => {
            eprintln!(
                "error: the chart mounts keys of {RUNTIME_SECRET} that the ExternalSecret would not produce: {}",
                keys.join(", ")
            );
            eprintln!(
                "this chart version differs from what caracal-deploy knows; nothing was written."
            );
            return exit::CHECK_FAILED;
        }
    }
    if let Err(e) = write_bundle(&bundle, out) {
        eprintln!("error: {e}");
        eprintln!("nothing was written.");
        return exit::OTHER;
    }
    print!(
        "{}",
        bundle.index(
            &out.display().to_string(),
            &answers_path.display().to_string()
        )
    );
    exit::OK
}
