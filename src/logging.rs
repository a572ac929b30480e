//! Logs go to a file (stdout and stderr belong to results and progress). They carry names,
//! digests and outcomes, never a secret value.

use std::path::{Path, PathBuf};

/// The default log file: `$XDG_STATE_HOME/caracal-deploy/caracal-deploy.log`.
pub fn default_log_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("caracal-deploy/caracal-deploy.log"))
}

/// Starts logging to `path` (appending). Returns the path used, or None if it cannot be opened.
pub fn init(path: Option<&Path>) -> Option<PathBuf> {
    let path = path.map(Path::to_path_buf).or_else(default_log_file)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARACAL_DEPLOY_LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("caracal_deploy=debug,info"));
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(path)
}
