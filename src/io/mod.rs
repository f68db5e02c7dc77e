//! Files in and out, one concept per file: [`read`] (Parquet inputs, typed columns with the file,
//! column and row in every error), [`csv`] (CSV inputs through arrow's reader, the same
//! discipline), [`guard`] (a decoder's panic on a corrupt file as an error), [`hash`] (input sha256s), [`intern`] (names to ids), [`order`] (stable sorts of
//! parallel columns), [`atomic`] (temp file + rename) and [`mod@write`] (Parquet outputs).

pub mod atomic;
pub mod csv;
pub mod guard;
pub mod hash;
pub mod intern;
pub mod memory;
pub mod order;
pub mod read;
pub mod write;

pub use atomic::{AtomicFile, write_atomic, write_atomic_with};
pub use hash::{FileHash, sha256_hex};
pub use intern::Interner;
pub use memory::check_memory;
pub use order::{permuted, sort_order};
pub use read::{ParquetInput, append_floats, append_ints, append_strings, col};
pub use write::{ColumnEncoding, Compress, ParquetSink, write_parquet, write_parquet_with};
