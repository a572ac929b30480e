//! What the wizard offers from the cluster instead of asking blind: the kubeconfig's contexts,
//! the storage classes, ingress classes and ClusterIssuers the cluster has (defaults and
//! readiness noted), and its DNS Service's address for the DNS egress. Reads only; whatever
//! cannot be read is left empty, with why.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams};

use crate::adapters::kube::{Cluster, KubeError};
use crate::core::cloud::Cloud;
use crate::core::profiles::{CloudProfile, IngressClassProfile};

/// One name the cluster has, with a note ("default", "not Ready").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choices {
    pub contexts: Vec<Choice>,
    pub storage_classes: Vec<Choice>,
    pub ingress_classes: Vec<Choice>,
    pub cluster_issuers: Vec<Choice>,
    /// `IP/32` of `kube-system/kube-dns`.
    pub dns: Vec<Choice>,
    /// Why the cluster's lists are empty, when they are for a failure.
    pub unreadable: Option<String>,
    /// The context asked for (None: the kubeconfig's current one), as the request named it.
    pub requested: Option<String>,
    /// The context read and its API server.
    pub context: Option<String>,
    pub server: Option<String>,
    /// The cloud the nodes (their providerID) or the API server's host say, with the evidence;
    /// or why it cannot be told.
    pub cloud: Result<(Cloud, String), String>,
}

impl Default for Choices {
    fn default() -> Choices {
        Choices {
            contexts: Vec::new(),
            storage_classes: Vec::new(),
            ingress_classes: Vec::new(),
            cluster_issuers: Vec::new(),
            dns: Vec::new(),
            unreadable: None,
            requested: None,
            context: None,
            server: None,
            cloud: Err("not read yet".into()),
        }
    }
}

/// The cloud of a cluster: its nodes' providerID (`aws://`, `gce://`, `azure://`), else its
/// API server's host (EKS and AKS name theirs; GKE's is a bare address).
pub fn cloud_of(provider_ids: &[String], server: &str) -> Result<(Cloud, String), String> {
    for id in provider_ids {
        let cloud = match id.split("://").next().unwrap_or_default() {
            "aws" => Some(Cloud::Aws),
            "gce" => Some(Cloud::Gcp),
            "azure" => Some(Cloud::Azure),
            _ => None,
        };
        if let Some(c) = cloud {
            return Ok((c, format!("node providerID {id}")));
        }
    }
    let host = reqwest::Url::parse(server)
        .ok()
        .and_then(|u| u.host_str().map(str::to_lowercase))
        .unwrap_or_default();
    if host.ends_with(".eks.amazonaws.com") {
        return Ok((Cloud::Aws, format!("API server {host}")));
    }
    if host.ends_with(".azmk8s.io") {
        return Ok((Cloud::Azure, format!("API server {host}")));
    }
    Err(if provider_ids.is_empty() {
        "the nodes name no provider (no providerID) and the API server's host names no cloud".into()
    } else {
        format!(
            "the nodes' providerID ({}) names no cloud the wizard knows",
            provider_ids[0]
        )
    })
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

/// Adds the class of the cluster's cloud when its controller has no IngressClass object to
/// list (GKE's `gce`: the controller runs on Google's side and takes Ingresses by annotation),
/// yet it is the class the cluster serves.
fn offer_built_in_class(cloud: &Result<(Cloud, String), String>, classes: &mut Vec<Choice>) {
    let Ok((cloud, _)) = cloud else { return };
    let class = &CloudProfile::get(*cloud).ingress_class_name;
    if IngressClassProfile::by_annotation(class) && !classes.iter().any(|c| c.name == *class) {
        classes.push(Choice {
            name: class.clone(),
            note: "built in, by annotation".into(),
        });
    }
}

/// Reads the choices of a connected cluster (or says why it could not be connected), and the
/// kubeconfig's contexts.
pub async fn read(cluster: Result<Cluster, KubeError>) -> Choices {
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
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => {
            out.unreadable = Some(e.to_string());
            out.cloud = Err("the cluster cannot be read".into());
            return out;
        }
    };
    out.context = Some(cluster.context().to_string());
    out.server = Some(cluster.server().to_string());
    let client = cluster.client().clone();
    let all = ListParams::default();
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let provider_ids: Vec<String> = match nodes.list(&ListParams::default().limit(20)).await {
        Ok(list) => list
            .items
            .iter()
            .filter_map(|n| n.spec.as_ref()?.provider_id.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.cloud = cloud_of(&provider_ids, cluster.server());
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
    offer_built_in_class(&out.cloud, &mut out.ingress_classes);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gke_offers_its_built_in_class_that_has_no_object() {
        let named = |n: &str| Choice {
            name: n.into(),
            note: String::new(),
        };
        let gke = Ok((Cloud::Gcp, String::new()));
        let mut classes = vec![named("nginx")];
        offer_built_in_class(&gke, &mut classes);
        assert_eq!(
            classes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["nginx", "gce"]
        );
        assert_eq!(classes[1].note, "built in, by annotation");
        // Listed once when the cluster has the object after all.
        let mut listed = vec![named("gce")];
        offer_built_in_class(&gke, &mut listed);
        assert_eq!(listed.len(), 1);
        // EKS and AKS classes are IngressClass objects: only what the cluster lists.
        for cloud in [Cloud::Aws, Cloud::Azure] {
            let mut none = Vec::new();
            offer_built_in_class(&Ok((cloud, String::new())), &mut none);
            assert!(none.is_empty(), "{cloud:?}");
        }
        let mut unknown = Vec::new();
        offer_built_in_class(&Err("no provider".into()), &mut unknown);
        assert!(unknown.is_empty());
    }

    #[test]
    fn the_cloud_comes_from_the_nodes_then_the_api_server() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            cloud_of(
                &ids(&["gce://proj/us-central1-a/gke-n1"]),
                "https://34.1.2.3"
            )
            .map(|c| c.0),
            Ok(Cloud::Gcp)
        );
        assert_eq!(
            cloud_of(&ids(&["azure:///subscriptions/x/vm-0"]), "https://a").map(|c| c.0),
            Ok(Cloud::Azure)
        );
        assert_eq!(
            cloud_of(&[], "https://ABCD.gr7.us-east-1.eks.amazonaws.com").map(|c| c.0),
            Ok(Cloud::Aws)
        );
        assert_eq!(
            cloud_of(&[], "https://caracal-abc.hcp.westeurope.azmk8s.io:443").map(|c| c.0),
            Ok(Cloud::Azure)
        );
        let why = cloud_of(&[], "https://127.0.0.1:6443").unwrap_err();
        assert!(why.contains("no providerID"), "{why}");
        let why = cloud_of(&ids(&["kind://docker/n"]), "https://127.0.0.1").unwrap_err();
        assert!(why.contains("kind://docker/n"), "{why}");
    }
}
