//! What the wizard offers from the cluster instead of asking blind: the kubeconfig's contexts,
//! the storage classes, ingress classes and ClusterIssuers the cluster has (defaults and
//! readiness noted), and its DNS Service's address for the DNS egress. Reads only; whatever
//! cannot be read is left empty, with why.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams};

use crate::adapters::kube::Cluster;

/// One name the cluster has, with a note ("default", "not Ready").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    pub contexts: Vec<Choice>,
    pub storage_classes: Vec<Choice>,
    pub ingress_classes: Vec<Choice>,
    pub cluster_issuers: Vec<Choice>,
    /// `IP/32` of `kube-system/kube-dns`.
    pub dns: Vec<Choice>,
    /// Why the cluster's lists are empty, when they are for a failure.
    pub unreadable: Option<String>,
}

impl Choices {
    /// The choices for a field of the answers, if the wizard offers any.
    pub fn for_field(&self, path: &str) -> &[Choice] {
        match path {
            "kubeContext" => &self.contexts,
            "storageClass" => &self.storage_classes,
            "ingress.className" => &self.ingress_classes,
            "ingress.clusterIssuer" => &self.cluster_issuers,
            "network.dnsEgress" => &self.dns,
            _ => &[],
        }
    }
}

/// The objects' names, "default" noted where the annotation `default_key` says so.
fn named<'a>(
    objects: impl Iterator<Item = &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    default_key: &str,
) -> Vec<Choice> {
    objects
        .map(|m| Choice {
            name: m.name.clone().unwrap_or_default(),
            note: if m
                .annotations
                .as_ref()
                .and_then(|a| a.get(default_key))
                .map(String::as_str)
                == Some("true")
            {
                "default".into()
            } else {
                String::new()
            },
        })
        .collect()
}

/// Reads the choices of `context` (None: the kubeconfig's current one).
pub async fn read(context: Option<&str>) -> Choices {
    let mut out = Choices::default();
    if let Ok(config) = kube::config::Kubeconfig::read() {
        let current = config.current_context.clone().unwrap_or_default();
        out.contexts = config
            .contexts
            .iter()
            .map(|c| Choice {
                name: c.name.clone(),
                note: if c.name == current {
                    "current".into()
                } else {
                    String::new()
                },
            })
            .collect();
    }
    let cluster = match Cluster::connect(context).await {
        Ok(c) => c,
        Err(e) => {
            out.unreadable = Some(e.to_string());
            return out;
        }
    };
    let client = cluster.client().clone();
    let all = ListParams::default();
    let storage: Api<StorageClass> = Api::all(client.clone());
    let ingress: Api<IngressClass> = Api::all(client.clone());
    let dns: Api<Service> = Api::namespaced(client, "kube-system");
    let issuers = async {
        let api = cluster
            .dynamic_api("cert-manager.io/v1", "ClusterIssuer", None)
            .await
            .map_err(|e| e.to_string())?;
        api.list(&all).await.map_err(|e| e.to_string())
    };
    let (storage, ingress, dns, issuers) = tokio::join!(
        storage.list(&all),
        ingress.list(&all),
        dns.get_opt("kube-dns"),
        issuers
    );
    let mut why = Vec::new();
    match storage {
        Ok(list) => {
            out.storage_classes = named(
                list.items.iter().map(|s| &s.metadata),
                "storageclass.kubernetes.io/is-default-class",
            )
        }
        Err(e) => why.push(format!("storage classes: {e}")),
    }
    match ingress {
        Ok(list) => {
            out.ingress_classes = named(
                list.items.iter().map(|s| &s.metadata),
                "ingressclass.kubernetes.io/is-default-class",
            )
        }
        Err(e) => why.push(format!("ingress classes: {e}")),
    }
    match issuers {
        Ok(list) => {
            out.cluster_issuers = list
                .items
                .iter()
                .map(|i| {
                    let ready = i
                        .data
                        .pointer("/status/conditions")
                        .and_then(|c| c.as_array())
                        .is_some_and(|c| {
                            c.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        });
                    Choice {
                        name: i.metadata.name.clone().unwrap_or_default(),
                        note: if ready {
                            String::new()
                        } else {
                            "not Ready".into()
                        },
                    }
                })
                .collect()
        }
        Err(e) => why.push(format!("ClusterIssuers: {e}")),
    }
    if let Ok(Some(svc)) = dns
        && let Some(ip) = svc
            .spec
            .and_then(|s| s.cluster_ip)
            .filter(|ip| ip != "None")
    {
        out.dns = vec![Choice {
            name: format!("{ip}/32"),
            note: "kube-system/kube-dns".into(),
        }];
    }
    if !why.is_empty() {
        out.unreadable = Some(why.join("; "));
    }
    for list in [
        &mut out.storage_classes,
        &mut out.ingress_classes,
        &mut out.cluster_issuers,
    ] {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    out
}
