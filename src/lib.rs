//! mig-replay: a trace-driven replay benchmark harness for reconfigurable (MIG) multi-GPU
//! inference servers.
//!
//! Data flows one way: [`trace`] and [`profile`] (validated inputs) → [`policy`] partitioner →
//! [`server`] layout → [`engine`] event loop with the policy's scheduler → per-query
//! [`engine::Records`] → [`metrics`] → [`report`]. [`replay::replay`] runs that chain; [`cli`]
//! is the command line over it.

pub mod aggregate;
#[cfg(feature = "analyze")]
pub mod analyze;
pub mod cli;
pub mod compare;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod io;
pub mod metrics;
pub mod peak;
pub mod plot;
pub mod policy;
pub mod profile;
pub mod replay;
pub mod report;
pub mod server;
pub mod service;
pub mod stats;
pub mod sweep;
pub mod trace;

pub use error::{Error, Result};
