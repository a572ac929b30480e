//! The command line. Headless commands print progress to stderr and results to stdout; each
//! command is a file of this folder and drives the engine, never an adapter. Nothing here is
//! used by the wizard.

pub mod apply;
mod completions;
pub mod explain;
pub mod install;
mod man;
pub mod preflight;
mod render;
pub mod seed;
pub mod upgrade;
pub mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;

use clap::{Parser, Subcommand};

use crate::core::answers::Answers;
use crate::core::catalog::SecretCatalog;
use crate::core::problem::Problem;
use crate::engine::EngineError;
use crate::exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "caracal-deploy",
    version,
    long_version = long_version(),
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
        /// The answers file (see docs/answers.md).
        #[arg(short = 'f', long = "answers")]
        answers: PathBuf,
        /// The directory to write to; an existing one is replaced only if caracal-deploy wrote it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Step 1: seed the secrets into the cloud's secret manager.
    Seed(seed::SeedArgs),
    /// The checks that must pass before any change to the cluster (reads only).
    Preflight(preflight::PreflightArgs),
    /// Step 2: namespace, External Secrets service account, store and ExternalSecret.
    Apply(apply::ApplyArgs),
    /// Step 3: helm upgrade --install of the chart, watched from the cluster.
    Install(install::InstallArgs),
    /// Step 4: verify the install, live (changes nothing in the cluster; the canary's objects
    /// in Caracal are deleted after it).
    Verify(verify::VerifyArgs),
    /// Step 4 as a live full-screen dashboard: the checks of verify from its watches, the
    /// rollout, recent warnings and the canary (`c` runs it again). Exits like verify.
    Dashboard {
        /// The answers file (see docs/answers.md).
        #[arg(short = 'f', long = "answers")]
        answers: PathBuf,
    },
    /// Roll an existing install forward: what would change first (read only), then with --yes
    /// the secrets carried over, the store, helm upgrade and verify.
    Upgrade(upgrade::UpgradeArgs),
    /// The troubleshooting entry of a check (offline); without an id, every check's id.
    Explain(explain::ExplainArgs),
    /// The shell's completion script, on stdout (bash: `source <(caracal-deploy completions
    /// bash)`).
    Completions {
        /// The shell the script is for.
        shell: completions::CompletionShell,
    },
    /// The manual page on stdout (`caracal-deploy man | man -l -`), or with --out every page
    /// (one per command) written to a directory.
    Man {
        /// Directory to write caracal-deploy.1 and caracal-deploy-COMMAND.1 to.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `--version`: the tool's version, then the chart versions it has a catalog for (those it
/// installs and upgrades to); `-V` prints the tool's version alone.
fn long_version() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{}\nchart versions: {}",
            env!("CARGO_PKG_VERSION"),
            SecretCatalog::supported_versions().join(", ")
        )
    });
    &TEXT
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = match cli.command {
        Some(Command::Render { answers, out }) => render::run(&answers, &out),
        Some(Command::Seed(args)) => seed::run(&args),
        Some(Command::Preflight(args)) => preflight::run(&args),
        Some(Command::Apply(args)) => apply::run(&args),
        Some(Command::Install(args)) => install::run(&args),
        Some(Command::Verify(args)) => verify::run(&args),
        Some(Command::Dashboard { answers }) => match load(&answers) {
            Ok(a) => crate::tui::dashboard::run(a),
            Err(exit) => exit,
        },
        Some(Command::Upgrade(args)) => upgrade::run(&args),
        Some(Command::Explain(args)) => explain::run(&args),
        Some(Command::Completions { shell }) => completions::run(shell),
        Some(Command::Man { out }) => man::run(out.as_deref()),
        None => crate::tui::run(cli.answers, cli.out, cli.plain),
    };
    exit.into()
}

/// Writes a generated text whole to stdout; a closed pipe is an error line and exit 1.
fn write_stdout(text: &[u8]) -> Exit {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text).and_then(|()| stdout.flush()) {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            Exit::Other
        }
    }
}

/// Prints problems one per line, each naming the file, the field and the fix.
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

/// Prints an engine error: the message, then its fix on a line of its own.
pub fn print_error(error: &EngineError) {
    for line in crate::engine::narrate::error_lines(error) {
        eprintln!("{line}");
    }
}

/// Runs one engine request for a headless command. Ctrl-C cancels it (`on_interrupt` says
/// what that means for this step); `on_event` prints each event and returns the exit for the
/// one that ends the request. An engine failure is printed with its fix.
fn drive(
    request: crate::engine::Request,
    on_interrupt: &'static str,
    interrupted_before_any_change: &str,
    mut on_event: impl FnMut(crate::engine::Event) -> Option<Exit>,
) -> Exit {
    use crate::engine::{Engine, Event};
    let runtime = match runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let (engine, mut events) = Engine::new(runtime.handle().clone());
    runtime.block_on(async move {
        let (stop, watcher) = on_ctrl_c(on_interrupt);
        engine.submit_with(request, stop.child_token());
        let exit = loop {
            match events.recv().await {
                Some(Event::Failed(EngineError::Interrupted)) => {
                    println!("{interrupted_before_any_change}");
                    break Exit::Other;
                }
                Some(Event::Failed(e)) => {
                    print_error(&e);
                    break e.exit();
                }
                Some(event) => {
                    if let Some(exit) = on_event(event) {
                        break exit;
                    }
                }
                None => break Exit::Other,
            }
        };
        watcher.abort();
        exit
    })
}

/// A token Ctrl-C cancels (saying `on_interrupt` on a line of its own first), and its watcher,
/// to abort when the command ends. Called inside the runtime.
fn on_ctrl_c(
    on_interrupt: &'static str,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\n{on_interrupt}");
                stop.cancel();
            }
        })
    };
    (stop, watcher)
}

/// The next event that ends the request; each one before it is told. None: the engine stopped.
pub(super) async fn until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<crate::engine::Event>,
    mut tell: impl FnMut(&crate::engine::Event),
    ends: impl Fn(&crate::engine::Event) -> bool,
) -> Option<crate::engine::Event> {
    while let Some(event) = rx.recv().await {
        tell(&event);
        if ends(&event) || matches!(event, crate::engine::Event::Failed(_)) {
            return Some(event);
        }
    }
    None
}

/// The context a command changes, as the operator named it.
fn context_of(answers: &Answers) -> String {
    answers
        .kube_context
        .clone()
        .unwrap_or_else(|| "the current context".into())
}

/// A command that changes a cluster runs only with `--yes` (headless commands never ask) or as
/// a dry run; otherwise it says what it would change and how to confirm, and exits 2.
fn confirmed(answers: &Answers, what: &str, dry_run: bool, yes: bool) -> Result<(), Exit> {
    if dry_run || yes {
        return Ok(());
    }
    eprintln!(
        "error: {what} changes the cluster of {} (namespace {}); nothing was changed.",
        context_of(answers),
        answers.namespace
    );
    eprintln!("  fix: pass --yes to confirm, or --dry-run to see what would change");
    Err(Exit::InvalidInput)
}

/// The async runtime of a headless command, or the exit after printing why not.
fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    crate::engine::start_runtime().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        Exit::Other
    })
}

/// The answers of a headless command, or the exit after printing why not.
fn load(path: &Path) -> Result<Answers, Exit> {
    crate::engine::answers::load(path).map_err(|problems| {
        print_problems(path, &problems);
        Exit::InvalidInput
    })
}
