//! Logs go to a file (stdout and stderr belong to results and progress). They carry names,
//! digests and outcomes, never a secret value.
//!
//! The file is private (0600, in a 0700 directory) and never opened through a symlink, and
//! dependency crates log at `warn` at most whatever the operator's filter says: an SDK's
//! debug or trace output is its wire log, which can carry credentials and secret values.

use std::fs::File;
use std::path::{Path, PathBuf};

/// The filter when `CARACAL_DEPLOY_LOG_LEVEL` is unset or invalid.
const DEFAULT_FILTER: &str = "caracal_deploy=debug,info";

/// Targets (prefixes) of the crates that talk to the network or the cloud SDKs. Their
/// directives are appended after the operator's, so an equal directive is replaced and a
/// broader one (`trace`, `debug`) is overridden by these more specific ones.
const QUIET_TARGETS: &[&str] = &[
    "aws",
    "azure",
    "typespec",
    "google_cloud",
    "gax",
    "hyper",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "tonic",
    "kube",
    "tokio_rustls",
    "hyper_rustls",
    "hyper_util",
];

/// The default log file: `$XDG_STATE_HOME/caracal-deploy/caracal-deploy.log`.
pub fn default_log_file() -> Option<PathBuf> {
    Some(state_dir()?.join("caracal-deploy.log"))
}

/// The operator's state directory of this tool: `$XDG_STATE_HOME/caracal-deploy`, else
/// `~/.local/state/caracal-deploy`.
pub fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("caracal-deploy"))
}

/// Creates a directory (and its parents) private to the operator when it is new.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens a file private to the operator: created 0600, never through a symlink (the last
/// path component), and made 0600 if it existed with wider permissions.
pub fn open_private(path: &Path, append: bool, create_new: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    if append {
        options.append(true);
    } else {
        options.read(true).write(true);
    }
    if create_new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// The filter: the operator's (or the default), then the quiet directives of dependencies.
pub fn filter(operator: Option<&str>) -> tracing_subscriber::EnvFilter {
    let quiet: Vec<String> = QUIET_TARGETS.iter().map(|t| format!("{t}=warn")).collect();
    let quiet = quiet.join(",");
    operator
        .filter(|o| !o.trim().is_empty())
        .and_then(|o| tracing_subscriber::EnvFilter::try_new(format!("{o},{quiet}")).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(format!("{DEFAULT_FILTER},{quiet}")))
}

/// Starts logging to `path` (appending). Returns the path used, or None if it cannot be opened.
pub fn init(path: Option<&Path>) -> Option<PathBuf> {
    let path = path.map(Path::to_path_buf).or_else(default_log_file)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).ok()?;
    }
    let file = open_private(&path, true, false).ok()?;
    let operator = std::env::var("CARACAL_DEPLOY_LOG_LEVEL").ok();
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter(operator.as_deref()))
        .try_init()
        .ok()?;
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_stay_at_warn_whatever_the_operator_asks() {
        for operator in [
            None,
            Some("trace"),
            Some("debug"),
            Some("hyper=trace,aws=debug"),
        ] {
            let f = filter(operator).to_string();
            for t in QUIET_TARGETS {
                let ours = f.rfind(&format!("{t}=warn")).expect("quiet directive");
                // No later directive for the same target overrides it.
                assert!(!f[ours + 1..].contains(&format!(",{t}=")), "{f}");
            }
        }
    }
}
