//! `most-free-kv`: the replica with the most free KV blocks (KV-aware routing).

use super::{Request, Router, RouterEntry, argmin_by_key};
use crate::llm::replica::Replica;

pub const ENTRY: RouterEntry = RouterEntry {
    name: "most-free-kv",
    help: "the replica with the most free KV blocks; ties: lowest index",
    oracle: false,
    build: || Box::new(MostFreeKv),
};

struct MostFreeKv;

impl Router for MostFreeKv {
    fn route(&mut self, _: &Request, candidates: &[u32], replicas: &[Replica]) -> u32 {
        argmin_by_key(candidates, |c| {
            u64::from(u32::MAX - replicas[c as usize].free)
        })
    }
}
