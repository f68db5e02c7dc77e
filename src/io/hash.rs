//! Input hashes: the sha256 of every input file, computed on a background thread while the
//! file is decoded and waited for only when a report needs it.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The sha256 of an input file, computed on a background thread and waited for on first
/// read. Clones share the result.
#[derive(Debug, Clone, Default)]
pub struct FileHash {
    pub(super) path: PathBuf,
    pub(super) state: Arc<Mutex<HashState>>,
}

#[derive(Debug, Default)]
pub(super) enum HashState {
    #[default]
    None,
    Running(std::thread::JoinHandle<std::io::Result<String>>),
    Done(String),
}

impl FileHash {
    /// The hex sha256 (empty for data that did not come from a file).
    pub fn get(&self) -> Result<String> {
        let mut st = self.state.lock().expect("not poisoned");
        if let HashState::Running(_) = &*st {
            let HashState::Running(h) = std::mem::take(&mut *st) else {
                unreachable!()
            };
            let hex = h
                .join()
                .map_err(|_| Error::Internal("the hashing thread panicked".into()))?
                .map_err(|e| Error::io(&self.path, e))?;
            *st = HashState::Done(hex);
        }
        Ok(match &*st {
            HashState::Done(h) => h.clone(),
            _ => String::new(),
        })
    }
}

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(super) fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
