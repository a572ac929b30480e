//! The two ways back from a failed step 3, each run only when the operator asks: a rollback to
//! an earlier revision of the release, and the uninstall of a first install that never
//! deployed. Both are helm subprocesses under the request's cancel token.

use tokio_util::sync::CancellationToken;

use crate::adapters::helm::Helm;
use crate::core::answers::Answers;
use crate::engine::error::EngineError;
use crate::engine::install::helm_error;

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
    let helm = Helm::from_env();
    tokio::select! {
        r = helm.uninstall(release, ns, answers.kube_context.as_deref()) => r.map(drop).map_err(helm_error),
        () = cancel.cancelled() => Err(EngineError::Stopped {
            message: format!("interrupted: the uninstall of {release} was stopped; the release may be left pending"),
            fix: format!("`helm uninstall {release} --namespace {ns}` finishes it"),
        }),
    }
}
