//! Outputs. For one run ([`run`]): `summary.json` (machine-readable figures) and
//! [`queries`]' `queries.parquet` (one row per query, exact), both written atomically, plus the
//! short terminal summary. For a sweep ([`sweep`]): `results.parquet`, `peaks.parquet`, the
//! verdict's `summary.json` ([`verdict`]), the plots ([`figures`]) and the self-contained
//! `index.html` ([`html`]).

pub mod compare;
pub mod figures;
pub mod html;
pub mod llm;
pub mod plan;
pub mod queries;
pub mod run;
pub mod sweep;
pub mod timeline;
pub mod verdict;

pub use queries::{QUERIES_ROW_GROUP, QueriesWriter, write_queries, write_queries_in_groups};
pub use run::{InputFile, Summary};
