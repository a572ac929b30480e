//! helm as a subprocess. Arguments are validated words and never carry a secret.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};

use thiserror::Error;
use tokio::process::Command;

use crate::core::helm_command::HelmDialect;

#[derive(Debug, Error)]
pub enum HelmError {
    #[error(
        "helm was not found (looked for {0}); install helm 3 (3.14 or newer) or helm 4, or set CARACAL_HELM to its path"
    )]
    NotFound(String),
    #[error("helm {0} is not supported: caracal-deploy runs helm 3 (3.14 or newer) or helm 4")]
    Unsupported(String),
    #[error("helm {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("could not run helm: {0}")]
    Io(#[from] std::io::Error),
}

/// The helm binary: `$CARACAL_HELM`, else `helm` on PATH; helm 3 or helm 4, whose flags
/// differ (see `HelmDialect`): its major version is read once, from `helm version --short`.
#[derive(Clone, Debug)]
pub struct Helm {
    program: PathBuf,
    dialect: Arc<OnceLock<HelmDialect>>,
}

impl Helm {
    pub fn from_env() -> Helm {
        let program = std::env::var_os("CARACAL_HELM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("helm"));
        Helm::at(program)
    }

    pub fn at(program: impl Into<PathBuf>) -> Helm {
        Helm {
            program: program.into(),
            dialect: Arc::default(),
        }
    }

    /// The flags this helm takes: helm 3 or helm 4, by its major version (asked once, then
    /// remembered). Another major version is an error, not a guess.
    pub async fn dialect(&self) -> Result<HelmDialect, HelmError> {
        if let Some(d) = self.dialect.get() {
            return Ok(*d);
        }
        let version = self.version().await?;
        let dialect = HelmDialect::from_version(&version).ok_or(HelmError::Unsupported(version))?;
        Ok(*self.dialect.get_or_init(|| dialect))
    }

    async fn run(&self, args: &[String]) -> Result<String, HelmError> {
        let output = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    HelmError::NotFound(self.program.display().to_string())
                }
                _ => HelmError::Io(e),
            })?;
        if !output.status.success() {
            return Err(HelmError::Failed {
                command: args.first().cloned().unwrap_or_default(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `helm upgrade --install` with the argv of `core::helm_command::helm_install_args`.
    pub async fn upgrade_install(&self, args: &[String]) -> Result<String, HelmError> {
        self.run(args).await
    }

    /// The values a release was installed with (`helm get values -o json`); None when the
    /// release does not exist.
    pub async fn get_values(
        &self,
        release: &str,
        namespace: &str,
        context: Option<&str>,
    ) -> Result<Option<serde_json::Value>, HelmError> {
        let mut args: Vec<String> = vec![
            "get".into(),
            "values".into(),
            format!("--namespace={namespace}"),
            "--output=json".into(),
        ];
        if let Some(c) = context {
            args.push(format!("--kube-context={c}"));
        }
        args.extend(["--".into(), release.into()]);
        match self.run(&args).await {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| HelmError::Failed {
                    command: "get values".into(),
                    stderr: e.to_string(),
                }),
            Err(HelmError::Failed { stderr, .. }) if stderr.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The chart (`NAME-VERSION`) of the release's latest revision (`helm history --max 1`).
    pub async fn deployed_chart(
        &self,
        release: &str,
        namespace: &str,
        context: Option<&str>,
    ) -> Result<Option<String>, HelmError> {
        let mut args: Vec<String> = vec![
            "history".into(),
            format!("--namespace={namespace}"),
            "--output=json".into(),
            "--max=1".into(),
        ];
        if let Some(c) = context {
            args.push(format!("--kube-context={c}"));
        }
        args.extend(["--".into(), release.into()]);
        let text = self.run(&args).await?;
        let history: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| HelmError::Failed {
                command: "history".into(),
                stderr: e.to_string(),
            })?;
        Ok(history
            .as_array()
            .and_then(|h| h.last())
            .and_then(|r| r["chart"].as_str())
            .map(str::to_string))
    }

    /// `helm rollback RELEASE REVISION`, waiting as the install does (helm 3 `--wait`, helm 4
    /// `--wait=watcher`).
    pub async fn rollback(
        &self,
        release: &str,
        namespace: &str,
        context: Option<&str>,
        revision: u64,
    ) -> Result<String, HelmError> {
        let wait = self.dialect().await?.wait_flag();
        let mut args: Vec<String> = vec![
            "rollback".into(),
            format!("--namespace={namespace}"),
            wait.into(),
            "--timeout=10m".into(),
        ];
        if let Some(c) = context {
            args.push(format!("--kube-context={c}"));
        }
        args.extend(["--".into(), release.into(), revision.to_string()]);
        self.run(&args).await
    }

    /// `helm status RELEASE -o json`.
    pub async fn status(
        &self,
        release: &str,
        namespace: &str,
        context: Option<&str>,
    ) -> Result<serde_json::Value, HelmError> {
        // Values after `=` and positionals after `--`: no answer can become an option.
        let mut args: Vec<String> = vec![
            "status".into(),
            format!("--namespace={namespace}"),
            "--output=json".into(),
        ];
        if let Some(c) = context {
            args.push(format!("--kube-context={c}"));
        }
        args.extend(["--".into(), release.into()]);
        let text = self.run(&args).await?;
        serde_json::from_str(&text).map_err(|e| HelmError::Failed {
            command: "status".into(),
            stderr: e.to_string(),
        })
    }

    /// `helm version --short`: `v3.22.0`, `v4.3.1`, with `+g<commit>` on release builds; the
    /// same flag and shape in helm 3 and helm 4.
    pub async fn version(&self) -> Result<String, HelmError> {
        Ok(self
            .run(&["version".into(), "--short".into()])
            .await?
            .trim()
            .to_string())
    }

    /// Renders a chart offline (`helm template`) with one values file.
    pub async fn template(
        &self,
        release: &str,
        chart: &str,
        namespace: &str,
        values: &Path,
        kube_version: &str,
    ) -> Result<String, HelmError> {
        self.run(&[
            "template".into(),
            format!("--namespace={namespace}"),
            format!("--values={}", values.display()),
            format!("--kube-version={kube_version}"),
            "--".into(),
            release.into(),
            chart.into(),
        ])
        .await
    }
}
