//! The two ways back from a failed step 3, each run only when the operator asks: a rollback to
//! an earlier revision of the release, and the uninstall of a first install that never
//! deployed. Both are helm subprocesses under the request's cancel token.

use std::process::Stdio;

use tokio_util::sync::CancellationToken;

use crate::adapters::helm::{Helm, HelmError};
use crate::core::answers::Answers;
use crate::engine::error::EngineError;

fn helm_error(e: HelmError) -> EngineError {
    let fix = match &e {
        HelmError::NotFound(_) => Some("install helm 3.14 or newer, or set CARACAL_HELM".into()),
        _ => None,
    };
    EngineError::Cluster {
        message: e.to_string(),
        fix,
    }
}

/// `helm rollback` of the answers' release to `revision`, waiting for its workloads.
pub async fn rollback(
    answers: &Answers,
    revision: u64,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let (release, ns) = (answers.release.as_str(), answers.namespace.as_str());
    let helm = Helm::from_env();
    tokio::select! {
        r = helm.rollback(release, ns, answers.kube_context.as_deref(), revision) => r.map(drop).map_err(helm_error),
        () = cancel.cancelled() => Err(EngineError::Stopped {
            message: format!("interrupted: the rollback of {release} to revision {revision} was stopped; the release may be left pending"),
            fix: format!("`helm rollback {release} {revision} --namespace {ns}` finishes it"),
        }),
    }
}

/// `helm uninstall --wait` of the answers' release. The namespace, the store and the runtime
/// Secret stay (they are step 2's).
pub async fn uninstall(answers: &Answers, cancel: &CancellationToken) -> Result<(), EngineError> {
    let (release, ns) = (answers.release.as_str(), answers.namespace.as_str());
    // Values after `=` and the release after `--`: no answer can become an option.
    let mut args = vec![
        "uninstall".to_string(),
        format!("--namespace={ns}"),
        "--wait".into(),
        "--timeout=5m".into(),
    ];
    if let Some(c) = &answers.kube_context {
        args.push(format!("--kube-context={c}"));
    }
    args.extend(["--".into(), release.to_string()]);
    let program = std::env::var_os("CARACAL_HELM").unwrap_or_else(|| "helm".into());
    let run = tokio::process::Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::select! {
        o = run => o.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HelmError::NotFound(program.to_string_lossy().into_owned()),
            _ => HelmError::Io(e),
        }).map_err(helm_error)?,
        () = cancel.cancelled() => return Err(EngineError::Stopped {
            message: format!("interrupted: the uninstall of {release} was stopped; the release may be left pending"),
            fix: format!("`helm uninstall {release} --namespace {ns}` finishes it"),
        }),
    };
    if output.status.success() {
        Ok(())
    } else {
        Err(helm_error(HelmError::Failed {
            command: "uninstall".into(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        }))
    }
}
