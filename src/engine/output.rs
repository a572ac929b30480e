//! Writing the bundle and the answers file, all-or-nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::core::render::{Bundle, MARKER_FILE};

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("{0} exists and was not written by caracal-deploy; choose a new or empty directory")]
    ForeignDirectory(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("could not write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes every file of the bundle into `dir`, replacing a bundle this tool wrote before.
/// The files are written to a temporary sibling directory first, then swapped in.
pub fn write_bundle(bundle: &Bundle, dir: &Path) -> Result<(), OutputError> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(OutputError::NotADirectory(dir.to_path_buf()));
        }
        let empty = fs::read_dir(dir).map_err(io(dir))?.next().is_none();
        if !empty && !dir.join(MARKER_FILE).exists() {
            return Err(OutputError::ForeignDirectory(dir.to_path_buf()));
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".caracal-deploy-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    for file in &bundle.files {
        let path = staging.path().join(file.name);
        fs::write(&path, &file.content).map_err(io(&path))?;
        #[cfg(unix)]
        if file.name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(io(&path))?;
        }
    }
    let marker = staging.path().join(MARKER_FILE);
    fs::write(
        &marker,
        "written by caracal-deploy render; the directory is replaced on the next render\n",
    )
    .map_err(io(&marker))?;
    // Swap: the old bundle moves aside, the new one takes its name, the old one goes.
    // The old bundle moves into a directory just created with an unpredictable name (0700),
    // so nobody can plant or pre-empt the place it moves to.
    let aside = tempfile::Builder::new()
        .prefix(".caracal-deploy-old-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let old = aside.path().join("bundle");
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, &old).map_err(io(dir))?;
    }
    let staged = staging.keep();
    if let Err(source) = fs::rename(&staged, dir) {
        if had_old {
            let _ = fs::rename(&old, dir);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(OutputError::Io {
            path: dir.to_path_buf(),
            source,
        });
    }
    // Dropping `aside` removes it with the old bundle inside.
    drop(aside);
    Ok(())
}

/// Writes a text file atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, content: &str) -> Result<(), OutputError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&parent).map_err(io(&parent))?;
    tmp.write_all(content.as_bytes()).map_err(io(path))?;
    tmp.persist(path).map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}
