//! The answers file's fields, defined once, as data.
//!
//! The reader (`Answers::from_value`), the writer (`Answers::to_value`), the wizard's form and
//! its starting texts, the published JSON Schema (`schema/answers.schema.json`) and the README's
//! reference table are all driven by [`FIELDS`]. Rules that relate two fields (the two
//! databases differ, no host serves two services, `secrets` keyed by the chart's catalog) stay
//! in the reader as code.

use serde_json::{Map, Value, json};

use super::catalog::SecretCatalog;
use super::cloud::Cloud;
use super::profiles::CloudProfile;
use super::validate::{self, FieldVerdict};

/// The chart the wizard installs unless told otherwise.
pub const DEFAULT_CHART_REF: &str = "oci://ghcr.io/garudex-labs/charts/caracal";
pub const DEFAULT_CHART_VERSION: &str = "1.0.0";

pub const CLOUDS: &[&str] = &["aws", "gcp", "azure"];

/// A single-field syntax check; the message and the fix on failure.
pub type Rule = fn(&str) -> FieldVerdict;

/// What a field holds in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Integer {
        min: i64,
        max: i64,
    },
    Boolean,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A non-empty list of canonical CIDRs.
    Cidrs,
    /// A mapping of Kubernetes label keys to values.
    Labels,
    /// `generate`, `prompt`, `env:VAR` or `file:PATH`: where a secret comes from.
    SecretSource,
    /// A mapping of catalog secret names to secret sources.
    SecretSources,
}

/// The value a field takes when the file leaves it out.
#[derive(Clone, Copy, Debug)]
pub enum FieldDefault {
    None,
    /// A fixed value, written as the wizard shows it (`5432`, `true`, `caracal`).
    Value(&'static str),
    /// The cloud profile's value (`profiles/<cloud>.yaml`), applied when rendering.
    Profile(fn(&CloudProfile) -> &str),
    /// No value; what happens instead, in words.
    Behaviour(&'static str),
}

/// The syntax of a text field as the JSON Schema states it. The reader's [`Rule`] is the
/// authority; these state as much of it as a regular expression can (never more).
#[derive(Clone, Copy, Debug)]
pub enum Syntax {
    /// Any text that is not blank.
    Any,
    Pattern(&'static str),
    /// Matches the first pattern and not the second (a hostname that is not an IPv4 address).
    PatternExcept(&'static str, &'static str),
    /// Matches `pattern`; and when it also matches `when`, matches `then` and not `then_not`
    /// (a chart reference with a scheme is an OCI reference; a vault URL on a Key Vault
    /// domain names a valid vault).
    Conditional {
        pattern: &'static str,
        when: &'static str,
        then: &'static str,
        then_not: Option<&'static str>,
    },
}

/// One field of the answers file.
#[derive(Clone, Copy, Debug)]
pub struct FieldDef {
    /// Dotted path in the file, e.g. `secretManager.region`.
    pub path: &'static str,
    pub ty: FieldType,
    pub rule: Option<Rule>,
    pub required: bool,
    /// What to write when a required field is missing.
    pub missing_fix: &'static str,
    pub default: FieldDefault,
    /// The only cloud the field applies to; None: every cloud.
    pub cloud: Option<Cloud>,
    /// The wizard's label.
    pub label: &'static str,
    /// The wizard's one-line help.
    pub help: &'static str,
    /// The rule in words, for the README and the JSON Schema.
    pub doc: &'static str,
    /// A valid value, as YAML; used in fixes and the JSON Schema's examples.
    pub example: &'static str,
    pub syntax: Syntax,
    pub max_length: Option<u64>,
    /// Values the JSON Schema lists (the chart versions this build knows).
    pub known_values: Option<fn() -> Vec<String>>,
}

const fn def(
    path: &'static str,
    ty: FieldType,
    label: &'static str,
    help: &'static str,
) -> FieldDef {
    FieldDef {
        path,
        ty,
        rule: None,
        required: false,
        missing_fix: "",
        default: FieldDefault::None,
        cloud: None,
        label,
        help,
        doc: "",
        example: "",
        syntax: Syntax::Any,
        max_length: None,
        known_values: None,
    }
}

const fn text(path: &'static str, label: &'static str, help: &'static str) -> FieldDef {
    def(path, FieldType::Text, label, help)
}

impl FieldDef {
    const fn rule(mut self, rule: Rule, syntax: Syntax) -> Self {
        self.rule = Some(rule);
        self.syntax = syntax;
        self
    }
    /// Required, with the fix shown when it is missing.
    const fn required(mut self, fix: &'static str) -> Self {
        self.required = true;
        self.missing_fix = fix;
        self
    }
    const fn default(mut self, value: &'static str) -> Self {
        self.default = FieldDefault::Value(value);
        self
    }
    const fn default_from(mut self, default: FieldDefault) -> Self {
        self.default = default;
        self
    }
    const fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = Some(cloud);
        self
    }
    const fn doc(mut self, doc: &'static str, example: &'static str) -> Self {
        self.doc = doc;
        self.example = example;
        self
    }
    const fn max(mut self, length: u64) -> Self {
        self.max_length = Some(length);
        self
    }
}

fn profile_storage_class(p: &CloudProfile) -> &str {
    &p.storage_class
}

fn profile_ingress_class(p: &CloudProfile) -> &str {
    &p.ingress_class_name
}

/// A semantic version of a chart whose secret catalog this build carries.
pub fn known_chart_version(value: &str) -> FieldVerdict {
    validate::chart_version(value)?;
    if SecretCatalog::for_chart(value).is_none() {
        return Err((
            format!("chart {value} is not supported by this caracal-deploy"),
            format!(
                "use one of: {}",
                SecretCatalog::supported_versions().join(", ")
            ),
        ));
    }
    Ok(())
}

fn chart_versions() -> Vec<String> {
    SecretCatalog::supported_versions()
        .into_iter()
        .flat_map(|v| [v.to_string(), format!("v{v}")])
        .collect()
}

const SOURCE_HELP: &str =
    "prompt (asked when seeding), generate, env:VAR or file:PATH; never the value itself";
const RUNTIME_NONE: &str = "none: Caracal's service account carries no cloud identity";
const SOURCE_DOC: &str = "`generate`, `prompt`, `env:VAR` or `file:PATH`; never the value";

use FieldType::{Boolean, Cidrs, Integer, Labels};
use Syntax::{Conditional, Pattern, PatternExcept};
use validate::{
    AWS_REGION_PATTERN, DNS1035_PATTERN, ENDPOINT_URL_PATTERN, GCP_LOCATION_PATTERN,
    GCP_PROJECT_PATTERN, GCP_SA_PATTERN, GUID_PATTERN, HOSTNAME_PATTERN, IPV4_PATTERN,
    LABEL_PATTERN, OCI_REF_PATTERN, PG_IDENT_PATTERN, PREFIX_PATTERN, ROLE_ARN_PATTERN,
    SEMVER_PATTERN, SERVICE_HOST_PATTERN, SUBDOMAIN_PATTERN, VAULT_URL_PATTERN,
};

/// Every field of the answers file, in the order the writer emits them.
pub const FIELDS: &[FieldDef] = &[
    def("cloud", FieldType::Choice(CLOUDS), "Cloud", "aws (EKS), gcp (GKE) or azure (AKS): ←/→ to change")
        .required("write cloud: aws, cloud: gcp or cloud: azure")
        .doc("the managed Kubernetes: `aws` (EKS), `gcp` (GKE) or `azure` (AKS)", "aws"),
    text("kubeContext", "Kube context", "context in your kubeconfig; empty: the current context")
        .default_from(FieldDefault::Behaviour("the current context"))
        .doc("a context of your kubeconfig", "prod-eks"),
    text("namespace", "Namespace", "namespace of the release and its runtime Secret")
        .rule(validate::dns1123_label, Pattern(LABEL_PATTERN))
        .max(63)
        .default("caracal")
        .doc("DNS-1123 label", "caracal"),
    text("release", "Release", "helm release name (36 characters at most)")
        .rule(validate::release_name, Pattern(DNS1035_PATTERN))
        .max(validate::MAX_RELEASE_LEN as u64)
        .default("caracal")
        .doc("DNS-1035 label, 36 characters at most (the chart derives longer names)", "caracal"),
    text("chart.ref", "Chart", "OCI reference or a local chart directory")
        .rule(
            validate::chart_ref,
            Conditional { pattern: r"\S", when: "://", then: OCI_REF_PATTERN, then_not: None },
        )
        .default(DEFAULT_CHART_REF)
        .doc("`oci://REGISTRY/PATH/NAME` without a tag, `repo/name` or a local directory", DEFAULT_CHART_REF),
    FieldDef {
        known_values: Some(chart_versions),
        ..text("chart.version", "Chart version", "exact version, e.g. 1.0.0")
            .rule(known_chart_version, Pattern(SEMVER_PATTERN))
            .default(DEFAULT_CHART_VERSION)
            .doc("a chart version this build knows (its secret catalog)", DEFAULT_CHART_VERSION)
    },
    text("secretManager.region", "AWS region", "region of Secrets Manager, e.g. us-east-1")
        .cloud(Cloud::Aws)
        .required("write the AWS region of Secrets Manager, e.g. region: us-east-1")
        .rule(validate::aws_region, Pattern(AWS_REGION_PATTERN))
        .doc("AWS region of Secrets Manager", "us-east-1"),
    text("secretManager.project", "GCP project", "project id holding the secrets, e.g. my-project")
        .cloud(Cloud::Gcp)
        .required("write the GCP project id holding the secrets, e.g. project: my-project")
        .rule(validate::gcp_project, Pattern(GCP_PROJECT_PATTERN))
        .doc("GCP project id (not its name or number)", "my-project"),
    text("secretManager.vaultUrl", "Vault URL", "https://NAME.vault.azure.net")
        .cloud(Cloud::Azure)
        .required("write the vault URI, e.g. vaultUrl: https://caracal-prod.vault.azure.net")
        .rule(
            validate::vault_url,
            Conditional {
                pattern: VAULT_URL_PATTERN,
                when: validate::VAULT_SUFFIX_PATTERN,
                then: validate::VAULT_NAMED_URL_PATTERN,
                then_not: Some("--"),
            },
        )
        .doc("the vault's root URI, https only", "https://caracal-prod.vault.azure.net"),
    text("secretManager.prefix", "Name prefix", "remote names: PREFIX/postgres on AWS, PREFIX-postgres on GCP and Azure")
        .rule(validate::remote_prefix, Pattern(PREFIX_PATTERN))
        .default("caracal")
        .doc("letters, digits, `-`; remote names `caracal/postgres` (AWS), `caracal-postgres` (GCP, Azure)", "caracal"),
    text("secretManager.endpoint", "Endpoint override", "a private endpoint's URL; empty: the service's public API")
        .rule(validate::endpoint_url, Pattern(ENDPOINT_URL_PATTERN))
        .default_from(FieldDefault::Behaviour("the service's public API"))
        .doc("private endpoint URL (https; http only on localhost)", "https://secretsmanager.vpce.example.internal"),
    text("secretManager.caBundle", "CA bundle", "PEM file of extra CAs to trust (private CA, TLS-inspecting proxy); empty: system roots")
        .default_from(FieldDefault::Behaviour("the system's roots"))
        .doc("PEM file of extra CAs to trust (private endpoints, TLS-inspecting proxies)", "/etc/ssl/private-ca.pem"),
    text("identity.roleArn", "IAM role (IRSA)", "External Secrets' role (read the PREFIX secrets): arn:aws:iam::ACCOUNT:role/NAME, trusted by the cluster's OIDC provider")
        .cloud(Cloud::Aws)
        .required("write the IAM role for IRSA, e.g. roleArn: arn:aws:iam::123456789012:role/caracal")
        .rule(validate::role_arn, Pattern(ROLE_ARN_PATTERN))
        .doc("IAM role ARN for IRSA (External Secrets' workload identity)", "arn:aws:iam::123456789012:role/caracal"),
    text("identity.serviceAccount", "Service account", "External Secrets' account: NAME@PROJECT.iam.gserviceaccount.com with Secret Manager read access")
        .cloud(Cloud::Gcp)
        .required("write the Google service account, e.g. caracal@my-project.iam.gserviceaccount.com")
        .rule(validate::gcp_service_account, Pattern(GCP_SA_PATTERN))
        .doc("Workload Identity service account of External Secrets (reads the seeded secrets)", "caracal@my-project.iam.gserviceaccount.com"),
    text("identity.clusterLocation", "Cluster location", "region or zone of the GKE cluster, e.g. us-central1")
        .cloud(Cloud::Gcp)
        .required("write the GKE cluster's region or zone, e.g. us-central1")
        .rule(validate::gcp_location, Pattern(GCP_LOCATION_PATTERN))
        .doc("region or zone of the GKE cluster", "us-central1"),
    text("identity.clusterName", "Cluster name", "name of the GKE cluster")
        .cloud(Cloud::Gcp)
        .required("write the GKE cluster name")
        .rule(validate::gke_cluster_name, Pattern(DNS1035_PATTERN))
        .max(40)
        .doc("GKE cluster name", "caracal-prod"),
    text("identity.clientId", "Client id", "External Secrets' managed identity (Key Vault Secrets User): its client id (GUID)")
        .cloud(Cloud::Azure)
        .required("write the managed identity's client id (a GUID)")
        .rule(validate::guid, Pattern(GUID_PATTERN))
        .doc("client id (GUID) of the managed identity External Secrets reads the vault as", "00000000-0000-0000-0000-000000000000"),
    text("identity.tenantId", "Tenant id", "Entra ID tenant (GUID) of the managed identity; External Secrets needs it in the store")
        .cloud(Cloud::Azure)
        .required("write the Entra ID tenant id (a GUID), e.g. tenantId: 00000000-0000-0000-0000-000000000000 (az account show --query tenantId)")
        .rule(validate::guid, Pattern(GUID_PATTERN))
        .doc("Entra ID tenant (GUID) of the managed identity; written to the store's `tenantId` (without it External Secrets fails with \"missing tenantID in store config\")", "00000000-0000-0000-0000-000000000000"),
    text("identity.clusterProject", "Cluster project", "project of the GKE cluster when it differs from the secrets' project; empty: the same project")
        .cloud(Cloud::Gcp)
        .rule(validate::gcp_project, Pattern(GCP_PROJECT_PATTERN))
        .default_from(FieldDefault::Behaviour("`secretManager.project`"))
        .doc("GCP project id of the GKE cluster (its Workload Identity pool); written to the store's `clusterProjectID`", "my-cluster-project"),
    text("runtimeIdentity.roleArn", "Runtime IAM role", "optional, Caracal's pods: e.g. role/caracal-runtime for its secret backend and audit export only; empty: none")
        .cloud(Cloud::Aws)
        .rule(validate::role_arn, Pattern(ROLE_ARN_PATTERN))
        .default_from(FieldDefault::Behaviour(RUNTIME_NONE))
        .doc("IAM role (IRSA) of Caracal's own pods, for its secret backend and audit export; never the role that reads the seeded secrets", "arn:aws:iam::123456789012:role/caracal-runtime"),
    text("runtimeIdentity.serviceAccount", "Runtime GSA", "optional, Caracal's pods: e.g. caracal-runtime@PROJECT for its secret backend and audit export only; empty: none")
        .cloud(Cloud::Gcp)
        .rule(validate::gcp_service_account, Pattern(GCP_SA_PATTERN))
        .default_from(FieldDefault::Behaviour(RUNTIME_NONE))
        .doc("Google service account of Caracal's own pods, for its secret backend and audit export; never the one that reads the seeded secrets", "caracal-runtime@my-project.iam.gserviceaccount.com"),
    text("runtimeIdentity.clientId", "Runtime client id", "optional, Caracal's pods: client id of e.g. caracal-runtime, for its secret backend and audit export only; empty: none")
        .cloud(Cloud::Azure)
        .rule(validate::guid, Pattern(GUID_PATTERN))
        .default_from(FieldDefault::Behaviour(RUNTIME_NONE))
        .doc("client id (GUID) of the managed identity of Caracal's own pods, for its secret backend and audit export; never the one that reads the seeded secrets", "11111111-1111-1111-1111-111111111111"),
    def("runtimeIdentity.egress", Cidrs, "Runtime egress", "CIDRs of the identity provider and provider APIs (private or VPC endpoints), comma-separated; port 443")
        .default_from(FieldDefault::Behaviour("none; required with a runtime identity"))
        .doc("canonical CIDRs of the identity provider and the provider APIs the runtime identity calls (HTTPS); required with a runtime identity, never open HTTPS; on GKE the metadata server (`169.254.169.252/32` port 988, `169.254.169.254/32` port 80) is admitted too", "[10.0.64.0/24]"),
    text("postgres.host", "Host", "endpoint of the managed Postgres")
        .required("write the managed Postgres endpoint, e.g. host: db.example.internal")
        .rule(validate::service_host, Pattern(SERVICE_HOST_PATTERN))
        .max(253)
        .doc("DNS name or IP, no scheme or port", "db.example.internal"),
    def("postgres.port", Integer { min: 1, max: 65535 }, "Port", "usually 5432")
        .default("5432")
        .doc("TCP port", "5432"),
    text("postgres.database", "Database", "Caracal's database")
        .rule(validate::pg_identifier, Pattern(PG_IDENT_PATTERN))
        .default("caracal")
        .doc("plain identifier", "caracal"),
    text("postgres.authDatabase", "Auth database", "the web tier's session database (must differ)")
        .rule(validate::pg_identifier, Pattern(PG_IDENT_PATTERN))
        .default("caracal_auth")
        .doc("plain identifier; differs from `postgres.database`", "caracal_auth"),
    text("postgres.username", "Admin user", "login the migration Job uses to create the service roles")
        .rule(validate::pg_identifier, Pattern(PG_IDENT_PATTERN))
        .default("caracal")
        .doc("plain identifier", "caracal"),
    def("postgres.password", FieldType::SecretSource, "Password source", SOURCE_HELP)
        .default("prompt")
        .doc(SOURCE_DOC, "prompt"),
    def("postgres.sslMode", FieldType::Choice(validate::SSL_MODES), "TLS mode", "require, verify-ca or verify-full: ←/→")
        .rule(validate::ssl_mode, Syntax::Any)
        .default("require")
        .doc("`require`, `verify-ca` or `verify-full`", "require"),
    text("redis.host", "Host", "endpoint of the managed Redis")
        .required("write the managed Redis endpoint, e.g. host: cache.example.internal")
        .rule(validate::service_host, Pattern(SERVICE_HOST_PATTERN))
        .max(253)
        .doc("DNS name or IP, no scheme or port", "cache.example.internal"),
    def("redis.port", Integer { min: 1, max: 65535 }, "Port", "6379; Azure Cache for Redis serves TLS on 6380")
        .default("6379")
        .doc("TCP port", "6379"),
    def("redis.database", Integer { min: 0, max: 15 }, "Database", "0 to 15")
        .default("0")
        .doc("Redis database number", "0"),
    def("redis.password", FieldType::SecretSource, "Password source", SOURCE_HELP)
        .default("prompt")
        .doc(SOURCE_DOC, "prompt"),
    def("redis.tls", Boolean, "TLS", "true: rediss:// (in-transit encryption); ←/→")
        .default("true")
        .doc("`true` writes `rediss://`", "true"),
    text("ingress.className", "Ingress class", "empty: the cloud's default (alb, gce, webapprouting.kubernetes.azure.com)")
        .rule(validate::dns1123_subdomain, Pattern(SUBDOMAIN_PATTERN))
        .max(253)
        .default_from(FieldDefault::Profile(profile_ingress_class))
        .doc("IngressClass name; `gce` (GKE's controller, which has no IngressClass object) is also written as the annotation `kubernetes.io/ingress.class: gce`, the only way GKE's controller takes an Ingress", "alb"),
    text("ingress.clusterIssuer", "ClusterIssuer", "cert-manager ClusterIssuer for the TLS certificates")
        .required("write the cert-manager ClusterIssuer that issues the TLS certificates, e.g. letsencrypt-prod")
        .rule(validate::dns1123_subdomain, Pattern(SUBDOMAIN_PATTERN))
        .max(253)
        .doc("cert-manager ClusterIssuer that issues the TLS certificates", "letsencrypt-prod"),
    text("ingress.hosts.sts", "STS host", "token service; also the issuer URL")
        .rule(validate::hostname, PatternExcept(HOSTNAME_PATTERN, IPV4_PATTERN))
        .max(253)
        .default_from(FieldDefault::Behaviour("no Ingress: the service stays private"))
        .doc("public hostname of the token service", "sts.example.com"),
    text("ingress.hosts.gateway", "Gateway host", "the protected-request gateway")
        .rule(validate::hostname, PatternExcept(HOSTNAME_PATTERN, IPV4_PATTERN))
        .max(253)
        .default_from(FieldDefault::Behaviour("no Ingress: the service stays private"))
        .doc("public hostname of the gateway", "gateway.example.com"),
    text("ingress.hosts.api", "API host", "the control-plane API")
        .rule(validate::hostname, PatternExcept(HOSTNAME_PATTERN, IPV4_PATTERN))
        .max(253)
        .default_from(FieldDefault::Behaviour("no Ingress: the service stays private"))
        .doc("public hostname of the control-plane API", "api.example.com"),
    text("ingress.hosts.web", "Console host", "required: the browser origin, e.g. console.example.com")
        .required("write the console's public hostname, e.g. web: console.example.com")
        .rule(validate::hostname, PatternExcept(HOSTNAME_PATTERN, IPV4_PATTERN))
        .max(253)
        .doc("public hostname of the web console; each service its own host", "console.example.com"),
    def("network.dnsEgress", Cidrs, "DNS egress", "CIDRs of the cluster DNS, comma-separated, e.g. 10.0.0.10/32")
        .required("list the cluster DNS service address, e.g. dnsEgress: [10.0.0.10/32] (stable mode refuses to render without it)")
        .doc("canonical CIDRs of the cluster DNS (`10.0.0.1/16` is refused: did you mean `10.0.0.0/16`?)", "[10.0.0.10/32]"),
    def("network.stateEgress", Cidrs, "State egress", "CIDRs of the managed Postgres and Redis, comma-separated")
        .required("list the CIDRs of the managed Postgres and Redis, e.g. stateEgress: [10.20.0.0/16]")
        .doc("canonical CIDRs of the managed Postgres and Redis", "[10.20.0.0/16]"),
    def("network.loadBalancerCidrs", Cidrs, "Load balancer CIDRs", "classes whose load balancer is outside the pods (alb: the VPC or subnet CIDRs; gce: Google's ranges by default; azure-application-gateway: the gateway's subnet)")
        .default_from(FieldDefault::Behaviour("the ingress class's: `130.211.0.0/22`, `35.191.0.0/16` for `gce`; required for `alb` and `azure-application-gateway`; none for in-cluster controllers"))
        .doc("canonical CIDRs the load balancer sends from (ALB with IP targets: the VPC or subnets; AGIC: the gateway's subnet); only for classes whose traffic does not come from a pod", "[10.60.0.0/16]"),
    text("network.ingressController.namespace", "Controller namespace", "in-cluster controllers only (webapprouting: app-routing-system, nginx: ingress-nginx); empty: the class's")
        .rule(validate::dns1123_label, Pattern(LABEL_PATTERN))
        .max(63)
        .default_from(FieldDefault::Behaviour("the ingress class's (`app-routing-system` for `webapprouting.kubernetes.azure.com`, `ingress-nginx` for `nginx`, `traefik` for `traefik`); none for `alb`, `gce`, `azure-application-gateway`"))
        .doc("namespace of an in-cluster ingress controller: the only source admitted to the exposed services; not for classes whose load balancer is outside the pods", "ingress-nginx"),
    def("network.ingressController.podLabels", Labels, "Controller labels", "key=value, comma-separated, e.g. app.kubernetes.io/name=ingress-nginx")
        .default_from(FieldDefault::Behaviour("the ingress class's, else every pod of the namespace"))
        .doc("labels of the ingress controller pods", "{app.kubernetes.io/name: ingress-nginx}"),
    text("storageClass", "Storage class", "empty: the cloud's default (gp3, premium-rwo, managed-csi)")
        .rule(validate::dns1123_subdomain, Pattern(SUBDOMAIN_PATTERN))
        .max(253)
        .default_from(FieldDefault::Profile(profile_storage_class))
        .doc("StorageClass of the STS and Gateway replay volumes", "gp3"),
    def("secrets", FieldType::SecretSources, "Secret sources", "source of each catalog key or token")
        .default_from(FieldDefault::Behaviour("`generate` for each"))
        .doc("source of a catalog key or token: `generate`, `prompt`, `env:VAR` or `file:PATH`", "{admin-token: env:ADMIN_TOKEN}"),
    def("kekRotation", Boolean, "KEK rotation", "true during a KEK rotation window")
        .default("false")
        .doc("`true` during a KEK rotation window (mounts `secretStoreKekPrevious`)", "false"),
];

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The definition of a field; fails the build when used in a constant with an unknown path.
pub const fn find(path: &str) -> &'static FieldDef {
    let mut i = 0;
    while i < FIELDS.len() {
        if same(FIELDS[i].path, path) {
            return &FIELDS[i];
        }
        i += 1;
    }
    panic!("no field of the answers schema has this path")
}

/// The definition of a field, if the schema has it.
pub fn field(path: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.path == path)
}

impl FieldDef {
    pub fn applies_to(&self, cloud: Cloud) -> bool {
        self.cloud.is_none_or(|c| c == cloud)
    }

    /// The last segment of the path.
    pub fn key(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }

    /// The mapping the field sits in (`` for top-level fields).
    pub fn section(&self) -> &'static str {
        self.path.rsplit_once('.').map_or("", |(s, _)| s)
    }

    /// The fixed default as a YAML value, if the field has one.
    pub fn default_value(&self) -> Option<Value> {
        let FieldDefault::Value(text) = self.default else {
            return None;
        };
        Some(match self.ty {
            FieldType::Integer { .. } => json!(text.parse::<i64>().expect("integer default")),
            FieldType::Boolean => json!(text == "true"),
            _ => json!(text),
        })
    }

    /// The choices offered, for choice and boolean fields.
    pub fn choices(&self) -> Option<&'static [&'static str]> {
        match self.ty {
            FieldType::Choice(c) => Some(c),
            FieldType::Boolean => Some(&["true", "false"]),
            _ => None,
        }
    }
}

/// The fields that apply to a cloud, in file order.
pub fn fields_for(cloud: Cloud) -> impl Iterator<Item = &'static FieldDef> {
    FIELDS.iter().filter(move |f| f.applies_to(cloud))
}

/// Whether `path` names a mapping that holds fields (`ingress`, `ingress.hosts`).
pub fn is_section(path: &str) -> bool {
    path.is_empty()
        || FIELDS.iter().any(|f| {
            f.path.len() > path.len()
                && f.path.starts_with(path)
                && f.path.as_bytes()[path.len()] == b'.'
        })
}

/// The keys directly under a section, in file order, each once.
pub fn keys_of(section: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in FIELDS {
        let rest = if section.is_empty() {
            Some(f.path)
        } else {
            f.path
                .strip_prefix(section)
                .and_then(|r| r.strip_prefix('.'))
        };
        if let Some(rest) = rest {
            let key = rest.split('.').next().unwrap_or(rest);
            if !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}

/// The value at a dotted path of a document, if present and not null.
pub fn get_at<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    let mut node = doc;
    for part in path.split('.') {
        node = node.as_object()?.get(part)?;
    }
    (!node.is_null()).then_some(node)
}

/// Sets a dotted path of a document, creating the mappings on the way.
pub fn insert_at(doc: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut node = doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_string(), value);
            return;
        }
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = entry.as_object_mut().expect("just made a mapping");
    }
}

// ---------------------------------------------------------------- JSON Schema

/// The JSON Schema (draft 2020-12) of the answers file, as published in
/// `schema/answers.schema.json`.
pub fn json_schema() -> Value {
    let mut root = section_schema("");
    let root_map = root.as_object_mut().expect("a mapping");
    let mut conditions = Vec::new();
    for cloud in Cloud::ALL {
        conditions.push(json!({
            "if": { "properties": { "cloud": { "const": cloud.as_str() } }, "required": ["cloud"] },
            "then": cloud_branch("", cloud).unwrap_or_else(|| json!({})),
        }));
    }
    let mut out = Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert("$id".into(), json!("urn:caracal-deploy:answers"));
    out.insert("title".into(), json!("caracal-deploy answers file"));
    out.insert(
        "description".into(),
        json!("The choices of a Caracal install, never a secret value. Generated from src/core/schema.rs: do not edit."),
    );
    out.append(root_map);
    out.insert("allOf".into(), Value::Array(conditions));
    Value::Object(out)
}

/// Whether a section has a required field beneath it for `cloud` (None: for every cloud).
fn section_required(section: &str, cloud: Option<Cloud>) -> bool {
    FIELDS.iter().any(|f| {
        f.required
            && f.cloud == cloud
            && f.path.starts_with(section)
            && f.path.len() > section.len()
            && f.path.as_bytes()[section.len()] == b'.'
    })
}

fn child_path(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    }
}

/// The schema of a mapping: every field of every cloud, the common required ones.
fn section_schema(section: &str) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for key in keys_of(section) {
        let path = child_path(section, key);
        if let Some(f) = field(&path) {
            properties.insert(key.into(), leaf_schema(f));
            if f.required && f.cloud.is_none() {
                required.push(json!(key));
            }
        } else {
            let mut sub = section_schema(&path);
            let any_required = Cloud::ALL
                .into_iter()
                .any(|c| section_required(&path, Some(c)))
                || section_required(&path, None);
            if !any_required {
                sub["type"] = json!(["object", "null"]);
            }
            properties.insert(key.into(), sub);
            if section_required(&path, None) {
                required.push(json!(key));
            }
        }
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("additionalProperties".into(), json!(false));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    Value::Object(out)
}

/// What choosing `cloud` adds: its fields required, the other clouds' fields forbidden.
fn cloud_branch(section: &str, cloud: Cloud) -> Option<Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for key in keys_of(section) {
        let path = child_path(section, key);
        match field(&path) {
            Some(f) => match f.cloud {
                Some(c) if c == cloud && f.required => required.push(json!(key)),
                Some(c) if c != cloud => {
                    properties.insert(key.into(), json!(false));
                }
                _ => {}
            },
            None => {
                if let Some(sub) = cloud_branch(&path, cloud) {
                    properties.insert(key.into(), sub);
                    if section_required(&path, Some(cloud)) {
                        required.push(json!(key));
                    }
                }
            }
        }
    }
    if properties.is_empty() && required.is_empty() {
        return None;
    }
    let mut out = Map::new();
    if !section.is_empty() {
        // `required` ignores anything but mappings: say it must be one.
        out.insert("type".into(), json!("object"));
    }
    if !properties.is_empty() {
        out.insert("properties".into(), Value::Object(properties));
    }
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    Some(Value::Object(out))
}

fn text_schema(syntax: Syntax, max_length: Option<u64>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("type".into(), json!("string"));
    match syntax {
        Syntax::Any => {
            out.insert("pattern".into(), json!(r"\S"));
        }
        Syntax::Pattern(p) => {
            out.insert("pattern".into(), json!(p));
        }
        Syntax::PatternExcept(p, except) => {
            out.insert("pattern".into(), json!(p));
            out.insert("not".into(), json!({ "pattern": except }));
        }
        Syntax::Conditional {
            pattern,
            when,
            then,
            then_not,
        } => {
            out.insert("pattern".into(), json!(pattern));
            out.insert("if".into(), json!({ "pattern": when }));
            let mut then_schema = json!({ "pattern": then });
            if let Some(not) = then_not {
                then_schema["not"] = json!({ "pattern": not });
            }
            out.insert("then".into(), then_schema);
        }
    }
    if let Some(n) = max_length {
        out.insert("maxLength".into(), json!(n));
    }
    out
}

fn source_schema() -> Value {
    json!({ "type": "string", "pattern": validate::SECRET_SOURCE_PATTERN })
}

fn leaf_schema(f: &FieldDef) -> Value {
    let mut out = match f.ty {
        FieldType::Text => {
            let mut m = text_schema(f.syntax, f.max_length);
            if let Some(values) = f.known_values {
                m.insert("enum".into(), json!(values()));
            }
            m
        }
        FieldType::Choice(choices) => {
            let mut m = Map::new();
            m.insert("enum".into(), json!(choices));
            m
        }
        FieldType::Integer { min, max } => {
            let mut m = Map::new();
            m.insert("type".into(), json!("integer"));
            m.insert("minimum".into(), json!(min));
            m.insert("maximum".into(), json!(max));
            m
        }
        FieldType::Boolean => {
            let mut m = Map::new();
            m.insert("type".into(), json!("boolean"));
            m
        }
        FieldType::Cidrs => {
            let mut m = Map::new();
            m.insert("type".into(), json!("array"));
            m.insert("minItems".into(), json!(1));
            m.insert(
                "items".into(),
                json!({ "type": "string", "pattern": validate::CIDR_PATTERN }),
            );
            m
        }
        FieldType::Labels => {
            let mut m = Map::new();
            m.insert("type".into(), json!("object"));
            m.insert(
                "propertyNames".into(),
                json!({ "pattern": validate::LABEL_KEY_PATTERN, "maxLength": 317 }),
            );
            // YAML reads `use: true` and `tier: 1` as a boolean and a number; the reader takes
            // them as the label values "true" and "1".
            m.insert(
                "additionalProperties".into(),
                json!({ "anyOf": [
                    { "type": "string", "pattern": validate::LABEL_VALUE_PATTERN },
                    { "type": "boolean" },
                    { "type": "integer", "minimum": 0 },
                ] }),
            );
            m
        }
        FieldType::SecretSource => source_schema().as_object().cloned().expect("a mapping"),
        FieldType::SecretSources => {
            let mut names: Vec<String> = Vec::new();
            for v in SecretCatalog::supported_versions() {
                let catalog = SecretCatalog::for_chart(v).expect("a supported version");
                for s in catalog.generated() {
                    if !names.contains(&s.name) {
                        names.push(s.name.clone());
                    }
                }
            }
            let mut m = Map::new();
            m.insert("type".into(), json!("object"));
            m.insert("propertyNames".into(), json!({ "enum": names }));
            m.insert(
                "additionalProperties".into(),
                json!({ "anyOf": [source_schema(), { "type": "null" }] }),
            );
            m
        }
    };
    if !f.required {
        // An empty `key:` reads as absent.
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    let mut ordered = Map::new();
    ordered.insert("description".into(), json!(description(f)));
    ordered.append(&mut out);
    if let Some(v) = f.default_value() {
        ordered.insert("default".into(), v);
    }
    Value::Object(ordered)
}

fn description(f: &FieldDef) -> String {
    let mut out = f.doc.to_string();
    if let Some(c) = f.cloud {
        out.push_str(&format!(" (cloud: {c})"));
    }
    match f.default {
        FieldDefault::Profile(get) => out.push_str(&format!(
            ". Default: the cloud's ({})",
            Cloud::ALL
                .iter()
                .map(|c| format!("{c}: {}", get(CloudProfile::get(*c))))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        FieldDefault::Behaviour(what) => out.push_str(&format!(". Default: {what}")),
        FieldDefault::Value(_) | FieldDefault::None => {}
    }
    out
}

// ---------------------------------------------------------------- README reference

pub const README_START: &str = "<!-- answers-reference:start -->";
pub const README_END: &str = "<!-- answers-reference:end -->";

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The README's table of the answers file's fields (between [`README_START`] and
/// [`README_END`]).
pub fn readme_reference() -> String {
    let mut out = String::new();
    out.push_str(README_START);
    out.push_str(
        "\n<!-- generated from src/core/schema.rs: `CARACAL_UPDATE_GENERATED=1 cargo test --test schema` rewrites it -->\n",
    );
    out.push_str(
        "| field | cloud | required | default | rule |\n| --- | --- | --- | --- | --- |\n",
    );
    for f in FIELDS {
        let required = if f.required { "yes" } else { "" };
        let cloud = f.cloud.map_or(String::new(), |c| c.to_string());
        let default = match f.default {
            FieldDefault::None => String::new(),
            FieldDefault::Value(v) => format!("`{v}`"),
            FieldDefault::Profile(get) => format!(
                "the cloud's ({})",
                Cloud::ALL
                    .iter()
                    .map(|c| format!("`{}`", get(CloudProfile::get(*c))))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FieldDefault::Behaviour(what) => what.to_string(),
        };
        let mut rule = f.doc.to_string();
        if let FieldType::Integer { min, max } = f.ty {
            rule.push_str(&format!(", {min}-{max}"));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            f.path,
            cloud,
            required,
            cell(&default),
            cell(&rule)
        ));
    }
    out.push_str(README_END);
    out
}

/// `readme` with its reference table replaced by [`readme_reference`]; None when the markers
/// are missing.
pub fn with_readme_reference(readme: &str) -> Option<String> {
    let start = readme.find(README_START)?;
    let end = readme[start..].find(README_END)? + start + README_END.len();
    Some(format!(
        "{}{}{}",
        &readme[..start],
        readme_reference(),
        &readme[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn paths_are_unique_and_sections_never_fields() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[i + 1..].iter().all(|g| g.path != f.path),
                "{} twice",
                f.path
            );
            assert!(
                !is_section(f.path),
                "{} is both a field and a section",
                f.path
            );
            assert!(
                !f.label.is_empty() && !f.help.is_empty() && !f.doc.is_empty(),
                "{}",
                f.path
            );
            assert!(!f.example.is_empty(), "{} has no example", f.path);
            assert!(
                !f.required || matches!(f.default, FieldDefault::None),
                "{} is required and has a default",
                f.path
            );
            assert_eq!(f.required, !f.missing_fix.is_empty(), "{}", f.path);
        }
    }

    #[test]
    fn examples_and_defaults_pass_the_rule_and_the_published_pattern() {
        for f in FIELDS {
            let mut samples = vec![f.example];
            if let FieldDefault::Value(v) = f.default {
                samples.push(v);
            }
            for s in samples {
                if let Some(rule) = f.rule {
                    assert!(rule(s).is_ok(), "{}: {s}: {:?}", f.path, rule(s));
                }
                let matches = |p: &str| Regex::new(p).unwrap().is_match(s);
                let ok = match f.syntax {
                    Syntax::Any => true,
                    Syntax::Pattern(p) => matches(p),
                    Syntax::PatternExcept(p, not) => matches(p) && !matches(not),
                    Syntax::Conditional {
                        pattern,
                        when,
                        then,
                        then_not,
                    } => {
                        matches(pattern)
                            && (!matches(when) || (matches(then) && !then_not.is_some_and(matches)))
                    }
                };
                assert!(ok, "{}: {s} does not match its published syntax", f.path);
                if let Some(n) = f.max_length {
                    assert!(s.len() as u64 <= n, "{}", f.path);
                }
            }
        }
    }

    #[test]
    fn profile_defaults_are_named_in_the_help() {
        for f in FIELDS {
            if let FieldDefault::Profile(get) = f.default {
                for c in Cloud::ALL {
                    let v = get(CloudProfile::get(c));
                    assert!(
                        f.help.contains(v),
                        "{}: the help must name {c}'s default {v}",
                        f.path
                    );
                }
            }
        }
    }

    #[test]
    fn ingress_source_defaults_name_the_ingress_class_profiles() {
        use crate::core::profiles::{IngressClassProfile, IngressSourceKind};
        let said = |path: &str| match find(path).default {
            FieldDefault::Behaviour(what) => what,
            other => panic!("{path}: {other:?}"),
        };
        let cidrs = said("network.loadBalancerCidrs");
        let namespace = said("network.ingressController.namespace");
        for c in IngressClassProfile::all() {
            let class = format!("`{}`", c.class_name);
            match c.source {
                IngressSourceKind::Cidrs => {
                    assert!(cidrs.contains(&class), "{class}");
                    assert!(namespace.contains(&class), "{class}");
                    for d in &c.default_cidrs {
                        assert!(cidrs.contains(&format!("`{d}`")), "{d}");
                    }
                }
                IngressSourceKind::Pods => {
                    let ns = c.namespace.as_deref().unwrap();
                    assert!(
                        namespace.contains(&format!("`{ns}` for {class}")),
                        "{class}: {ns}"
                    );
                }
            }
        }
    }

    #[test]
    fn const_lookup_finds_every_field() {
        for f in FIELDS {
            assert_eq!(find(f.path).path, f.path);
        }
        assert_eq!(keys_of("ingress"), ["className", "clusterIssuer", "hosts"]);
        assert!(is_section("network.ingressController"));
        assert!(!is_section("network.dnsEgress"));
    }
}
