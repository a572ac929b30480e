//! The Kubernetes objects applied before helm: Namespace, the External Secrets service
//! account with its workload identity, and the ClusterSecretStore of the chosen cloud.

use serde_json::{Value, json};

use super::answers::{Answers, Identity, SecretManagerTarget};
use super::profiles::CloudProfile;

/// The service account External Secrets authenticates as (token requests on its behalf).
pub const ESO_SERVICE_ACCOUNT: &str = "caracal-external-secrets";

/// The store the ExternalSecret reads from: one per cloud, named for it.
pub fn store_name(answers: &Answers) -> String {
    format!("caracal-{}", answers.cloud)
}

pub fn managed_labels(answers: &Answers) -> Value {
    json!({
        "app.kubernetes.io/managed-by": "caracal-deploy",
        "app.kubernetes.io/part-of": "caracal",
        "app.kubernetes.io/instance": answers.release,
    })
}

pub fn namespace(answers: &Answers) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": answers.namespace, "labels": managed_labels(answers) },
    })
}

pub fn eso_service_account(answers: &Answers) -> Value {
    let profile = CloudProfile::get(answers.cloud);
    let mut labels = managed_labels(answers);
    if let Some(map) = labels.as_object_mut() {
        for (k, v) in &profile.pod_labels {
            map.insert(k.clone(), json!(v));
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": ESO_SERVICE_ACCOUNT,
            "namespace": answers.namespace,
            "labels": labels,
            "annotations": { profile.identity_annotation.clone(): answers.identity.annotation_value() },
        },
    })
}

pub fn cluster_secret_store(answers: &Answers) -> Value {
    let sa_ref = json!({ "name": ESO_SERVICE_ACCOUNT, "namespace": answers.namespace });
    let provider = match (&answers.secret_manager.target, &answers.identity) {
        (SecretManagerTarget::Aws { region }, Identity::Aws { .. }) => json!({
            "aws": {
                "service": "SecretsManager",
                "region": region,
                // IRSA: External Secrets requests a token for the service account, whose
                // role-arn annotation names the role it assumes. No static keys in the cluster.
                "auth": { "jwt": { "serviceAccountRef": sa_ref } },
            }
        }),
        (
            SecretManagerTarget::Gcp { project },
            Identity::Gcp {
                cluster_location,
                cluster_name,
                cluster_project,
                ..
            },
        ) => json!({
            "gcpsm": {
                "projectID": project,
                "auth": { "workloadIdentity": {
                    "clusterLocation": cluster_location,
                    "clusterName": cluster_name,
                    // Named, so the store does not depend on the metadata server's answer
                    // (and works when the secrets live in a shared project).
                    "clusterProjectID": cluster_project.as_ref().unwrap_or(project),
                    "serviceAccountRef": sa_ref,
                } },
            }
        }),
        (SecretManagerTarget::Azure { vault_url }, Identity::Azure { tenant_id, .. }) => json!({
            "azurekv": {
                "vaultUrl": vault_url,
                "authType": "WorkloadIdentity",
                // External Secrets v0.16.2 otherwise looks for the service account's
                // tenant-id annotation, then its own AZURE_TENANT_ID, and fails with
                // "missing tenantID in store config".
                "tenantId": tenant_id,
                "serviceAccountRef": sa_ref,
            }
        }),
        _ => unreachable!("answers validation ties secret manager and identity to one cloud"),
    };
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": { "name": store_name(answers), "labels": managed_labels(answers) },
        "spec": {
            "provider": provider,
            // A cluster-wide store would let any namespace read Caracal's secrets.
            "conditions": [ { "namespaces": [answers.namespace] } ],
        },
    })
}
