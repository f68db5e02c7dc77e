//! `mig-replay analyze 'GLOB' --by COLS [--filter EXPR] --metric COLS [--out F.parquet|.csv]`
//! (cargo feature `analyze`).

use crate::analyze::{AnalyzeOptions, analyze as run_analyze, text, write};
use crate::error::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Results files: a path or a glob, e.g. 'reports/*/results.parquet' (quote it).
    pub pattern: String,
    /// Group-by columns, comma-separated (e.g. policy,workload,gpus).
    #[arg(long, value_delimiter = ',', default_value = "policy,workload")]
    pub by: Vec<String>,
    /// Keep rows matching COL OP VALUE [and COL OP VALUE]... (OP: == != < <= > >=), e.g.
    /// "load_fraction == 0.6 and gpus >= 8".
    #[arg(long)]
    pub filter: Option<String>,
    /// Metric columns, comma-separated (e.g. p99_ms,throughput_qps,utilization).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "p99_ms,throughput_qps,utilization"
    )]
    pub metric: Vec<String>,
    /// Write the table to this .parquet or .csv file instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn analyze(a: AnalyzeArgs) -> Result<i32> {
    let mut df = run_analyze(&AnalyzeOptions {
        pattern: a.pattern,
        by: a.by,
        filter: a.filter,
        metrics: a.metric,
    })?;
    match a.out {
        Some(p) => {
            write(&mut df, &p)?;
            println!("wrote {} ({} groups)", p.display(), df.height());
        }
        None => print!("{}", text(&df)?),
    }
    Ok(0)
}
