//! The key of the fingerprints shown in plans and logs (see `core::seed::digest`): 32 random
//! bytes in `$XDG_STATE_HOME/caracal-deploy/fingerprint.key` (else
//! `~/.local/state/caracal-deploy/`), created 0600 in a 0700 directory, never through a
//! symlink, and kept so that fingerprints stay comparable from one run to the next.
//! Without a usable state directory the key is random for this process only: fingerprints
//! are then comparable within the run, and still never an unkeyed hash.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::core::seed::FingerprintKey;
use crate::logging::{create_private_dir, state_dir};

/// The name of the key file in the state directory.
pub const KEY_FILE: &str = "fingerprint.key";

/// The key of this process: loaded (or created) once.
pub fn key() -> &'static FingerprintKey {
    static KEY: OnceLock<FingerprintKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let kept =
            state_dir().ok_or_else(|| "no state directory ($XDG_STATE_HOME or $HOME)".into());
        match kept.and_then(|dir| load_or_create(&dir)) {
            Ok(key) => key,
            Err(why) => {
                tracing::warn!(%why, "fingerprints use a key of this run only");
                FingerprintKey::new(random())
            }
        }
    })
}

fn random() -> [u8; FingerprintKey::LEN] {
    let mut bytes = [0u8; FingerprintKey::LEN];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

/// Reads the key of `dir`, creating it first if there is none. Two runs starting at once
/// agree: the key is written to a private temporary file and linked into place (which never
/// replaces an existing file), and the loser reads the winner's key.
pub fn load_or_create(dir: &Path) -> Result<FingerprintKey, String> {
    let path = dir.join(KEY_FILE);
    match read_key(&path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bytes = Zeroizing::new(random());
    // tempfile creates 0600 with O_EXCL.
    let mut tmp = tempfile::Builder::new()
        .prefix(".fingerprint-")
        .tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    tmp.write_all(bytes.as_slice())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| format!("{}: {e}", tmp.path().display()))?;
    match std::fs::hard_link(tmp.path(), &path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    drop(tmp);
    read_key(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a key file: a regular file (not followed through a symlink) of exactly the key's
/// length, readable by its owner alone.
fn read_key(path: &Path) -> std::io::Result<FingerprintKey> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut file = options.open(path)?;
    let meta = file.metadata()?;
    let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    if !meta.is_file() {
        return Err(invalid("not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(invalid("readable by others than its owner: chmod 600 it"));
        }
    }
    if meta.len() != FingerprintKey::LEN as u64 {
        return Err(invalid("not a fingerprint key (wrong length)"));
    }
    let mut bytes = Zeroizing::new([0u8; FingerprintKey::LEN]);
    file.read_exact(bytes.as_mut_slice())?;
    Ok(FingerprintKey::new(*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::seed::digest;

    #[test]
    fn the_key_is_created_private_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/caracal-deploy");
        let a = load_or_create(&state).unwrap();
        let b = load_or_create(&state).unwrap();
        assert_eq!(digest(&a, "x"), digest(&b, "x"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(&state).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_symlinked_or_shared_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, [1u8; FingerprintKey::LEN]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let state = dir.path().join("s");
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::symlink(&target, state.join(KEY_FILE)).unwrap();
        assert!(load_or_create(&state).is_err());

        let shared = dir.path().join("t");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join(KEY_FILE), [1u8; FingerprintKey::LEN]).unwrap();
        std::fs::set_permissions(
            shared.join(KEY_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(load_or_create(&shared).is_err());
    }
}
