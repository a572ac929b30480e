//! helm as a subprocess. Arguments are validated words and never carry a secret.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};

use thiserror::Error;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

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

/// How a cancellable helm run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelmRun {
    /// helm exited 0 by itself: its stdout.
    Finished(String),
    /// Cancelled: helm was sent SIGTERM and exited within the grace period (`killed` false),
    /// or did not and was killed; what it printed.
    Stopped { killed: bool, output: String },
}

/// Asks a child to stop (SIGTERM), as a terminal's Ctrl-C would.
fn terminate(child: &tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on our own child's pid, which is not yet reaped (we still hold it).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
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

    /// `helm upgrade --install` (argv as for [`Helm::upgrade_install`]) that stops cleanly when
    /// `cancel` fires: helm gets SIGTERM (helm 3 then cancels its work and marks the release
    /// failed instead of leaving it pending-*) and `grace` to exit, then SIGKILL. helm runs in a
    /// process group of its own, so a Ctrl-C in the operator's terminal reaches it only this way.
    pub async fn upgrade_install_until(
        &self,
        args: &[String],
        cancel: &CancellationToken,
        grace: std::time::Duration,
    ) -> Result<HelmRun, HelmError> {
        self.run_until(args, cancel, grace).await
    }

    async fn run_until(
        &self,
        args: &[String],
        cancel: &CancellationToken,
        grace: std::time::Duration,
    ) -> Result<HelmRun, HelmError> {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HelmError::NotFound(self.program.display().to_string()),
            _ => HelmError::Io(e),
        })?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let read_out = tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut buf).await;
            }
            buf
        });
        let read_err = tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut buf).await;
            }
            buf
        });
        let finished = tokio::select! {
            status = child.wait() => Some(status?),
            () = cancel.cancelled() => None,
        };
        let stopped = match finished {
            Some(_) => None,
            None => {
                terminate(&child);
                match tokio::time::timeout(grace, child.wait()).await {
                    Ok(status) => {
                        status?;
                        Some(false)
                    }
                    Err(_) => {
                        child.kill().await?;
                        Some(true)
                    }
                }
            }
        };
        let status = child.wait().await?;
        let stdout = String::from_utf8_lossy(&read_out.await.unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&read_err.await.unwrap_or_default())
            .trim()
            .to_string();
        match stopped {
            Some(killed) => Ok(HelmRun::Stopped {
                killed,
                output: format!("{}\n{stderr}", stdout.trim()).trim().to_string(),
            }),
            None if status.success() => Ok(HelmRun::Finished(stdout)),
            None => Err(HelmError::Failed {
                command: args.first().cloned().unwrap_or_default(),
                stderr,
            }),
        }
    }

    /// `helm uninstall RELEASE --wait`: removes the release and its objects.
    pub async fn uninstall(
        &self,
        release: &str,
        namespace: &str,
        context: Option<&str>,
    ) -> Result<String, HelmError> {
        let mut args: Vec<String> = vec![
            "uninstall".into(),
            format!("--namespace={namespace}"),
            "--wait".into(),
            "--timeout=5m".into(),
        ];
        if let Some(c) = context {
            args.push(format!("--kube-context={c}"));
        }
        args.extend(["--".into(), release.into()]);
        self.run(&args).await
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
    /// `helm template` of a chart at a version: a registry reference is pulled at that exact
    /// version (`--version`); a local directory is what it is.
    pub async fn template_version(
        &self,
        release: &str,
        chart: &str,
        version: &str,
        namespace: &str,
        values: &Path,
        kube_version: &str,
    ) -> Result<String, HelmError> {
        let version = (!Path::new(chart).is_dir()).then_some(version);
        self.run(&template_args(
            release,
            chart,
            version,
            namespace,
            values,
            kube_version,
        ))
        .await
    }

    pub async fn template(
        &self,
        release: &str,
        chart: &str,
        namespace: &str,
        values: &Path,
        kube_version: &str,
    ) -> Result<String, HelmError> {
        self.run(&template_args(
            release,
            chart,
            None,
            namespace,
            values,
            kube_version,
        ))
        .await
    }
}

/// The argv of `helm template`, pinned to `version` when given.
fn template_args(
    release: &str,
    chart: &str,
    version: Option<&str>,
    namespace: &str,
    values: &Path,
    kube_version: &str,
) -> Vec<String> {
    let mut args = vec![
        "template".into(),
        format!("--namespace={namespace}"),
        format!("--values={}", values.display()),
        format!("--kube-version={kube_version}"),
    ];
    args.extend(version.map(|v| format!("--version={v}")));
    args.extend(["--".into(), release.into(), chart.into()]);
    args
}
