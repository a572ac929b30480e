//! Step 3: `helm upgrade --install` of the chart with the values the bundle renders (no
//! secret in them, none on argv), watched from the cluster while helm runs: each workload's
//! ready count, each Job (helm hooks included) as it starts, succeeds or fails, each failing
//! pod's reason (with a crash-looping container's last log lines when the API serves them) and
//! each new Warning event. A re-run with the same chart version and values makes no new
//! revision; a failure ends with the cluster's reason (the failing Job or pod and why) and
//! helm's, then a rollback to the last deployed revision, or the removal of a first install,
//! only when the operator asked. A release left pending-* by a stopped helm run is explained
//! and refused, or cleared first with `recover`. A cancel asks helm to stop (SIGTERM), so that
//! it marks the release failed instead of leaving it pending.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod, Secret};
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::adapters::helm::{Helm, HelmError, HelmRun};
use crate::adapters::kube::Cluster;
use crate::core::answers::Answers;
use crate::core::helm_command::helm_install_args_for;
use crate::core::render::render;
pub use crate::core::workloads::{JobState, job_state, pod_problem};
use crate::engine::error::EngineError;

/// How long helm has to stop after SIGTERM before it is killed.
pub const HELM_STOP_GRACE: Duration = Duration::from_secs(30);

/// What `helm --wait` waits for, from the chart rendered with the same values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waits {
    /// Jobs run as helm hooks (the migrations), in the order helm runs them.
    pub hooks: Vec<String>,
    /// Jobs of the release that are not hooks (`--wait-for-jobs`).
    pub jobs: Vec<String>,
    pub deployments: Vec<String>,
    pub stateful_sets: Vec<String>,
}

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
    /// A Job of the release (`hook`: a helm hook) started, succeeded or failed; `reason` says
    /// why it failed (the Job's condition and its pod's problem).
    Job {
        name: String,
        hook: bool,
        state: JobState,
        reason: String,
    },
    /// A new Warning event in the namespace (since the run started).
    Warning {
        object: String,
        reason: String,
        message: String,
    },
    /// The last log lines of a crash-looping container's previous run, or why the API gave
    /// none.
    Logs {
        pod: String,
        container: String,
        lines: Result<Vec<String>, String>,
    },
    /// helm is running: it waits up to `timeout` for `waits` (None: the chart is remote and
    /// was not rendered here).
    HelmRunning {
        revision_after: Option<u64>,
        timeout: Duration,
        waits: Option<Waits>,
    },
    /// A release stuck in `state` was cleared before the install (`action`: what was done).
    Recovered { state: String, action: String },
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
    /// helm failed: the cluster's reason (the failing Job or pod and why; helm's own when the
    /// cluster showed none), helm's last line, what the cluster showed, and what was undone.
    Failed {
        reason: String,
        helm: String,
        pods: Vec<String>,
        jobs: Vec<String>,
        rolled_back_to: Option<u64>,
        uninstalled: bool,
    },
}

/// What `helm --wait` waits for, in words.
pub fn waits_text(waits: Option<&Waits>) -> String {
    let Some(w) = waits else {
        return "the hook Jobs, the Jobs and every Deployment and StatefulSet of the chart".into();
    };
    let mut parts = vec![];
    if !w.hooks.is_empty() {
        parts.push(format!("hook Jobs {}", w.hooks.join(", ")));
    }
    if !w.jobs.is_empty() {
        parts.push(format!("Jobs {}", w.jobs.join(", ")));
    }
    parts.push(format!(
        "{} Deployment{}",
        w.deployments.len(),
        if w.deployments.len() == 1 { "" } else { "s" }
    ));
    parts.push(format!(
        "{} StatefulSet{}",
        w.stateful_sets.len(),
        if w.stateful_sets.len() == 1 { "" } else { "s" }
    ));
    let last = parts.pop().unwrap_or_default();
    if parts.is_empty() {
        last
    } else {
        format!("{} and {last}", parts.join(", "))
    }
}

/// One progress event as the lines an operator reads (the command prints them; the wizard
/// keeps the ones its panels do not show as counts).
pub fn progress_lines(release: &str, p: &InstallProgress) -> Vec<String> {
    match p {
        InstallProgress::HelmRunning {
            revision_after,
            timeout,
            waits,
        } => vec![format!(
            "helm upgrade --install {release} ({}): waiting up to {}s for {}…",
            match revision_after {
                Some(r) => format!("after revision {r}"),
                None => "first install".into(),
            },
            timeout.as_secs(),
            waits_text(waits.as_ref())
        )],
        InstallProgress::Recovered { state, action } => {
            vec![format!("Release {release} was {state}: {action}.")]
        }
        InstallProgress::Job {
            name,
            hook,
            state,
            reason,
        } => {
            let what = if *hook { "hook Job" } else { "Job" };
            vec![match state {
                JobState::Started => format!("  {what} {name}: started"),
                JobState::Succeeded => format!("  {what} {name}: succeeded"),
                JobState::Failed => format!("  ✗ {what} {name} failed: {reason}"),
            }]
        }
        InstallProgress::Warning {
            object,
            reason,
            message,
        } => vec![format!("  warning {object}: {reason}: {message}")],
        InstallProgress::Logs {
            pod,
            container,
            lines,
        } => match lines {
            Ok(lines) if lines.is_empty() => {
                vec![format!(
                    "  pod {pod} ({container}): its last run logged nothing"
                )]
            }
            Ok(lines) => std::iter::once(format!("  pod {pod} ({container}), last log lines:"))
                .chain(lines.iter().map(|l| format!("    | {l}")))
                .collect(),
            Err(why) => vec![format!("  pod {pod} ({container}): no logs ({why})")],
        },
        InstallProgress::Workload {
            kind,
            name,
            ready,
            desired,
        } => vec![format!("  {kind} {name}: {ready}/{desired} ready")],
        InstallProgress::Pod { name, reason } if reason.is_empty() => {
            vec![format!("  pod {name}: recovered")]
        }
        InstallProgress::Pod { name, reason } => vec![format!("  ✗ pod {name}: {reason}")],
    }
}

/// The owner Job of a pod, if a Job owns it.
fn job_of(pod: &Pod) -> Option<String> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Job")
        .map(|o| o.name.clone())
}

/// Crash-looping containers of a pod.
fn crash_looping(pod: &Pod) -> Vec<String> {
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter(|cs| {
            cs.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                == Some("CrashLoopBackOff")
        })
        .map(|cs| cs.name.clone())
        .collect()
}

/// What `--wait` will wait for: the chart rendered offline with the same values (a local chart
/// only: a remote one would be pulled a second time). None when it cannot be rendered here.
async fn waits(answers: &Answers, helm: &Helm, values: &std::path::Path) -> Option<Waits> {
    if !answers.chart.is_local() {
        return None;
    }
    let text = helm
        .template(
            &answers.release,
            &answers.chart.reference,
            &answers.namespace,
            values,
            crate::core::catalog::SecretCatalog::of_valid(&answers.chart.version)
                .render_kube_version(),
        )
        .await
        .ok()?;
    let docs = crate::core::yaml::from_documents(&text).ok()?;
    let mut w = Waits::default();
    for d in docs {
        let name = d["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match d["kind"].as_str() {
            Some("Job") if d["metadata"]["annotations"]["helm.sh/hook"].is_string() => {
                w.hooks.push(name)
            }
            Some("Job") => w.jobs.push(name),
            Some("Deployment") => w.deployments.push(name),
            Some("StatefulSet") => w.stateful_sets.push(name),
            _ => {}
        }
    }
    Some(w)
}

/// The newest revision of the release helm marks deployed, read from helm's own storage
/// (its release Secrets' labels; values are not read).
async fn deployed_revision(cluster: &Cluster, release: &str, ns: &str) -> Option<u64> {
    let api = Api::<Secret>::namespaced(cluster.client().clone(), ns);
    let params =
        ListParams::default().labels(&format!("owner=helm,name={release},status=deployed"));
    let list = api.list_metadata(&params).await.ok()?;
    list.items
        .iter()
        .filter_map(|s| s.metadata.labels.as_ref()?.get("version")?.parse().ok())
        .max()
}

fn revision(status: &Value) -> u64 {
    status["version"].as_u64().unwrap_or(0)
}

/// The rendered values in a private temporary file for helm (they hold no secret; the file
/// is 0600 all the same), removed when dropped.
pub(crate) fn values_file(
    values: &serde_json::Value,
) -> Result<tempfile::NamedTempFile, EngineError> {
    let file = tempfile::Builder::new()
        .prefix("caracal-values-")
        .suffix(".yaml")
        .tempfile()
        .map_err(|e| EngineError::Internal(format!("cannot write the values file: {e}")))?;
    std::fs::write(file.path(), crate::core::yaml::to_string(values))
        .map_err(|e| EngineError::Internal(format!("cannot write the values file: {e}")))?;
    Ok(file)
}

/// A helm failure as the engine reports it, with the fix when there is one.
pub(crate) fn helm_error(e: HelmError) -> EngineError {
    let fix = match &e {
        HelmError::NotFound(_) => {
            Some("install helm 3.14 or newer (or helm 4), or set CARACAL_HELM".into())
        }
        _ => None,
    };
    EngineError::Cluster {
        message: e.to_string(),
        fix,
    }
}

/// What the watch saw, for the outcome of a failure.
#[derive(Default)]
struct Seen {
    /// Each pod's current problem (pods that went away keep their last one: a failed Job's
    /// pods are deleted by the Job controller).
    problems: BTreeMap<String, String>,
    /// The Job of each Job-owned pod.
    pod_jobs: BTreeMap<String, String>,
    /// Each Job's state, hook flag and reason.
    jobs: BTreeMap<String, (JobState, bool, String)>,
    /// Warning events about the release's volume claims (a pod pending on its claims says
    /// only that they are unbound; the claim's event says why, e.g. no such storage class).
    claims: BTreeSet<String>,
}

impl Seen {
    /// The reason a Job failed: its condition, then its pods' problems.
    fn job_reason(&self, job: &str, condition: &str) -> String {
        let pods: Vec<String> = self
            .pod_jobs
            .iter()
            .filter(|(_, j)| j.as_str() == job)
            .filter_map(|(pod, _)| Some(format!("pod {pod}: {}", self.problems.get(pod)?)))
            .collect();
        if pods.is_empty() {
            condition.to_string()
        } else {
            format!("{condition}; {}", pods.join("; "))
        }
    }

    /// The cluster's reason for a failure: each failed Job (hooks first) with its pod's
    /// problem, else each pod's problem; None when the cluster showed nothing wrong.
    fn reason(&self) -> Option<String> {
        let mut failed: Vec<(&String, &(JobState, bool, String))> = self
            .jobs
            .iter()
            .filter(|(_, (s, _, _))| *s == JobState::Failed)
            .collect();
        failed.sort_by_key(|(_, (_, hook, _))| !hook);
        if !failed.is_empty() {
            return Some(
                failed
                    .iter()
                    .map(|(name, (_, hook, why))| {
                        format!(
                            "{} {name} failed: {why}",
                            if *hook { "hook Job" } else { "Job" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if self.problems.is_empty() {
            return None;
        }
        Some(
            self.problems
                .iter()
                .map(|(pod, why)| format!("pod {pod}: {why}"))
                .chain(self.claims.iter().cloned())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// The last lines of a container's previous run, or why the API gave none.
async fn last_logs(pods: &Api<Pod>, pod: &str, container: &str) -> Result<Vec<String>, String> {
    let params = LogParams {
        container: Some(container.to_string()),
        previous: true,
        tail_lines: Some(10),
        ..LogParams::default()
    };
    match tokio::time::timeout(Duration::from_secs(3), pods.logs(pod, &params)).await {
        Ok(Ok(text)) => Ok(text.lines().map(str::to_string).collect()),
        Ok(Err(kube::Error::Api(s))) => Err(format!("{} ({})", s.message, s.code)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in 3 s".into()),
    }
}

enum Watched {
    Pod(Box<WatchEvent<Pod>>),
    Deployment(Box<WatchEvent<Deployment>>),
    StatefulSet(Box<WatchEvent<StatefulSet>>),
    Job(Box<WatchEvent<Job>>),
    Event(Box<WatchEvent<KubeEvent>>),
}

/// Watches the release's pods, workloads and Jobs and the namespace's Warning events newer
/// than `since`, reporting changes, until dropped.
async fn watch_release(
    cluster: &Cluster,
    answers: &Answers,
    since: k8s_openapi::jiff::Timestamp,
    report: &(dyn Fn(InstallProgress) + Send + Sync),
    seen: &Mutex<Seen>,
) {
    let selector = format!("app.kubernetes.io/instance={}", answers.release);
    let config = watcher::Config::default().labels(&selector);
    let client = cluster.client().clone();
    let ns = answers.namespace.as_str();
    let pod_api = Api::<Pod>::namespaced(client.clone(), ns);
    let pods = watcher::watcher(pod_api.clone(), config.clone())
        .map(|e| e.map(|e| Watched::Pod(Box::new(e))))
        .boxed();
    let deployments = watcher::watcher(
        Api::<Deployment>::namespaced(client.clone(), ns),
        config.clone(),
    )
    .map(|e| e.map(|e| Watched::Deployment(Box::new(e))))
    .boxed();
    let sets = watcher::watcher(
        Api::<StatefulSet>::namespaced(client.clone(), ns),
        config.clone(),
    )
    .map(|e| e.map(|e| Watched::StatefulSet(Box::new(e))))
    .boxed();
    let jobs = watcher::watcher(Api::<Job>::namespaced(client.clone(), ns), config)
        .map(|e| e.map(|e| Watched::Job(Box::new(e))))
        .boxed();
    let events = watcher::watcher(
        Api::<KubeEvent>::namespaced(client, ns),
        watcher::Config::default().fields("type=Warning"),
    )
    .map(|e| e.map(|e| Watched::Event(Box::new(e))))
    .boxed();
    let mut all = futures::stream::select_all([pods, deployments, sets, jobs, events]);
    let mut ready: BTreeMap<(String, String), (i32, i32)> = BTreeMap::new();
    let mut warned: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut logged: BTreeSet<(String, String)> = BTreeSet::new();
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
    let lock = || seen.lock().unwrap_or_else(|p| p.into_inner());
    while let Some(item) = all.next().await {
        let Ok(item) = item else { continue };
        match item {
            Watched::Pod(e) => {
                let (WatchEvent::Apply(p) | WatchEvent::InitApply(p)) = *e else {
                    continue;
                };
                let name = p.metadata.name.clone().unwrap_or_default();
                let now = pod_problem(&p).unwrap_or_default();
                let changed = {
                    let mut s = lock();
                    if let Some(job) = job_of(&p) {
                        s.pod_jobs.insert(name.clone(), job);
                    }
                    if s.problems.get(&name).map(String::as_str).unwrap_or("") != now {
                        if now.is_empty() {
                            s.problems.remove(&name);
                        } else {
                            s.problems.insert(name.clone(), now.clone());
                        }
                        true
                    } else {
                        false
                    }
                };
                if changed {
                    report(InstallProgress::Pod {
                        name: name.clone(),
                        reason: now,
                    });
                }
                for container in crash_looping(&p) {
                    if logged.insert((name.clone(), container.clone())) {
                        let lines = last_logs(&pod_api, &name, &container).await;
                        report(InstallProgress::Logs {
                            pod: name.clone(),
                            container,
                            lines,
                        });
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
            Watched::Job(e) => {
                let (WatchEvent::Apply(j) | WatchEvent::InitApply(j)) = *e else {
                    continue;
                };
                // A Job left by an earlier run (a failed hook helm keeps) is not this run's.
                if j.metadata
                    .creation_timestamp
                    .as_ref()
                    .is_some_and(|t| t.0 < since)
                {
                    continue;
                }
                let name = j.metadata.name.clone().unwrap_or_default();
                let hook = j
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("helm.sh/hook"));
                let (state, condition) = job_state(&j);
                let reported = {
                    let mut s = lock();
                    let reason = match state {
                        JobState::Failed => s.job_reason(&name, &condition),
                        _ => String::new(),
                    };
                    let new = (state, hook, reason.clone());
                    (s.jobs.insert(name.clone(), new.clone()) != Some(new)).then_some(reason)
                };
                if let Some(reason) = reported {
                    report(InstallProgress::Job {
                        name,
                        hook,
                        state,
                        reason,
                    });
                }
            }
            Watched::Event(e) => {
                let (WatchEvent::Apply(ev) | WatchEvent::InitApply(ev)) = *e else {
                    continue;
                };
                let when = ev
                    .last_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or(ev.event_time.as_ref().map(|t| t.0))
                    .or(ev.metadata.creation_timestamp.as_ref().map(|t| t.0));
                if ev.type_.as_deref() != Some("Warning") || when.is_none_or(|t| t < since) {
                    continue;
                }
                let object = format!(
                    "{}/{}",
                    ev.involved_object.kind.clone().unwrap_or_default(),
                    ev.involved_object.name.clone().unwrap_or_default()
                );
                let reason = ev.reason.clone().unwrap_or_default();
                let message = ev.message.clone().unwrap_or_default().trim().to_string();
                if warned.insert((object.clone(), reason.clone(), message.clone())) {
                    if object.starts_with("PersistentVolumeClaim/") {
                        lock()
                            .claims
                            .insert(format!("{object}: {reason}: {message}"));
                    }
                    report(InstallProgress::Warning {
                        object,
                        reason,
                        message,
                    });
                }
            }
        }
    }
}

/// How the operator asked the step to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// How long helm waits for the hooks and workloads.
    pub timeout: Duration,
    /// On failure, roll back to the last deployed revision.
    pub rollback_on_failure: bool,
    /// On the failure of a release that never deployed, uninstall it (never by default).
    pub uninstall_on_failure: bool,
    /// Clear a release stuck in pending-* first: a rollback to the last deployed revision, or
    /// for pending-install (nothing ever deployed) an uninstall.
    pub recover: bool,
    /// Only say whether helm would make a new revision.
    pub dry_run: bool,
}

/// Rolls the release back to `revision`. While helm waits, each pod of a StatefulSet that is
/// not Ready and not of the StatefulSet's (restored) update revision is deleted: with the
/// OrderedReady policy the StatefulSet controller waits forever for such a pod rather than
/// replace it (Kubernetes' documented "forced rollback"), so the rollback would never be ready.
async fn rollback(
    cluster: &Cluster,
    helm: &Helm,
    answers: &Answers,
    revision: u64,
) -> Result<(), EngineError> {
    let ctx = answers.kube_context.as_deref();
    let (release, ns) = (answers.release.as_str(), answers.namespace.as_str());
    tokio::select! {
        r = helm.rollback(release, ns, ctx, revision) => r.map(|_| ()).map_err(helm_error),
        () = replace_stuck_stateful_pods(cluster, answers) => unreachable!("it loops until dropped"),
    }
}

async fn replace_stuck_stateful_pods(cluster: &Cluster, answers: &Answers) {
    let client = cluster.client().clone();
    let ns = answers.namespace.as_str();
    let sets = Api::<StatefulSet>::namespaced(client.clone(), ns);
    let pods = Api::<Pod>::namespaced(client, ns);
    let instance =
        ListParams::default().labels(&format!("app.kubernetes.io/instance={}", answers.release));
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(list) = sets.list(&instance).await else {
            continue;
        };
        for set in list.items {
            let Some(update) = set.status.as_ref().and_then(|s| s.update_revision.clone()) else {
                continue;
            };
            let Some(labels) = set
                .spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.clone())
            else {
                continue;
            };
            let selector = labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let Ok(owned) = pods.list(&ListParams::default().labels(&selector)).await else {
                continue;
            };
            for pod in owned.items {
                let revision = pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("controller-revision-hash"));
                let ready = pod
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if revision != Some(&update)
                    && !ready
                    && pod.metadata.deletion_timestamp.is_none()
                    && let Some(name) = pod.metadata.name.as_deref()
                {
                    tracing::info!(
                        pod = name,
                        "deleting a StatefulSet pod of the failed revision"
                    );
                    let _ = pods.delete(name, &Default::default()).await;
                }
            }
        }
    }
}

/// Reads `helm status`; None when the release does not exist.
async fn release_status(
    helm: &Helm,
    release: &str,
    ns: &str,
    ctx: Option<&str>,
) -> Result<Option<Value>, EngineError> {
    match helm.status(release, ns, ctx).await {
        Ok(s) => Ok(Some(s)),
        Err(HelmError::Failed { stderr, .. }) if stderr.contains("not found") => Ok(None),
        Err(e) => Err(helm_error(e)),
    }
}

fn state_of(status: &Option<Value>) -> String {
    status
        .as_ref()
        .and_then(|s| s["info"]["status"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Clears a release stuck in `state` (pending-*): what was done.
async fn recover(
    cluster: &Cluster,
    helm: &Helm,
    answers: &Answers,
    state: &str,
) -> Result<String, EngineError> {
    let ctx = answers.kube_context.as_deref();
    let (release, ns) = (answers.release.as_str(), answers.namespace.as_str());
    match deployed_revision(cluster, release, ns).await {
        Some(rev) if state != "pending-install" => {
            rollback(cluster, helm, answers, rev).await?;
            Ok(format!(
                "rolled back to revision {rev}, the last deployed one (`helm rollback`)"
            ))
        }
        _ => {
            helm.uninstall(release, ns, ctx).await.map_err(helm_error)?;
            Ok(
                "uninstalled it: it never deployed, so there is no revision to return to (`helm uninstall`, as --recover allows)"
                    .into(),
            )
        }
    }
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
        uninstall_on_failure,
        recover: recover_pending,
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
    let mut status = release_status(helm, release, ns, ctx).await?;
    let mut state = state_of(&status);
    if state.starts_with("pending-") {
        if !recover_pending || dry_run {
            return Err(EngineError::PendingRelease {
                release: release.to_string(),
                namespace: ns.to_string(),
                state,
            });
        }
        let action = recover(cluster, helm, answers, &state).await?;
        report(InstallProgress::Recovered {
            state: state.clone(),
            action,
        });
        status = release_status(helm, release, ns, ctx).await?;
        state = state_of(&status);
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
    let previous = match &status {
        Some(s) if state == "deployed" => Some(revision(s)),
        Some(_) => deployed_revision(cluster, release, ns).await,
        None => None,
    };
    let values = values_file(&bundle.values)?;
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
    let waits = waits(answers, helm, values.path()).await;
    let since = k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(1))
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now());
    report(InstallProgress::HelmRunning {
        revision_after: status.as_ref().map(revision),
        timeout,
        waits,
    });
    let seen = Mutex::new(Seen::default());
    let result = tokio::select! {
        r = helm.upgrade_install_until(&args, cancel, HELM_STOP_GRACE) => r,
        () = watch_release(cluster, answers, since, report, &seen) => unreachable!("a watch never ends by itself"),
    };
    drop(values);
    match result {
        Ok(HelmRun::Finished(_)) => {
            let status = helm.status(release, ns, ctx).await.map_err(helm_error)?;
            Ok(InstallOutcome::Deployed {
                revision: revision(&status),
            })
        }
        Ok(HelmRun::Stopped { killed, .. }) => Err(stopped(helm, answers, killed).await),
        Err(HelmError::Failed { stderr, .. }) => {
            let helm_line = stderr.lines().last().unwrap_or("").trim().to_string();
            let (reason, pods, jobs) = {
                let s = seen.lock().unwrap_or_else(|p| p.into_inner());
                let pods: Vec<String> = s
                    .problems
                    .iter()
                    .map(|(pod, why)| format!("{pod}: {why}"))
                    .collect();
                let jobs: Vec<String> = s
                    .jobs
                    .iter()
                    .filter(|(_, (st, _, _))| *st == JobState::Failed)
                    .map(|(name, (_, _, why))| format!("{name}: {why}"))
                    .collect();
                (s.reason().unwrap_or_else(|| helm_line.clone()), pods, jobs)
            };
            let (mut rolled_back_to, mut uninstalled) = (None, false);
            match previous {
                Some(rev) if rollback_on_failure => {
                    rollback(cluster, helm, answers, rev).await?;
                    rolled_back_to = Some(rev);
                }
                None if uninstall_on_failure => {
                    helm.uninstall(release, ns, ctx).await.map_err(helm_error)?;
                    uninstalled = true;
                }
                _ => {}
            }
            Ok(InstallOutcome::Failed {
                reason,
                helm: helm_line,
                pods,
                jobs,
                rolled_back_to,
                uninstalled,
            })
        }
        Err(e) => Err(helm_error(e)),
    }
}

/// The error of a helm run stopped by the operator: what helm did, where the release is, and
/// how a re-run finishes the job.
async fn stopped(helm: &Helm, answers: &Answers, killed: bool) -> EngineError {
    let ctx = answers.kube_context.as_deref();
    let (release, ns) = (answers.release.as_str(), answers.namespace.as_str());
    let how = if killed {
        format!(
            "helm did not stop within {}s of SIGTERM and was killed",
            HELM_STOP_GRACE.as_secs()
        )
    } else {
        "helm stopped on SIGTERM".to_string()
    };
    let state = match helm.status(release, ns, ctx).await {
        Ok(s) => Some((
            s["info"]["status"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            revision(&s),
        )),
        Err(_) => None,
    };
    let (now, fix) = match &state {
        Some((st, rev)) if st.starts_with("pending-") => (
            format!("release {release} is left {st} (revision {rev})"),
            "run `caracal-deploy install --recover` with the same answers: it clears the pending state, then installs".to_string(),
        ),
        Some((st, rev)) => (
            format!("release {release} is {st} at revision {rev}, not pending"),
            "run `caracal-deploy install` again with the same answers: it upgrades from there".to_string(),
        ),
        None => (
            format!("release {release} does not exist"),
            "run `caracal-deploy install` again with the same answers".to_string(),
        ),
    };
    EngineError::Stopped {
        message: format!("interrupted: {how}; {now}"),
        fix,
    }
}
