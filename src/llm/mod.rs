//! LLM serving, token by token (issue 29): a request is a prompt prefilled in chunks and output
//! tokens decoded one engine step at a time. [`profile`] holds the per-(gpu, slice, model)
//! profile rows (`profiles/llm.toml`: memory, KV size, scheduler limits, step-time model) and
//! the model architecture they are derived from; [`step`] the step-time model, evaluated in one
//! fixed order; [`fit`] the importers that build profile rows from the shipped sources
//! (LLMServingSim's per-layer tables, BLIS's fitted coefficients). `docs/llm-profiles.md`
//! describes all three.

pub mod fit;
pub mod profile;
pub mod step;
