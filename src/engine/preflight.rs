//! The checks that must pass before anything is changed: the cluster, its operators, the
//! operator's permissions, the resources the answers name, the seeded secrets and helm. They
//! only read; nothing is written anywhere.

use crate::adapters::helm::Helm;
use crate::adapters::kube::{Cluster, KubeError};
use crate::core::answers::Answers;
use crate::core::checks::{Check, Outcome, Report, kube_minor};
use crate::core::external_secret::RUNTIME_SECRET;
use crate::core::profiles::{CLASS_ANNOTATION, IngressClassProfile};
use crate::core::secret_manager::SecretManager;
use crate::core::seed::{Action, SeedPlan};
use crate::core::values::{ingress_class, storage_class};

/// The oldest Kubernetes the chart and the wizard support.
pub const MIN_KUBE: (u32, u32) = (1, 30);
/// The oldest helm 3 that installs the chart as the wizard does.
pub const MIN_HELM3: (u32, u32) = (3, 14);

const KUBERNETES: &str = "kubernetes";
const OPERATORS: &str = "operators";
const PERMISSIONS: &str = "permissions";
const RESOURCES: &str = "cluster resources";
const SECRETS: &str = "secrets";
const TOOLS: &str = "tools";

/// The operators whose CRDs the bundle and the chart use: (check id, description, group
/// version, kinds, what to install).
const OPERATOR_KINDS: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "crd-external-secrets",
        "External Secrets Operator CRDs served (external-secrets.io/v1)",
        "external-secrets.io/v1",
        &["ClusterSecretStore", "ExternalSecret"],
        "install External Secrets Operator 0.16.2 or newer (it serves external-secrets.io/v1)",
    ),
    (
        "crd-cert-manager",
        "cert-manager CRDs served (cert-manager.io/v1)",
        "cert-manager.io/v1",
        &["Certificate", "ClusterIssuer"],
        "install cert-manager (the ingress TLS certificates are issued by it)",
    ),
    (
        "crd-prometheus-operator",
        "Prometheus Operator CRDs served (monitoring.coreos.com/v1)",
        "monitoring.coreos.com/v1",
        &["ServiceMonitor", "PrometheusRule"],
        "install the Prometheus Operator CRDs (kube-prometheus-stack), the chart renders ServiceMonitors and a PrometheusRule",
    ),
];

/// An operator's controller as upstream installs it: the label selectors of its Deployment
/// (its helm chart's or bundle's labels) and the leader-election Leases it holds.
struct Controller {
    id: &'static str,
    description: &'static str,
    selectors: &'static [&'static str],
    leases: &'static [&'static str],
    install: &'static str,
}

const CONTROLLERS: &[Controller] = &[
    Controller {
        id: "controller-external-secrets",
        description: "External Secrets controller running",
        selectors: &["app.kubernetes.io/name=external-secrets"],
        leases: &["external-secrets-controller"],
        install: "install External Secrets Operator (`helm install external-secrets external-secrets/external-secrets -n external-secrets --create-namespace`): without it the runtime Secret is never synced",
    },
    Controller {
        id: "controller-cert-manager",
        description: "cert-manager controller running",
        selectors: &["app.kubernetes.io/name=cert-manager"],
        leases: &["cert-manager-controller"],
        install: "install cert-manager (`helm install cert-manager jetstack/cert-manager -n cert-manager --create-namespace --set crds.enabled=true`): without it the ingress certificates are never issued",
    },
    Controller {
        id: "controller-prometheus-operator",
        description: "Prometheus Operator running",
        selectors: &[
            "app.kubernetes.io/name in (prometheus-operator,kube-prometheus-stack-prometheus-operator)",
            "app=kube-prometheus-stack-operator",
        ],
        leases: &[],
        install: "install the Prometheus Operator (kube-prometheus-stack): without it the chart's ServiceMonitors and alert rules are stored but nothing scrapes or alerts",
    },
];

/// How long after a Lease's expiry its holder still counts as running (clock skew).
const LEASE_GRACE_SECONDS: i64 = 15;

/// Judges whether a controller runs, from the Deployments its selectors found and the Leases
/// of its names: a Deployment with a ready replica, or a Lease renewed within its duration,
/// is running; Deployments with none ready are an error; nothing found is a warning (it may be
/// installed in a way these labels do not see).
fn judge_controller(
    check: Check,
    controller: &Controller,
    deployments: &[k8s_openapi::api::apps::v1::Deployment],
    leases: &[k8s_openapi::api::coordination::v1::Lease],
    now: k8s_openapi::jiff::Timestamp,
) -> Check {
    let name = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        )
    };
    let counts = |d: &k8s_openapi::api::apps::v1::Deployment| {
        (
            d.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0),
            d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        )
    };
    if let Some(d) = deployments.iter().find(|d| counts(d).0 > 0) {
        let (ready, desired) = counts(d);
        return check.success(format!(
            "Deployment {} {ready}/{desired} ready",
            name(&d.metadata)
        ));
    }
    for lease in leases {
        let Some(spec) = &lease.spec else { continue };
        let (Some(renewed), Some(duration)) = (&spec.renew_time, spec.lease_duration_seconds)
        else {
            continue;
        };
        let age = now.as_second() - renewed.0.as_second();
        if age <= i64::from(duration) + LEASE_GRACE_SECONDS {
            return check.success(format!(
                "leader lease {} held by {}, renewed {}s ago",
                name(&lease.metadata),
                spec.holder_identity.as_deref().unwrap_or("?"),
                age.max(0)
            ));
        }
    }
    if let Some(d) = deployments.first() {
        let (ready, desired) = counts(d);
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        return check.error(
            format!(
                "Deployment {} has {ready}/{desired} ready replicas",
                name(&d.metadata)
            ),
            format!(
                "see why: `kubectl -n {ns} describe deployment {}` and `kubectl -n {ns} get pods`",
                d.metadata.name.as_deref().unwrap_or("")
            ),
        );
    }
    let mut looked = vec![format!(
        "no Deployment labelled {}",
        controller.selectors.join(" or ")
    )];
    if !controller.leases.is_empty() {
        looked.push(format!(
            "no leader lease {} renewed lately",
            controller.leases.join(" or ")
        ));
    }
    check.warning(
        format!("not found: {}", looked.join(", ")),
        controller.install,
    )
}

/// Looks for the controller's Deployments and Leases in every namespace and judges them.
async fn controller_check(c: &Cluster, controller: &Controller) -> Check {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::coordination::v1::Lease;
    let check = Check::new(controller.id, controller.description);
    let mut deployments = Vec::new();
    for selector in controller.selectors {
        match c.list_all::<Deployment>(selector, "").await {
            Ok(found) => deployments.extend(found),
            Err(e) => return unknown(check, &e),
        }
    }
    let mut leases = Vec::new();
    for lease in controller.leases {
        match c
            .list_all::<Lease>("", &format!("metadata.name={lease}"))
            .await
        {
            Ok(found) => leases.extend(found),
            Err(e) => return unknown(check, &e),
        }
    }
    judge_controller(
        check,
        controller,
        &deployments,
        &leases,
        k8s_openapi::jiff::Timestamp::now(),
    )
}

/// A controller check that could not look: a warning, since the steps may still work.
fn unknown(check: Check, e: &KubeError) -> Check {
    check.warning(
        format!("cannot tell whether it runs: {e}"),
        "allow your user to list deployments and leases in all namespaces, or check by hand with `kubectl get deployments -A`",
    )
}

/// Every (verb, group, resource, namespaced) the apply and install steps use.
fn needed_permissions() -> Vec<(&'static str, &'static str, &'static str, bool)> {
    let mut out = vec![
        ("get", "", "namespaces", false),
        ("create", "", "namespaces", false),
        ("patch", "", "namespaces", false),
        ("get", "external-secrets.io", "clustersecretstores", false),
        ("patch", "external-secrets.io", "clustersecretstores", false),
    ];
    for (group, resource) in [
        ("", "serviceaccounts"),
        ("external-secrets.io", "externalsecrets"),
        ("", "configmaps"),
        ("", "services"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "jobs"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "networkpolicies"),
        ("policy", "poddisruptionbudgets"),
        ("monitoring.coreos.com", "servicemonitors"),
        ("monitoring.coreos.com", "prometheusrules"),
    ] {
        for verb in ["get", "create", "patch"] {
            out.push((verb, group, resource, true));
        }
    }
    // helm keeps its releases in Secrets of the namespace; the runtime Secret is read.
    for verb in ["get", "list", "create", "patch"] {
        out.push((verb, "", "secrets", true));
    }
    out
}

/// Which managed Kubernetes a context looks like, from its name and API server URL.
pub fn cloud_of(context: &str, server: &str) -> &'static str {
    if server.contains(".eks.amazonaws.com") || context.starts_with("arn:aws:eks:") {
        "Amazon EKS"
    } else if context.starts_with("gke_") || server.contains("container.googleapis.com") {
        "Google GKE"
    } else if server.contains(".azmk8s.io") {
        "Azure AKS"
    } else {
        "not a managed cloud cluster (by its name and URL)"
    }
}

fn kube_hint(e: &KubeError) -> String {
    e.fix().unwrap_or_else(|| {
        "check the network path to the API server (VPN, private endpoint, authorized networks)"
            .into()
    })
}

/// Runs every check. `cluster` is None when connecting failed (its error is the first check);
/// `sm` None when the secret manager could not be reached (`sm_error` says why).
pub async fn run(
    answers: &Answers,
    cluster: Result<&Cluster, &KubeError>,
    plan: Result<&SeedPlan, String>,
    helm: &Helm,
) -> Report {
    let mut report = Report::default();
    let cluster = match cluster {
        Ok(c) => {
            report.push(
                KUBERNETES,
                Check::new("kube-context", "kubeconfig and context found").success(format!(
                    "context {}, API server {}, {}",
                    c.context(),
                    c.server(),
                    cloud_of(c.context(), c.server())
                )),
            );
            Some(c)
        }
        Err(e) => {
            report.push(
                KUBERNETES,
                Check::new("kube-context", "kubeconfig and context found")
                    .error(e.to_string(), kube_hint(e)),
            );
            None
        }
    };
    let reachable = match cluster {
        None => {
            report.push(
                KUBERNETES,
                Check::new("kube-api", "API server reachable")
                    .skipped("not connected to the cluster"),
            );
            None
        }
        Some(c) => match c.server_version().await {
            Ok(version) => {
                report.push(
                    KUBERNETES,
                    Check::new("kube-api", "API server reachable").success(version.clone()),
                );
                let check = Check::new(
                    "kube-version",
                    &format!("Kubernetes {}.{} or newer", MIN_KUBE.0, MIN_KUBE.1),
                );
                report.push(
                    KUBERNETES,
                    match kube_minor(&version) {
                        Some(v) if v >= MIN_KUBE => check.success(version),
                        Some(_) => check.error(
                            format!("the server runs {version}"),
                            "upgrade the cluster: the chart needs Kubernetes 1.30 or newer",
                        ),
                        None => check.warning(
                            format!("cannot read the version `{version}`"),
                            "check the server version with `kubectl version`",
                        ),
                    },
                );
                Some(c)
            }
            Err(e) => {
                report.push(
                    KUBERNETES,
                    Check::new("kube-api", "API server reachable")
                        .error(e.to_string(), kube_hint(&e)),
                );
                None
            }
        },
    };
    for (id, description, api_version, kinds, install) in OPERATOR_KINDS {
        let check = Check::new(id, description);
        let Some(c) = reachable else {
            report.push(OPERATORS, check.skipped("the API server is not reachable"));
            continue;
        };
        let mut missing = Vec::new();
        let mut failure = None;
        for kind in *kinds {
            match c.serves(api_version, kind).await {
                Ok(true) => {}
                Ok(false) => missing.push(*kind),
                Err(e) => failure = Some(e),
            }
        }
        report.push(
            OPERATORS,
            match (failure, missing.is_empty()) {
                (Some(e), _) => check.error(e.to_string(), kube_hint(&e)),
                (None, true) => check.success(kinds.join(", ")),
                (None, false) => check.error(
                    format!("not served: {}", missing.join(", ")),
                    install.to_string(),
                ),
            },
        );
    }
    for controller in CONTROLLERS {
        report.push(
            OPERATORS,
            match reachable {
                None => Check::new(controller.id, controller.description)
                    .skipped("the API server is not reachable"),
                Some(c) => controller_check(c, controller).await,
            },
        );
    }
    let check = Check::new(
        "permissions",
        "your user may do everything apply and install do",
    );
    match reachable {
        None => report.push(
            PERMISSIONS,
            check.skipped("the API server is not reachable"),
        ),
        Some(c) => {
            let mut missing = Vec::new();
            let mut failure = None;
            let needed = needed_permissions();
            for (verb, group, resource, namespaced) in &needed {
                let ns = namespaced.then_some(answers.namespace.as_str());
                match c.can_i(verb, group, resource, ns).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let res = if group.is_empty() {
                            resource.to_string()
                        } else {
                            format!("{resource}.{group}")
                        };
                        missing.push(match ns {
                            Some(ns) => format!("{verb} {res} in {ns}"),
                            None => format!("{verb} {res}"),
                        });
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            report.push(
                PERMISSIONS,
                match failure {
                    Some(e) => check.error(e.to_string(), kube_hint(&e)),
                    None if missing.is_empty() => {
                        check.success(format!("all {} allowed", needed.len()))
                    }
                    None => check.error(
                        format!("not allowed: {}", missing.join(", ")),
                        "grant these verbs to your user (a Role in the namespace and a ClusterRole for namespaces and ClusterSecretStores), or use a context that has them",
                    ),
                },
            );
        }
    }
    let storage = storage_class(answers);
    let ingress = ingress_class(answers);
    // GKE's `gce`: the controller runs on Google's side, has no IngressClass object, and
    // takes the Ingresses by their annotation: there is no object to look for.
    let by_annotation = IngressClassProfile::by_annotation(&ingress);
    for (id, description, api_version, kind, name, hint, no_object) in [
        (
            "storage-class",
            format!("storage class {storage} exists"),
            "storage.k8s.io/v1",
            "StorageClass",
            storage.clone(),
            "create it, or set `storageClass` in the answers to one of `kubectl get storageclass` (the STS and Gateway claims use it)".to_string(),
            None,
        ),
        (
            "ingress-class",
            if by_annotation {
                format!("ingress class {ingress} is selected by annotation")
            } else {
                format!("ingress class {ingress} exists")
            },
            "networking.k8s.io/v1",
            "IngressClass",
            ingress.clone(),
            "install the ingress controller of that class, or set `ingress.className` to one of `kubectl get ingressclass`".to_string(),
            by_annotation.then(|| format!(
                "no object needed: its controller runs outside the cluster and takes the Ingresses by their `{CLASS_ANNOTATION}: {ingress}` annotation"
            )),
        ),
    ] {
        let check = Check::new(id, &description);
        report.push(
            RESOURCES,
            match reachable {
                _ if let Some(why) = no_object => check.success(why),
                None => check.skipped("the API server is not reachable"),
                Some(c) => match c.get(api_version, kind, None, &name).await {
                    Ok(Some(_)) => check.success(String::new()),
                    Ok(None) => check.error(format!("no {kind} named {name}"), hint),
                    Err(e) => check.error(e.to_string(), kube_hint(&e)),
                },
            },
        );
    }
    let issuer = &answers.ingress.cluster_issuer;
    let check = Check::new(
        "cluster-issuer",
        &format!("ClusterIssuer {issuer} exists and is Ready"),
    );
    report.push(
        RESOURCES,
        match reachable {
            None => check.skipped("the API server is not reachable"),
            Some(c) => match c.get("cert-manager.io/v1", "ClusterIssuer", None, issuer).await {
                Ok(Some(obj)) => {
                    let ready = obj["status"]["conditions"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
                    match ready {
                        Some(r) if r["status"] == "True" => check.success(String::new()),
                        Some(r) => check.error(
                            format!(
                                "not Ready: {}",
                                r["message"].as_str().unwrap_or("no message")
                            ),
                            format!("see `kubectl describe clusterissuer {issuer}`"),
                        ),
                        None => check.warning(
                            "no Ready condition yet",
                            "is cert-manager running? `kubectl -n cert-manager get pods`",
                        ),
                    }
                }
                Ok(None) => check.error(
                    format!("no ClusterIssuer named {issuer}"),
                    "create it (an ACME or private-CA issuer), or set `ingress.clusterIssuer` to one of `kubectl get clusterissuer`",
                ),
                Err(e) => check.error(e.to_string(), kube_hint(&e)),
            },
        },
    );
    let check = Check::new(
        "secrets-seeded",
        &format!("the secrets {RUNTIME_SECRET} is made from exist with the right shape"),
    );
    report.push(
        SECRETS,
        match plan {
            Err(why) => check.error(why, "see the error above; `caracal-deploy seed --dry-run` shows the same"),
            Ok(plan) => {
                let missing: Vec<&str> = plan
                    .items
                    .iter()
                    .filter(|i| matches!(i.action, Action::Create | Action::Fill))
                    .map(|i| i.remote_name.as_str())
                    .collect();
                let wrong: Vec<&str> = plan
                    .errors()
                    .iter()
                    .map(|i| i.remote_name.as_str())
                    .collect();
                if !wrong.is_empty() {
                    check.error(
                        format!("wrong shape: {}", wrong.join(", ")),
                        "`caracal-deploy seed --dry-run` says why; `--rotate NAME` replaces a value",
                    )
                } else if !missing.is_empty() {
                    check.error(
                        format!("missing: {}", missing.join(", ")),
                        "run `caracal-deploy seed` (step 1) first",
                    )
                } else if !plan.warnings().is_empty() {
                    check.warning(
                        format!(
                            "connection records differ from the answers: {}",
                            plan.warnings()
                                .iter()
                                .map(|i| i.remote_name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "`caracal-deploy seed --rotate postgres` (or redis) writes the answers",
                    )
                } else {
                    check.success(format!("all {} present", plan.items.len()))
                }
            }
        },
    );
    let check = Check::new("helm", "helm found: 3.14 or newer 3.x, or helm 4");
    report.push(
        TOOLS,
        match helm.version().await {
            // The install speaks helm 3's and helm 4's flags (core::helm_command::HelmDialect).
            Ok(version) => match kube_minor(&version) {
                Some(v) if v.0 == 4 || (v.0 == 3 && v >= MIN_HELM3) => check.success(version),
                Some(_) => check.error(
                    format!("helm {version}"),
                    "install helm 3.14 or newer 3.x, or helm 4",
                ),
                None => check.warning(
                    format!("cannot read the version `{version}`"),
                    "check `helm version`",
                ),
            },
            Err(e) => check.error(
                e.to_string(),
                "install helm (https://helm.sh/docs/intro/install/) or set CARACAL_HELM to its path",
            ),
        },
    );
    debug_assert!(
        report
            .checks()
            .all(|c| c.result != Outcome::Skipped || !c.detail.is_empty())
    );
    report
}

/// Reads the secret manager for the plan the `secrets-seeded` check judges.
pub async fn seed_plan(
    sm: &dyn SecretManager,
    answers: &Answers,
    concurrency: usize,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<SeedPlan, String> {
    crate::engine::seed::plan_seed(sm, answers, &[], concurrency, cancel)
        .await
        .map_err(|e| e.with_fix())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::coordination::v1::Lease;
    use serde_json::json;

    fn deployment(ready: Option<i32>, desired: i32) -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "cert-manager", "namespace": "cert-manager" },
            "spec": { "replicas": desired, "selector": {}, "template": {} },
            "status": { "readyReplicas": ready },
        }))
        .unwrap()
    }

    fn lease(renewed: &str, duration: i32) -> Lease {
        serde_json::from_value(json!({
            "metadata": { "name": "cert-manager-controller", "namespace": "kube-system" },
            "spec": { "holderIdentity": "cm-7d9_1f2", "leaseDurationSeconds": duration,
                      "renewTime": renewed },
        }))
        .unwrap()
    }

    fn judge(deployments: &[Deployment], leases: &[Lease]) -> Check {
        let now: k8s_openapi::jiff::Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let cm = &CONTROLLERS[1];
        judge_controller(
            Check::new(cm.id, cm.description),
            cm,
            deployments,
            leases,
            now,
        )
    }

    #[test]
    fn a_ready_deployment_or_a_fresh_lease_is_a_running_controller() {
        let c = judge(&[deployment(Some(0), 2), deployment(Some(1), 2)], &[]);
        assert_eq!(c.result, Outcome::Success);
        assert_eq!(c.detail, "Deployment cert-manager/cert-manager 1/2 ready");
        let c = judge(&[], &[lease("2026-11-29T11:59:40.123456Z", 15)]);
        assert_eq!(c.result, Outcome::Success, "{c:?}");
        assert_eq!(
            c.detail,
            "leader lease kube-system/cert-manager-controller held by cm-7d9_1f2, renewed 20s ago"
        );
    }

    #[test]
    fn a_stale_lease_or_an_unready_deployment_is_not() {
        let c = judge(&[], &[lease("2026-11-29T11:58:00Z", 15)]);
        assert_eq!(c.result, Outcome::Warning, "{c:?}");
        assert!(c.detail.contains("no leader lease cert-manager-controller"));
        assert!(c.hint.contains("install cert-manager"));
        let c = judge(&[deployment(None, 1)], &[lease("2026-11-29T11:58:00Z", 15)]);
        assert_eq!(c.result, Outcome::Error, "{c:?}");
        assert_eq!(
            c.detail,
            "Deployment cert-manager/cert-manager has 0/1 ready replicas"
        );
        assert!(
            c.hint
                .contains("kubectl -n cert-manager describe deployment cert-manager")
        );
        let c = judge(&[], &[]);
        assert_eq!(c.result, Outcome::Warning);
        assert!(
            c.detail
                .contains("no Deployment labelled app.kubernetes.io/name=cert-manager"),
            "{c:?}"
        );
    }
}
