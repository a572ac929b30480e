//! Per-cloud facts (storage class, ingress class and annotations, identity binding), loaded
//! from `profiles/<cloud>.yaml`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::cloud::Cloud;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudProfile {
    pub cloud: String,
    pub display_name: String,
    pub secret_manager: String,
    pub remote_name_separator: String,
    pub storage_class: String,
    pub ingress_class_name: String,
    pub ingress_annotations: BTreeMap<String, String>,
    /// Service-account annotation that binds the workload identity.
    pub identity_annotation: String,
    /// Labels every Caracal pod needs for the identity to be projected.
    pub pod_labels: BTreeMap<String, String>,
    /// Fixed in-cluster endpoints a runtime identity reaches besides the operator's HTTPS
    /// CIDRs (GKE's metadata server serves the workload identity's tokens).
    #[serde(default)]
    pub runtime_identity_egress: Vec<EgressPeer>,
}

/// A CIDR and the TCP ports a NetworkPolicy admits to it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressPeer {
    pub cidr: String,
    pub ports: Vec<u16>,
}

static PROFILES: LazyLock<[CloudProfile; 3]> = LazyLock::new(|| {
    let load = |text: &str| -> CloudProfile {
        serde_saphyr::from_str(text).expect("bundled profile is valid")
    };
    [
        load(include_str!("../../profiles/aws.yaml")),
        load(include_str!("../../profiles/gcp.yaml")),
        load(include_str!("../../profiles/azure.yaml")),
    ]
});

/// Where an ingress class's traffic comes from (`profiles/ingress-classes.yaml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngressSourceKind {
    /// A load balancer outside the pods network: CIDRs (`network.loadBalancerCidrs`).
    Cidrs,
    /// An in-cluster controller: its namespace and pod labels (`network.ingressController`).
    Pods,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressClassProfile {
    pub class_name: String,
    pub description: String,
    pub source: IngressSourceKind,
    /// What the CIDRs are, for help texts and fixes (cidrs classes).
    #[serde(default)]
    pub cidrs_help: Option<String>,
    /// Fixed ranges of the provider (GKE), used when the answers name none.
    #[serde(default)]
    pub default_cidrs: Vec<String>,
    /// A plausible value for fixes.
    #[serde(default)]
    pub example_cidrs: Vec<String>,
    /// The controller's namespace (pods classes).
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub pod_labels: BTreeMap<String, String>,
    /// The controller picks its Ingresses by the `kubernetes.io/ingress.class` annotation and
    /// has no IngressClass object (GKE's `gce`): the Ingresses carry the annotation, and no
    /// object is looked for.
    #[serde(default)]
    pub selected_by_annotation: bool,
}

/// The annotation an Ingress names its class with for controllers that read no
/// `spec.ingressClassName` (`IngressClassProfile::selected_by_annotation`).
pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

static INGRESS_CLASSES: LazyLock<Vec<IngressClassProfile>> = LazyLock::new(|| {
    serde_saphyr::from_str(include_str!("../../profiles/ingress-classes.yaml"))
        .expect("bundled ingress classes are valid")
});

impl IngressClassProfile {
    /// The known facts of an ingress class, None for a class this build does not know.
    pub fn get(class_name: &str) -> Option<&'static IngressClassProfile> {
        INGRESS_CLASSES.iter().find(|c| c.class_name == class_name)
    }

    pub fn all() -> &'static [IngressClassProfile] {
        &INGRESS_CLASSES
    }

    /// Whether `class_name`'s controller takes Ingresses by the annotation and has no
    /// IngressClass object (`selected_by_annotation`); false for a class this build does not
    /// know.
    pub fn by_annotation(class_name: &str) -> bool {
        Self::get(class_name).is_some_and(|c| c.selected_by_annotation)
    }
}

impl CloudProfile {
    pub fn get(cloud: Cloud) -> &'static CloudProfile {
        let profile = &PROFILES[cloud as usize];
        debug_assert_eq!(profile.cloud, cloud.as_str());
        profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_classes_follow_the_chart_examples() {
        for c in IngressClassProfile::all() {
            match c.source {
                IngressSourceKind::Cidrs => assert!(
                    c.namespace.is_none() && c.cidrs_help.is_some() && !c.example_cidrs.is_empty(),
                    "{}",
                    c.class_name
                ),
                IngressSourceKind::Pods => assert!(
                    c.namespace.is_some() && c.default_cidrs.is_empty(),
                    "{}",
                    c.class_name
                ),
            }
        }
        for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure] {
            let class = &CloudProfile::get(cloud).ingress_class_name;
            assert!(IngressClassProfile::get(class).is_some(), "{class}");
        }
        let gce = IngressClassProfile::get("gce").unwrap();
        assert_eq!(gce.default_cidrs, ["130.211.0.0/22", "35.191.0.0/16"]);
        let aks = IngressClassProfile::get("webapprouting.kubernetes.azure.com").unwrap();
        assert_eq!(aks.namespace.as_deref(), Some("app-routing-system"));
        assert_eq!(
            IngressClassProfile::get("alb").unwrap().source,
            IngressSourceKind::Cidrs
        );
        assert_eq!(
            IngressClassProfile::get("azure-application-gateway")
                .unwrap()
                .source,
            IngressSourceKind::Cidrs
        );
    }

    #[test]
    fn profiles_match_the_chart_examples() {
        let aws = CloudProfile::get(Cloud::Aws);
        assert_eq!(
            (aws.storage_class.as_str(), aws.ingress_class_name.as_str()),
            ("gp3", "alb")
        );
        assert_eq!(aws.identity_annotation, "eks.amazonaws.com/role-arn");
        let gcp = CloudProfile::get(Cloud::Gcp);
        assert_eq!(
            (gcp.storage_class.as_str(), gcp.ingress_class_name.as_str()),
            ("premium-rwo", "gce")
        );
        assert_eq!(gcp.identity_annotation, "iam.gke.io/gcp-service-account");
        let az = CloudProfile::get(Cloud::Azure);
        assert_eq!(az.storage_class, "managed-csi");
        assert_eq!(az.ingress_class_name, "webapprouting.kubernetes.azure.com");
        assert_eq!(az.identity_annotation, "azure.workload.identity/client-id");
        assert_eq!(
            az.pod_labels
                .get("azure.workload.identity/use")
                .map(String::as_str),
            Some("true")
        );
    }
}
