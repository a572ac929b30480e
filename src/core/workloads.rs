//! What the kubelet, the scheduler and the Job controller say about a release's workloads,
//! read from the objects alone: why a pod cannot run, where a Job is. Shared by the install's
//! live progress and by verify's checks.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

/// One Deployment or StatefulSet, as its controller reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    pub kind: &'static str,
    pub name: String,
    pub desired: i64,
    pub updated: i64,
    pub ready: i64,
    /// Every replica updated and ready, and the controller has seen the latest spec.
    pub done: bool,
}

impl Rollout {
    /// The rollout of a Deployment or StatefulSet object (`kind` as given).
    pub fn of(kind: &'static str, object: &Value) -> Rollout {
        let int = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64);
        let desired = int("/spec/replicas").unwrap_or(1);
        let updated = int("/status/updatedReplicas").unwrap_or(0);
        let ready = int("/status/readyReplicas").unwrap_or(0);
        let seen = int("/status/observedGeneration").unwrap_or(0)
            >= int("/metadata/generation").unwrap_or(0);
        Rollout {
            kind,
            name: object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            desired,
            updated,
            ready,
            done: seen && updated >= desired && ready >= desired,
        }
    }
}

/// Where a Job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Started,
    Succeeded,
    Failed,
}

/// Why a pod cannot run, if it cannot: a waiting container's reason (image pull, crash loop
/// with its last termination), a failed pod's container exit, or the scheduler's message for
/// a pending pod.
pub fn pod_problem(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    for cs in status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
    {
        if let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.clone().unwrap_or_default();
            if matches!(
                reason.as_str(),
                "ImagePullBackOff"
                    | "ErrImagePull"
                    | "CrashLoopBackOff"
                    | "CreateContainerConfigError"
                    | "InvalidImageName"
            ) {
                let mut text = format!("{}: {reason}", cs.name);
                if let Some(m) = waiting.message.as_ref().filter(|m| !m.is_empty()) {
                    text.push_str(&format!(" ({m})"));
                }
                if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                    text.push_str(&format!(
                        "; last exit {} {}",
                        t.exit_code,
                        t.reason.clone().unwrap_or_default()
                    ));
                    if cs.restart_count > 0 {
                        text.push_str(&format!(", {} restarts", cs.restart_count));
                    }
                }
                return Some(text);
            }
        }
        if status.phase.as_deref() == Some("Failed")
            && let Some(t) = cs.state.as_ref().and_then(|s| s.terminated.as_ref())
            && t.exit_code != 0
        {
            let mut text = format!(
                "{}: terminated, exit {} {}",
                cs.name,
                t.exit_code,
                t.reason.clone().unwrap_or_default()
            );
            if let Some(m) = t.message.as_ref().filter(|m| !m.is_empty()) {
                text.push_str(&format!(" ({})", m.trim()));
            }
            return Some(text);
        }
    }
    if status.phase.as_deref() == Some("Pending") {
        let unschedulable = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False");
        if let Some(c) = unschedulable {
            return Some(format!(
                "Pending: {}",
                c.message.clone().unwrap_or_else(|| "not scheduled".into())
            ));
        }
    }
    None
}

/// The Job's state and, when it failed, its condition's reason and message.
pub fn job_state(job: &Job) -> (JobState, String) {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .cloned()
        .unwrap_or_default();
    for c in &conditions {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Failed" => {
                let mut why = c.reason.clone().unwrap_or_else(|| "Failed".into());
                if let Some(m) = c.message.as_ref().filter(|m| !m.is_empty()) {
                    why.push_str(&format!(": {m}"));
                }
                return (JobState::Failed, why);
            }
            "Complete" => return (JobState::Succeeded, String::new()),
            _ => {}
        }
    }
    (JobState::Started, String::new())
}

#[cfg(test)]
mod tests {
    use super::pod_problem;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({ "metadata": { "name": "p" }, "status": status })).unwrap()
    }

    #[test]
    fn a_pods_problem_is_read_as_the_kubelet_and_scheduler_report_it() {
        let pull = pod(json!({ "phase": "Pending", "containerStatuses": [{
            "name": "api", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": { "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\"" } } }] }));
        assert_eq!(
            pod_problem(&pull).unwrap(),
            "api: ImagePullBackOff (Back-off pulling image \"x\")"
        );
        let crash = pod(json!({ "phase": "Running", "containerStatuses": [{
            "name": "sts", "ready": false, "restartCount": 4, "image": "x", "imageID": "",
            "state": { "waiting": { "reason": "CrashLoopBackOff" } },
            "lastState": { "terminated": { "exitCode": 1, "reason": "Error" } } }] }));
        assert_eq!(
            pod_problem(&crash).unwrap(),
            "sts: CrashLoopBackOff; last exit 1 Error, 4 restarts"
        );
        let pending = pod(json!({ "phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims." }] }));
        assert!(
            pod_problem(&pending)
                .unwrap()
                .starts_with("Pending: 0/3 nodes")
        );
        let fine = pod(json!({ "phase": "Running", "containerStatuses": [{
            "name": "web", "ready": true, "restartCount": 0, "image": "x", "imageID": "",
            "state": { "running": {} } }] }));
        assert_eq!(pod_problem(&fine), None);
    }
}
