//! `mig-replay policy list`.

use crate::error::Result;
use crate::policy::Registry;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List the partitioners, schedulers and aliases with their parameters.
    List,
}

/// Run a `policy` subcommand.
pub fn policy_cmd(c: PolicyCommand, registry: &Registry) -> Result<i32> {
    match c {
        PolicyCommand::List => print!("{}", registry.describe()),
    }
    Ok(0)
}
