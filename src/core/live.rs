//! What the live dashboard draws besides the checks, as pure functions of the observed objects:
//! the rollout of each workload of the release and the namespace's recent Warning events.

use serde_json::Value;

use super::checks::Report;
use super::verify::Observed;
pub use super::workloads::Rollout;

/// A Warning event of the namespace (the newest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `Kind/name` of the object it is about.
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: i64,
    /// RFC 3339, as the API server wrote it (the sort key).
    pub last_seen: String,
}

/// Everything the dashboard shows at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Live {
    pub report: Report,
    pub rollout: Vec<Rollout>,
    pub warnings: Vec<Warning>,
    /// The canary is running now (its check shows the previous run meanwhile).
    pub canary_running: bool,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// The release's workloads (those the cluster has), Deployments then StatefulSets, by name.
pub fn rollout(obs: &Observed) -> Vec<Rollout> {
    let mut out = Vec::new();
    for (kind, objects) in [
        ("Deployment", &obs.deployments),
        ("StatefulSet", &obs.stateful_sets),
    ] {
        let mut of_kind: Vec<Rollout> = objects.iter().map(|o| Rollout::of(kind, o)).collect();
        of_kind.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(of_kind);
    }
    out
}

/// The `limit` newest Warning events of the namespace.
pub fn recent_warnings(obs: &Observed, limit: usize) -> Vec<Warning> {
    let mut out: Vec<Warning> = obs
        .events
        .iter()
        .filter(|e| text(e, "/type") == "Warning")
        .map(|e| {
            let last_seen = [
                "/lastTimestamp",
                "/eventTime",
                "/series/lastObservedTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .map(|p| text(e, p))
            .find(|t| !t.is_empty())
            .unwrap_or("")
            .to_string();
            Warning {
                object: format!(
                    "{}/{}",
                    text(e, "/involvedObject/kind"),
                    text(e, "/involvedObject/name")
                ),
                reason: text(e, "/reason").to_string(),
                message: text(e, "/message").trim().to_string(),
                count: int(e, "/count")
                    .or_else(|| int(e, "/series/count"))
                    .unwrap_or(1),
                last_seen,
            }
        })
        .collect();
    // RFC 3339 in UTC sorts as text; the newest first, then by object for a stable order.
    out.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then_with(|| a.object.cmp(&b.object))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(name: &str, gen_: i64, observed: i64, want: i64, upd: i64, ready: i64) -> Value {
        json!({
            "metadata": { "name": name, "generation": gen_ },
            "spec": { "replicas": want },
            "status": { "observedGeneration": observed, "updatedReplicas": upd, "readyReplicas": ready },
        })
    }

    #[test]
    fn a_rollout_is_done_only_when_updated_ready_and_seen() {
        let obs = Observed {
            deployments: vec![
                deployment("b-web", 2, 2, 2, 2, 2),
                deployment("a-api", 3, 2, 2, 2, 2),
                deployment("c-gw", 1, 1, 3, 3, 1),
            ],
            stateful_sets: vec![deployment("sts", 1, 1, 2, 1, 2)],
            ..Observed::default()
        };
        let all = rollout(&obs);
        let got: Vec<(&str, &str, i64, i64, bool)> = all
            .iter()
            .map(|r| (r.kind, r.name.as_str(), r.ready, r.desired, r.done))
            .collect();
        assert_eq!(
            got,
            [
                ("Deployment", "a-api", 2, 2, false),
                ("Deployment", "b-web", 2, 2, true),
                ("Deployment", "c-gw", 1, 3, false),
                ("StatefulSet", "sts", 2, 2, false),
            ]
        );
    }

    #[test]
    fn warnings_are_the_newest_first_and_normal_events_are_left_out() {
        let ev = |name: &str, type_: &str, last: &str, count: i64| {
            json!({
                "type": type_, "reason": "BackOff", "message": format!(" {name} restarting \n"),
                "count": count, "lastTimestamp": last,
                "involvedObject": { "kind": "Pod", "name": name },
            })
        };
        let obs = Observed {
            events: vec![
                ev("old", "Warning", "2026-11-30T01:00:00Z", 3),
                ev("normal", "Normal", "2026-11-30T03:00:00Z", 1),
                ev("new", "Warning", "2026-11-30T02:00:00Z", 7),
                json!({ "type": "Warning", "reason": "Failed", "message": "pull",
                        "eventTime": "2026-11-30T02:30:00.000000Z",
                        "series": { "count": 4 },
                        "involvedObject": { "kind": "Pod", "name": "series" } }),
            ],
            ..Observed::default()
        };
        let got = recent_warnings(&obs, 2);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].object.as_str(), got[0].count, got[0].reason.as_str()),
            ("Pod/series", 4, "Failed")
        );
        assert_eq!(got[1].object, "Pod/new");
        assert_eq!(got[1].message, "new restarting");
        assert_eq!(got[1].count, 7);
    }
}
