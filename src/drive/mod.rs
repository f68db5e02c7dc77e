//! The drivers: what runs the chain from a [`crate::scenario::Scenario`] through the
//! [`crate::engine`] to [`crate::metrics`], once or many times. [`replay`] replays once in
//! memory, [`stream`] once streamed in bounded memory (what `run` does whenever it can),
//! [`peak`] searches the highest rate a policy sustains within its SLAs, [`capacity`] the
//! fewest GPUs that do (`plan`), and [`sweep`] runs a whole comparison matrix (its task list,
//! shards and merge).

pub mod capacity;
pub mod llm;
pub mod llm_search;
pub mod peak;
pub mod replay;
pub mod stream;
pub mod sweep;
pub mod validate_llm;
