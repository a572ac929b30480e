//! The exact `helm upgrade --install` command. It carries no secret: values come from a file
//! that holds none, and credentials from the runtime Secret.

use super::answers::Answers;

/// How long helm waits for hooks and workloads before it reports failure.
pub const HELM_TIMEOUT: &str = "15m";

/// argv of the install, with `values` as the path of the values file.
pub fn helm_install_args(answers: &Answers, values: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "upgrade".into(),
        "--install".into(),
        answers.release.clone(),
        answers.chart.reference.clone(),
    ];
    if !answers.chart.is_local() {
        args.extend(["--version".into(), answers.chart.version.clone()]);
    }
    args.extend(["--namespace".into(), answers.namespace.clone()]);
    if let Some(ctx) = &answers.kube_context {
        args.extend(["--kube-context".into(), ctx.clone()]);
    }
    args.extend([
        "--values".into(),
        values.into(),
        "--wait".into(),
        "--wait-for-jobs".into(),
        "--timeout".into(),
        HELM_TIMEOUT.into(),
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
    }
}
