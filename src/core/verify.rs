//! The checks of step 4, as pure functions of the objects observed in the cluster (by watches
//! in the engine; by YAML fixtures in the unit tests below). Each has a stable id, a category,
//! a description, a result, a detail and a hint (`core::checks`). Nothing here reads the
//! cluster; the engine fills [`Observed`] and calls [`evaluate`] after every change.
//!
//! A check whose objects come from a watch that is reconnecting is never shown green: it is
//! skipped with "reconnecting" until the watch has listed again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use base64::Engine as _;
use serde_json::Value;
use zeroize::Zeroizing;

use super::answers::Answers;
use super::catalog::SecretCatalog;
use super::checks::Check;
use super::external_secret::{RUNTIME_SECRET, produced_keys};
use super::manifests::store_name;
use super::mounts::secret_mounts;
use super::release::Release;
use super::values::{IngressSource, ingress_source};
use super::workloads::{JobState, Rollout, job_state, pod_problem};

pub const STORE: &str = "store";
pub const RELEASE: &str = "release";
pub const TLS: &str = "tls";
pub const NETWORK: &str = "network";
pub const MONITORING: &str = "monitoring";
pub const CANARY: &str = "canary";

/// The kinds verify watches; a check names the ones it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    ClusterSecretStore,
    ExternalSecret,
    RuntimeSecret,
    Release,
    Job,
    Deployment,
    StatefulSet,
    Pod,
    ConfigMap,
    NetworkPolicy,
    ServiceMonitor,
    PrometheusRule,
    Certificate,
    CertificateRequest,
    Order,
    Challenge,
    Event,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::ClusterSecretStore => "ClusterSecretStore",
            Kind::ExternalSecret => "ExternalSecret",
            Kind::RuntimeSecret => "Secret",
            Kind::Release => "helm release",
            Kind::Job => "Job",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::Pod => "Pod",
            Kind::ConfigMap => "ConfigMap",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::ServiceMonitor => "ServiceMonitor",
            Kind::PrometheusRule => "PrometheusRule",
            Kind::Certificate => "Certificate",
            Kind::CertificateRequest => "CertificateRequest",
            Kind::Order => "Order",
            Kind::Challenge => "Challenge",
            Kind::Event => "Event",
        }
    }
}

/// The runtime Secret's values, held only while verify runs: zeroized when dropped.
#[derive(Default)]
pub struct RuntimeSecret {
    /// (kind, name, uid) of each owner.
    pub owners: Vec<(String, String, String)>,
    pub keys: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for RuntimeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeSecret")
            .field("owners", &self.owners)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// How the canary's last run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanaryResult {
    Passed {
        /// Where it reached the services (the ingress hosts).
        via: String,
        request_id: String,
        /// The audit events of the Gateway's request: (event type, decision).
        events: Vec<(String, String)>,
        left_behind: Vec<String>,
    },
    Failed {
        via: String,
        step: String,
        message: String,
        /// The service's error code (`access_denied`…), empty for a transport error.
        code: String,
        left_behind: Vec<String>,
    },
    /// Not run, and why (a prerequisite is missing).
    NotRun(String),
}

/// What the watches currently show. Lists hold the objects as JSON.
#[derive(Debug, Default)]
pub struct Observed {
    pub store: Option<Value>,
    pub external_secret: Option<Value>,
    pub runtime: Option<RuntimeSecret>,
    /// The release's newest revision.
    pub release: Option<Release>,
    pub jobs: Vec<Value>,
    pub deployments: Vec<Value>,
    pub stateful_sets: Vec<Value>,
    pub pods: Vec<Value>,
    pub config_maps: Vec<Value>,
    pub network_policies: Vec<Value>,
    pub service_monitors: Vec<Value>,
    pub prometheus_rules: Vec<Value>,
    pub certificates: Vec<Value>,
    pub certificate_requests: Vec<Value>,
    pub orders: Vec<Value>,
    pub challenges: Vec<Value>,
    /// Warning events of the namespace.
    pub events: Vec<Value>,
    /// Kinds whose watch is not (or no longer) listed, with why: their objects may be stale.
    pub stale: BTreeMap<Kind, String>,
    /// Kinds the API server does not serve (a CRD missing), with what to install.
    pub unserved: BTreeMap<Kind, String>,
    /// The canary's last run; None until it has run.
    pub canary: Option<CanaryResult>,
}

/// The (category, check) pairs of verify's live part, in display order.
///
/// With `last`, this is the report a command ends with: a check whose watch is still not
/// listed is an error (it could not be observed), not a "reconnecting" that will pass.
pub fn evaluate(answers: &Answers, obs: &Observed, last: bool) -> Vec<(&'static str, Check)> {
    let mut out = Vec::new();
    let mut push = |category: &'static str, reads: &[Kind], check: Check| {
        out.push((category, guard(obs, reads, check, last)));
    };
    push(
        STORE,
        &[Kind::ClusterSecretStore],
        store_ready(answers, obs),
    );
    push(
        STORE,
        &[Kind::ExternalSecret],
        external_secret_synced(answers, obs),
    );
    push(
        STORE,
        &[Kind::RuntimeSecret, Kind::ExternalSecret, Kind::Release],
        runtime_secret(answers, obs),
    );
    push(RELEASE, &[Kind::Release], release_deployed(answers, obs));
    push(
        RELEASE,
        &[Kind::Release, Kind::Job, Kind::Pod],
        migrations(answers, obs),
    );
    push(
        RELEASE,
        &[
            Kind::Release,
            Kind::Deployment,
            Kind::StatefulSet,
            Kind::Pod,
        ],
        workloads(answers, obs),
    );
    push(
        RELEASE,
        &[
            Kind::RuntimeSecret,
            Kind::Release,
            Kind::ConfigMap,
            Kind::Pod,
        ],
        no_plaintext(obs),
    );
    push(
        TLS,
        &[
            Kind::Release,
            Kind::Certificate,
            Kind::CertificateRequest,
            Kind::Order,
            Kind::Challenge,
            Kind::Event,
        ],
        certificates(answers, obs),
    );
    for check in network(answers, obs) {
        push(NETWORK, &[Kind::Release, Kind::NetworkPolicy], check);
    }
    push(
        MONITORING,
        &[Kind::Release, Kind::ServiceMonitor, Kind::PrometheusRule],
        monitoring_objects(answers, obs),
    );
    push(
        MONITORING,
        &[Kind::Release, Kind::ServiceMonitor, Kind::RuntimeSecret],
        monitoring_auth(answers, obs),
    );
    push(CANARY, &[], canary(obs));
    out
}

/// A check whose inputs are stale is skipped ("reconnecting"), never shown with old results.
fn guard(obs: &Observed, reads: &[Kind], check: Check, last: bool) -> Check {
    let stale: Vec<String> = reads
        .iter()
        .filter_map(|k| obs.stale.get(k).map(|why| format!("{} ({why})", k.name())))
        .collect();
    if stale.is_empty() {
        return check;
    }
    if last {
        return check.error(
            format!("could not watch {}", stale.join(", ")),
            "check that your user may list and watch them in the namespace \
             (`kubectl auth can-i watch KIND -n NAMESPACE`) and that the API server answers",
        );
    }
    Check {
        hint: String::new(),
        ..check
    }
    .skipped(format!("reconnecting: watching {}", stale.join(", ")))
}

// ------------------------------------------------------------------ helpers on objects

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn name_of(v: &Value) -> &str {
    s(v, "/metadata/name")
}

/// The `Ready` condition: (status is True, reason, message).
fn ready(v: &Value) -> Option<(bool, String, String)> {
    condition(v, "Ready")
}

fn condition(v: &Value, type_: &str) -> Option<(bool, String, String)> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            (
                s(c, "/status") == "True",
                s(c, "/reason").to_string(),
                s(c, "/message").to_string(),
            )
        })
}

fn ns(answers: &Answers) -> &str {
    &answers.namespace
}

/// Every object of the release: its manifest and its hooks' manifests.
fn release_docs(release: &Release) -> Vec<Value> {
    release
        .manifests
        .iter()
        .cloned()
        .chain(release.hooks.iter().map(|h| h.manifest.clone()))
        .collect()
}

fn of_kind<'a>(release: &'a Release, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    release
        .manifests
        .iter()
        .filter(move |d| s(d, "/kind") == kind)
}

fn no_release(check: Check, answers: &Answers) -> Check {
    check.skipped(format!(
        "no release {} in {} to read the objects from",
        answers.release,
        ns(answers)
    ))
}

fn unserved(check: Check, obs: &Observed, kind: Kind) -> Option<Check> {
    obs.unserved.get(&kind).map(|install| {
        check.clone().error(
            format!("the API server does not serve {}", kind.name()),
            install.clone(),
        )
    })
}

// ------------------------------------------------------------------ store

pub fn store_ready(answers: &Answers, obs: &Observed) -> Check {
    let name = store_name(answers);
    let check = Check::new(
        "store-ready",
        "ClusterSecretStore Ready (the secret manager answers)",
    );
    if let Some(c) = unserved(check.clone(), obs, Kind::ClusterSecretStore) {
        return c;
    }
    let Some(store) = &obs.store else {
        return check.error(
            format!("ClusterSecretStore {name} not found"),
            "run `caracal-deploy apply -f ANSWERS` (step 2) to create it",
        );
    };
    match ready(store) {
        Some((true, reason, _)) => check.success(format!("{name}: Ready ({reason})")),
        Some((false, reason, message)) => check.error(
            format!("{name}: {reason}: {message}"),
            format!(
                "the store cannot reach the secret manager with its identity: check the role or \
                 service account the answers name and `kubectl describe clustersecretstore {name}`"
            ),
        ),
        None => check.error(
            format!("{name} has no Ready condition yet"),
            "is the External Secrets controller running? `kubectl get pods -A -l app.kubernetes.io/name=external-secrets`",
        ),
    }
}

pub fn external_secret_synced(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new(
        "store-synced",
        "ExternalSecret caracal-runtime synced (Ready, SecretSynced)",
    );
    if let Some(c) = unserved(check.clone(), obs, Kind::ExternalSecret) {
        return c;
    }
    let Some(es) = &obs.external_secret else {
        return check.error(
            format!("ExternalSecret {}/{RUNTIME_SECRET} not found", ns(answers)),
            "run `caracal-deploy apply -f ANSWERS` (step 2) to create it",
        );
    };
    let describe = format!(
        "`kubectl -n {} describe externalsecret {RUNTIME_SECRET}`",
        ns(answers)
    );
    match ready(es) {
        Some((true, reason, _)) if reason == "SecretSynced" => {
            check.success(format!("Ready ({reason})"))
        }
        Some((true, reason, message)) => check.warning(
            format!("Ready but {reason}: {message}"),
            format!("see {describe}"),
        ),
        Some((false, reason, message)) => check.error(
            format!("{reason}: {message}"),
            format!(
                "a remote secret is missing or unreadable: run `caracal-deploy seed -f ANSWERS` \
                 (it creates what is missing and changes nothing that exists), then see {describe}"
            ),
        ),
        None => check.error(
            "no Ready condition yet",
            format!("is the External Secrets controller running? see {describe}"),
        ),
    }
}

/// The keys the release mounts from the runtime Secret (required ones), or, with no release,
/// the ones the answers' ExternalSecret produces.
fn mounted_keys(answers: &Answers, obs: &Observed) -> (BTreeSet<String>, &'static str) {
    match &obs.release {
        Some(r) => (
            secret_mounts(&release_docs(r), RUNTIME_SECRET).required,
            "the release mounts",
        ),
        None => (
            produced_keys(answers).into_iter().collect(),
            "the ExternalSecret produces",
        ),
    }
}

pub fn runtime_secret(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new(
        "store-runtime-secret",
        "caracal-runtime owned by the ExternalSecret, with every key the release mounts",
    );
    let Some(secret) = &obs.runtime else {
        return check.error(
            format!("Secret {}/{RUNTIME_SECRET} not found", ns(answers)),
            "External Secrets writes it once the ExternalSecret syncs (see the check above)",
        );
    };
    let es_uid = obs
        .external_secret
        .as_ref()
        .map(|es| s(es, "/metadata/uid").to_string());
    let owned = secret.owners.iter().any(|(kind, name, uid)| {
        kind == "ExternalSecret"
            && name == RUNTIME_SECRET
            && es_uid.as_deref().is_none_or(|u| u.is_empty() || u == uid)
    });
    if !owned {
        return check.error(
            "not owned by the ExternalSecret caracal-runtime (created by hand, or by the chart's secrets.create?)",
            format!(
                "delete it so External Secrets writes it: `kubectl -n {} delete secret {RUNTIME_SECRET}`",
                ns(answers)
            ),
        );
    }
    let (needed, source) = mounted_keys(answers, obs);
    let missing: Vec<&str> = needed
        .iter()
        .filter(|k| !secret.keys.contains_key(*k))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        check.success(format!(
            "{} keys, all {} {source}",
            secret.keys.len(),
            needed.len()
        ))
    } else {
        check.error(
            format!("missing keys {source}: {}", missing.join(", ")),
            "the ExternalSecret in the cluster does not produce them: `caracal-deploy apply -f ANSWERS` \
             writes one that produces every key the chart mounts",
        )
    }
}

// ------------------------------------------------------------------ release

pub fn release_deployed(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new("release-deployed", "helm release deployed");
    let Some(r) = &obs.release else {
        return check.error(
            format!("no release {} in {}", answers.release, ns(answers)),
            "run `caracal-deploy install -f ANSWERS` (step 3)",
        );
    };
    let what = format!(
        "revision {}, chart {} (app {})",
        r.version, r.chart_version, r.app_version
    );
    match r.status.as_str() {
        "deployed" if r.chart_version == answers.chart.version => check.success(what),
        "deployed" => check.warning(
            format!(
                "{what}; the answers name chart {}",
                answers.chart.version
            ),
            "run `caracal-deploy install -f ANSWERS` to install the answers' version",
        ),
        s if s.starts_with("pending") => check.error(
            format!("{what} is {s}: {}", r.description),
            "a helm run is in progress, or was stopped: `caracal-deploy install --recover -f ANSWERS` clears it",
        ),
        s => check.error(
            format!("{what} is {s}: {}", r.description),
            format!(
                "`caracal-deploy install -f ANSWERS` shows why as it runs; `helm -n {} history {}` lists the revisions",
                ns(answers),
                answers.release
            ),
        ),
    }
}

fn pods_of<'a>(obs: &'a Observed, selector: &Value) -> Vec<&'a Value> {
    let Some(wanted) = selector.as_object() else {
        return Vec::new();
    };
    obs.pods
        .iter()
        .filter(|p| {
            let labels = p.pointer("/metadata/labels");
            !wanted.is_empty()
                && wanted
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .collect()
}

fn problems_of(pods: &[&Value]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| {
            let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value((*p).clone()).ok()?;
            pod_problem(&pod).map(|why| format!("pod {}: {why}", name_of(p)))
        })
        .collect()
}

pub fn migrations(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new("release-migrations", "migration Jobs complete");
    let Some(r) = &obs.release else {
        return no_release(check, answers);
    };
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut running = Vec::new();
    for hook in r.hooks.iter().filter(|h| h.kind == "Job") {
        let live = obs.jobs.iter().find(|j| name_of(j) == hook.name);
        let pods = pods_of(
            obs,
            &Value::Object(
                [("job-name".to_string(), Value::String(hook.name.clone()))]
                    .into_iter()
                    .collect(),
            ),
        );
        let live_state = live.and_then(|j| {
            serde_json::from_value::<k8s_openapi::api::batch::v1::Job>(j.clone())
                .ok()
                .map(|j| job_state(&j))
        });
        match (hook.phase.as_str(), live_state) {
            (_, Some((JobState::Failed, why))) | ("Failed", Some((_, why))) => {
                let mut text = format!("{}: {why}", hook.name);
                for p in problems_of(&pods) {
                    text.push_str(&format!("; {p}"));
                }
                failed.push(text);
            }
            ("Failed", None) => failed.push(format!("{}: failed (its Job is gone)", hook.name)),
            ("Succeeded", _) | (_, Some((JobState::Succeeded, _))) => done.push(hook.name.clone()),
            _ => {
                let mut text = format!("{}: running", hook.name);
                for p in problems_of(&pods) {
                    text.push_str(&format!("; {p}"));
                }
                running.push(text);
            }
        }
    }
    if !failed.is_empty() {
        return check.error(
            failed.join("; "),
            format!(
                "the migration could not reach or change the database: `kubectl -n {} logs job/{}` \
                 shows why; fix the database (host, network, role), then `caracal-deploy install -f ANSWERS`",
                ns(answers),
                failed[0].split(':').next().unwrap_or_default()
            ),
        );
    }
    if !running.is_empty() {
        return check.warning(
            running.join("; "),
            format!("wait, or see `kubectl -n {} get jobs`", ns(answers)),
        );
    }
    if done.is_empty() {
        check.success("the release has no migration Jobs")
    } else {
        check.success(format!("{} succeeded", done.join(", ")))
    }
}

pub fn workloads(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new(
        "release-workloads",
        "Deployments and StatefulSets rolled out",
    );
    let Some(r) = &obs.release else {
        return no_release(check, answers);
    };
    let mut bad = Vec::new();
    let mut good = 0;
    for (kind, live) in [
        ("Deployment", &obs.deployments),
        ("StatefulSet", &obs.stateful_sets),
    ] {
        for doc in of_kind(r, kind) {
            let name = name_of(doc);
            let Some(obj) = live.iter().find(|o| name_of(o) == name) else {
                bad.push(format!("{kind}/{name} not found"));
                continue;
            };
            let Rollout {
                ready,
                desired,
                done,
                ..
            } = Rollout::of(kind, obj);
            if done {
                good += 1;
                continue;
            }
            let selector = obj
                .pointer("/spec/selector/matchLabels")
                .cloned()
                .unwrap_or(Value::Null);
            let mut text = format!("{kind}/{name} {ready}/{desired} ready");
            // The first failing pod says why; its siblings usually say the same.
            let problems = problems_of(&pods_of(obs, &selector));
            if let Some(first) = problems.first() {
                text.push_str(&format!("; {first}"));
            }
            if problems.len() > 1 {
                text.push_str(&format!(" (and {} more pods)", problems.len() - 1));
            }
            bad.push(text);
        }
    }
    if bad.is_empty() {
        check.success(format!("{good} rolled out"))
    } else {
        check.error(
            bad.join("; "),
            format!(
                "`kubectl -n {ns} describe pod POD` shows the kubelet's events; a crash loop's \
                 reason is in `kubectl -n {ns} logs POD --previous`; an image pull, in the \
                 image name and the registry's credentials",
                ns = ns(answers)
            ),
        )
    }
}

// ------------------------------------------------------------------ no plaintext secret

/// A place a value was found in, and how it was written there.
/// A runtime key and the forms of its value looked for (zeroized when dropped).
type Needle = (String, Vec<(Zeroizing<String>, &'static str)>);

fn find_in(text: &str, needles: &[Needle]) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    let decoded = decode_base64(text);
    for (key, forms) in needles {
        for (form, how) in forms {
            if text.contains(form.as_str()) {
                found.push((key.clone(), *how));
                break;
            }
            if *how == "as is"
                && let Some(d) = &decoded
                && d.contains(form.as_str())
            {
                found.push((key.clone(), "base64-encoded"));
                break;
            }
        }
    }
    found
}

fn decode_base64(text: &str) -> Option<Zeroizing<String>> {
    let t = text.trim();
    if t.len() < 8 || !t.len().is_multiple_of(4) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    String::from_utf8(bytes).ok().map(Zeroizing::new)
}

/// Each string leaf of a value, with its path (`spec.template.spec.containers[0].env[1].value`).
fn leaves<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((path, s)),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, p, out);
            }
        }
        _ => {}
    }
}

/// Percent-encoding as `urlquery` writes a password into a URL (space as %20).
fn url_encoded(value: &str) -> String {
    // Sized once, so no reallocation leaves a copy of a secret behind.
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    out
}

/// The shortest value searched for: shorter ones (a port, a database number) match by chance.
pub const MIN_SEARCHED: usize = 8;

pub fn no_plaintext(obs: &Observed) -> Check {
    let check = Check::new(
        "release-no-plaintext",
        "no secret value in manifests, values, ConfigMaps or pod env",
    );
    let Some(secret) = &obs.runtime else {
        return check
            .skipped("the runtime Secret, which holds the values looked for, is not there");
    };
    let mut short = 0;
    let needles: Vec<Needle> = secret
        .keys
        .iter()
        .filter_map(|(key, value)| {
            let text = std::str::from_utf8(value).ok()?;
            if text.len() < MIN_SEARCHED {
                short += 1;
                return None;
            }
            let mut forms = vec![
                (Zeroizing::new(text.to_string()), "as is"),
                (
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(text)),
                    "base64-encoded",
                ),
            ];
            let encoded = Zeroizing::new(url_encoded(text));
            if encoded.as_str() != text {
                forms.push((encoded, "percent-encoded"));
            }
            Some((key.clone(), forms))
        })
        .collect();
    let mut findings = Vec::new();
    let mut places = 0usize;
    let mut search = |object: String, value: &Value, prefix: &str, findings: &mut Vec<String>| {
        let mut ls = Vec::new();
        leaves(value, prefix.to_string(), &mut ls);
        for (path, text) in ls {
            places += 1;
            for (key, how) in find_in(text, &needles) {
                findings.push(format!(
                    "{object} {path} holds {RUNTIME_SECRET}'s `{key}` ({how})"
                ));
            }
        }
    };
    if let Some(r) = &obs.release {
        for doc in release_docs(r) {
            let object = format!("{}/{} (release manifest)", s(&doc, "/kind"), name_of(&doc));
            search(object, &doc, "", &mut findings);
        }
        search("the release values".into(), &r.values, "", &mut findings);
    }
    for cm in &obs.config_maps {
        let object = format!("ConfigMap/{}", name_of(cm));
        if let Some(data) = cm.get("data") {
            search(object.clone(), data, "data", &mut findings);
        }
        if let Some(data) = cm.get("binaryData") {
            search(object, data, "binaryData", &mut findings);
        }
    }
    for pod in &obs.pods {
        let object = format!("Pod/{}", name_of(pod));
        for list in ["initContainers", "containers"] {
            for c in pod
                .pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(v) = e.get("value") {
                        search(
                            object.clone(),
                            v,
                            &format!("container {} env {}", s(c, "/name"), s(e, "/name")),
                            &mut findings,
                        );
                    }
                }
            }
        }
    }
    let mut detail = format!("{} values looked for in {places} fields", needles.len());
    if short > 0 {
        detail.push_str(&format!(
            " ({short} shorter than {MIN_SEARCHED} characters not looked for)"
        ));
    }
    if findings.is_empty() {
        check.success(detail)
    } else {
        findings.sort();
        findings.dedup();
        check.error(
            findings.join("; "),
            "keep credentials in caracal-runtime only (the chart reads every one from it): remove the \
             value from that object, then rotate the secret, since it was stored in plaintext \
             (`caracal-deploy seed --rotate NAME -f ANSWERS`, then `apply`)",
        )
    }
}

// ------------------------------------------------------------------ tls

fn owned_by<'a>(objects: &'a [Value], owner: &Value) -> Vec<&'a Value> {
    let uid = s(owner, "/metadata/uid");
    objects
        .iter()
        .filter(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|r| !uid.is_empty() && s(r, "/uid") == uid)
        })
        .collect()
}

fn warnings_about(obs: &Observed, object: &Value) -> Vec<String> {
    let uid = s(object, "/metadata/uid");
    obs.events
        .iter()
        .filter(|e| !uid.is_empty() && s(e, "/involvedObject/uid") == uid)
        .map(|e| format!("event {}: {}", s(e, "/reason"), s(e, "/message").trim()))
        .collect()
}

/// The conditions of an object, Ready first (the order the controller wrote them varies).
fn conditions_text(v: &Value) -> String {
    let mut conditions: Vec<&Value> = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    conditions.sort_by_key(|c| s(c, "/type") != "Ready");
    conditions
        .into_iter()
        .map(|c| {
            format!(
                "{}={} {}: {}",
                s(c, "/type"),
                s(c, "/status"),
                s(c, "/reason"),
                s(c, "/message")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Certificate → CertificateRequest → Order → Challenge, with their conditions, states and
/// warning events.
fn walk(obs: &Observed, cert: &Value) -> Vec<String> {
    let mut out = vec![format!(
        "Certificate/{}: {}",
        name_of(cert),
        conditions_text(cert)
    )];
    out.extend(warnings_about(obs, cert));
    for cr in owned_by(&obs.certificate_requests, cert) {
        out.push(format!(
            "CertificateRequest/{}: {}",
            name_of(cr),
            conditions_text(cr)
        ));
        out.extend(warnings_about(obs, cr));
        for order in owned_by(&obs.orders, cr) {
            out.push(format!(
                "Order/{}: {} {}",
                name_of(order),
                s(order, "/status/state"),
                s(order, "/status/reason")
            ));
            out.extend(warnings_about(obs, order));
            for ch in owned_by(&obs.challenges, order) {
                out.push(format!(
                    "Challenge/{} ({} {}): {} {}",
                    name_of(ch),
                    s(ch, "/spec/type"),
                    s(ch, "/spec/dnsName"),
                    s(ch, "/status/state"),
                    s(ch, "/status/reason")
                ));
                out.extend(warnings_about(obs, ch));
            }
        }
    }
    out
}

pub fn certificates(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new("tls-certificates", "each ingress's Certificate Ready");
    if let Some(c) = unserved(check.clone(), obs, Kind::Certificate) {
        return c;
    }
    let Some(r) = &obs.release else {
        return no_release(check, answers);
    };
    let mut ready_ones = Vec::new();
    let mut bad = Vec::new();
    for ingress in of_kind(r, "Ingress") {
        for tls in ingress
            .pointer("/spec/tls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let secret = s(tls, "/secretName");
            let Some(cert) = obs
                .certificates
                .iter()
                .find(|c| s(c, "/spec/secretName") == secret)
            else {
                bad.push(format!(
                    "Ingress/{}: no Certificate writes its Secret {secret}",
                    name_of(ingress)
                ));
                continue;
            };
            match ready(cert) {
                Some((true, _, _)) => ready_ones.push(name_of(cert).to_string()),
                _ => bad.push(walk(obs, cert).join("; ")),
            }
        }
    }
    if bad.is_empty() {
        if ready_ones.is_empty() {
            check.success("the release has no TLS ingress")
        } else {
            check.success(format!("{} Ready", ready_ones.join(", ")))
        }
    } else {
        check.error(
            bad.join(" | "),
            format!(
                "cert-manager issues them from the ingresses' annotation \
                 cert-manager.io/cluster-issuer: {}; check that issuer is Ready \
                 (`kubectl get clusterissuer {}`), that cert-manager runs, and for ACME that the \
                 hosts resolve to the load balancer",
                answers.ingress.cluster_issuer, answers.ingress.cluster_issuer
            ),
        )
    }
}

// ------------------------------------------------------------------ network

/// Whether a rule's peer list admits the ingress source.
type PeerTest = Box<dyn Fn(&Value) -> bool>;

/// (address, prefix length) of a CIDR.
fn cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = text.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn bits(a: IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(v) => (u32::from(v) as u128, 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

/// Whether CIDR `outer` holds every address of CIDR `inner`.
fn contains(outer: &str, inner: &str) -> bool {
    let (Some((oa, ol)), Some((ia, il))) = (cidr(outer), cidr(inner)) else {
        return false;
    };
    let ((o, width), (i, iw)) = (bits(oa), bits(ia));
    if width != iw || il < ol {
        return false;
    }
    let shift = u32::from(width - ol);
    let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
    (o & mask) == (i & mask)
}

/// Whether a peer list (`from`/`to`) admits the CIDR `source`. An empty list admits all.
fn peers_admit_cidr(peers: Option<&Value>, source: &str) -> bool {
    let Some(list) = peers.and_then(Value::as_array) else {
        return true;
    };
    list.is_empty()
        || list.iter().any(|p| {
            let Some(block) = p.get("ipBlock") else {
                return false;
            };
            contains(s(block, "/cidr"), source)
                && !block
                    .get("except")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|e| contains(source, e) || contains(e, source))
        })
}

/// Whether a label selector's matchLabels (no expressions) selects an object with `labels`.
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    if selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty())
    {
        return false;
    }
    selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
}

fn peers_admit_pods(
    peers: Option<&Value>,
    namespace: &str,
    pod_labels: &BTreeMap<String, String>,
) -> bool {
    let Some(list) = peers.and_then(Value::as_array) else {
        return true;
    };
    let ns_labels: BTreeMap<String, String> = [(
        "kubernetes.io/metadata.name".to_string(),
        namespace.to_string(),
    )]
    .into();
    list.is_empty()
        || list.iter().any(|p| {
            let Some(ns_sel) = p.get("namespaceSelector") else {
                return false;
            };
            selects(ns_sel, &ns_labels)
                && p.get("podSelector")
                    .is_none_or(|ps| selects(ps, pod_labels))
        })
}

fn ports_admit(ports: Option<&Value>, protocol: &str, port: u16) -> bool {
    let Some(list) = ports.and_then(Value::as_array) else {
        return true;
    };
    list.is_empty()
        || list.iter().any(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            let start = p.get("port").and_then(Value::as_u64);
            let end = p.get("endPort").and_then(Value::as_u64);
            proto == protocol
                && match (start, end) {
                    (None, _) => true,
                    (Some(s), None) => s == u64::from(port),
                    (Some(s), Some(e)) => (s..=e).contains(&u64::from(port)),
                }
        })
}

fn policy_types(policy: &Value) -> Vec<&str> {
    policy
        .pointer("/spec/policyTypes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether any `direction` rule (`ingress` with `from`, `egress` with `to`) admits.
fn admitted(policy: &Value, direction: &str, admits: impl Fn(&Value) -> bool) -> bool {
    let type_ = if direction == "ingress" {
        "Ingress"
    } else {
        "Egress"
    };
    if !policy_types(policy).contains(&type_) {
        return true;
    }
    policy
        .pointer(&format!("/spec/{direction}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(admits)
}

pub fn network(answers: &Answers, obs: &Observed) -> Vec<Check> {
    let checks = [
        Check::new(
            "network-ingress-source",
            "the NetworkPolicy admits the load balancer's source on the exposed ports",
        ),
        Check::new("network-dns-egress", "the NetworkPolicy admits DNS egress"),
        Check::new(
            "network-state-egress",
            "the NetworkPolicy admits egress to Postgres and Redis",
        ),
    ];
    let Some(r) = &obs.release else {
        return checks.into_iter().map(|c| no_release(c, answers)).collect();
    };
    let Some(doc) = of_kind(r, "NetworkPolicy").next() else {
        return checks
            .into_iter()
            .map(|c| {
                c.error(
                    "the release has no NetworkPolicy",
                    "the values the wizard writes enable networkPolicy: run `caracal-deploy install -f ANSWERS`",
                )
            })
            .collect();
    };
    let name = name_of(doc);
    let Some(policy) = obs.network_policies.iter().find(|p| name_of(p) == name) else {
        return checks
            .into_iter()
            .map(|c| {
                c.error(
                    format!("NetworkPolicy/{name} of the release not found"),
                    "run `caracal-deploy install -f ANSWERS` to restore it",
                )
            })
            .collect();
    };
    let hint = format!(
        "the policy comes from the values the wizard writes (networkPolicy.extraIngress, dnsEgress, \
         extraEgress): `caracal-deploy install -f ANSWERS` restores it; if something else changed \
         it, `kubectl -n {} get networkpolicy {name} -o yaml --show-managed-fields` names the \
         field manager",
        ns(answers)
    );
    let [ingress_check, dns_check, state_check] = checks;

    let catalog = SecretCatalog::of_valid(&answers.chart.version);
    let ports: Vec<(String, u16)> = answers
        .ingress
        .hosts
        .exposed()
        .iter()
        .filter_map(|(svc, _)| catalog.service_port(svc).map(|p| (svc.to_string(), p)))
        .collect();
    let source = ingress_source(answers);
    let (source_text, source_ok): (String, PeerTest) = match &source {
        IngressSource::Cidrs(cidrs) => {
            let cidrs = cidrs.clone();
            (
                cidrs.join(", "),
                Box::new(move |from: &Value| cidrs.iter().all(|c| peers_admit_cidr(Some(from), c))),
            )
        }
        IngressSource::Pods {
            namespace,
            pod_labels,
        } => {
            let (namespace, pod_labels) = (namespace.clone(), pod_labels.clone());
            (
                format!("pods of namespace {namespace}"),
                Box::new(move |from: &Value| peers_admit_pods(Some(from), &namespace, &pod_labels)),
            )
        }
    };
    let refused: Vec<String> = ports
        .iter()
        .filter(|(_, port)| {
            !admitted(policy, "ingress", |rule| {
                ports_admit(rule.get("ports"), "TCP", *port)
                    && rule.get("from").is_none_or(&source_ok)
            })
        })
        .map(|(svc, port)| format!("{svc} ({port})"))
        .collect();
    let ingress_check = if refused.is_empty() {
        ingress_check.success(format!(
            "{source_text} admitted on {}",
            ports
                .iter()
                .map(|(s, p)| format!("{s} ({p})"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        ingress_check.error(
            format!(
                "NetworkPolicy/{name} does not admit {source_text} to {}: the load balancer's traffic is dropped",
                refused.join(", ")
            ),
            hint.clone(),
        )
    };

    let egress_to = |cidr: &str, protocol: &str, port: u16| {
        admitted(policy, "egress", |rule| {
            ports_admit(rule.get("ports"), protocol, port) && peers_admit_cidr(rule.get("to"), cidr)
        })
    };
    let dns_refused: Vec<&str> = answers
        .network
        .dns_egress
        .iter()
        .filter(|c| !egress_to(c, "UDP", 53))
        .map(String::as_str)
        .collect();
    let dns_check = if dns_refused.is_empty() {
        dns_check.success(format!(
            "UDP 53 to {}",
            answers.network.dns_egress.join(", ")
        ))
    } else {
        dns_check.error(
            format!(
                "NetworkPolicy/{name} does not admit UDP 53 to {}: names do not resolve",
                dns_refused.join(", ")
            ),
            hint.clone(),
        )
    };

    let mut state_refused = Vec::new();
    for c in &answers.network.state_egress {
        for (what, port) in [
            ("Postgres", answers.postgres.port),
            ("Redis", answers.redis.port),
        ] {
            if !egress_to(c, "TCP", port) {
                state_refused.push(format!("{what} (TCP {port}) at {c}"));
            }
        }
    }
    let state_check = if state_refused.is_empty() {
        state_check.success(format!(
            "TCP {} and {} to {}",
            answers.postgres.port,
            answers.redis.port,
            answers.network.state_egress.join(", ")
        ))
    } else {
        state_check.error(
            format!(
                "NetworkPolicy/{name} does not admit {}",
                state_refused.join(", ")
            ),
            hint,
        )
    };
    vec![ingress_check, dns_check, state_check]
}

// ------------------------------------------------------------------ monitoring

/// The fix of a release that renders no monitoring objects: the chart's switches.
pub const MONITORING_FIX: &str = "the chart renders them with `serviceMonitor.enabled: true` and `alertRules.enabled: true`, which caracal-deploy writes: run `caracal-deploy install -f ANSWERS` (values set on the release by other means are replaced)";

pub fn monitoring_objects(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new(
        "monitoring-objects",
        "ServiceMonitors and PrometheusRule present",
    );
    if let Some(c) = unserved(check.clone(), obs, Kind::ServiceMonitor) {
        return c;
    }
    let Some(r) = &obs.release else {
        return no_release(check, answers);
    };
    let mut missing = Vec::new();
    let mut counts = [0usize; 2];
    for (i, (kind, live)) in [
        ("ServiceMonitor", &obs.service_monitors),
        ("PrometheusRule", &obs.prometheus_rules),
    ]
    .into_iter()
    .enumerate()
    {
        for doc in of_kind(r, kind) {
            counts[i] += 1;
            if !live.iter().any(|o| name_of(o) == name_of(doc)) {
                missing.push(format!("{kind}/{}", name_of(doc)));
            }
        }
    }
    if counts == [0, 0] {
        return check.warning(
            "the release renders no ServiceMonitor or PrometheusRule: nothing scrapes or alerts",
            MONITORING_FIX,
        );
    }
    if missing.is_empty() {
        check.success(format!(
            "{} ServiceMonitors, {} PrometheusRules",
            counts[0], counts[1]
        ))
    } else {
        check.error(
            format!("not found: {}", missing.join(", ")),
            "run `caracal-deploy install -f ANSWERS` to restore them",
        )
    }
}

/// The runtime key the metrics bearer is mounted from.
fn metrics_key(answers: &Answers) -> String {
    SecretCatalog::of_valid(&answers.chart.version)
        .secrets
        .iter()
        .find(|s| s.name == "metrics-bearer")
        .and_then(|s| s.runtime_key.clone())
        .unwrap_or_else(|| "metricsBearer".into())
}

pub fn monitoring_auth(answers: &Answers, obs: &Observed) -> Check {
    let check = Check::new(
        "monitoring-auth",
        "scraping sends the metrics bearer the services require",
    );
    let Some(r) = &obs.release else {
        return no_release(check, answers);
    };
    let key = metrics_key(answers);
    let required = secret_mounts(&release_docs(r), RUNTIME_SECRET)
        .required
        .contains(&key);
    if !required {
        return check.success("the services serve /metrics without a bearer");
    }
    let monitors: Vec<&Value> = obs
        .service_monitors
        .iter()
        .filter(|m| of_kind(r, "ServiceMonitor").any(|d| name_of(d) == name_of(m)))
        .collect();
    let unauthenticated: Vec<&str> = monitors
        .iter()
        .filter(|m| {
            m.pointer("/spec/endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| e.get("authorization").is_none() && e.get("bearerTokenSecret").is_none())
        })
        .map(|m| name_of(m))
        .collect();
    if monitors.is_empty() {
        return check.skipped("no ServiceMonitor of the release to read");
    }
    if unauthenticated.is_empty() {
        return check.success(format!("{} ServiceMonitors send a bearer", monitors.len()));
    }
    check.warning(
        format!(
            "the services require a bearer on /metrics (stable mode mounts `{key}`), and \
             {} send none: Prometheus gets 401 and the alerts never fire",
            unauthenticated.join(", ")
        ),
        format!(
            "the chart's ServiceMonitor cannot send one: disable it (serviceMonitor.enabled: false) \
             and apply your own, with each endpoint authenticated from the runtime Secret: \
             `authorization: {{type: Bearer, credentials: {{name: {RUNTIME_SECRET}, key: {key}}}}}` \
             (Prometheus must be allowed to read Secrets in {})",
            ns(answers)
        ),
    )
}

// ------------------------------------------------------------------ canary

/// The hint for a canary that failed at `step` with `code`.
/// The canary's step when a service without an ingress host could not be port-forwarded to.
pub const PORT_FORWARD_STEP: &str = "port-forward";

fn canary_hint(step: &str, code: &str) -> String {
    match (step.split(':').next().unwrap_or_default(), code) {
        (PORT_FORWARD_STEP, _) => "services without an ingress host are reached through `pods/portforward`: \
                                   verify needs `create` on pods/portforward in the namespace and a ready pod \
                                   of the service; `kubectl port-forward svc/NAME 8080:http` shows it"
            .into(),
        (_, "") => "the services were not reached: do the hosts resolve to the load balancer, and does the \
                    NetworkPolicy admit it (see the network checks)? `curl -v https://HOST/` from where \
                    verify runs shows it"
            .into(),
        ("Admin API", "unauthorized" | "invalid_admin_token") => format!(
            "the control plane refused the admin token of {RUNTIME_SECRET}: were the pods restarted after \
             the token was rotated? `kubectl rollout restart` the control plane's Deployment"
        ),
        ("STS", "access_denied") => "the STS refused a mandate the canary's policy allows: the policy set \
                                     may not have reached the STS (its activation-status), or the STS reads \
                                     another zone"
            .into(),
        ("STS", _) => "the STS refused the token exchange: its logs (`kubectl logs deploy/…-sts`) say why".into(),
        ("Gateway", "invalid_token") => "the Gateway refused the mandate the STS issued: both must share \
                                         gateway-sts-hmac-key (re-run apply, then restart both)"
            .into(),
        ("Gateway", _) => "the Gateway denied the request: its decision is in the audit events of the \
                           request id; its logs say why"
            .into(),
        _ => "the audit events of the request never arrived: check the audit service and its streams \
              (`streams-hmac-key`)"
            .into(),
    }
}

pub fn canary(obs: &Observed) -> Check {
    let check = Check::new(
        "canary",
        "canary: STS token exchange, Gateway request, audit events",
    );
    let left = |left_behind: &[String]| {
        if left_behind.is_empty() {
            String::new()
        } else {
            format!("; left behind: {}", left_behind.join(", "))
        }
    };
    match &obs.canary {
        None => check.skipped("runs once every other check has been read"),
        Some(CanaryResult::NotRun(why)) => check.skipped(why.clone()),
        Some(CanaryResult::Passed {
            via,
            request_id,
            events,
            left_behind,
        }) => {
            let detail = format!(
                "request {request_id} through {via}: allowed by the Gateway, audited ({}){}",
                events
                    .iter()
                    .map(|(t, d)| if d.is_empty() {
                        t.clone()
                    } else {
                        format!("{t} {d}")
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                left(left_behind)
            );
            if left_behind.is_empty() {
                check.success(detail)
            } else {
                check.warning(
                    detail,
                    "delete what the canary left behind through the Admin API",
                )
            }
        }
        Some(CanaryResult::Failed {
            via,
            step,
            message,
            code,
            left_behind,
        }) => check.error(
            format!("{step} through {via}: {message}{}", left(left_behind)),
            canary_hint(step, code),
        ),
    }
}

#[cfg(test)]
mod tests;
