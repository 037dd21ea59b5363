//! A temporary directory removed on drop (std has none, and one small type beats another dependency).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<base>/<prefix>-<pid>-<n>` with mode 0700 (it may hold test data).
    pub fn new_in(base: &Path, prefix: &str) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.subsec_nanos());
        for attempt in 0..100u32 {
            let path = base.join(format!("{prefix}-{}-{}", std::process::id(), nanos.wrapping_add(attempt)));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(error).with_context(|| format!("could not create {}", path.display()));
                }
            }
        }
        bail!("could not find a free temporary directory name under {}", base.display())
    }

    pub fn new(prefix: &str) -> Result<Self> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// Like `new`, but under a base that other users can reach: the PostgreSQL cluster runs as another
    /// user, and a `TMPDIR` such as `/root/tmp` would lock it out of its own data directory.
    pub fn new_reachable_by_others(prefix: &str) -> Result<Self> {
        let base = std::env::temp_dir();
        let base = if traversable_by_others(&base) { base } else { PathBuf::from("/tmp") };
        Self::new_in(&base, prefix)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => eprintln!("xtask: warning: could not remove {}: {error}", self.path.display()),
        }
    }
}

/// Whether every directory from `/` down to `path` has the "others may traverse" bit.
fn traversable_by_others(path: &Path) -> bool {
    path.ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|meta| meta.is_dir() && meta.permissions().mode() & 0o001 != 0))
}
