//! Seeding, the effects: read the remote state, resolve values, write concurrently with
//! retries. Each write is one API call, so an interrupted run leaves every secret either
//! untouched or complete, and a re-run finishes the job.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::core::answers::{Answers, SecretSource};
use crate::core::catalog::{CatalogSecret, SecretCatalog, remote_name};
use crate::core::secret_manager::{
    Labels, RemoteState, SecretManager, SecretManagerError, managed_labels,
};
use crate::core::seed::{
    Action, KEK, KEK_PREVIOUS, Observed, PlanItem, SeedPlan, digest, observe_value, plan,
};
use crate::engine::error::EngineError;
use crate::engine::fingerprint;
use crate::engine::source::{SourceError, value_for};
use crate::exit::Exit;

/// How many secrets are read or written at once: the whole catalog (thirteen) in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
const MAX_ATTEMPTS: u32 = 6;

/// Runs an operation, retrying throttling and outages with jittered exponential backoff;
/// a `Retry-After` from the service is honoured.
pub async fn with_retry<T, F, Fut>(mut op: F) -> Result<T, SecretManagerError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SecretManagerError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Err(e) if e.is_transient() && attempt < MAX_ATTEMPTS => {
                let backoff =
                    Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5));
                let mut jitter = [0u8; 2];
                let _ = getrandom::fill(&mut jitter);
                let jittered = backoff.mul_f64(
                    0.5 + f64::from(u16::from_le_bytes(jitter)) / f64::from(u16::MAX) / 2.0,
                );
                let wait = match &e {
                    SecretManagerError::Throttled {
                        retry_after: Some(after),
                    } => (*after).max(jittered),
                    _ => jittered,
                };
                tracing::debug!(attempt, ?wait, "transient secret-manager error, retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// Reads one secret; `name` is the catalog's name or an earlier one of it (`formerly`), held
/// to the catalog entry's rules.
async fn observe_one(
    sm: &dyn SecretManager,
    secret: &CatalogSecret,
    name: &str,
    answers: &Answers,
) -> (String, Result<Observed, SecretManagerError>) {
    let remote = remote_name(answers.cloud, &answers.secret_manager.prefix, name);
    let state = match with_retry(|| sm.read(&remote)).await {
        // An earlier name deleted but still recoverable (AWS's recovery window, Key Vault's
        // soft delete) holds nothing anyone can read: gone, as far as earlier names go. A
        // catalog name in that state stays an error: seeding could not create it.
        Err(e) if name != secret.name && e.is_recoverably_deleted() => Ok(RemoteState::Missing),
        other => other,
    };
    let observed = state.map(|s| match s {
        RemoteState::Missing => Observed::Missing,
        RemoteState::Empty => Observed::Empty,
        RemoteState::Present(v) => {
            observe_value(secret, v.expose_secret(), answers, fingerprint::key())
        }
    });
    (name.to_string(), observed)
}

/// Reads the state of every catalog secret and of every earlier name of one (an upgrade
/// from an earlier chart's layout), concurrently.
pub async fn observe(
    sm: &dyn SecretManager,
    catalog: &SecretCatalog,
    answers: &Answers,
    concurrency: usize,
) -> Result<BTreeMap<String, Observed>, SecretManagerError> {
    // Futures built by a named async fn (not a closure) stay provably Send for spawn.
    let reads: Vec<_> = catalog
        .seeded()
        .flat_map(|secret| {
            std::iter::once(secret.name.as_str())
                .chain(secret.formerly.iter().map(String::as_str))
                .map(move |name| (secret, name))
        })
        .map(|(secret, name)| observe_one(sm, secret, name, answers))
        .collect();
    let results: Vec<(String, Result<Observed, SecretManagerError>)> = futures::stream::iter(reads)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = BTreeMap::new();
    for (name, r) in results {
        out.insert(name, r?);
    }
    Ok(out)
}

/// What deleting the earlier names did (`Request::DeleteEarlier`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EarlierOutcome {
    /// Earlier remote names deleted: their current names hold the same value.
    pub deleted: Vec<String>,
    /// Earlier remote names kept, each with why (a failed delete: its error and its fix).
    pub kept: Vec<(String, String)>,
    /// How many of `kept` are there because their delete failed.
    pub failed: usize,
}

/// Deletes the earlier names (`formerly`) whose value is safe under the current name, from a
/// plan read right before: a name whose current name is missing or holds another value is
/// kept, with why. Each delete is the service's recoverable one where it has one; a failure
/// is reported for its name, the others still deleted.
pub async fn delete_earlier(
    sm: &dyn SecretManager,
    answers: &Answers,
    concurrency: usize,
    cancel: &CancellationToken,
) -> Result<EarlierOutcome, EngineError> {
    let plan = plan_seed(sm, answers, &[], concurrency, cancel).await?;
    let mut outcome = EarlierOutcome::default();
    let mut deletable = Vec::new();
    for earlier in &plan.earlier {
        match plan.keep_reason(earlier) {
            Some(why) => outcome.kept.push((earlier.remote.clone(), why)),
            None => deletable.push(earlier.remote.as_str()),
        }
    }
    if cancel.is_cancelled() {
        return Err(EngineError::Interrupted);
    }
    let deletes: Vec<_> = deletable
        .into_iter()
        .map(|remote| async move { (remote, with_retry(|| sm.delete(remote)).await) })
        .collect();
    let results: Vec<(&str, Result<(), SecretManagerError>)> = futures::stream::iter(deletes)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (remote, result) in results {
        match result {
            Ok(()) => outcome.deleted.push(remote.to_string()),
            Err(e) => {
                let mut why = format!("the delete failed: {e}");
                if let Some(fix) = e.fix() {
                    why.push_str(&format!("; fix: {fix}"));
                }
                outcome.kept.push((remote.to_string(), why));
                outcome.failed += 1;
            }
        }
    }
    outcome.deleted.sort();
    outcome.kept.sort();
    Ok(outcome)
}

/// Values typed at a front end's masked prompts, by field path (`postgres.password`,
/// `secrets.admin-token`). Each is zeroized when the last holder drops it.
#[derive(Clone, Debug, Default)]
pub struct Prompted(pub Arc<BTreeMap<String, SecretString>>);

impl PartialEq for Prompted {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Prompted {}

impl Prompted {
    pub fn new(values: BTreeMap<String, SecretString>) -> Prompted {
        Prompted(Arc::new(values))
    }

    fn prompter(&self) -> impl Fn(&str) -> Option<Result<SecretString, SourceError>> + use<> {
        let values = self.0.clone();
        move |field: &str| values.get(field).map(|v| Ok(v.clone()))
    }
}

/// The field path of the `prompt` source behind a catalog secret, if its source is `prompt`.
fn prompt_field(secret: &CatalogSecret, answers: &Answers) -> Option<String> {
    let (field, source) = match secret.name.as_str() {
        "postgres" => (
            "postgres.password".to_string(),
            answers.postgres.password.clone(),
        ),
        "redis" => ("redis.password".to_string(), answers.redis.password.clone()),
        name => (format!("secrets.{name}"), answers.secret_source(name)),
    };
    (source == SecretSource::Prompt).then_some(field)
}

/// The `prompt` sources the writes of a plan need, as field paths, in plan order. Nothing is
/// asked for a secret that is kept.
pub fn prompts_needed(plan: &SeedPlan, answers: &Answers) -> Vec<String> {
    plan.items
        .iter()
        .filter(|i| i.action.needs_value())
        .filter_map(|i| prompt_field(&i.secret, answers))
        .collect()
}

/// Connects nothing: reads every catalog secret through `sm` and plans. `rotate` names the
/// catalog secrets to give a new version (`secret-store-kek` runs the KEK flow).
pub async fn plan_seed(
    sm: &dyn SecretManager,
    answers: &Answers,
    rotate: &[String],
    concurrency: usize,
    cancel: &CancellationToken,
) -> Result<SeedPlan, EngineError> {
    let catalog = catalog_of(answers)?;
    let observed = tokio::select! {
        o = observe(sm, catalog, answers, concurrency) => o?,
        () = cancel.cancelled() => return Err(EngineError::Interrupted),
    };
    Ok(plan(catalog, answers, &observed, rotate)?)
}

fn catalog_of(answers: &Answers) -> Result<&'static SecretCatalog, EngineError> {
    SecretCatalog::for_chart(&answers.chart.version).ok_or_else(|| {
        EngineError::Invalid(vec![crate::core::problem::Problem::new(
            "chart.version",
            format!(
                "chart {} is not supported by this caracal-deploy",
                answers.chart.version
            ),
            format!(
                "use one of: {}",
                SecretCatalog::supported_versions().join(", ")
            ),
        )])
    })
}

/// How a seeding run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedOutcome {
    pub report: SeedReport,
    /// "N written, M unchanged, K failed[, J not started]".
    pub summary: String,
    /// The KEK flow completed: the operator must open the rotation window.
    pub kek_rotated: bool,
    /// Stopped by the operator: every secret is untouched or complete; a re-run finishes.
    pub interrupted: bool,
    /// Errors (wrong shapes) and warnings (drift) of the plan that was written.
    pub errors: usize,
    pub warnings: usize,
}

impl SeedOutcome {
    /// The exit code of the contract for this outcome.
    pub fn exit(&self, fail_on_warning: bool) -> Exit {
        if self.interrupted {
            Exit::Other
        } else if let Some((_, e)) = self.report.failed.first() {
            match EngineError::from(e.clone()).exit() {
                Exit::InvalidInput => Exit::InvalidInput,
                _ => Exit::CheckFailed,
            }
        } else {
            Exit::from_findings(self.errors, self.warnings, fail_on_warning)
        }
    }
}

/// Resolves the value of every write of `plan` (generate, env:, file:, or what the operator
/// typed at a prompt), then writes them, `concurrency` at a time. Nothing is written unless
/// every value could be resolved. After `cancel`, no new write starts.
pub async fn write_seed(
    sm: &dyn SecretManager,
    answers: &Answers,
    plan: &SeedPlan,
    prompted: &Prompted,
    concurrency: usize,
    cancel: &CancellationToken,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<SeedOutcome, EngineError> {
    let prompt = prompted.prompter();
    let mut values = BTreeMap::new();
    for item in plan.items.iter().filter(|i| i.action.needs_value()) {
        values.insert(
            item.secret.name.clone(),
            value_for(&item.secret, answers, &prompt)?,
        );
    }
    if cancel.is_cancelled() {
        return Err(EngineError::Interrupted);
    }
    let report = apply(sm, plan, &values, answers, concurrency, cancel, progress).await;
    drop(values);
    let kek_rotated = report.failed.is_empty()
        && plan
            .items
            .iter()
            .any(|i| i.action == Action::RotateKek && report.written.contains(&i.remote_name));
    if kek_rotated {
        tracing::info!(secret = KEK, "kek rotated; previous key kept");
    }
    Ok(SeedOutcome {
        summary: report.summary(plan),
        kek_rotated,
        interrupted: cancel.is_cancelled() && !report.not_started.is_empty(),
        errors: plan.errors().len(),
        warnings: plan.warnings().len(),
        report,
    })
}

/// Progress of one secret, for the terminal and the wizard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Started {
        remote: String,
    },
    Done {
        remote: String,
        verb: &'static str,
        digest: String,
    },
    Failed {
        remote: String,
        error: SecretManagerError,
    },
    NotStarted {
        remote: String,
    },
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub written: Vec<String>,
    pub failed: Vec<(String, SecretManagerError)>,
    pub not_started: Vec<String>,
}

impl SeedReport {
    /// One line: "N written, M unchanged, K failed[, J not started]".
    pub fn summary(&self, plan: &SeedPlan) -> String {
        let mut line = format!(
            "{} written, {} unchanged, {} failed",
            self.written.len(),
            plan.items.len() - plan.writes(),
            self.failed.len()
        );
        if !self.not_started.is_empty() {
            line.push_str(&format!(", {} not started", self.not_started.len()));
        }
        line
    }
}

/// Writes one planned secret; returns the verb and the fingerprint of what it now holds.
async fn write_one(
    sm: &dyn SecretManager,
    item: &PlanItem,
    value: Option<&SecretString>,
    labels: &Labels,
    answers: &Answers,
) -> Result<(&'static str, String), SecretManagerError> {
    let fingerprint = |v: &SecretString| digest(fingerprint::key(), v.expose_secret());
    match (&item.action, value) {
        (Action::CopyFrom(from), _) => {
            let old = match with_retry(|| sm.read(from)).await? {
                RemoteState::Present(v) => v,
                _ => {
                    return Err(SecretManagerError::Other(
                        format!("{from} has no value to copy any more").into(),
                    ));
                }
            };
            let verb = create_or_keep(sm, &item.remote_name, &old, labels).await?;
            Ok((
                if verb == "created" {
                    "copied from the earlier name"
                } else {
                    verb
                },
                fingerprint(&old),
            ))
        }
        (Action::Amend(fields), _) => {
            let current = match with_retry(|| sm.read(&item.remote_name)).await? {
                RemoteState::Present(v) => v,
                _ => {
                    return Err(SecretManagerError::Other(
                        format!("{} has no record to amend any more", item.remote_name).into(),
                    ));
                }
            };
            let amended = amend(&current, fields, answers, &item.secret.name)?;
            with_retry(|| sm.add_version(&item.remote_name, &amended)).await?;
            Ok(("fields added, the rest kept", fingerprint(&amended)))
        }
        (_, Some(value)) => write_value(sm, item, value, labels, answers)
            .await
            .map(|verb| (verb, fingerprint(value))),
        (_, None) => Err(SecretManagerError::Other("no value resolved".into())),
    }
}

/// Creates a secret unless another run created it meanwhile (theirs stands).
async fn create_or_keep(
    sm: &dyn SecretManager,
    remote: &str,
    value: &SecretString,
    labels: &Labels,
) -> Result<&'static str, SecretManagerError> {
    match with_retry(|| sm.create(remote, value, labels)).await {
        Ok(()) => Ok("created"),
        // Another run created it meanwhile: theirs stands, never overwritten.
        Err(SecretManagerError::AlreadyExists) => match with_retry(|| sm.read(remote)).await? {
            RemoteState::Present(_) => Ok("already created by another run; kept"),
            _ => with_retry(|| sm.add_version(remote, value))
                .await
                .map(|()| "created"),
        },
        Err(e) => Err(e),
    }
}

/// A connection record with the fields the answers supply added; everything it held kept.
/// Every string of the parsed record is wiped before it is dropped.
fn amend(
    current: &SecretString,
    fields: &[String],
    answers: &Answers,
    record: &str,
) -> Result<SecretString, SecretManagerError> {
    let mut parsed: serde_json::Value = serde_json::from_str(current.expose_secret())
        .map_err(|_| SecretManagerError::Other("the record is no longer JSON".into()))?;
    let expected = crate::core::seed::expected_fields(answers, record);
    if let serde_json::Value::Object(map) = &mut parsed {
        for field in fields {
            if let Some(v) = expected.get(field.as_str()) {
                map.insert(
                    field.clone(),
                    crate::engine::source::record_field(record, field, v.clone()),
                );
            }
        }
    }
    let capacity = 6 * current.expose_secret().len() + 1024;
    let mut text = zeroize::Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *text, &parsed).expect("a value serializes");
    crate::core::seed::wipe_json(&mut parsed);
    let text = std::str::from_utf8(&text).expect("serde_json writes UTF-8");
    Ok(SecretString::from(text))
}

async fn write_value(
    sm: &dyn SecretManager,
    item: &PlanItem,
    value: &SecretString,
    labels: &Labels,
    answers: &Answers,
) -> Result<&'static str, SecretManagerError> {
    match &item.action {
        Action::Create => create_or_keep(sm, &item.remote_name, value, labels).await,
        Action::Fill => with_retry(|| sm.add_version(&item.remote_name, value))
            .await
            .map(|()| "first version added"),
        Action::Rotate => with_retry(|| sm.add_version(&item.remote_name, value))
            .await
            .map(|()| "rotated"),
        Action::RotateKek => {
            // Order matters: the current key is safe in the previous slot before a new key
            // replaces it, so an interruption at any point loses no key.
            let current = match with_retry(|| sm.read(&item.remote_name)).await? {
                RemoteState::Present(v) => v,
                _ => {
                    return Err(SecretManagerError::Other(
                        format!("{} has no current key to keep", item.remote_name).into(),
                    ));
                }
            };
            let previous = remote_name(answers.cloud, &answers.secret_manager.prefix, KEK_PREVIOUS);
            match with_retry(|| sm.create(&previous, &current, labels)).await {
                Ok(()) => {}
                Err(SecretManagerError::AlreadyExists) => {
                    with_retry(|| sm.add_version(&previous, &current)).await?
                }
                Err(e) => return Err(e),
            }
            with_retry(|| sm.add_version(&item.remote_name, value)).await?;
            Ok("rotated; previous key kept")
        }
        Action::Keep | Action::WrongShape(_) | Action::CopyFrom(_) | Action::Amend(_) => {
            Ok("unchanged")
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn apply_one(
    sm: &dyn SecretManager,
    item: &PlanItem,
    values: &BTreeMap<String, SecretString>,
    labels: &Labels,
    answers: &Answers,
    cancel: &CancellationToken,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> (String, Option<Result<&'static str, SecretManagerError>>) {
    if cancel.is_cancelled() {
        progress(Progress::NotStarted {
            remote: item.remote_name.clone(),
        });
        return (item.remote_name.clone(), None);
    }
    progress(Progress::Started {
        remote: item.remote_name.clone(),
    });
    let value = values.get(&item.secret.name);
    let result = write_one(sm, item, value, labels, answers).await;
    let result = match result {
        Ok((verb, digest)) => {
            progress(Progress::Done {
                remote: item.remote_name.clone(),
                verb,
                digest,
            });
            Ok(verb)
        }
        Err(e) => {
            progress(Progress::Failed {
                remote: item.remote_name.clone(),
                error: e.clone(),
            });
            Err(e)
        }
    };
    (item.remote_name.clone(), Some(result))
}

/// Applies the writes of a plan, `concurrency` at a time. Once `cancel` fires (Ctrl-C), no
/// new write starts; those in flight complete.
pub async fn apply(
    sm: &dyn SecretManager,
    plan: &SeedPlan,
    values: &BTreeMap<String, SecretString>,
    answers: &Answers,
    concurrency: usize,
    cancel: &CancellationToken,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> SeedReport {
    let labels = managed_labels(&answers.chart.version);
    let writes: Vec<_> = plan
        .items
        .iter()
        .filter(|i| i.action.writes())
        .map(|item| apply_one(sm, item, values, &labels, answers, cancel, progress))
        .collect();
    let outcomes: Vec<(String, Option<Result<&'static str, SecretManagerError>>)> =
        futures::stream::iter(writes)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let mut report = SeedReport::default();
    for (name, outcome) in outcomes {
        match outcome {
            None => report.not_started.push(name),
            Some(Ok(_)) => report.written.push(name),
            Some(Err(e)) => report.failed.push((name, e)),
        }
    }
    report
}
