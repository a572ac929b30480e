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
