//! mig-replay: a trace-driven replay benchmark harness for reconfigurable (MIG) multi-GPU
//! inference servers.
//!
//! Data flows one way: [`trace`] and [`profile`] (validated inputs; [`llm`] the LLM profiles
//! and step-time model), the [`service`] model, the
//! SLAs ([`sla`]) and the reconfiguration rules, checked together as one [`scenario`] →
//! a [`policy`]'s partitioner chooses the [`server`] layout → the [`engine`]'s event loop
//! advances the server's state, asking the policy's scheduler (which reads the server through
//! a [`server::ServerView`] only) → per-query [`engine::Records`] → [`metrics`] →
//! [`report`]. The [`drive`]rs run that chain: [`drive::replay`] once on a scenario,
//! [`drive::stream`] streamed, [`drive::peak`], [`drive::capacity`] and [`drive::sweep`] many
//! times; [`stats`] holds the statistics they share; [`report`] writes what they found and
//! holds the regression gate ([`report::compare`]); [`cli`] is the command line over them, for
//! any [`policy::Registry`]. No module imports one above it (`tests/architecture.rs` checks).

#[cfg(feature = "analyze")]
pub mod analyze;
pub mod cli;
pub mod drive;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod io;
pub mod llm;
pub mod metrics;
pub mod plot;
pub mod policy;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod server;
pub mod service;
pub mod sla;
pub mod stats;
pub mod trace;

pub use error::{Error, Result};

/// The plugin author's guide, `docs/PLUGINS.md`, as a doc test: `cargo test` compiles every
/// Rust block of it (and runs those not marked `no_run`), so the guide's code cannot drift
/// from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/PLUGINS.md")]
pub struct PluginsGuide;
