//! The `default_permissions`, `default_uid` and `default_gid` settings applied to an
//! installed prefix, as the Python conda-store's `chmod -R` and `chown -R` do, with one
//! refinement: a file gets the execute bits of the mode only if it was executable, so
//! `775` does not make every data file a program.
//!
//! Symbolic links are never followed: their own owner changes, their targets do not.
//! Files hardlinked from the package cache share their inode with the cache, so the
//! cache's copy changes with them (as with conda's own hardlinks).

use crate::BuildError;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode and owner every entry of a prefix should have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Mode bits for directories (and, without the execute bits unless the file is
    /// executable, for files); `None` leaves modes alone.
    pub mode: Option<u32>,
    /// Owner to set; `None` leaves it.
    pub uid: Option<u32>,
    /// Group to set; `None` leaves it.
    pub gid: Option<u32>,
}

impl Permissions {
    /// The permissions of the settings: `default_permissions` is an octal string such
    /// as `775` (validated when the settings load).
    pub fn from_settings(mode: Option<&str>, uid: Option<u32>, gid: Option<u32>) -> Self {
        Self {
            mode: mode.and_then(|mode| u32::from_str_radix(mode, 8).ok()),
            uid,
            gid,
        }
    }

    /// Whether there is anything to apply.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.uid.is_none() && self.gid.is_none()
    }

    /// Applies the mode and owner to `prefix` and everything under it; returns how many
    /// entries changed.
    pub async fn apply(self, prefix: &Path) -> Result<u64, BuildError> {
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || self.apply_tree(&prefix))
            .await
            .map_err(|error| BuildError::Internal(error.to_string()))?
    }

    fn apply_tree(&self, prefix: &Path) -> Result<u64, BuildError> {
        let mut changed = 0;
        let mut pending = vec![prefix.to_owned()];
        while let Some(path) = pending.pop() {
            let metadata = std::fs::symlink_metadata(&path).map_err(failure(&path))?;
            if self.apply_one(&path, &metadata)? {
                changed += 1;
            }
            if metadata.is_dir() {
                for entry in std::fs::read_dir(&path).map_err(failure(&path))? {
                    pending.push(entry.map_err(failure(&path))?.path());
                }
            }
        }
        Ok(changed)
    }

    /// Sets the owner and mode of one entry where they differ; whether it changed.
    fn apply_one(&self, path: &Path, metadata: &std::fs::Metadata) -> Result<bool, BuildError> {
        let mut changed = false;
        let uid = self.uid.filter(|&uid| uid != metadata.uid());
        let gid = self.gid.filter(|&gid| gid != metadata.gid());
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(path, uid, gid).map_err(failure(path))?;
            changed = true;
        }
        if let Some(mode) = self.mode.and_then(|mode| wanted_mode(mode, metadata)) {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(failure(path))?;
            changed = true;
        }
        Ok(changed)
    }
}

/// The mode an entry should get, when it differs from its own: directories take `mode`
/// whole, files its permission bits with execute only if they were executable, links
/// nothing.
fn wanted_mode(mode: u32, metadata: &std::fs::Metadata) -> Option<u32> {
    let file_type = metadata.file_type();
    let current = metadata.permissions().mode() & 0o7777;
    let wanted = if file_type.is_dir() {
        mode & 0o7777
    } else if file_type.is_file() {
        let executable = current & 0o111 != 0;
        match executable {
            true => mode & 0o777,
            false => mode & 0o666,
        }
    } else {
        return None;
    };
    (wanted != current).then_some(wanted)
}

fn failure(path: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |error| BuildError::Permissions {
        path: PathBuf::from(path),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[tokio::test]
    async fn directories_take_the_mode_and_files_keep_their_execute_bit() {
        let directory = tempfile::tempdir().unwrap();
        let prefix = directory.path().join("prefix");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::write(prefix.join("data.txt"), "data").unwrap();
        std::fs::write(prefix.join("bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(prefix.join("data.txt"), PermissionsExt::from_mode(0o600))
            .unwrap();
        std::fs::set_permissions(prefix.join("bin/tool"), PermissionsExt::from_mode(0o700))
            .unwrap();
        // A link to a file outside the prefix: its target must not change.
        let outside = directory.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, PermissionsExt::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&outside, prefix.join("link")).unwrap();

        let permissions = Permissions::from_settings(Some("2775"), None, None);
        let changed = permissions.apply(&prefix).await.unwrap();

        assert_eq!(mode_of(&prefix), 0o2775);
        assert_eq!(mode_of(&prefix.join("bin")), 0o2775);
        assert_eq!(mode_of(&prefix.join("data.txt")), 0o664);
        assert_eq!(mode_of(&prefix.join("bin/tool")), 0o775);
        assert_eq!(mode_of(&outside), 0o600);
        assert_eq!(changed, 4);
        // Nothing left to change the second time.
        assert_eq!(permissions.apply(&prefix).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_missing_prefix_is_an_error_naming_it() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("missing");
        let error = Permissions::from_settings(Some("775"), None, None)
            .apply(&missing)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
