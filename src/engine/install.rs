//! Step 3: `helm upgrade --install` of the chart with the values the bundle renders (no
//! secret in them, none on argv), watched from the cluster while helm runs: each workload's
//! ready count and each failing pod's reason. A re-run with the same chart version and values
//! makes no new revision; a failure ends with the cluster's reason, and a rollback to the
//! previous revision when the operator asked for one.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::adapters::helm::{Helm, HelmError};
use crate::adapters::kube::Cluster;
use crate::core::answers::Answers;
use crate::core::helm_command::helm_install_args_for;
use crate::core::render::render;
use crate::engine::error::EngineError;

/// Something the cluster showed while helm ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallProgress {
    /// A Deployment's or StatefulSet's ready replicas changed.
    Workload {
        kind: String,
        name: String,
        ready: i32,
        desired: i32,
    },
    /// A pod cannot run, and why (empty `reason`: it recovered).
    Pod { name: String, reason: String },
    /// helm is running: it waits up to `timeout` for the hooks and every workload.
    HelmRunning {
        revision_after: Option<u64>,
        timeout: Duration,
    },
}

/// How the step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Same chart version, same values, deployed: nothing was run.
    UpToDate {
        revision: u64,
    },
    Deployed {
        revision: u64,
    },
    /// A dry run: helm would make a new revision (after `from`, None for a first install);
    /// the values that differ from the release's.
    WouldChange {
        from: Option<u64>,
        fields: Vec<String>,
    },
    /// helm failed: the reason, what the cluster showed, and the rollback if one was made.
    Failed {
        reason: String,
        pods: Vec<String>,
        rolled_back_to: Option<u64>,
    },
}

/// Why a pod cannot run, if it cannot: a waiting container's reason (image pull, crash loop
/// with its last termination), or the scheduler's message for a pending pod.
pub fn pod_problem(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    for cs in status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
    {
        if let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.clone().unwrap_or_default();
            if matches!(
                reason.as_str(),
                "ImagePullBackOff"
                    | "ErrImagePull"
                    | "CrashLoopBackOff"
                    | "CreateContainerConfigError"
                    | "InvalidImageName"
            ) {
                let mut text = format!("{}: {reason}", cs.name);
                if let Some(m) = waiting.message.as_ref().filter(|m| !m.is_empty()) {
                    text.push_str(&format!(" ({m})"));
                }
                if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                    text.push_str(&format!(
                        "; last exit {} {}",
                        t.exit_code,
                        t.reason.clone().unwrap_or_default()
                    ));
                }
                return Some(text);
            }
        }
    }
    if status.phase.as_deref() == Some("Pending") {
        let unschedulable = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False");
        if let Some(c) = unschedulable {
            return Some(format!(
                "Pending: {}",
                c.message.clone().unwrap_or_else(|| "not scheduled".into())
            ));
        }
    }
    None
}

fn revision(status: &Value) -> u64 {
    status["version"].as_u64().unwrap_or(0)
}

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

/// Watches the release's pods and workloads, reporting changes, until dropped.
async fn watch_release(
    cluster: &Cluster,
    answers: &Answers,
    report: &(dyn Fn(InstallProgress) + Send + Sync),
    problems: &std::sync::Mutex<BTreeMap<String, String>>,
) {
    let selector = format!("app.kubernetes.io/instance={}", answers.release);
    let config = watcher::Config::default().labels(&selector);
    let client = cluster.client().clone();
    let ns = answers.namespace.as_str();
    let pods = watcher::watcher(Api::<Pod>::namespaced(client.clone(), ns), config.clone())
        .map(|e| e.map(|e| Watched::Pod(Box::new(e))))
        .boxed();
    let deployments = watcher::watcher(
        Api::<Deployment>::namespaced(client.clone(), ns),
        config.clone(),
    )
    .map(|e| e.map(|e| Watched::Deployment(Box::new(e))))
    .boxed();
    let sets = watcher::watcher(Api::<StatefulSet>::namespaced(client, ns), config)
        .map(|e| e.map(|e| Watched::StatefulSet(Box::new(e))))
        .boxed();
    let mut all = futures::stream::select_all([pods, deployments, sets]);
    let mut ready: BTreeMap<(String, String), (i32, i32)> = BTreeMap::new();
    // Reports a workload's (ready, desired) when it changed.
    let mut workload = |kind: &str, name: String, (got, desired): (i32, i32)| {
        if ready.insert((kind.to_string(), name.clone()), (got, desired)) != Some((got, desired)) {
            report(InstallProgress::Workload {
                kind: kind.to_string(),
                name,
                ready: got,
                desired,
            });
        }
    };
    while let Some(item) = all.next().await {
        let Ok(item) = item else { continue };
        match item {
            Watched::Pod(e) => {
                if let WatchEvent::Apply(p) | WatchEvent::InitApply(p) = *e {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let now = pod_problem(&p).unwrap_or_default();
                    let mut known = problems.lock().unwrap_or_else(|p| p.into_inner());
                    if known.get(&name).map(String::as_str).unwrap_or("") != now {
                        if now.is_empty() {
                            known.remove(&name);
                        } else {
                            known.insert(name.clone(), now.clone());
                        }
                        report(InstallProgress::Pod { name, reason: now });
                    }
                }
            }
            Watched::Deployment(e) => {
                if let WatchEvent::Apply(d) | WatchEvent::InitApply(d) = *e {
                    let replicas = (
                        d.status
                            .as_ref()
                            .and_then(|s| s.ready_replicas)
                            .unwrap_or(0),
                        d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    );
                    workload("Deployment", d.metadata.name.unwrap_or_default(), replicas);
                }
            }
            Watched::StatefulSet(e) => {
                if let WatchEvent::Apply(s) | WatchEvent::InitApply(s) = *e {
                    let replicas = (
                        s.status
                            .as_ref()
                            .and_then(|s| s.ready_replicas)
                            .unwrap_or(0),
                        s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    );
                    workload("StatefulSet", s.metadata.name.unwrap_or_default(), replicas);
                }
            }
        }
    }
}

enum Watched {
    Pod(Box<WatchEvent<Pod>>),
    Deployment(Box<WatchEvent<Deployment>>),
    StatefulSet(Box<WatchEvent<StatefulSet>>),
}

/// How the operator asked the step to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// How long helm waits for the hooks and workloads.
    pub timeout: Duration,
    /// On failure, roll back to the previous revision (a first install is never removed).
    pub rollback_on_failure: bool,
    /// Only say whether helm would make a new revision.
    pub dry_run: bool,
}

/// Runs the step.
pub async fn install(
    cluster: &Cluster,
    helm: &Helm,
    answers: &Answers,
    options: InstallOptions,
    cancel: &CancellationToken,
    report: &(dyn Fn(InstallProgress) + Send + Sync),
) -> Result<InstallOutcome, EngineError> {
    let InstallOptions {
        timeout,
        rollback_on_failure,
        dry_run,
    } = options;
    let ctx = answers.kube_context.as_deref();
    let (release, ns) = (answers.release.as_str(), answers.namespace.as_str());
    let bundle = render(answers);
    if cluster
        .get("v1", "Namespace", None, ns)
        .await
        .map_err(EngineError::from)?
        .is_none()
    {
        return Err(EngineError::Cluster {
            message: format!("namespace {ns} does not exist, so the runtime Secret cannot either"),
            fix: Some("run `caracal-deploy apply` (step 2) first".into()),
        });
    }
    let status = match helm.status(release, ns, ctx).await {
        Ok(s) => Some(s),
        Err(HelmError::Failed { stderr, .. }) if stderr.contains("not found") => None,
        Err(e) => return Err(helm_error(e)),
    };
    let state = status
        .as_ref()
        .and_then(|s| s["info"]["status"].as_str())
        .unwrap_or("")
        .to_string();
    if state.starts_with("pending-") {
        return Err(EngineError::Cluster {
            message: format!(
                "release {release} is stuck in {state}: a helm run was stopped before it finished, and helm refuses another until it is cleared"
            ),
            fix: Some(format!(
                "`helm rollback {release} --namespace {ns}` returns to the last deployed revision (for a first install, `helm uninstall {release} --namespace {ns}`), then run install again"
            )),
        });
    }
    let current_values = match &status {
        Some(_) => helm
            .get_values(release, ns, ctx)
            .await
            .map_err(helm_error)?,
        None => None,
    };
    let chart = match &status {
        Some(_) => helm
            .deployed_chart(release, ns, ctx)
            .await
            .map_err(helm_error)?,
        None => None,
    };
    let same_chart = chart
        .as_deref()
        .is_some_and(|c| c.ends_with(&format!("-{}", answers.chart.version)));
    if let Some(s) = &status
        && state == "deployed"
        && same_chart
        && current_values.as_ref() == Some(&bundle.values)
    {
        return Ok(InstallOutcome::UpToDate {
            revision: revision(s),
        });
    }
    let previous = status
        .as_ref()
        .filter(|_| state == "deployed")
        .map(revision);
    if dry_run {
        let fields = match &current_values {
            Some(current) => {
                crate::engine::apply::changed_fields(&bundle.values, current, &bundle.values)
            }
            None => vec![],
        };
        return Ok(InstallOutcome::WouldChange {
            from: status.as_ref().map(revision),
            fields,
        });
    }
    // The values hold no secret; the file is private all the same (0600).
    let values = tempfile::Builder::new()
        .prefix("caracal-values-")
        .suffix(".yaml")
        .tempfile()
        .map_err(|e| EngineError::Internal(format!("cannot write the values file: {e}")))?;
    std::fs::write(values.path(), crate::core::yaml::to_string(&bundle.values))
        .map_err(|e| EngineError::Internal(format!("cannot write the values file: {e}")))?;
    let dialect = helm.dialect().await.map_err(helm_error)?;
    let path = values.path().display().to_string();
    let args: Vec<String> = helm_install_args_for(answers, &path, dialect)
        .into_iter()
        .map(|a| {
            if a.starts_with("--timeout=") {
                format!("--timeout={}s", timeout.as_secs())
            } else {
                a
            }
        })
        .collect();
    report(InstallProgress::HelmRunning {
        revision_after: status.as_ref().map(revision),
        timeout,
    });
    let problems = std::sync::Mutex::new(BTreeMap::new());
    let result = tokio::select! {
        r = helm.upgrade_install(&args) => r,
        () = watch_release(cluster, answers, report, &problems) => unreachable!("a watch never ends by itself"),
        () = cancel.cancelled() => return Err(EngineError::Stopped {
            message: "interrupted: helm was stopped; the release may be left pending".into(),
            fix: format!("run install again: it explains the pending state, or `helm rollback {release} --namespace {ns}`"),
        }),
    };
    drop(values);
    match result {
        Ok(_) => {
            let status = helm.status(release, ns, ctx).await.map_err(helm_error)?;
            Ok(InstallOutcome::Deployed {
                revision: revision(&status),
            })
        }
        Err(HelmError::Failed { stderr, .. }) => {
            let pods: Vec<String> = problems
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(pod, why)| format!("{pod}: {why}"))
                .collect();
            let rolled_back_to = match previous {
                Some(rev) if rollback_on_failure => {
                    helm.rollback(release, ns, ctx, rev)
                        .await
                        .map_err(helm_error)?;
                    Some(rev)
                }
                _ => None,
            };
            Ok(InstallOutcome::Failed {
                reason: stderr.lines().last().unwrap_or("").trim().to_string(),
                pods,
                rolled_back_to,
            })
        }
        Err(e) => Err(helm_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::pod_problem;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({ "metadata": { "name": "p" }, "status": status })).unwrap()
    }

    #[test]
    fn a_pods_problem_is_read_as_the_kubelet_and_scheduler_report_it() {
        let pull = pod(json!({ "phase": "Pending", "containerStatuses": [{
            "name": "api", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": { "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\"" } } }] }));
        assert_eq!(
            pod_problem(&pull).unwrap(),
            "api: ImagePullBackOff (Back-off pulling image \"x\")"
        );
        let crash = pod(json!({ "phase": "Running", "containerStatuses": [{
            "name": "sts", "ready": false, "restartCount": 4, "image": "x", "imageID": "",
            "state": { "waiting": { "reason": "CrashLoopBackOff" } },
            "lastState": { "terminated": { "exitCode": 1, "reason": "Error" } } }] }));
        assert_eq!(
            pod_problem(&crash).unwrap(),
            "sts: CrashLoopBackOff; last exit 1 Error"
        );
        let pending = pod(json!({ "phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims." }] }));
        assert!(
            pod_problem(&pending)
                .unwrap()
                .starts_with("Pending: 0/3 nodes")
        );
        let fine = pod(json!({ "phase": "Running", "containerStatuses": [{
            "name": "web", "ready": true, "restartCount": 0, "image": "x", "imageID": "",
            "state": { "running": {} } }] }));
        assert_eq!(pod_problem(&fine), None);
    }
}
