//! A helm release as helm stores it: a Secret labelled `owner=helm`, whose `release` key holds
//! the release record (JSON, gzipped, base64-encoded). Decoding it here lets verify read the
//! deployed manifests, hooks and values from a watched Secret, without running helm.

use std::io::Read;

use base64::Engine as _;
use serde_json::Value;

/// A Job (or other object) helm ran as a hook, and how its last run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    pub kind: String,
    pub name: String,
    /// `Succeeded`, `Failed`, `Running`, or empty when it never ran.
    pub phase: String,
    pub manifest: Value,
}

/// One revision of a release.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    pub name: String,
    pub version: u64,
    /// `deployed`, `failed`, `pending-install`, `superseded`…
    pub status: String,
    pub description: String,
    pub chart_version: String,
    pub app_version: String,
    /// The objects of the release (its manifest), hooks aside.
    pub manifests: Vec<Value>,
    pub hooks: Vec<Hook>,
    /// The values the operator supplied (`helm get values`).
    pub values: Value,
}

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Decodes the `release` key of a helm storage Secret (already base64-decoded once by the
/// Kubernetes API): helm's own base64, then gzip (helm writes gzip; plain JSON is read too).
pub fn decode(stored: &[u8]) -> Result<Release, String> {
    let text: Vec<u8> = stored
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| format!("the release record is not base64: {e}"))?;
    let json = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("the release record is not gzip: {e}"))?;
        out
    } else {
        raw
    };
    let record: Value = serde_json::from_slice(&json)
        .map_err(|e| format!("the release record is not JSON: {e}"))?;
    from_record(&record)
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A release from helm's JSON record.
pub fn from_record(record: &Value) -> Result<Release, String> {
    let manifests = super::yaml::from_documents(&text(record, "/manifest"))
        .map_err(|e| format!("the release manifest is not YAML: {e}"))?;
    let mut hooks = Vec::new();
    for hook in record
        .get("hooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let manifest = super::yaml::from_documents(&text(hook, "/manifest"))
            .map_err(|e| format!("a hook's manifest is not YAML: {e}"))?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        hooks.push(Hook {
            kind: text(hook, "/kind"),
            name: text(hook, "/name"),
            phase: text(hook, "/last_run/phase"),
            manifest,
        });
    }
    Ok(Release {
        name: text(record, "/name"),
        version: record.get("version").and_then(Value::as_u64).unwrap_or(0),
        status: text(record, "/info/status"),
        description: text(record, "/info/description"),
        chart_version: text(record, "/chart/metadata/version"),
        app_version: text(record, "/chart/metadata/appVersion"),
        manifests,
        hooks,
        values: record.get("config").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stored(record: &Value, gzip: bool) -> Vec<u8> {
        let json = serde_json::to_vec(record).unwrap();
        let bytes = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&json).unwrap();
            enc.finish().unwrap()
        } else {
            json
        };
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes()
    }

    #[test]
    fn a_release_record_is_read_gzipped_or_plain() {
        let record = serde_json::json!({
            "name": "caracal", "version": 3, "namespace": "caracal",
            "info": { "status": "deployed", "description": "Upgrade complete" },
            "chart": { "metadata": { "version": "1.0.0", "appVersion": "1.0.0" } },
            "config": { "global": { "mode": "stable" } },
            "manifest": "---\n# Source: a\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n",
            "hooks": [ { "name": "caracal-migrate", "kind": "Job",
                         "manifest": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: caracal-migrate\n",
                         "last_run": { "phase": "Succeeded" } } ],
        });
        for gzip in [true, false] {
            let r = decode(&stored(&record, gzip)).unwrap();
            assert_eq!(r.version, 3);
            assert_eq!(r.status, "deployed");
            assert_eq!(r.chart_version, "1.0.0");
            assert_eq!(r.manifests.len(), 2);
            assert_eq!(r.manifests[1]["kind"], "Service");
            assert_eq!(r.hooks[0].phase, "Succeeded");
            assert_eq!(r.hooks[0].manifest["kind"], "Job");
            assert_eq!(r.values["global"]["mode"], "stable");
        }
        assert!(decode(b"not base64!").unwrap_err().contains("not base64"));
    }
}
