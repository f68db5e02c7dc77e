//! `mig-replay profile build | inspect`.

use super::json;
use crate::error::{Error, Result};
use crate::profile::Profiles;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Build profiles/*.parquet from the source CSVs in profiles/sources (arrow CSV reader).
    Build {
        /// Folder of the source CSVs (and their licenses).
        #[arg(long, default_value = "profiles/sources")]
        sources: PathBuf,
        /// Folder the profile Parquet files (one per GPU kind) and build-report.md go to.
        #[arg(long, default_value = "profiles")]
        out_dir: PathBuf,
        /// Relative noise tolerance of the monotonicity checks.
        #[arg(long, default_value_t = 0.05)]
        tolerance: f64,
    },
    /// Per (gpu, model, slice): batch range, latencies, peak throughput, 80%-of-peak batch, source mix.
    Inspect {
        /// Profile Parquet file (gpu, slice, model, batch, latency_ms[, ...]).
        file: PathBuf,
        /// Fraction of peak throughput that defines the knee batch.
        #[arg(long, default_value_t = 0.8)]
        theta: f64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn profile_cmd(c: ProfileCommand) -> Result<i32> {
    match c {
        ProfileCommand::Build {
            sources,
            out_dir,
            tolerance,
        } => {
            let cfg = crate::profile::build::BuildConfig {
                sources,
                out_dir: out_dir.clone(),
                tolerance,
            };
            let rep = crate::profile::build::build(&cfg)?;
            print!("{}", rep.markdown(tolerance));
            println!("\nwrote {}", out_dir.join("build-report.md").display());
            Ok(0)
        }
        ProfileCommand::Inspect {
            file,
            theta,
            json: as_json,
        } => {
            if !(theta > 0.0 && theta <= 1.0) {
                return Err(Error::Usage(format!(
                    "--theta must be in (0, 1], got {}",
                    crate::error::num(theta)
                )));
            }
            let p = Profiles::load(&file)?;
            let st = crate::profile::inspect::inspect(&p, theta);
            if as_json {
                println!("{}", json(&st)?);
            } else {
                print!("{}", crate::profile::inspect::text(&st, theta));
            }
            Ok(0)
        }
    }
}
