//! Distribution, through the binary as an operator runs it: the completion scripts, loaded by
//! the real shells and asked to complete; the man pages, rendered by man and groff; `--version`
//! against the catalogs in assets/catalog. The shells and man come from apt (scripts/test
//! installs them); a missing one fails its test.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn caracal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(args)
        .output()
        .expect("run caracal-deploy")
}

/// A command that must succeed.
fn caracal_ok(args: &[&str]) -> Output {
    let out = caracal(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "caracal-deploy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout of a command that must succeed and say nothing else.
fn generated(args: &[&str]) -> String {
    let out = caracal_ok(args);
    assert!(
        out.stderr.is_empty(),
        "caracal-deploy {args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs a program the test needs, `input` on its stdin; one that is not installed fails.
fn tool(program: &str, args: &[&str], input: &[u8], env: &[(&str, &Path)]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is required by this test ({e}); scripts/test installs it from apt")
        });
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn succeeded(program: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{program}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands an operator sees in `caracal-deploy --help`, `help` aside; the contract's are
/// among them.
fn commands() -> Vec<String> {
    let help = generated(&["--help"]);
    let names: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    for contract in [
        "render",
        "preflight",
        "seed",
        "apply",
        "install",
        "verify",
        "dashboard",
        "upgrade",
        "explain",
        "completions",
        "man",
    ] {
        assert!(
            names.iter().any(|n| n == contract),
            "{contract} not in --help: {help}"
        );
    }
    names
}

/// The shell's completion script, checked to name every command (`named` spells how), in a
/// file of a new temporary directory.
fn script_file(
    shell: &str,
    file_name: &str,
    named: impl Fn(&str) -> String,
) -> (tempfile::TempDir, PathBuf) {
    let script = generated(&["completions", shell]);
    for name in commands() {
        assert!(
            script.contains(&named(&name)),
            "{name} missing from the {shell} script"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(file_name);
    std::fs::write(&file, &script).unwrap();
    (dir, file)
}

#[test]
fn bash_completion_parses_and_completes_commands_their_options_and_values() {
    let (_dir, script) = script_file("bash", "caracal-deploy.bash", |name| {
        format!("caracal__deploy,{name})")
    });
    succeeded(
        "bash -n",
        &tool("bash", &["-n", script.to_str().unwrap()], b"", &[]),
    );

    // What bash does on Tab: the function `complete -p` names, called with the words so far.
    let driver = r#"
source "$1"
spec=$(complete -p caracal-deploy) || exit 10
fn=${spec#*-F }; fn=${fn%% *}
tab() {
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  "$fn" caracal-deploy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "$* => ${COMPREPLY[*]}"
}
tab caracal-deploy up
tab caracal-deploy seed --dr
tab caracal-deploy completions ''
"#;
    let out = tool(
        "bash",
        &[
            "--norc",
            "--noprofile",
            "-c",
            driver,
            "bash",
            script.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    let replies = succeeded("bash", &out);
    let lines: Vec<&str> = replies.lines().collect();
    assert_eq!(lines[0], "caracal-deploy up => upgrade", "{replies}");
    assert_eq!(
        lines[1], "caracal-deploy seed --dr => --dry-run",
        "{replies}"
    );
    assert!(lines[2].ends_with(" bash zsh fish"), "{replies}");
}

#[test]
fn zsh_completion_is_valid_zsh_registers_itself_and_names_every_command() {
    let (dir, file) = script_file("zsh", "_caracal-deploy", |name| format!("'{name}:"));
    let script = std::fs::read_to_string(&file).unwrap();
    assert!(script.starts_with("#compdef caracal-deploy\n"), "{script}");
    succeeded(
        "zsh -n",
        &tool("zsh", &["-n", file.to_str().unwrap()], b"", &[]),
    );
    // Sourced after compinit, the script binds its function to the command.
    let out = tool(
        "zsh",
        &[
            "-f",
            "-c",
            "autoload -U compinit && compinit -D -u && source \"$1\" && print -r -- $_comps[caracal-deploy]",
            "zsh",
            file.to_str().unwrap(),
        ],
        b"",
        &[("HOME", dir.path())],
    );
    assert_eq!(succeeded("zsh", &out).trim(), "_caracal-deploy");
}

#[test]
fn fish_completion_is_valid_fish_and_completes_commands_and_options() {
    let (dir, file) = script_file("fish", "caracal-deploy.fish", |name| {
        format!("-a \"{name}\"")
    });
    let env = [
        ("HOME", dir.path()),
        ("XDG_CONFIG_HOME", dir.path()),
        ("XDG_DATA_HOME", dir.path()),
    ];
    succeeded(
        "fish -n",
        &tool("fish", &["-n", file.to_str().unwrap()], b"", &env),
    );
    let out = tool(
        "fish",
        &[
            "--no-config",
            "-c",
            "source $argv[1]; and complete -C 'caracal-deploy up'; and complete -C 'caracal-deploy seed --dr'",
            file.to_str().unwrap(),
        ],
        b"",
        &env,
    );
    let replies = succeeded("fish", &out);
    let words: Vec<&str> = replies
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(words, ["upgrade", "--dry-run"], "{replies}");
}

/// groff's warnings (all of them, -ww) on a page; empty when the roff is clean.
fn groff_warnings(page: &[u8]) -> String {
    let out = tool("groff", &["-man", "-Tutf8", "-ww", "-z"], page, &[]);
    succeeded("groff", &out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The page as `man` shows it, wide enough that no name is hyphenated.
fn man_text(page: &[u8]) -> String {
    let env = [
        ("MANPAGER", Path::new("cat")),
        ("MANWIDTH", Path::new("200")),
    ];
    succeeded("man -l -", &tool("man", &["-l", "-"], page, &env))
}

#[test]
fn man_page_is_clean_roff_that_man_renders_with_every_command() {
    let page = generated(&["man"]);
    assert!(page.contains("\n.TH caracal-deploy 1 "), "{page}");
    assert_eq!(groff_warnings(page.as_bytes()), "");
    let text = man_text(page.as_bytes());
    assert!(text.contains("SYNOPSIS"), "{text}");
    for name in commands() {
        assert!(
            text.contains(&format!("caracal-deploy-{name}(1)")),
            "{name} missing from the man page:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn man_out_writes_one_clean_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    caracal_ok(&["man", "--out", out_dir.to_str().unwrap()]);
    let names = commands();
    let mut expected: BTreeSet<String> = names
        .iter()
        .map(|n| format!("caracal-deploy-{n}.1"))
        .collect();
    expected.insert("caracal-deploy.1".into());
    let written: BTreeSet<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(written, expected);
    for name in &names {
        let page = std::fs::read(out_dir.join(format!("caracal-deploy-{name}.1"))).unwrap();
        assert_eq!(groff_warnings(&page), "", "caracal-deploy-{name}.1");
        let text = man_text(&page);
        assert!(
            text.contains(&format!("caracal-deploy {name}")),
            "the synopsis of caracal-deploy-{name}.1:\n{text}"
        );
    }
}

#[test]
fn version_lists_exactly_the_chart_versions_of_assets_catalog() {
    let catalogs = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/catalog");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&catalogs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert!(!on_disk.is_empty(), "no catalog in {}", catalogs.display());

    let version = generated(&["--version"]);
    let mut lines = version.lines();
    assert_eq!(
        lines.next(),
        Some(format!("caracal-deploy {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let listed = lines
        .find_map(|l| l.strip_prefix("chart versions: "))
        .unwrap_or_else(|| panic!("no chart versions in --version:\n{version}"));
    let listed: BTreeSet<String> = listed.split(", ").map(str::to_owned).collect();
    assert_eq!(listed, on_disk, "--version:\n{version}");

    assert_eq!(
        generated(&["-V"]),
        format!("caracal-deploy {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_shell_exits_2_naming_the_shells() {
    let out = caracal(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'tcsh'"), "{stderr}");
    assert!(
        stderr.contains("[possible values: bash, zsh, fish]"),
        "{stderr}"
    );
}
