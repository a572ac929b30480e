//! The exact `helm upgrade --install` command. It carries no secret: values come from a file
//! that holds none, and credentials from the runtime Secret.

use super::answers::Answers;

/// How long helm waits for hooks and workloads before it reports failure.
pub const HELM_TIMEOUT: &str = "15m";

/// The major version of the helm the product runs, and so the flags it passes. helm 4 renamed
/// or changed some of helm 3's: `--wait` takes a strategy (`watcher`, `hookOnly`, `legacy`;
/// alone it means `watcher`), `--atomic` became `--rollback-on-failure`, `--force` became
/// `--force-replace`, and `upgrade` applies server-side or client-side by `--server-side`
/// (`auto`, its default, keeps the method the release was last applied with; a first install
/// is server-side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmDialect {
    /// helm 3.14 or newer 3.x.
    Helm3,
    /// helm 4.x.
    Helm4,
}

impl HelmDialect {
    /// The dialect of a `helm version --short` line (`v3.22.0`, `v4.3.1+g1a2b3c4`); None for
    /// a major version this build does not know (helm 2, or a future helm 5).
    pub fn from_version(version: &str) -> Option<HelmDialect> {
        let v = version.trim();
        let major = v.strip_prefix('v').unwrap_or(v).split('.').next()?;
        match major.parse::<u32>().ok()? {
            3 => Some(HelmDialect::Helm3),
            4 => Some(HelmDialect::Helm4),
            _ => None,
        }
    }

    /// `--wait` for this helm: helm 3's boolean, helm 4's `watcher` strategy written out (the
    /// kstatus watcher: workloads rolled out, Jobs complete with `--wait-for-jobs`), so the
    /// command the operator reads says what helm waits for.
    pub fn wait_flag(self) -> &'static str {
        match self {
            HelmDialect::Helm3 => "--wait",
            HelmDialect::Helm4 => "--wait=watcher",
        }
    }
}

/// argv of the install in helm 3's dialect, with `values` as the path of the values file: the
/// portable form, for the script `render` writes. It targets helm 3.14 or newer and runs
/// unchanged on helm 4, which reads a bare `--wait` as `--wait=watcher` and applies with its
/// default `--server-side=auto`. Every option carries its value after `=`, and `--` ends the
/// options before the release and the chart, so no answer can be read by helm as an option
/// of its own.
pub fn helm_install_args(answers: &Answers, values: &str) -> Vec<String> {
    helm_install_args_for(answers, values, HelmDialect::Helm3)
}

/// argv of the install for the helm that runs it. helm 3: `--wait --wait-for-jobs`. helm 4:
/// `--wait=watcher --wait-for-jobs --server-side=auto`: the same wait, and server-side apply
/// for a first install while a release helm 3 installed stays client-side (forcing `true`
/// would move its fields to a new field manager, `false` would give up server-side apply for
/// new installs). Neither passes `--atomic`/`--rollback-on-failure`: on failure the engine
/// rolls back itself, and never removes a first install.
pub fn helm_install_args_for(answers: &Answers, values: &str, dialect: HelmDialect) -> Vec<String> {
    let mut args: Vec<String> = vec!["upgrade".into(), "--install".into()];
    if !answers.chart.is_local() {
        args.push(format!("--version={}", answers.chart.version));
    }
    args.push(format!("--namespace={}", answers.namespace));
    if let Some(ctx) = &answers.kube_context {
        args.push(format!("--kube-context={ctx}"));
    }
    args.extend([
        format!("--values={values}"),
        dialect.wait_flag().into(),
        "--wait-for-jobs".into(),
    ]);
    if dialect == HelmDialect::Helm4 {
        args.push("--server-side=auto".into());
    }
    args.extend([
        format!("--timeout={HELM_TIMEOUT}"),
        "--".into(),
        answers.release.clone(),
        answers.chart.reference.clone(),
    ]);
    args
}

/// Quotes one word for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Quotes one word for a POSIX shell, always: a script that quotes every word needs no
/// reasoning about which characters a shell treats specially.
pub fn shell_quote_always(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The command as a line of a shell script: every word quoted.
pub fn script_command(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(shell_quote_always)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command as one line a person can paste.
pub fn display(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> Answers {
        Answers::from_yaml(include_str!("../../examples/answers-aws.yaml")).unwrap()
    }

    #[test]
    fn the_dialect_is_read_from_helm_version_short() {
        use HelmDialect::{Helm3, Helm4};
        for (line, want) in [
            ("v3.22.0", Some(Helm3)),
            ("v3.14.4+g81c902a\n", Some(Helm3)),
            ("v4.3.1", Some(Helm4)),
            ("v4.0.0-rc.1+gabcdef0", Some(Helm4)),
            ("v2.17.0+ga690bad", None),
            ("v5.0.0", None),
            ("", None),
            ("helm", None),
        ] {
            assert_eq!(HelmDialect::from_version(line), want, "{line:?}");
        }
    }

    #[test]
    fn helm3_waits_with_its_boolean_flag_and_passes_no_helm4_flag() {
        let args = helm_install_args_for(&answers(), "v.yaml", HelmDialect::Helm3);
        assert_eq!(
            args,
            [
                "upgrade",
                "--install",
                "--version=1.0.0",
                "--namespace=caracal",
                "--kube-context=prod-eks",
                "--values=v.yaml",
                "--wait",
                "--wait-for-jobs",
                "--timeout=15m",
                "--",
                "caracal",
                "oci://ghcr.io/garudex-labs/charts/caracal",
            ]
        );
        // The portable form `render` writes is helm 3's.
        assert_eq!(helm_install_args(&answers(), "v.yaml"), args);
    }

    #[test]
    fn helm4_names_its_wait_strategy_and_apply_method() {
        let args = helm_install_args_for(&answers(), "v.yaml", HelmDialect::Helm4);
        // helm 3's argv with its bare `--wait` as helm 4's strategy, and the apply method.
        let mut want = helm_install_args_for(&answers(), "v.yaml", HelmDialect::Helm3);
        let wait = want.iter().position(|a| a == "--wait").unwrap();
        want[wait] = "--wait=watcher".into();
        want.insert(wait + 2, "--server-side=auto".into());
        assert_eq!(args, want);
        assert_eq!(args[wait + 1], "--wait-for-jobs");
        // None of helm 4's deprecated spellings.
        for old in ["--wait", "--atomic", "--force", "--wait=true"] {
            assert!(!args.iter().any(|a| a == old), "{old} in {args:?}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("caracal"), "caracal");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            script_command("helm", &["a b".into(), "it's".into(), "x".into()]),
            r"'helm' 'a b' 'it'\''s' 'x'"
        );
    }
}
