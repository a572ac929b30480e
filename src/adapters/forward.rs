//! A local port forwarded to one of a Service's pods through the API server
//! (`pods/portforward`), as `kubectl port-forward svc/NAME` does: the Service names the pods
//! (its selector) and the port (its `targetPort`, a number or a container port's name); a
//! running, ready pod is chosen once; every connection made to the local port is carried to
//! that pod's port in a stream of its own.
//!
//! The canary uses it to reach services that have no public host. Nothing listens beyond
//! 127.0.0.1, and the listener stops when the [`Forward`] is dropped.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use tokio::net::{TcpListener, TcpStream};

use crate::adapters::kube::Cluster;

/// A listening local port; dropping it stops the listener and every open connection.
pub struct Forward {
    /// `127.0.0.1:PORT`, to be used as `http://{local}`.
    pub local: SocketAddr,
    /// `namespace/pod:port`, for the report.
    pub target: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The pod and port a Service sends `port_name` (or its only port) to, among `pods`: the first
/// by name that is running, ready and not being deleted. Errors say what is missing.
pub fn pick_target(
    service: &Service,
    port_name: &str,
    pods: &[Pod],
) -> Result<(String, u16), String> {
    let name = service.metadata.name.as_deref().unwrap_or("?");
    let spec = service
        .spec
        .as_ref()
        .ok_or_else(|| format!("Service {name} has no spec"))?;
    let ports = spec.ports.as_deref().unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| p.name.as_deref() == Some(port_name))
        .or(match ports {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| format!("Service {name} has no port named `{port_name}`"))?;
    let target = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port));
    let mut ready: Vec<&Pod> = pods.iter().filter(|p| serving(p)).collect();
    ready.sort_by_key(|p| p.metadata.name.clone());
    let Some(pod) = ready.first() else {
        return Err(format!(
            "no running and ready pod behind Service {name} ({} pod(s) match its selector)",
            pods.len()
        ));
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let number = match target {
        IntOrString::Int(n) => u16::try_from(n).ok(),
        IntOrString::String(named) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(named.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    };
    let number = number.ok_or_else(|| {
        format!("pod {pod_name} has no container port for Service {name}'s port `{port_name}`")
    })?;
    Ok((pod_name, number))
}

fn serving(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    pod.metadata.deletion_timestamp.is_none()
        && status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `k=v,k=v` of a Service's selector; None when it selects nothing (no selector).
fn selector(service: &Service) -> Option<String> {
    let sel = service.spec.as_ref()?.selector.as_ref()?;
    (!sel.is_empty()).then(|| {
        sel.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Forwards a local port to the Service in `namespace` labelled `labels` (exactly one must
/// match), port `port_name`. A first stream is opened and closed before returning, so a
/// refused port-forward (RBAC, an API server or kubelet that cannot upgrade) is reported here,
/// with the pod's name, rather than as a dropped connection later.
pub async fn forward_service(
    cluster: &Cluster,
    namespace: &str,
    labels: &str,
    port_name: &str,
) -> Result<Forward, String> {
    let client = cluster.client().clone();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let found = services
        .list(&ListParams::default().labels(labels))
        .await
        .map_err(|e| format!("cannot list Services {labels} in {namespace}: {e}"))?
        .items;
    let service = match found.as_slice() {
        [one] => one,
        [] => return Err(format!("no Service labelled {labels} in {namespace}")),
        many => {
            return Err(format!(
                "{} Services labelled {labels} in {namespace}: cannot tell which to forward to",
                many.len()
            ));
        }
    };
    let sel = selector(service).ok_or_else(|| {
        format!(
            "Service {} has no selector: no pod to forward to",
            service.metadata.name.as_deref().unwrap_or("?")
        )
    })?;
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    let candidates = pods
        .list(&ListParams::default().labels(&sel))
        .await
        .map_err(|e| format!("cannot list the pods {sel} in {namespace}: {e}"))?
        .items;
    let (pod, port) = pick_target(service, port_name, &candidates)?;
    let target = format!("{namespace}/{pod}:{port}");

    let probe = pods
        .portforward(&pod, &[port])
        .await
        .map_err(|e| format!("the API server refused a port-forward to pod {target}: {e}"))?;
    probe.abort();

    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the local port: {e}"))?;
    let for_task = target.clone();
    let task = tokio::spawn(async move {
        let mut open = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((conn, _)) => {
                        open.spawn(carry(pods.clone(), pod.clone(), port, conn, for_task.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(target = %for_task, error = %e, "port-forward: accept failed");
                        return;
                    }
                },
                Some(_) = open.join_next(), if !open.is_empty() => {}
            }
        }
    });
    tracing::info!(%target, %local, "port-forward open");
    Ok(Forward {
        local,
        target,
        task,
    })
}

/// One local connection, carried in its own port-forward stream until either side closes.
async fn carry(pods: Api<Pod>, pod: String, port: u16, mut conn: TcpStream, target: String) {
    let mut forwarder = match pods.portforward(&pod, &[port]).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(%target, error = %e, "port-forward: the API server refused a stream");
            return;
        }
    };
    let (Some(mut upstream), errors) = (forwarder.take_stream(port), forwarder.take_error(port))
    else {
        return;
    };
    if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await {
        tracing::debug!(%target, error = %e, "port-forward: connection ended");
    }
    drop(upstream);
    if let Some(errors) = errors
        && let Ok(Some(message)) =
            tokio::time::timeout(std::time::Duration::from_secs(1), errors).await
    {
        tracing::warn!(%target, %message, "port-forward: the kubelet reported an error");
    }
    forwarder.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn pod(name: &str, phase: &str, ready: &str, port_name: &str, port: i32) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "spec": { "containers": [{ "name": "c", "ports": [{ "name": port_name, "containerPort": port }] }] },
            "status": { "phase": phase, "conditions": [{ "type": "Ready", "status": ready }] }
        }))
        .unwrap()
    }

    const SVC: &str = "
metadata: { name: caracal-sts }
spec:
  selector: { app.kubernetes.io/component: sts }
  ports: [{ name: http, port: 8080, targetPort: http }, { name: metrics, port: 9000, targetPort: 9100 }]
";

    #[test]
    fn a_named_target_port_is_the_ready_pods_container_port() {
        let pods = [
            pod("b-ready", "Running", "True", "http", 8080),
            pod("a-pending", "Pending", "False", "http", 8080),
            pod("a-unready", "Running", "False", "http", 8080),
        ];
        assert_eq!(
            pick_target(&service(SVC), "http", &pods),
            Ok(("b-ready".to_string(), 8080))
        );
    }

    #[test]
    fn a_numeric_target_port_is_used_as_is_and_ties_go_to_the_first_name() {
        let pods = [
            pod("z", "Running", "True", "http", 8080),
            pod("m", "Running", "True", "http", 8080),
        ];
        assert_eq!(
            pick_target(&service(SVC), "metrics", &pods),
            Ok(("m".to_string(), 9100))
        );
    }

    #[test]
    fn no_ready_pod_or_no_such_port_is_said() {
        let pods = [pod("a", "Running", "False", "http", 8080)];
        let e = pick_target(&service(SVC), "http", &pods).unwrap_err();
        assert!(
            e.contains("no running and ready pod behind Service caracal-sts"),
            "{e}"
        );
        assert!(e.contains("1 pod(s)"), "{e}");
        let e = pick_target(&service(SVC), "grpc", &pods).unwrap_err();
        assert!(e.contains("no port named `grpc`"), "{e}");
        let ready = [pod("a", "Running", "True", "web", 3000)];
        let e = pick_target(&service(SVC), "http", &ready).unwrap_err();
        assert!(e.contains("pod a has no container port"), "{e}");
    }
}
