//! Step 2: the namespace, the External Secrets service account, the store and the
//! ExternalSecret, applied in that order by server-side apply (field manager
//! `caracal-deploy`), then watched until the store is Ready and the ExternalSecret synced.
//! Every object is first applied as a server-side dry run: an object the run would not change
//! is not written at all, so a re-run with nothing changed writes nothing, and `--dry-run`
//! shows the fields that would change.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::adapters::kube::{Cluster, describe};
use crate::core::answers::Answers;
use crate::core::external_secret::RUNTIME_SECRET;
use crate::core::manifests::store_name;
use crate::core::render::render;
use crate::engine::error::EngineError;

/// What apply did, or would do, to one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyAction {
    Created,
    /// Changed these fields (dotted paths).
    Configured(Vec<String>),
    Unchanged,
    WouldCreate,
    WouldChange(Vec<String>),
}

impl ApplyAction {
    pub fn verb(&self) -> &'static str {
        match self {
            ApplyAction::Created => "created",
            ApplyAction::Configured(_) => "configured",
            ApplyAction::Unchanged => "unchanged",
            ApplyAction::WouldCreate => "would be created",
            ApplyAction::WouldChange(_) => "would change",
        }
    }

    pub fn fields(&self) -> &[String] {
        match self {
            ApplyAction::Configured(f) | ApplyAction::WouldChange(f) => f,
            _ => &[],
        }
    }
}

/// One object's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub name: String,
    pub action: ApplyAction,
}

/// A condition of the store or the ExternalSecret, reported when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: String,
    pub name: String,
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

/// How the step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub dry_run: bool,
    pub objects: Vec<Applied>,
    /// The store is Ready and the ExternalSecret synced (false on a dry run).
    pub synced: bool,
    /// Stopped by the operator: `objects` are those applied before the stop; a re-run
    /// finishes the job.
    pub interrupted: bool,
}

/// One step into a JSON value: a key (which may hold dots, as annotation keys do) or an index.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// The leaf paths of a JSON value.
fn leaves(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                prefix.push(Step::Key(k.clone()));
                leaves(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                leaves(child, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn at<'v>(v: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(v, |node, step| match step {
        Step::Key(k) => node.get(k),
        Step::Index(i) => node.get(i),
    })
}

/// `spec.data[2].remoteRef.key`; keys are written as they are.
fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The fields of `desired` whose value on the server would change: the current object against
/// the server's dry-run answer, on every field the bundle sets.
pub fn changed_fields(desired: &Value, current: &Value, dry_run: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    leaves(desired, &mut Vec::new(), &mut paths);
    paths
        .into_iter()
        .filter(|p| at(current, p) != at(dry_run, p))
        .map(|p| display(&p))
        .collect()
}

/// Applies the bundle's objects in order. Reports each as it goes through `report`.
pub async fn apply_objects(
    cluster: &Cluster,
    answers: &Answers,
    dry_run: bool,
    take_over: bool,
    cancel: &CancellationToken,
    report: &(dyn Fn(Applied) + Send + Sync),
) -> Result<(Vec<Applied>, bool), EngineError> {
    let bundle = render(answers);
    let mut done = Vec::new();
    for obj in &bundle.objects {
        if cancel.is_cancelled() {
            return Ok((done, true));
        }
        let (kind, name) = describe(obj);
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let plain_name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let current = cluster
            .get(
                api_version,
                &kind,
                obj["metadata"]["namespace"].as_str(),
                plain_name,
            )
            .await
            .map_err(EngineError::from)?;
        // A namespace that does not exist yet cannot take a dry run of what goes in it.
        let action = match (&current, dry_run) {
            (None, true) => ApplyAction::WouldCreate,
            (None, false) => {
                cluster
                    .apply_with(obj, false, take_over)
                    .await
                    .map_err(EngineError::from)?;
                ApplyAction::Created
            }
            (Some(current), _) => {
                let would = cluster
                    .apply_with(obj, true, take_over)
                    .await
                    .map_err(EngineError::from)?;
                let fields = changed_fields(obj, current, &would);
                match (fields.is_empty(), dry_run) {
                    (true, _) => ApplyAction::Unchanged,
                    (false, true) => ApplyAction::WouldChange(fields),
                    (false, false) => {
                        cluster
                            .apply_with(obj, false, take_over)
                            .await
                            .map_err(EngineError::from)?;
                        ApplyAction::Configured(fields)
                    }
                }
            }
        };
        tracing::info!(kind = %kind, name = %name, action = action.verb(), "apply");
        let applied = Applied { kind, name, action };
        report(applied.clone());
        done.push(applied);
    }
    Ok((done, false))
}

fn ready_condition(obj: &Value) -> Option<(bool, String, String)> {
    let c = obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"] == "True",
        c["reason"].as_str().unwrap_or_default().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    ))
}

/// The annotation External Secrets documents for "sync now" (any change of it reconciles).
pub const FORCE_SYNC: &str = "force-sync";
/// The first nudge's wait after the last; each next one waits twice as long, up to a minute.
const NUDGE_FIRST: Duration = Duration::from_secs(5);
const NUDGE_MAX: Duration = Duration::from_secs(60);

/// When to nudge External Secrets: the store is Ready but the ExternalSecret's last sync
/// failed (it may be waiting out a backoff from when the store was not).
#[derive(Default)]
struct Nudge {
    last: Option<(tokio::time::Instant, Duration)>,
}

impl Nudge {
    fn due(
        &mut self,
        conditions: &std::collections::BTreeMap<String, (bool, String, String)>,
        now: tokio::time::Instant,
    ) -> bool {
        let store_ready = conditions.get("ClusterSecretStore").is_some_and(|c| c.0);
        let sync_failed = conditions
            .get("ExternalSecret")
            .is_some_and(|c| !c.0 && c.1 == "SecretSyncedError");
        if !(store_ready && sync_failed) {
            return false;
        }
        let wait = match self.last {
            None => NUDGE_FIRST,
            Some((at, wait)) if now.duration_since(at) >= wait => (wait * 2).min(NUDGE_MAX),
            Some(_) => return false,
        };
        self.last = Some((now, wait));
        true
    }
}

/// Watches the store and the ExternalSecret until both are Ready, reporting each change of
/// their Ready condition. Err on timeout (with the last conditions) or cancel.
pub async fn wait_synced(
    cluster: &Cluster,
    answers: &Answers,
    timeout: Duration,
    cancel: &CancellationToken,
    report: &(dyn Fn(Condition) + Send + Sync),
) -> Result<(), EngineError> {
    let store = store_name(answers);
    let watched = [
        ("ClusterSecretStore", None, store.clone()),
        (
            "ExternalSecret",
            Some(answers.namespace.clone()),
            RUNTIME_SECRET.to_string(),
        ),
    ];
    let mut streams = Vec::new();
    for (kind, ns, name) in &watched {
        let stream = cluster
            .watch_one("external-secrets.io/v1", kind, ns.as_deref(), name)
            .await
            .map_err(EngineError::from)?;
        streams.push(
            stream
                .map(move |item| (kind.to_string(), name.clone(), item))
                .boxed(),
        );
    }
    let mut merged = futures::stream::select_all(streams);
    let mut last: std::collections::BTreeMap<String, (bool, String, String)> = Default::default();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut nudge = Nudge::default();
    let mut tick = tokio::time::interval(NUDGE_FIRST);
    loop {
        if nudge.due(&last, tokio::time::Instant::now()) {
            // External Secrets retries a failed sync with a backoff that doubles up to ~16 min,
            // and nothing about the ExternalSecret changes when only its store was repaired.
            // An annotation change makes it reconcile now.
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            match cluster
                .annotate(
                    "external-secrets.io/v1",
                    "ExternalSecret",
                    Some(&answers.namespace),
                    RUNTIME_SECRET,
                    &serde_json::json!({ FORCE_SYNC: stamp.to_string() }),
                )
                .await
            {
                Ok(()) => tracing::info!("the store is ready: asked External Secrets to sync now"),
                Err(e) => tracing::warn!(error = %e, "could not ask External Secrets to sync now"),
            }
        }
        tokio::select! {
            _ = tick.tick() => {}
            item = merged.next() => {
                let Some((kind, name, item)) = item else {
                    return Err(EngineError::Cluster { message: "the watch ended".into(), fix: None });
                };
                let obj = item.map_err(EngineError::from)?;
                let Some(mut now) = ready_condition(&obj) else { continue };
                // Ready from a sync of an older spec is not the answer to this apply: the
                // controller names the generation it synced.
                if kind == "ExternalSecret" && now.0 {
                    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(0);
                    let synced = obj["status"]["syncedResourceVersion"].as_str().unwrap_or("");
                    if !synced.starts_with(&format!("{generation}-")) {
                        now = (false, "Syncing".into(), format!("waiting for the sync of generation {generation}"));
                    }
                }
                if last.get(&kind) != Some(&now) {
                    report(Condition { kind: kind.clone(), name, ready: now.0, reason: now.1.clone(), message: now.2.clone() });
                    last.insert(kind, now);
                }
                if last.len() == watched.len() && last.values().all(|c| c.0) {
                    return Ok(());
                }
            }
            () = &mut deadline => {
                let pending: Vec<String> = watched
                    .iter()
                    .filter(|(k, _, _)| !last.get(*k).is_some_and(|c| c.0))
                    .map(|(k, _, n)| match last.get(*k) {
                        Some((_, reason, message)) => format!("{k} {n}: {reason}: {message}"),
                        None => format!("{k} {n}: no Ready condition (is External Secrets running?)"),
                    })
                    .collect();
                return Err(EngineError::Cluster {
                    message: format!("not synced after {}s: {}", timeout.as_secs(), pending.join("; ")),
                    fix: Some("the condition says why: check the store's identity (IRSA role, GKE service account, client and tenant ids) and that `caracal-deploy seed` ran; `caracal-deploy apply` again picks up where it stopped".into()),
                });
            }
            () = cancel.cancelled() => return Err(EngineError::Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Nudge, changed_fields};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn external_secrets_is_nudged_only_while_its_store_is_ready_and_its_sync_failed() {
        let conditions = |store: bool, es: Option<(bool, &str)>| {
            let mut c = std::collections::BTreeMap::new();
            c.insert(
                "ClusterSecretStore".to_string(),
                (store, String::new(), String::new()),
            );
            if let Some((ready, reason)) = es {
                c.insert(
                    "ExternalSecret".to_string(),
                    (ready, reason.to_string(), String::new()),
                );
            }
            c
        };
        let t0 = tokio::time::Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut nudge = Nudge::default();
        // The store is not ready yet: a nudge would fail the same way.
        assert!(!nudge.due(
            &conditions(false, Some((false, "SecretSyncedError"))),
            at(0)
        ));
        // Synced, or waiting for the sync of a new generation: nothing to nudge.
        assert!(!nudge.due(&conditions(true, Some((true, "SecretSynced"))), at(0)));
        assert!(!nudge.due(&conditions(true, Some((false, "Syncing"))), at(0)));
        assert!(!nudge.due(&conditions(true, None), at(0)));
        // The store is ready and the last sync failed: now, then after 5, 10, 20, 40, 60, 60 s.
        let failed = conditions(true, Some((false, "SecretSyncedError")));
        assert!(nudge.due(&failed, at(0)));
        let mut when = 0;
        for wait in [5, 10, 20, 40, 60, 60] {
            assert!(!nudge.due(&failed, at(when + wait - 1)), "{when}+{wait}");
            when += wait;
            assert!(nudge.due(&failed, at(when)), "{when}");
        }
    }

    #[test]
    fn keys_with_dots_and_list_items_are_compared_field_by_field() {
        let desired = json!({ "metadata": { "annotations": { "eks.amazonaws.com/role-arn": "b" } },
                              "spec": { "data": [ { "key": "x" }, { "key": "y" } ] } });
        let current = json!({ "metadata": { "annotations": { "eks.amazonaws.com/role-arn": "a" } },
                              "spec": { "data": [ { "key": "x" }, { "key": "old" } ] } });
        assert_eq!(
            changed_fields(&desired, &current, &desired),
            [
                "metadata.annotations.eks.amazonaws.com/role-arn",
                "spec.data[1].key"
            ]
        );
        assert!(changed_fields(&desired, &desired, &desired).is_empty());
    }
}
