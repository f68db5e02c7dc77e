//! Atomic outputs: every file is written under a temporary name in its destination folder and
//! renamed into place, so a reader never sees a half-written output.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A file written under a temporary name in its destination folder and renamed into place by
/// [`AtomicFile::commit`]; dropped uncommitted, the temporary file is removed. Readers never see
/// a half-written output.
pub struct AtomicFile {
    pub(super) path: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
}

impl AtomicFile {
    /// Create the temporary file next to `path` (creating the folder if needed).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        check_target(path)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.file.as_mut().expect("open until commit")
    }

    /// A second handle to the temporary file (for writers that take ownership).
    pub fn try_clone(&self) -> Result<std::fs::File> {
        self.file
            .as_ref()
            .expect("open until commit")
            .try_clone()
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Flush to disk and rename into place.
    pub fn commit(mut self) -> Result<()> {
        let f = self.file.take().expect("open until commit");
        let done = f
            .sync_all()
            .and_then(|()| {
                drop(f);
                std::fs::rename(&self.tmp, &self.path)
            })
            .map_err(|e| Error::io(&self.path, e));
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Refuse, before anything is written, an output file whose path is taken by a folder (the
/// rename at the end would fail after the work was done).
pub fn check_target(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(Error::Usage(format!(
            "{}: is a folder; expected a file to write there (or nothing)",
            path.display()
        )));
    }
    Ok(())
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| {
        use std::io::Write;
        f.write_all(bytes)
    })
}

/// Write to `path` atomically through a closure that fills a temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let mut a = AtomicFile::create(path)?;
    fill(a.file()).map_err(|e| Error::io(path, e))?;
    a.commit()
}
