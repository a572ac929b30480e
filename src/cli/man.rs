//! `caracal-deploy man`: the manual page, generated from the command-line definition. On
//! stdout, caracal-deploy(1) (`caracal-deploy man | man -l -`); with `--out DIR`, that page and
//! one page per command (caracal-deploy-seed(1), …, which it refers to) written to DIR, to
//! install under a man1 directory.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;

use crate::exit::Exit;

pub fn run(out: Option<&Path>) -> Exit {
    let mut command = super::Cli::command().disable_help_subcommand(true);
    // Gives each command its full name (caracal-deploy-seed) before a page is made of it.
    command.build();
    match out {
        None => {
            let mut page = Vec::new();
            match Man::new(command).render(&mut page) {
                Ok(()) => super::write_stdout(&page),
                Err(e) => {
                    eprintln!("error: cannot render the man page: {e}");
                    Exit::Other
                }
            }
        }
        Some(dir) => match std::fs::create_dir_all(dir).and_then(|()| write_pages(&command, dir)) {
            Ok(pages) => {
                for page in &pages {
                    println!("{}", page.display());
                }
                eprintln!("Wrote {} man pages to {}.", pages.len(), dir.display());
                Exit::Success
            }
            Err(e) => {
                eprintln!(
                    "error: cannot write the man pages to {}: {e}",
                    dir.display()
                );
                Exit::Other
            }
        },
    }
}

/// Writes the page of `command` and of each visible command under it; returns their paths.
fn write_pages(command: &clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut pages = vec![Man::new(command.clone()).generate_to(dir)?];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.extend(write_pages(sub, dir)?);
    }
    Ok(pages)
}
