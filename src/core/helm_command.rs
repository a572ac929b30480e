//! The exact `helm upgrade --install` command. It carries no secret: values come from a file
//! that holds none, and credentials from the runtime Secret.

use super::answers::Answers;

/// How long helm waits for hooks and workloads before it reports failure.
pub const HELM_TIMEOUT: &str = "15m";

/// argv of the install, with `values` as the path of the values file. Every option carries
/// its value after `=`, and `--` ends the options before the release and the chart, so no
/// answer can be read by helm as an option of its own.
pub fn helm_install_args(answers: &Answers, values: &str) -> Vec<String> {
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
        "--wait".into(),
        "--wait-for-jobs".into(),
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
