//! `least-tokens`: the replica with the fewest outstanding tokens: over its unfinished
//! requests, the prompt (and, after a preemption, recompute) tokens still to compute plus one
//! per decoding request. Output lengths are not known online, so future decodes are not
//! counted.

use super::{Request, Router, RouterEntry, argmin_by_key};
use crate::llm::replica::Replica;

pub const ENTRY: RouterEntry = RouterEntry {
    name: "least-tokens",
    help: "the replica with the fewest outstanding tokens (prompt tokens still to compute + 1 per decoding request); ties: lowest index",
    oracle: false,
    build: || Box::new(LeastTokens),
};

struct LeastTokens;

impl Router for LeastTokens {
    fn route(&mut self, _: &Request, candidates: &[u32], replicas: &[Replica]) -> u32 {
        argmin_by_key(candidates, |c| replicas[c as usize].outstanding)
    }
}
