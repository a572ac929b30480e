//! `caracal-deploy completions SHELL`: the shell's completion script, generated from the
//! command-line definition, on stdout.

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use crate::exit::Exit;

/// The shells a completion script is made for (clap refuses any other, naming these).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Shell {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

pub fn run(shell: CompletionShell) -> Exit {
    let mut command = super::Cli::command();
    let name = command.get_name().to_owned();
    // Written whole at the end so that a closed pipe is an error line, not a panic mid-script.
    let mut script = Vec::new();
    clap_complete::generate(Shell::from(shell), &mut command, name.as_str(), &mut script);
    if let CompletionShell::Bash = shell {
        script = mend_bash(&script, &name);
    }
    super::write_stdout(&script)
}

/// clap_complete (4.6.12 and before) names the bash script's states of a hyphenated binary two
/// ways: the loop that reads the words sets `caracal__deploy__subcmd__seed`, the arms match
/// `caracal__subcmd__deploy__subcmd__seed`, so nothing after a command's name completes
/// (clap-rs/clap#6421). The arms are renamed to the loop's spelling; once clap spells them
/// alike this changes nothing.
fn mend_bash(script: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let arm = name.replace('-', "__subcmd__");
    let state = name.replace('-', "__");
    text.replace(&format!("{arm}__subcmd__"), &format!("{state}__subcmd__"))
        .into_bytes()
}
