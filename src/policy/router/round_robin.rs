//! `round-robin`: the replicas of each model in turn, whatever their state.

use super::{Request, Router, RouterEntry};
use crate::llm::replica::Replica;

pub const ENTRY: RouterEntry = RouterEntry {
    name: "round-robin",
    help: "the replicas of each model in turn (request i of a model goes to its replica i mod R)",
    oracle: false,
    build: || Box::new(RoundRobin { next: Vec::new() }),
};

struct RoundRobin {
    /// Per model, how many requests it routed.
    next: Vec<u64>,
}

impl Router for RoundRobin {
    fn route(&mut self, r: &Request, candidates: &[u32], _: &[Replica]) -> u32 {
        let m = r.model as usize;
        if self.next.len() <= m {
            self.next.resize(m + 1, 0);
        }
        let k = self.next[m];
        self.next[m] += 1;
        candidates[(k % candidates.len() as u64) as usize]
    }
}
