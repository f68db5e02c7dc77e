//! TEMPORARY stand-in until the profile branch is merged.
use super::step::StepModel;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LlmProfile {
    pub gpu: String,
    pub slice: String,
    pub model: String,
    pub gpu_memory_gib: Option<f64>,
    pub tp: u32,
    pub weights_bytes: u64,
    pub kv_bytes_per_token: u64,
    pub kv_blocks: u32,
    pub activation_bytes: u64,
    pub max_num_seqs: u32,
    pub max_num_batched_tokens: u32,
    pub block_size: u32,
    pub step: StepModel,
}

pub struct LlmProfiles {
    pub path: PathBuf,
    pub sha256: crate::io::FileHash,
    pub profiles: Vec<LlmProfile>,
}

impl LlmProfiles {
    pub fn load(path: &Path) -> Result<LlmProfiles> {
        Err(Error::Usage(format!("{}: not yet", path.display())))
    }
    pub fn find(&self, gpu: &str, slice: &str, model: &str) -> Option<&LlmProfile> {
        self.profiles
            .iter()
            .find(|p| p.gpu == gpu && p.slice == slice && p.model == model)
    }
}
