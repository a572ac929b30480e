//! `caracal-deploy explain [CHECK_ID]`: the troubleshooting entry of a check, from the
//! document built into the binary (offline). Without an id, every id with what it checks. An
//! unknown id is invalid input (exit 2), named with the nearest ids.

use crate::core::troubleshooting::{self, entries, entry, nearest};
use crate::exit::Exit;

/// The arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The id a check shows in brackets (`[store-synced]`) and in `-o json`; without it, every id.
    check_id: Option<String>,
}

pub fn run(args: &ExplainArgs) -> Exit {
    match &args.check_id {
        None => {
            print!("{}", list());
            Exit::Success
        }
        Some(id) => match entry(id) {
            Some(e) => {
                println!("{}\n\nOnline: {}", e.text, troubleshooting::entry_url(e.id));
                Exit::Success
            }
            None => {
                let near = nearest(id);
                eprintln!(
                    "error: `{id}` is not the id of a check; the nearest: {}",
                    near.join(", ")
                );
                eprintln!("  fix: `caracal-deploy explain` lists every id");
                Exit::InvalidInput
            }
        },
    }
}

/// Every id, one a line, with the command and category that run it and what it checks.
fn list() -> String {
    let width = entries().iter().map(|e| e.id.len()).max().unwrap_or(0);
    let mut out = format!(
        "The checks of preflight and verify ({}); `caracal-deploy explain ID` prints one's \
         entry: what it means, the likely causes per cloud, the commands that confirm it, the fix.\n\n",
        troubleshooting::document_url()
    );
    for e in entries() {
        out.push_str(&format!("{:width$}  {}\n", e.id, e.summary));
    }
    out
}
