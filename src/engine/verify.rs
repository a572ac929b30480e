//! Step 4: verify the install, live. One watch per kind verify reads, each scoped to the
//! release's namespace and, where it can be, to the release's label or the object's name, so
//! its cost follows the install and not the cluster. Every change re-evaluates the checks
//! (`core::verify`, pure); the front end gets each new report. A watch that fails is started
//! again (a fresh list) and, until it has listed, the checks it feeds say "reconnecting" instead
//! of showing what they last saw.
//!
//! Without `wait`, the report is final once every watch has listed once. With `wait`, it is
//! final as soon as no check is in error (warnings are reported, they do not hold it), or at
//! the deadline with what is still red.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event as KubeEvent, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Resource, ResourceExt};
use serde_json::Value;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::adapters::canary::{Canary, Endpoints};
use crate::adapters::kube::{Cluster, KubeError};
use crate::core::answers::Answers;
use crate::core::catalog::SecretCatalog;
use crate::core::checks::{Outcome, Report};
use crate::core::external_secret::RUNTIME_SECRET;
use crate::core::live::{Live, recent_warnings, rollout};
use crate::core::manifests::store_name;
use crate::core::release::{self, Release};
use crate::core::verify::{CanaryResult, Kind, Observed, RuntimeSecret, evaluate};
use crate::engine::error::EngineError;

/// How long the first listing of every watch may take before the report is given with what
/// could not be listed as errors.
pub const LIST_DEADLINE: Duration = Duration::from_secs(20);

/// What one run of verify ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub report: Report,
    /// `wait` was given and its deadline passed before everything was green.
    pub timed_out: bool,
}

/// One object as verify keeps it.
enum Item {
    Object(Value),
    Runtime(RuntimeSecret),
    Release(Box<Release>),
}

enum Change {
    /// A (re)list begins: what follows until `Listed` replaces what the kind held.
    Restarted,
    Listed,
    InitApplied(String, Item),
    Applied(String, Item),
    Deleted(String),
    /// The watch failed; it starts again after a pause.
    Lost(String),
}

type Sender = UnboundedSender<(Kind, Change)>;

/// Runs a watch for ever: on an error, reports it and starts again with a fresh list.
fn spawn_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    kind: Kind,
    convert: fn(K) -> Option<Item>,
    tx: Sender,
) -> (Kind, JoinHandle<()>)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let task = tokio::spawn(async move {
        let mut pause = Duration::from_millis(250);
        loop {
            let mut stream = watcher::watcher(api.clone(), config.clone()).boxed();
            while let Some(event) = stream.next().await {
                let change = match event {
                    Ok(WatchEvent::Init) => Change::Restarted,
                    Ok(WatchEvent::InitDone) => {
                        pause = Duration::from_millis(250);
                        Change::Listed
                    }
                    Ok(WatchEvent::InitApply(o)) => {
                        let name = o.name_any();
                        match convert(o) {
                            Some(item) => Change::InitApplied(name, item),
                            None => continue,
                        }
                    }
                    Ok(WatchEvent::Apply(o)) => {
                        let name = o.name_any();
                        match convert(o) {
                            Some(item) => Change::Applied(name, item),
                            None => Change::Deleted(name),
                        }
                    }
                    Ok(WatchEvent::Delete(o)) => Change::Deleted(o.name_any()),
                    Err(e) => {
                        let _ = tx.send((kind, Change::Lost(e.to_string())));
                        break;
                    }
                };
                if tx.send((kind, change)).is_err() {
                    return;
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    });
    (kind, task)
}

fn json<K: serde::Serialize>(o: K) -> Option<Item> {
    serde_json::to_value(o).ok().map(Item::Object)
}

/// The runtime Secret's values, moved (not copied) into buffers zeroized on drop.
fn runtime(mut secret: Secret) -> Option<Item> {
    let owners = secret
        .metadata
        .owner_references
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.kind, o.name, o.uid))
        .collect();
    let keys = secret
        .data
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Zeroizing::new(v.0)))
        .collect();
    Some(Item::Runtime(RuntimeSecret { owners, keys }))
}

/// A helm storage Secret, decoded; one that cannot be is skipped (and logged).
fn helm_release(secret: Secret) -> Option<Item> {
    let data = secret.data.as_ref()?.get("release")?;
    match release::decode(&data.0) {
        Ok(r) => Some(Item::Release(Box::new(r))),
        Err(e) => {
            tracing::warn!(secret = %secret.name_any(), error = %e, "cannot read a helm release record");
            None
        }
    }
}

/// The kinds of the operators' CRDs: (kind, apiVersion, namespaced, what serves it).
const CRD_KINDS: &[(Kind, &str, &str, bool, &str)] = &[
    (
        Kind::ClusterSecretStore,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        false,
        "install External Secrets Operator 0.16.2 or newer (it serves external-secrets.io/v1)",
    ),
    (
        Kind::ExternalSecret,
        "external-secrets.io/v1",
        "ExternalSecret",
        true,
        "install External Secrets Operator 0.16.2 or newer (it serves external-secrets.io/v1)",
    ),
    (
        Kind::ServiceMonitor,
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        true,
        "install the Prometheus Operator CRDs (kube-prometheus-stack)",
    ),
    (
        Kind::PrometheusRule,
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        true,
        "install the Prometheus Operator CRDs (kube-prometheus-stack)",
    ),
    (
        Kind::Certificate,
        "cert-manager.io/v1",
        "Certificate",
        true,
        "install cert-manager (it issues the ingresses' certificates)",
    ),
    (
        Kind::CertificateRequest,
        "cert-manager.io/v1",
        "CertificateRequest",
        true,
        "install cert-manager (it issues the ingresses' certificates)",
    ),
    // ACME's kinds: absent when cert-manager runs without ACME, which is fine.
    (Kind::Order, "acme.cert-manager.io/v1", "Order", true, ""),
    (
        Kind::Challenge,
        "acme.cert-manager.io/v1",
        "Challenge",
        true,
        "",
    ),
];

/// Starts every watch; kinds the server does not serve are recorded in `obs.unserved`.
async fn start_watches(
    cluster: &Cluster,
    answers: &Answers,
    obs: &mut Observed,
    tx: &Sender,
) -> Result<Vec<JoinHandle<()>>, EngineError> {
    let client = cluster.client().clone();
    let ns = answers.namespace.as_str();
    let instance = format!("app.kubernetes.io/instance={}", answers.release);
    let by_instance = watcher::Config::default().labels(&instance);
    let all = watcher::Config::default();
    let mut tasks = vec![
        spawn_watch(
            Api::<Secret>::namespaced(client.clone(), ns),
            watcher::Config::default().fields(&format!("metadata.name={RUNTIME_SECRET}")),
            Kind::RuntimeSecret,
            runtime,
            tx.clone(),
        ),
        spawn_watch(
            Api::<Secret>::namespaced(client.clone(), ns),
            watcher::Config::default().labels(&format!("owner=helm,name={}", answers.release)),
            Kind::Release,
            helm_release,
            tx.clone(),
        ),
        spawn_watch(
            Api::<Job>::namespaced(client.clone(), ns),
            by_instance.clone(),
            Kind::Job,
            json,
            tx.clone(),
        ),
        spawn_watch(
            Api::<Deployment>::namespaced(client.clone(), ns),
            by_instance.clone(),
            Kind::Deployment,
            json,
            tx.clone(),
        ),
        spawn_watch(
            Api::<StatefulSet>::namespaced(client.clone(), ns),
            by_instance.clone(),
            Kind::StatefulSet,
            json,
            tx.clone(),
        ),
        // Every pod and ConfigMap of the namespace: a secret value may be planted in any.
        spawn_watch(
            Api::<Pod>::namespaced(client.clone(), ns),
            all.clone(),
            Kind::Pod,
            json,
            tx.clone(),
        ),
        spawn_watch(
            Api::<ConfigMap>::namespaced(client.clone(), ns),
            all.clone(),
            Kind::ConfigMap,
            json,
            tx.clone(),
        ),
        spawn_watch(
            Api::<NetworkPolicy>::namespaced(client.clone(), ns),
            all.clone(),
            Kind::NetworkPolicy,
            json,
            tx.clone(),
        ),
        spawn_watch(
            Api::<KubeEvent>::namespaced(client.clone(), ns),
            watcher::Config::default().fields("type=Warning"),
            Kind::Event,
            json,
            tx.clone(),
        ),
    ];
    for (kind, api_version, name, namespaced, install) in CRD_KINDS {
        let api = match cluster
            .dynamic_api(api_version, name, namespaced.then_some(ns))
            .await
        {
            Ok(api) => api,
            Err(KubeError::CrdMissing { .. }) => {
                if !install.is_empty() {
                    obs.unserved.insert(*kind, install.to_string());
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let config = match kind {
            Kind::ClusterSecretStore => {
                watcher::Config::default().fields(&format!("metadata.name={}", store_name(answers)))
            }
            Kind::ExternalSecret => {
                watcher::Config::default().fields(&format!("metadata.name={RUNTIME_SECRET}"))
            }
            Kind::ServiceMonitor | Kind::PrometheusRule => by_instance.clone(),
            _ => all.clone(),
        };
        tasks.push(spawn_watch::<DynamicObject>(
            api,
            config,
            *kind,
            json,
            tx.clone(),
        ));
    }
    // Until a watch has listed, what its checks read is not known.
    for (kind, _) in &tasks {
        obs.stale.insert(*kind, "listing".into());
    }
    Ok(tasks.into_iter().map(|(_, task)| task).collect())
}

/// What the loop keeps per kind, by object name.
#[derive(Default)]
struct Lists {
    objects: BTreeMap<Kind, BTreeMap<String, Value>>,
    releases: BTreeMap<String, Release>,
    pending: BTreeMap<Kind, Vec<(String, Item)>>,
}

fn list_of(obs: &mut Observed, kind: Kind) -> Option<&mut Vec<Value>> {
    Some(match kind {
        Kind::Job => &mut obs.jobs,
        Kind::Deployment => &mut obs.deployments,
        Kind::StatefulSet => &mut obs.stateful_sets,
        Kind::Pod => &mut obs.pods,
        Kind::ConfigMap => &mut obs.config_maps,
        Kind::NetworkPolicy => &mut obs.network_policies,
        Kind::ServiceMonitor => &mut obs.service_monitors,
        Kind::PrometheusRule => &mut obs.prometheus_rules,
        Kind::Certificate => &mut obs.certificates,
        Kind::CertificateRequest => &mut obs.certificate_requests,
        Kind::Order => &mut obs.orders,
        Kind::Challenge => &mut obs.challenges,
        Kind::Event => &mut obs.events,
        Kind::ClusterSecretStore | Kind::ExternalSecret | Kind::RuntimeSecret | Kind::Release => {
            return None;
        }
    })
}

impl Lists {
    fn put(&mut self, obs: &mut Observed, kind: Kind, name: String, item: Item) {
        match item {
            Item::Runtime(r) => obs.runtime = Some(r),
            Item::Release(r) => {
                self.releases.insert(name, *r);
            }
            Item::Object(v) => match kind {
                Kind::ClusterSecretStore => obs.store = Some(v),
                Kind::ExternalSecret => obs.external_secret = Some(v),
                _ => {
                    self.objects.entry(kind).or_default().insert(name, v);
                }
            },
        }
    }

    fn remove(&mut self, obs: &mut Observed, kind: Kind, name: &str) {
        match kind {
            Kind::RuntimeSecret => obs.runtime = None,
            Kind::ClusterSecretStore => obs.store = None,
            Kind::ExternalSecret => obs.external_secret = None,
            Kind::Release => {
                self.releases.remove(name);
            }
            _ => {
                if let Some(m) = self.objects.get_mut(&kind) {
                    m.remove(name);
                }
            }
        }
    }

    fn clear(&mut self, obs: &mut Observed, kind: Kind) {
        match kind {
            Kind::RuntimeSecret => obs.runtime = None,
            Kind::ClusterSecretStore => obs.store = None,
            Kind::ExternalSecret => obs.external_secret = None,
            Kind::Release => self.releases.clear(),
            _ => {
                self.objects.remove(&kind);
            }
        }
    }

    /// Copies the kind's objects into `obs` after a change.
    fn publish(&self, obs: &mut Observed, kind: Kind) {
        if kind == Kind::Release {
            obs.release = self.releases.values().max_by_key(|r| r.version).cloned();
        } else if let Some(list) = list_of(obs, kind) {
            *list = self
                .objects
                .get(&kind)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
        }
    }

    fn apply(&mut self, obs: &mut Observed, kind: Kind, change: Change) {
        match change {
            Change::Restarted => {
                self.pending.insert(kind, Vec::new());
                obs.stale
                    .entry(kind)
                    .or_insert_with(|| "listing again".into());
            }
            Change::InitApplied(name, item) => {
                self.pending.entry(kind).or_default().push((name, item));
            }
            Change::Listed => {
                self.clear(obs, kind);
                for (name, item) in self.pending.remove(&kind).unwrap_or_default() {
                    self.put(obs, kind, name, item);
                }
                obs.stale.remove(&kind);
            }
            Change::Applied(name, item) => self.put(obs, kind, name, item),
            Change::Deleted(name) => self.remove(obs, kind, &name),
            Change::Lost(why) => {
                tracing::warn!(kind = kind.name(), error = %why, "watch lost; reconnecting");
                obs.stale
                    .insert(kind, format!("lost: {}", first_line(&why)));
            }
        }
        self.publish(obs, kind);
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The report: the preflight's categories, then the live checks.
fn report(preflight: &Report, answers: &Answers, obs: &Observed, last: bool) -> Report {
    let mut r = preflight.clone();
    for (category, check) in evaluate(answers, obs, last) {
        r.push(category, check);
    }
    r
}

/// What `wait` waits for: no check in error and nothing reconnecting. Warnings do not hold it
/// (some are the chart's own, such as its unauthenticated ServiceMonitors); they are reported.
fn green(r: &Report, obs: &Observed) -> bool {
    obs.stale.is_empty() && r.checks().all(|c| c.result != Outcome::Error)
}

/// How long verify runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Report once everything has listed (or LIST_DEADLINE has passed); the canary runs once.
    Once,
    /// Report every change and return as soon as no check is in error, or at the deadline.
    Wait(Duration),
    /// The dashboard: report every change until cancelled; the canary runs when everything
    /// else is green, again 5 s after a failure, and whenever `CanaryTrigger` is pulled.
    Follow(CanaryTrigger),
}

/// Asks a following verify to run the canary now (the dashboard's key).
#[derive(Clone, Debug, Default)]
pub struct CanaryTrigger(std::sync::Arc<tokio::sync::Notify>);

impl CanaryTrigger {
    pub fn pull(&self) {
        self.0.notify_one();
    }
}

impl PartialEq for CanaryTrigger {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CanaryTrigger {}

/// The dashboard's picture of the moment: the report, the rollout and the recent warnings.
fn live(report: Report, obs: &Observed, canary_running: bool) -> Live {
    Live {
        report,
        rollout: rollout(obs),
        warnings: recent_warnings(obs, 8),
        canary_running,
    }
}

/// Watches, evaluates after every change, reports each new picture through `progress`, and
/// returns the final report (never, when following, until cancelled).
pub async fn verify(
    cluster: &Cluster,
    answers: &Answers,
    preflight: Report,
    mode: Mode,
    cancel: &CancellationToken,
    progress: &(dyn Fn(Live) + Send + Sync),
) -> Result<VerifyOutcome, EngineError> {
    let once = mode == Mode::Once;
    let trigger = match &mode {
        Mode::Follow(t) => Some(t.0.clone()),
        _ => None,
    };
    let following = trigger.is_some();
    let (tx, mut rx) = unbounded_channel();
    let mut obs = Observed::default();
    let tasks = start_watches(cluster, answers, &mut obs, &tx).await?;
    struct Abort(Vec<JoinHandle<()>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            for t in &self.0 {
                t.abort();
            }
        }
    }
    let _tasks = Abort(tasks);
    let started = tokio::time::Instant::now();
    // Without a wait, a watch that cannot list in LIST_DEADLINE ends the run (as an error);
    // following has no deadline.
    let deadline = match &mode {
        Mode::Once => Some(started + LIST_DEADLINE),
        Mode::Wait(d) => Some(started + *d),
        Mode::Follow(_) => None,
    };
    let mut lists = Lists::default();
    // The kinds whose first list has not ended: until it has, nothing is reported.
    let mut unlisted: std::collections::BTreeSet<Kind> = obs.stale.keys().copied().collect();
    let mut last: Option<Live> = None;
    // When the canary may run again after a failure (it is not re-run on every change).
    let mut canary_due = started;
    loop {
        tokio::select! {
            change = rx.recv() => {
                let Some((kind, change)) = change else {
                    return Err(EngineError::Internal("the watches stopped".into()));
                };
                if matches!(change, Change::Listed) {
                    unlisted.remove(&kind);
                }
                lists.apply(&mut obs, kind, change);
                // Take what else has arrived before evaluating once.
                while let Ok((kind, change)) = rx.try_recv() {
                    if matches!(change, Change::Listed) {
                        unlisted.remove(&kind);
                    }
                    lists.apply(&mut obs, kind, change);
                }
            }
            () = tokio::time::sleep_until(canary_due), if !once && unlisted.is_empty() && canary_due > tokio::time::Instant::now() => {}
            () = async { trigger.as_ref().expect("following").notified().await }, if following && unlisted.is_empty() => {
                let now = report(&preflight, answers, &obs, false);
                progress(live(now, &obs, true));
                obs.canary = Some(run_canary(cluster, answers, &obs, cancel).await?);
                canary_due = tokio::time::Instant::now() + CANARY_RETRY;
                last = None;
            }
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                return Ok(VerifyOutcome {
                    report: report(&preflight, answers, &obs, true),
                    timed_out: !once,
                });
            }
            () = cancel.cancelled() => return Err(EngineError::Interrupted),
        }
        if !unlisted.is_empty() {
            continue;
        }
        if once {
            obs.canary = Some(run_canary(cluster, answers, &obs, cancel).await?);
            return Ok(VerifyOutcome {
                report: report(&preflight, answers, &obs, true),
                timed_out: false,
            });
        }
        // Waiting: each new report is shown at once; the canary runs once everything else is
        // green, and again 5 s after a failure.
        let mut now = report(&preflight, answers, &obs, false);
        let mut picture = live(now.clone(), &obs, false);
        if last.as_ref() != Some(&picture) {
            progress(picture.clone());
            last = Some(picture);
        }
        let canary_passed = matches!(
            obs.canary,
            Some(CanaryResult::Passed { .. } | CanaryResult::NotRun(_))
        );
        if !canary_passed
            && tokio::time::Instant::now() >= canary_due
            && green_but_canary(&now, &obs)
        {
            if following {
                progress(live(now.clone(), &obs, true));
            }
            obs.canary = Some(run_canary(cluster, answers, &obs, cancel).await?);
            canary_due = tokio::time::Instant::now() + CANARY_RETRY;
            now = report(&preflight, answers, &obs, false);
        }
        picture = live(now.clone(), &obs, false);
        if last.as_ref() != Some(&picture) {
            progress(picture.clone());
            last = Some(picture);
        }
        if !following && green(&now, &obs) {
            return Ok(VerifyOutcome {
                report: now,
                timed_out: false,
            });
        }
    }
}

/// How long after a failed canary it runs again while waiting.
const CANARY_RETRY: Duration = Duration::from_secs(5);

/// Green apart from the canary's own check.
fn green_but_canary(r: &Report, obs: &Observed) -> bool {
    obs.stale.is_empty()
        && r.checks()
            .all(|c| c.result != Outcome::Error || c.id == "canary")
}

/// What the canary needs besides a way to each service: the admin token and the upstream of
/// its resource, or why it cannot run.
fn canary_plan(answers: &Answers, obs: &Observed) -> Result<(Zeroizing<String>, String), String> {
    match &obs.release {
        Some(r) if r.status == "deployed" => {}
        _ => return Err("no deployed release to send it through".into()),
    }
    let key = SecretCatalog::of_valid(&answers.chart.version)
        .secrets
        .iter()
        .find(|s| s.name == "admin-token")
        .and_then(|s| s.runtime_key.clone())
        .unwrap_or_else(|| "caracalAdminToken".into());
    let token = obs
        .runtime
        .as_ref()
        .and_then(|r| r.keys.get(&key))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|t| Zeroizing::new(t.to_string()))
        .ok_or_else(|| format!("{RUNTIME_SECRET} holds no `{key}` (the admin token)"))?;
    Ok((token, format!("https://{}/", answers.ingress.hosts.web)))
}

/// The base URL of each service the canary calls: its ingress host when the answers expose it,
/// else a port-forward to one of its pods (kept open while the canary runs). `via` says which.
struct Routes {
    endpoints: Endpoints,
    /// (service, route): `("STS", "https://sts.example.com")`,
    /// `("Gateway", "port-forward NS/POD:8081")`.
    via: Vec<(&'static str, String)>,
    _forwards: Vec<crate::adapters::forward::Forward>,
}

impl Routes {
    /// Every route, for a passed canary.
    fn all(&self) -> String {
        self.via
            .iter()
            .map(|(label, route)| format!("{label} {route}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The route of the service a failed step called (the step starts with its name).
    fn of_step(&self, step: &str) -> String {
        let service = step.split(':').next().unwrap_or_default();
        self.via
            .iter()
            .find(|(label, _)| *label == service)
            .map_or_else(|| self.all(), |(_, route)| route.clone())
    }
}

async fn canary_routes(cluster: &Cluster, answers: &Answers) -> Result<Routes, String> {
    let hosts = &answers.ingress.hosts;
    let mut forwards = Vec::new();
    let mut via = Vec::new();
    let mut base = |label: &'static str, host: &Option<String>| -> Option<String> {
        host.as_ref().map(|h| {
            via.push((label, format!("https://{h}")));
            format!("https://{h}")
        })
    };
    let (api, sts, gateway) = (
        base("Admin API", &hosts.api),
        base("STS", &hosts.sts),
        base("Gateway", &hosts.gateway),
    );
    let forwarded = |label: &'static str, role: &'static str| {
        let labels = format!(
            "app.kubernetes.io/instance={},app.kubernetes.io/component={role}",
            answers.release
        );
        let namespace = answers.namespace.clone();
        async move {
            crate::adapters::forward::forward_service(cluster, &namespace, &labels, "http")
                .await
                .map(|f| (label, f))
                .map_err(|e| format!("{label} has no ingress host and {e}"))
        }
    };
    let mut open = |f: (&'static str, crate::adapters::forward::Forward)| {
        let url = format!("http://{}", f.1.local);
        via.push((f.0, format!("port-forward {}", f.1.target)));
        forwards.push(f.1);
        url
    };
    let api = match api {
        Some(u) => u,
        None => open(forwarded("Admin API", "api").await?),
    };
    let sts = match sts {
        Some(u) => u,
        None => open(forwarded("STS", "sts").await?),
    };
    let gateway = match gateway {
        Some(u) => u,
        None => open(forwarded("Gateway", "gateway").await?),
    };
    Ok(Routes {
        endpoints: Endpoints { api, sts, gateway },
        via,
        _forwards: forwards,
    })
}

/// The env variable naming extra CA certificates (PEM) the canary trusts, for ingress
/// certificates from a private CA.
pub const CA_BUNDLE_ENV: &str = "CARACAL_DEPLOY_CA_BUNDLE";

async fn run_canary(
    cluster: &Cluster,
    answers: &Answers,
    obs: &Observed,
    cancel: &CancellationToken,
) -> Result<CanaryResult, EngineError> {
    let (token, upstream) = match canary_plan(answers, obs) {
        Ok(p) => p,
        Err(why) => return Ok(CanaryResult::NotRun(why)),
    };
    let routes = tokio::select! {
        r = canary_routes(cluster, answers) => r,
        () = cancel.cancelled() => return Err(EngineError::Interrupted),
    };
    let routes = match routes {
        Ok(r) => r,
        Err(message) => {
            tracing::warn!(error = %message, "canary: no way to a service");
            return Ok(CanaryResult::Failed {
                via: "the API server".into(),
                step: crate::core::verify::PORT_FORWARD_STEP.into(),
                message,
                code: String::new(),
                left_behind: Vec::new(),
            });
        }
    };
    let endpoints = routes.endpoints.clone();
    let extra_ca = match std::env::var_os(CA_BUNDLE_ENV) {
        Some(path) => match std::fs::read(&path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                return Ok(CanaryResult::NotRun(format!(
                    "{CA_BUNDLE_ENV}: cannot read {}: {e}",
                    std::path::Path::new(&path).display()
                )));
            }
        },
        None => None,
    };
    let canary = match Canary::new(endpoints, token, extra_ca.as_deref()) {
        Ok(c) => c,
        Err(e) => return Ok(CanaryResult::NotRun(format!("{CA_BUNDLE_ENV}: {e}"))),
    };
    let outcome = canary.run(&upstream, cancel).await;
    if let Err(e) = &outcome
        && e.step == crate::adapters::canary::INTERRUPTED
    {
        if !e.left_behind.is_empty() {
            tracing::warn!(left_behind = ?e.left_behind, "the interrupted canary could not delete everything");
        }
        return Err(EngineError::Interrupted);
    }
    Ok(match outcome {
        Ok(ev) => {
            tracing::info!(request_id = %ev.request_id, "canary passed");
            CanaryResult::Passed {
                via: routes.all(),
                request_id: ev.request_id,
                events: ev.events,
                left_behind: ev.left_behind,
            }
        }
        Err(e) => {
            tracing::warn!(step = e.step, error = %e.message, "canary failed");
            CanaryResult::Failed {
                via: routes.of_step(e.step),
                step: e.step.to_string(),
                message: e.message,
                code: e.code,
                left_behind: e.left_behind,
            }
        }
    })
}
