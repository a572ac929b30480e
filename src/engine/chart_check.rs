//! Checks a rendered bundle against the real chart: `helm template` with the bundle's values,
//! then the keys the workloads mount from the runtime Secret against the keys the
//! ExternalSecret produces.

use crate::adapters::helm::{Helm, HelmError};
use crate::core::answers::Answers;
use crate::core::external_secret::{RUNTIME_SECRET, produced_keys};
use crate::core::mounts::secret_mounts;
use crate::core::render::{Bundle, VALUES_FILE};
use crate::core::yaml;

/// What checking the bundle against the real chart found.
pub enum ChartCheck {
    /// Every required key is produced.
    Covered { mounted: usize },
    /// Keys the chart mounts that the ExternalSecret would not produce.
    Missing(Vec<String>),
    /// The check could not run (offline chart, no helm); the reason.
    Skipped(String),
    /// helm refused the values (e.g. stable-mode validation).
    Refused(String),
}

/// Renders the chart with the bundle's values and compares the keys its workloads mount
/// from the runtime Secret with the keys the ExternalSecret produces.
pub async fn check_against_chart(answers: &Answers, bundle: &Bundle, helm: &Helm) -> ChartCheck {
    if !answers.chart.is_local() {
        return ChartCheck::Skipped(format!(
            "chart {} is remote and render stays offline",
            answers.chart.reference
        ));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return ChartCheck::Skipped(format!("no temporary directory: {e}")),
    };
    let values_path = dir.path().join(VALUES_FILE);
    if let Err(e) = std::fs::write(&values_path, yaml::to_string(&bundle.values)) {
        return ChartCheck::Skipped(format!("could not write temporary values: {e}"));
    }
    let rendered = helm
        .template(
            &answers.release,
            &answers.chart.reference,
            &answers.namespace,
            &values_path,
            crate::core::catalog::SecretCatalog::of_valid(&answers.chart.version)
                .render_kube_version(),
        )
        .await;
    let text = match rendered {
        Ok(t) => t,
        Err(e @ HelmError::NotFound(_)) => return ChartCheck::Skipped(e.to_string()),
        Err(HelmError::Failed { stderr, .. }) => return ChartCheck::Refused(stderr),
        Err(e) => return ChartCheck::Skipped(e.to_string()),
    };
    let docs = match yaml::from_documents(&text) {
        Ok(d) => d,
        Err(e) => return ChartCheck::Refused(format!("helm template output is not YAML: {e}")),
    };
    let mounts = secret_mounts(&docs, RUNTIME_SECRET);
    let produced = produced_keys(answers);
    let missing: Vec<String> = mounts
        .required
        .iter()
        .filter(|k| !produced.contains(k))
        .cloned()
        .collect();
    if missing.is_empty() {
        ChartCheck::Covered {
            mounted: mounts.required.len(),
        }
    } else {
        ChartCheck::Missing(missing)
    }
}
