//! The one engine runner. Front ends (the headless commands, the wizard, the benchmark) send
//! it requests and read typed events from one channel; they never reach an adapter. Each
//! request runs on its own task under a cancellation token that the front end holds: cancelling
//! it is how a front end says "stop", and the work sees it wherever it is.

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::adapters::helm::Helm;
use crate::adapters::kube::{Cluster, KubeError};
use crate::core::answers::Answers;
use crate::core::checks::Report;
use crate::core::secret_manager::{SecretManager, SecretManagerError};
use crate::core::seed::SeedPlan;
use crate::engine::apply::{Applied, ApplyOutcome, Condition, apply_objects, wait_synced};
use crate::engine::error::EngineError;
use crate::engine::install::{InstallOptions, InstallOutcome, InstallProgress, install};
use crate::engine::seed::{
    DEFAULT_CONCURRENCY, EarlierOutcome, Progress, Prompted, SeedOutcome, delete_earlier,
    plan_seed, write_seed,
};

/// Work for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Step 1, first half: connect to the secret manager, read every catalog secret, plan.
    /// `rotate` names catalog secrets to give a new version (`secret-store-kek`: the KEK flow).
    PlanSeed {
        answers: Box<Answers>,
        rotate: Vec<String>,
    },
    /// Step 1, second half: resolve the values of the plan's writes and write them.
    WriteSeed {
        answers: Box<Answers>,
        plan: Box<SeedPlan>,
        prompted: Prompted,
    },
    /// The checks that must pass before anything is changed (reads only).
    Preflight { answers: Box<Answers> },
    /// Step 3: helm upgrade --install of the chart, watched from the cluster. On failure,
    /// `rollback_on_failure` returns to the last deployed revision and `uninstall_on_failure`
    /// removes a release that never deployed; `recover` first clears a release left pending-*.
    Install {
        answers: Box<Answers>,
        timeout: std::time::Duration,
        rollback_on_failure: bool,
        uninstall_on_failure: bool,
        recover: bool,
        dry_run: bool,
    },
    /// Step 2: apply the store's objects in order and wait for the sync (`timeout`); with
    /// `dry_run`, only say what would change.
    Apply {
        answers: Box<Answers>,
        dry_run: bool,
        timeout: std::time::Duration,
        /// Take the fields another manager set (an upgrade of a hand-applied install).
        take_over: bool,
    },
    /// After a failed step 3, on the operator's request: `helm rollback` to `revision`.
    Rollback {
        answers: Box<Answers>,
        revision: u64,
    },
    /// After a failed first install, on the operator's explicit request: `helm uninstall`.
    Uninstall { answers: Box<Answers> },
    /// Step 4: the preflight checks, then the live checks from watches. Without `wait`, ends
    /// once every watch has listed; with it, once no check is in error or at the deadline.
    Verify {
        answers: Box<Answers>,
        mode: crate::engine::verify::Mode,
    },
    /// What is already done for these answers (reads only): the wizard resumes there.
    Detect { answers: Box<Answers> },
    /// The names the wizard offers from the kubeconfig and the cluster (reads only).
    ClusterChoices { context: Option<String> },
    /// What an upgrade to the answers' chart would do (reads only).
    PlanUpgrade { answers: Box<Answers> },
    /// Before helm: delete these StatefulSets of the release, their pods and volumes kept.
    OrphanStatefulSets {
        answers: Box<Answers>,
        names: Vec<String>,
    },
    /// After an upgrade verified green, on the operator's request: read the secret manager
    /// again and delete each earlier name (`formerly`) whose current name holds the same
    /// value; the others are kept, with why.
    DeleteEarlier { answers: Box<Answers> },
}

/// What the engine reports, in the order it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Connected; reading `secrets` secrets from `target` (e.g. "AWS Secrets Manager (us-east-1)").
    SeedReading { target: String, secrets: usize },
    /// The plan, read from the remote state.
    SeedPlanned { target: String, plan: SeedPlan },
    /// One secret's write.
    SeedProgress(Progress),
    /// The writes ended (completely, with failures, or interrupted).
    SeedFinished(SeedOutcome),
    /// The preflight checks, all run.
    PreflightDone(Report),
    /// One object of step 2, applied (or what a dry run would do to it).
    Applied(Applied),
    /// The Ready condition of the store or the ExternalSecret changed.
    StoreCondition(Condition),
    /// Step 2 ended.
    ApplyDone(ApplyOutcome),
    /// What the cluster showed while helm ran.
    InstallProgress(InstallProgress),
    /// Step 3 ended.
    InstallDone(InstallOutcome),
    /// The release was rolled back to `revision` (a `Request::Rollback`).
    RolledBack { revision: u64 },
    /// The release was uninstalled (a `Request::Uninstall`).
    Uninstalled { release: String },
    /// Step 4's checks changed (the live report: the dashboard draws each).
    VerifyProgress(Box<crate::core::live::Live>),
    /// What `Request::Detect` found.
    Detected(Detected),
    /// What `Request::ClusterChoices` read.
    ClusterChoices(Box<crate::engine::choices::Choices>),
    /// What `Request::PlanUpgrade` read.
    UpgradePlanned(Box<crate::engine::upgrade::UpgradePlan>),
    /// `Request::OrphanStatefulSets` done.
    Orphaned { names: Vec<String> },
    /// `Request::DeleteEarlier` done: what was deleted and what was kept, with why.
    EarlierDeleted(Box<EarlierOutcome>),
    /// Step 4 ended with this report.
    VerifyDone(crate::engine::verify::VerifyOutcome),
    /// The request ended without doing its work.
    Failed(EngineError),
}

/// How the engine reaches a cloud's secret manager. The real one connects through the
/// adapters with the operator's credentials.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    async fn secret_manager(
        &self,
        answers: &Answers,
    ) -> Result<Arc<dyn SecretManager>, SecretManagerError>;

    /// The cluster of a context (the current one when none is named).
    async fn cluster_of(&self, context: Option<&str>) -> Result<Cluster, KubeError> {
        Cluster::connect(context).await
    }

    /// The cluster of the answers' context.
    async fn cluster(&self, answers: &Answers) -> Result<Cluster, KubeError> {
        self.cluster_of(answers.kube_context.as_deref()).await
    }
}

/// The adapters: AWS Secrets Manager, GCP Secret Manager, Azure Key Vault.
pub struct CloudConnector;

#[async_trait::async_trait]
impl Connector for CloudConnector {
    async fn secret_manager(
        &self,
        answers: &Answers,
    ) -> Result<Arc<dyn SecretManager>, SecretManagerError> {
        crate::adapters::connect_secret_manager(answers)
            .await
            .map(Arc::from)
    }
}

/// A secret manager connected for answers whose secret-manager part had this text.
type Connected = (String, Arc<dyn SecretManager>);

struct Shared {
    connector: Box<dyn Connector>,
    concurrency: usize,
    events: UnboundedSender<Event>,
    /// The last connection, reused by the next request for the same secret manager (the plan
    /// then the writes): one credential exchange, not one per request.
    connected: Mutex<Option<Connected>>,
}

/// The engine: cheap to clone, one event channel for all its requests.
#[derive(Clone)]
pub struct Engine {
    runtime: tokio::runtime::Handle,
    shared: Arc<Shared>,
}

impl Engine {
    /// An engine on `runtime` with the real adapters; its events arrive on the receiver.
    pub fn new(runtime: tokio::runtime::Handle) -> (Engine, UnboundedReceiver<Event>) {
        Engine::with(runtime, Box::new(CloudConnector), DEFAULT_CONCURRENCY)
    }

    /// An engine with its own connector and number of secrets in flight.
    pub fn with(
        runtime: tokio::runtime::Handle,
        connector: Box<dyn Connector>,
        concurrency: usize,
    ) -> (Engine, UnboundedReceiver<Event>) {
        let (events, rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            connector,
            concurrency: concurrency.max(1),
            events,
            connected: Mutex::new(None),
        });
        (Engine { runtime, shared }, rx)
    }

    /// Starts a request on its own task; cancelling the returned token stops it.
    pub fn submit(&self, request: Request) -> CancellationToken {
        let cancel = CancellationToken::new();
        self.submit_with(request, cancel.clone());
        cancel
    }

    /// Starts a request under a token the front end already holds (a command's one Ctrl-C
    /// token, so that a stop between two requests also stops the second). Reading stops at
    /// once when it fires (nothing was changed); no new write starts and those in flight
    /// complete. A panic in the task is reported as `Event::Failed`, never left as a front end
    /// waiting forever.
    pub fn submit_with(&self, request: Request, cancel: CancellationToken) {
        let shared = self.shared.clone();
        self.runtime.spawn(async move {
            let outcome = std::panic::AssertUnwindSafe(run(&shared, request, &cancel))
                .catch_unwind()
                .await;
            let last = match outcome {
                Ok(Ok(event)) => event,
                Ok(Err(e)) => Event::Failed(e),
                Err(_) => {
                    tracing::error!("an engine task panicked");
                    Event::Failed(EngineError::Internal("an engine task panicked".into()))
                }
            };
            let _ = shared.events.send(last);
        });
    }
}

/// Runs one request; its last event is returned, the others are sent as they happen.
async fn run(
    shared: &Shared,
    request: Request,
    cancel: &CancellationToken,
) -> Result<Event, EngineError> {
    let events = &shared.events;
    match request {
        Request::PlanSeed { answers, rotate } => {
            check(&answers)?;
            let sm = connect(shared, &answers, cancel).await?;
            let target = sm.describe();
            let secrets = crate::core::catalog::SecretCatalog::for_chart(&answers.chart.version)
                .map(|c| c.seeded().count())
                .unwrap_or(0);
            let _ = events.send(Event::SeedReading {
                target: target.clone(),
                secrets,
            });
            let plan =
                plan_seed(sm.as_ref(), &answers, &rotate, shared.concurrency, cancel).await?;
            for item in &plan.items {
                tracing::info!(secret = %item.remote_name, action = item.action.verb(), digest = item.digest.as_deref().unwrap_or("-"), "plan");
            }
            Ok(Event::SeedPlanned { target, plan })
        }
        Request::WriteSeed {
            answers,
            plan,
            prompted,
        } => {
            check(&answers)?;
            let sm = connect(shared, &answers, cancel).await?;
            let progress = |p: Progress| {
                log_progress(&p);
                let _ = events.send(Event::SeedProgress(p));
            };
            let outcome = write_seed(
                sm.as_ref(),
                &answers,
                &plan,
                &prompted,
                shared.concurrency,
                cancel,
                &progress,
            )
            .await?;
            drop(prompted);
            Ok(Event::SeedFinished(outcome))
        }
        Request::Apply {
            answers,
            dry_run,
            timeout,
            take_over,
        } => {
            check(&answers)?;
            let cluster = connect_cluster(shared, &answers, cancel)
                .await?
                .map_err(EngineError::from)?;
            let report = |a: Applied| {
                let _ = events.send(Event::Applied(a));
            };
            let (objects, interrupted) =
                apply_objects(&cluster, &answers, dry_run, take_over, cancel, &report).await?;
            if dry_run || interrupted {
                return Ok(Event::ApplyDone(ApplyOutcome {
                    dry_run,
                    objects,
                    synced: false,
                    interrupted,
                }));
            }
            let conditions = |c: Condition| {
                let _ = events.send(Event::StoreCondition(c));
            };
            let interrupted =
                match wait_synced(&cluster, &answers, timeout, cancel, &conditions).await {
                    Ok(()) => false,
                    Err(EngineError::Interrupted) => true,
                    Err(e) => return Err(e),
                };
            Ok(Event::ApplyDone(ApplyOutcome {
                dry_run,
                objects,
                synced: !interrupted,
                interrupted,
            }))
        }
        Request::Install {
            answers,
            timeout,
            rollback_on_failure,
            uninstall_on_failure,
            recover,
            dry_run,
        } => {
            check(&answers)?;
            let cluster = connect_cluster(shared, &answers, cancel)
                .await?
                .map_err(EngineError::from)?;
            let report = |p: InstallProgress| {
                let _ = events.send(Event::InstallProgress(p));
            };
            let outcome = install(
                &cluster,
                &Helm::from_env(),
                &answers,
                InstallOptions {
                    timeout,
                    rollback_on_failure,
                    uninstall_on_failure,
                    recover,
                    dry_run,
                },
                cancel,
                &report,
            )
            .await?;
            Ok(Event::InstallDone(outcome))
        }
        Request::Rollback { answers, revision } => {
            check(&answers)?;
            crate::engine::release::rollback(&answers, revision, cancel).await?;
            tracing::info!(release = %answers.release, revision, "rolled back");
            Ok(Event::RolledBack { revision })
        }
        Request::Uninstall { answers } => {
            check(&answers)?;
            crate::engine::release::uninstall(&answers, cancel).await?;
            tracing::info!(release = %answers.release, "uninstalled");
            Ok(Event::Uninstalled {
                release: answers.release.clone(),
            })
        }
        Request::Preflight { answers } => {
            check(&answers)?;
            // A cluster that cannot be reached is the first check's error, not the request's.
            let cluster = connect_cluster(shared, &answers, cancel).await?;
            Ok(Event::PreflightDone(
                preflight_report(shared, &answers, cluster.as_ref(), cancel).await?,
            ))
        }
        Request::Verify { answers, mode } => {
            check(&answers)?;
            let cluster = connect_cluster(shared, &answers, cancel).await?;
            let preflight = preflight_report(shared, &answers, cluster.as_ref(), cancel).await?;
            let cluster = match cluster {
                Ok(c) => c,
                // Preflight's first check already says why; the live checks cannot run.
                Err(_) => {
                    return Ok(Event::VerifyDone(crate::engine::verify::VerifyOutcome {
                        report: preflight,
                        timed_out: false,
                    }));
                }
            };
            let progress = |l: crate::core::live::Live| {
                let _ = events.send(Event::VerifyProgress(Box::new(l)));
            };
            let outcome = crate::engine::verify::verify(
                &cluster, &answers, preflight, mode, cancel, &progress,
            )
            .await?;
            Ok(Event::VerifyDone(outcome))
        }
        Request::ClusterChoices { context } => {
            let read = async {
                let cluster = shared.connector.cluster_of(context.as_deref()).await;
                crate::engine::choices::read(cluster).await
            };
            let mut choices = tokio::select! {
                c = read => c,
                () = cancel.cancelled() => return Err(EngineError::Interrupted),
            };
            choices.requested = context;
            Ok(Event::ClusterChoices(Box::new(choices)))
        }
        Request::PlanUpgrade { answers } => {
            check(&answers)?;
            let sm = connect(shared, &answers, cancel).await?;
            let seed = plan_seed(sm.as_ref(), &answers, &[], shared.concurrency, cancel).await?;
            let cluster = connect_cluster(shared, &answers, cancel)
                .await?
                .map_err(EngineError::from)?;
            let plan = crate::engine::upgrade::plan_upgrade(
                &cluster,
                &Helm::from_env(),
                &answers,
                seed,
                cancel,
            )
            .await?;
            Ok(Event::UpgradePlanned(Box::new(plan)))
        }
        Request::OrphanStatefulSets { answers, names } => {
            check(&answers)?;
            let cluster = connect_cluster(shared, &answers, cancel)
                .await?
                .map_err(EngineError::from)?;
            crate::engine::upgrade::orphan_statefulsets(&cluster, &answers.namespace, &names)
                .await?;
            Ok(Event::Orphaned { names })
        }
        Request::DeleteEarlier { answers } => {
            check(&answers)?;
            let sm = connect(shared, &answers, cancel).await?;
            let outcome = delete_earlier(sm.as_ref(), &answers, shared.concurrency, cancel).await?;
            for name in &outcome.deleted {
                tracing::info!(secret = %name, "earlier name deleted");
            }
            for (name, why) in &outcome.kept {
                tracing::info!(secret = %name, why = %why, "earlier name kept");
            }
            Ok(Event::EarlierDeleted(Box::new(outcome)))
        }
        Request::Detect { answers } => {
            check(&answers)?;
            Ok(Event::Detected(detect(shared, &answers, cancel).await?))
        }
    }
}

/// What is already done for an answers file, each read on its own (a failure is "not known",
/// with why, never a guess).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detected {
    /// Every catalog secret exists remotely with the right shape.
    pub seeded: Result<bool, String>,
    /// The ExternalSecret is Ready (the runtime Secret synced).
    pub synced: Result<bool, String>,
    /// The release's deployed revision, if it is deployed.
    pub deployed: Result<Option<u64>, String>,
    /// The status of the release's latest revision, in any state (`deployed`, `failed`,
    /// `pending-upgrade`…): a release exists, so the wizard upgrades it.
    pub existing: Option<String>,
}

impl Detected {
    /// Everything up to the install is done: only step 4 is left.
    pub fn installed(&self) -> bool {
        self.seeded == Ok(true) && self.synced == Ok(true) && matches!(self.deployed, Ok(Some(_)))
    }
}

async fn detect(
    shared: &Shared,
    answers: &Answers,
    cancel: &CancellationToken,
) -> Result<Detected, EngineError> {
    let seeded = async {
        let sm = connect(shared, answers, cancel)
            .await
            .map_err(|e| e.to_string())?;
        let plan = plan_seed(sm.as_ref(), answers, &[], shared.concurrency, cancel)
            .await
            .map_err(|e| e.to_string())?;
        Ok(plan
            .items
            .iter()
            .all(|i| i.action == crate::core::seed::Action::Keep))
    };
    let synced = async {
        let cluster = connect_cluster(shared, answers, cancel)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let es = cluster
            .get(
                "external-secrets.io/v1",
                "ExternalSecret",
                Some(&answers.namespace),
                crate::core::external_secret::RUNTIME_SECRET,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(es.is_some_and(|es| {
            es.pointer("/status/conditions")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        }))
    };
    let release = async {
        match Helm::from_env()
            .status(
                &answers.release,
                &answers.namespace,
                answers.kube_context.as_deref(),
            )
            .await
        {
            Ok(status) => Ok(Some((
                status["version"].as_u64().unwrap_or(0),
                status
                    .pointer("/info/status")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
            ))),
            Err(e) if e.to_string().contains("not found") => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    };
    let (seeded, synced, release) = tokio::select! {
        r = async { tokio::join!(seeded, synced, release) } => r,
        () = cancel.cancelled() => return Err(EngineError::Interrupted),
    };
    let existing = release
        .as_ref()
        .ok()
        .and_then(|r| r.as_ref().map(|(_, status)| status.clone()));
    Ok(Detected {
        seeded,
        synced,
        deployed: release
            .map(|r| r.and_then(|(revision, status)| (status == "deployed").then_some(revision))),
        existing,
    })
}

/// The preflight checks of a cluster connected once by the caller (or why not), the secret
/// manager's plan and helm.
async fn preflight_report(
    shared: &Shared,
    answers: &Answers,
    cluster: Result<&Cluster, &KubeError>,
    cancel: &CancellationToken,
) -> Result<Report, EngineError> {
    let plan = match connect(shared, answers, cancel).await {
        Ok(sm) => {
            crate::engine::preflight::seed_plan(sm.as_ref(), answers, shared.concurrency, cancel)
                .await
        }
        Err(EngineError::Interrupted) => return Err(EngineError::Interrupted),
        Err(e) => Err(e.with_fix()),
    };
    let helm = Helm::from_env();
    tokio::select! {
        r = crate::engine::preflight::run(answers, cluster, plan.as_ref().map_err(String::clone), &helm) => Ok(r),
        () = cancel.cancelled() => Err(EngineError::Interrupted),
    }
}

/// The checks of the answers that look at the file system, for every request: a front end
/// cannot skip them.
fn check(answers: &Answers) -> Result<(), EngineError> {
    let problems = crate::engine::answers::check_files(answers);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Invalid(problems))
    }
}

/// The answers' cluster; the outer error is a cancel, the inner one the cluster's.
async fn connect_cluster(
    shared: &Shared,
    answers: &Answers,
    cancel: &CancellationToken,
) -> Result<Result<Cluster, KubeError>, EngineError> {
    tokio::select! {
        c = shared.connector.cluster(answers) => Ok(c),
        () = cancel.cancelled() => Err(EngineError::Interrupted),
    }
}

async fn connect(
    shared: &Shared,
    answers: &Answers,
    cancel: &CancellationToken,
) -> Result<Arc<dyn SecretManager>, EngineError> {
    let key = format!("{:?}", answers.secret_manager);
    let cached = match shared.connected.lock() {
        Ok(c) => c.clone(),
        Err(p) => p.into_inner().clone(),
    };
    if let Some((k, sm)) = cached
        && k == key
    {
        return Ok(sm);
    }
    let sm = tokio::select! {
        sm = shared.connector.secret_manager(answers) => sm?,
        () = cancel.cancelled() => return Err(EngineError::Interrupted),
    };
    if let Ok(mut c) = shared.connected.lock() {
        *c = Some((key, sm.clone()));
    }
    Ok(sm)
}

fn log_progress(p: &Progress) {
    match p {
        Progress::Started { remote } => tracing::debug!(secret = %remote, "writing"),
        Progress::Done {
            remote,
            verb,
            digest,
        } => tracing::info!(secret = %remote, verb, digest = %digest, "written"),
        Progress::Failed { remote, error } => {
            tracing::warn!(secret = %remote, error = %error, "failed")
        }
        Progress::NotStarted { remote } => tracing::info!(secret = %remote, "not started"),
    }
}
