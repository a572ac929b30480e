//! What an upgrade would do, read before anything changes: the deployed release (from helm's
//! own storage in the cluster), how its chart version relates to the target (migrations only
//! run forward), the secret layout to carry over (an earlier chart's names), every object and
//! value helm would add, change or remove (Secret data masked), and the keys the target chart
//! newly mounts from the runtime Secret with whether the ExternalSecret produces them.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use tokio_util::sync::CancellationToken;

use crate::adapters::helm::Helm;
use crate::adapters::kube::Cluster;
use crate::core::answers::Answers;
use crate::core::catalog::{SecretCatalog, VersionStep, version_step};
use crate::core::mounts::secret_mounts;
use crate::core::release::{self, Release};
use crate::core::render::render;
use crate::core::seed::SeedPlan;
use crate::core::upgrade_diff::{Change, FieldChange, ObjectChange, diff_manifests, diff_values};

use super::EngineError;
use super::install::{helm_error, values_file};

/// The Secret the chart's workloads read their secrets from.
const RUNTIME_SECRET: &str = "caracal-runtime";

/// The release as helm last recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    pub revision: u64,
    /// `deployed`, `failed`, `pending-upgrade`…
    pub status: String,
    pub chart_version: String,
    pub app_version: String,
}

/// A key the target chart mounts from the runtime Secret that the deployed one did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    pub key: String,
    /// The ExternalSecret of these answers produces it.
    pub produced: bool,
    /// A pod starts without it (`optional: true`).
    pub optional: bool,
}

/// Everything an upgrade would change, read only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradePlan {
    pub release: String,
    pub namespace: String,
    pub deployed: Deployed,
    pub target: String,
    /// The target chart's app version (its objects' `app.kubernetes.io/version`), when told.
    pub target_app: Option<String>,
    pub step: VersionStep,
    /// The secret manager's side: what is copied, amended or created (the seeding plan).
    pub seed: SeedPlan,
    pub objects: Vec<ObjectChange>,
    pub values: Vec<FieldChange>,
    pub new_keys: Vec<NewKey>,
    /// StatefulSets whose change Kubernetes refuses in place (e.g. their volume claim
    /// templates, which carry the chart's version label): each is deleted with its pods and
    /// volumes orphaned before helm, which creates it again and adopts them. With the paths.
    pub recreate: Vec<(String, Vec<String>)>,
}

impl UpgradePlan {
    /// The target chart, with its app version when told: `1.0.0 (app 1.0.0)`.
    pub fn target_text(&self) -> String {
        match &self.target_app {
            Some(app) => format!("{} (app {app})", self.target),
            None => self.target.clone(),
        }
    }
}

/// The fields of a StatefulSet's spec an update may change (the API server's own list).
const STATEFULSET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// The StatefulSets of a diff whose spec changes outside what may change in place.
pub fn immutable_changes(objects: &[ObjectChange]) -> Vec<(String, Vec<String>)> {
    objects
        .iter()
        .filter(|o| o.kind == "StatefulSet")
        .filter_map(|o| {
            let Change::Changed(fields) = &o.change else {
                return None;
            };
            let paths: Vec<String> = fields
                .iter()
                .filter_map(|f| {
                    let rest = f.path.strip_prefix("spec.")?;
                    let field = rest.split(['.', '[']).next()?;
                    (!STATEFULSET_MUTABLE.contains(&field)).then(|| f.path.clone())
                })
                .collect();
            (!paths.is_empty()).then(|| (o.name.clone(), paths))
        })
        .collect()
}

/// The newest revision helm recorded for the release (any state), decoded from its storage
/// Secret; None when helm knows no such release.
pub async fn latest_release(
    cluster: &Cluster,
    release: &str,
    ns: &str,
) -> Result<Option<Release>, EngineError> {
    let api = Api::<Secret>::namespaced(cluster.client().clone(), ns);
    let list = api
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .map_err(|e| EngineError::Cluster {
            message: format!("cannot read helm's records of {release} in {ns}: {e}"),
            fix: Some(format!(
                "your user must be allowed to list Secrets in {ns}, as helm itself must"
            )),
        })?;
    let newest = list.items.into_iter().max_by_key(|s| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("version")?.parse::<u64>().ok())
            .unwrap_or(0)
    });
    let Some(secret) = newest else {
        return Ok(None);
    };
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("release"))
        .ok_or_else(|| EngineError::Cluster {
            message: format!("helm's record of {release} in {ns} has no release data"),
            fix: Some(format!(
                "`helm history {release} -n {ns}` shows what helm knows"
            )),
        })?;
    release::decode(&data.0)
        .map(Some)
        .map_err(|e| EngineError::Cluster {
            message: format!("helm's record of {release} in {ns} cannot be read: {e}"),
            fix: Some(format!(
                "`helm history {release} -n {ns}` shows what helm knows"
            )),
        })
}

/// Kinds the chart could hold that live outside any namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "ClusterIssuer",
    "ClusterSecretStore",
    "PersistentVolume",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// The objects of a release as one YAML stream, each namespaced one in `ns` (helm installs
/// them there; its manifests and `helm template` leave most without a namespace).
fn manifest_text(docs: &[serde_json::Value], ns: &str) -> String {
    docs.iter()
        .map(|doc| {
            let mut doc = doc.clone();
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            if let Some(meta) = doc.get_mut("metadata").and_then(|m| m.as_object_mut())
                && !meta.contains_key("namespace")
                && !CLUSTER_SCOPED.contains(&kind.as_str())
            {
                meta.insert("namespace".into(), serde_json::json!(ns));
            }
            crate::core::yaml::to_string(&doc)
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Reads the release and renders the target, then compares. `seed` is the secret manager's
/// plan for the target's layout (read by the caller through its connection). Changes nothing.
pub async fn plan_upgrade(
    cluster: &Cluster,
    helm: &Helm,
    answers: &Answers,
    seed: SeedPlan,
    cancel: &CancellationToken,
) -> Result<UpgradePlan, EngineError> {
    let (release_name, ns) = (answers.release.as_str(), answers.namespace.as_str());
    let deployed = tokio::select! {
        r = latest_release(cluster, release_name, ns) => r?,
        () = cancel.cancelled() => return Err(EngineError::Interrupted),
    };
    let Some(deployed) = deployed else {
        return Err(EngineError::NoRelease {
            release: release_name.to_string(),
            namespace: ns.to_string(),
        });
    };
    let target = answers.chart.version.clone();
    let bundle = render(answers);
    let values = values_file(&bundle.values)?;
    let kube_version = &SecretCatalog::of_valid(&target).render_kube_version;
    let rendered = tokio::select! {
        r = helm.template_version(
            release_name,
            &answers.chart.reference,
            &target,
            ns,
            values.path(),
            kube_version,
        ) => r.map_err(helm_error)?,
        () = cancel.cancelled() => return Err(EngineError::Interrupted),
    };
    let target_docs = crate::core::yaml::from_documents(&rendered)
        .map_err(|e| EngineError::Internal(format!("cannot read the rendered chart: {e}")))?;
    // helm keeps hooks (the migration Jobs and their ServiceAccount) apart from the manifest;
    // `helm template` renders them with the rest.
    let deployed_docs: Vec<serde_json::Value> = deployed
        .manifests
        .iter()
        .cloned()
        .chain(deployed.hooks.iter().map(|h| h.manifest.clone()))
        .collect();
    let objects = diff_manifests(
        &manifest_text(&deployed_docs, ns),
        &manifest_text(&target_docs, ns),
    )
    .map_err(|e| EngineError::Internal(format!("cannot compare the manifests: {e}")))?;
    let values_diff = diff_values(&deployed.values, &bundle.values);
    let before = secret_mounts(&deployed_docs, RUNTIME_SECRET);
    let after = secret_mounts(&target_docs, RUNTIME_SECRET);
    let produced = crate::core::external_secret::produced_keys(answers);
    let new_keys = after
        .required
        .iter()
        .map(|k| (k, false))
        .chain(after.optional.iter().map(|k| (k, true)))
        .filter(|(k, _)| !before.required.contains(*k) && !before.optional.contains(*k))
        .map(|(k, optional)| NewKey {
            key: k.clone(),
            produced: produced.contains(k),
            optional,
        })
        .collect();
    Ok(UpgradePlan {
        release: release_name.to_string(),
        namespace: ns.to_string(),
        step: version_step(&deployed.chart_version, &target),
        deployed: Deployed {
            revision: deployed.version,
            status: deployed.status.clone(),
            chart_version: deployed.chart_version.clone(),
            app_version: deployed.app_version.clone(),
        },
        target_app: target_docs.iter().find_map(|d| {
            d.pointer("/metadata/labels/app.kubernetes.io~1version")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        }),
        target,
        seed,
        recreate: immutable_changes(&objects),
        objects,
        values: values_diff,
        new_keys,
    })
}

/// Deletes StatefulSets of the release leaving their pods and volumes (orphan propagation):
/// helm creates them again with the new spec and they adopt what they left.
pub async fn orphan_statefulsets(
    cluster: &Cluster,
    ns: &str,
    names: &[String],
) -> Result<(), EngineError> {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let api = Api::<StatefulSet>::namespaced(cluster.client().clone(), ns);
    for name in names {
        match api.delete(name, &kube::api::DeleteParams::orphan()).await {
            Ok(_) => tracing::info!(statefulset = %name, "deleted, pods and volumes orphaned"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                return Err(EngineError::Cluster {
                    message: format!(
                        "cannot delete StatefulSet {ns}/{name} (orphaning its pods): {e}"
                    ),
                    fix: Some(format!(
                        "`kubectl -n {ns} delete statefulset {name} --cascade=orphan`, then run upgrade again"
                    )),
                });
            }
        }
    }
    Ok(())
}
