//! `mig-replay merge DIR [--out REPORT]`: gather a sharded sweep's files into its report.

use crate::error::Result;
use crate::policy::Registry;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The folder the shards wrote to (their --out); its `shards/` holds the shard files.
    pub dir: PathBuf,
    /// Report folder (default: DIR).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn merge(a: MergeArgs, registry: &Registry) -> Result<i32> {
    let t0 = Instant::now();
    let out = a.out.unwrap_or_else(|| a.dir.clone());
    super::run::check_out_dir(&out, super::sweep::REPORT_FILES)?;
    let res = crate::drive::sweep::shard::merge(&a.dir, registry)?;
    println!(
        "merged the shards of sweep '{}' under {}",
        res.config.name,
        a.dir.display()
    );
    super::sweep::report(&res, &out, t0)
}
