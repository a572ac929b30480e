//! Loading an answers file: the one function every command and the wizard read answers
//! through, with the checks that need the file system (the local chart, the CA bundle).

use std::path::Path;

use crate::core::answers::Answers;
use crate::core::problem::Problem;

/// Reads, validates and checks an answers file. On failure, every problem found.
pub fn load(path: &Path) -> Result<Answers, Vec<Problem>> {
    let text = read_text(path)?;
    let answers = Answers::from_yaml(&text)?;
    let problems = check_files(&answers);
    if problems.is_empty() {
        Ok(answers)
    } else {
        Err(problems)
    }
}

/// The file's text, or the problem naming why it cannot be read.
pub fn read_text(path: &Path) -> Result<String, Vec<Problem>> {
    std::fs::read_to_string(path).map_err(|e| {
        vec![Problem::new(
            "(file)",
            format!("cannot be read: {e}"),
            "check the path given with -f, or create one with the wizard (`caracal-deploy`)",
        )]
    })
}

/// The checks of valid answers that look at the file system.
pub fn check_files(answers: &Answers) -> Vec<Problem> {
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
    problems
}
