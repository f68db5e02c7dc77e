//! Routers: the scheduler half of an LLM replay. At each request's arrival a [`Router`] picks
//! the replica of the request's model that serves it; the request then waits in that
//! replica's own queue (vLLM's replicas admit first come first served), and is never moved.
//! Routers read the replicas' state ([`Replica`]: free KV blocks, outstanding tokens, requests)
//! and the request's prompt length, never its output length (an online server does not know
//! it) unless the router declares itself an oracle ([`RouterEntry::oracle`]).
//!
//! A policy for an LLM trace is `whole+ROUTER` (one replica per `tp` whole GPUs) or the alias
//! `fcfs` = `whole+round-robin`. Adding a router: one file here defining its `ENTRY`, and its
//! name on the list in [`ROUTERS`].

mod least_tokens;
mod most_free_kv;
mod round_robin;

use crate::error::{Error, Result};
use crate::llm::replica::Replica;

/// A request as a router may see it.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Position in the sorted trace.
    pub id: u32,
    pub model: u32,
    pub prompt: u32,
    /// The output length: `Some` for an oracle router only.
    pub output: Option<u32>,
}

/// Picks a replica for each arriving request.
pub trait Router: Send {
    /// One of `candidates` (indices into `replicas`: the replicas of the request's model that
    /// can ever hold it, never empty, in index order).
    fn route(&mut self, r: &Request, candidates: &[u32], replicas: &[Replica]) -> u32;
}

/// How to build a named router.
#[derive(Clone, Copy)]
pub struct RouterEntry {
    pub name: &'static str,
    pub help: &'static str,
    /// Reads output lengths (not an online policy).
    pub oracle: bool,
    pub build: fn() -> Box<dyn Router>,
}

/// The built-in routers, in listing order.
pub const ROUTERS: &[RouterEntry] = &[round_robin::ENTRY, least_tokens::ENTRY, most_free_kv::ENTRY];

/// The partitioners an LLM replay has so far: whole GPUs.
pub const LLM_PARTITIONERS: &[&str] = &["whole"];

/// A parsed LLM policy name.
#[derive(Clone, Copy)]
pub struct LlmPolicy {
    pub partitioner: &'static str,
    pub router: RouterEntry,
}

impl LlmPolicy {
    /// `PART+ROUTER`, or `fcfs` (= `whole+round-robin`).
    pub fn parse(name: &str) -> Result<LlmPolicy> {
        let full = if name == "fcfs" {
            "whole+round-robin"
        } else {
            name
        };
        let (part, router) = full.split_once('+').ok_or_else(|| {
            Error::Usage(format!(
                "--policy '{name}': an LLM trace takes PART+ROUTER (partitioners: {}; routers: {}) or fcfs (= whole+round-robin)",
                LLM_PARTITIONERS.join(", "),
                names()
            ))
        })?;
        let partitioner = LLM_PARTITIONERS
            .iter()
            .find(|p| **p == part)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--policy '{name}': '{part}' does not partition for an LLM trace; known: {}",
                    LLM_PARTITIONERS.join(", ")
                ))
            })?;
        let router = *ROUTERS.iter().find(|r| r.name == router).ok_or_else(|| {
            Error::Usage(format!(
                "--policy '{name}': unknown router '{router}'; known: {}",
                names()
            ))
        })?;
        Ok(LlmPolicy {
            partitioner,
            router,
        })
    }

    /// `fcfs`: whole GPUs, requests routed round robin (each replica admits first come first
    /// served).
    pub fn fcfs() -> LlmPolicy {
        LlmPolicy {
            partitioner: LLM_PARTITIONERS[0],
            router: ROUTERS[0],
        }
    }

    pub fn name(&self) -> String {
        format!("{}+{}", self.partitioner, self.router.name)
    }
}

fn names() -> String {
    ROUTERS
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate with the smallest `key`, the lowest index among equals.
#[inline]
pub(crate) fn argmin_by_key(candidates: &[u32], mut key: impl FnMut(u32) -> u64) -> u32 {
    let mut best = candidates[0];
    let mut best_key = key(best);
    for &c in &candidates[1..] {
        let k = key(c);
        if k < best_key {
            best = c;
            best_key = k;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::LlmPolicy;

    #[test]
    fn policy_names_parse_or_say_what_is_known() {
        assert_eq!(
            LlmPolicy::parse("fcfs").unwrap().name(),
            "whole+round-robin"
        );
        assert_eq!(LlmPolicy::fcfs().name(), "whole+round-robin");
        assert_eq!(
            LlmPolicy::parse("whole+least-tokens").unwrap().name(),
            "whole+least-tokens"
        );
        let e = LlmPolicy::parse("whole+nope").err().unwrap().to_string();
        assert!(
            e.contains("unknown router 'nope'") && e.contains("most-free-kv"),
            "{e}"
        );
        let e = LlmPolicy::parse("paris+elsa").err().unwrap().to_string();
        assert!(e.contains("'paris' does not partition"), "{e}");
        assert!(LlmPolicy::parse("round-robin").is_err());
    }
}
