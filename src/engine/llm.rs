//! The LLM replay loop: requests arrive, a [`Router`] sends each to a replica of its model,
//! and every replica steps on its own ([`Replica`]: vLLM's v1 scheduling rules) until every
//! request has finished or been refused.
//!
//! Time is integer nanoseconds. Events at one instant: step ends first, in replica order (a
//! step end schedules that replica's next step at once), then arrivals: every request arriving
//! at the instant is routed, in trace order, and then each idle replica that received one
//! starts a step, in replica order. Replicas do not interact, so that order changes no time;
//! it is fixed so that the routers' view is.

use crate::error::{Error, Result};
use crate::llm::replica::{Emitted, Limits, NONE, Replica, Requests};
use crate::llm::step::StepModel;
use crate::policy::router::{Request, Router};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// `LlmOutcome::instance` of a refused request.
pub const REFUSED: u32 = u32::MAX;

/// One replica of a model, with its engine settings and its step-time model.
pub struct ReplicaSpec<'a> {
    pub model: u32,
    pub limits: Limits,
    pub step: &'a StepModel,
}

/// An LLM replay's inputs: the requests in arrival order (sorted), and the replicas.
pub struct LlmSetup<'a> {
    pub arrival_ns: &'a [u64],
    pub model: &'a [u32],
    pub prompt: &'a [u32],
    pub output: &'a [u32],
    pub replicas: Vec<ReplicaSpec<'a>>,
    /// The router reads output lengths (an oracle).
    pub oracle: bool,
}

/// What a replay did.
pub struct LlmOutcome {
    /// Every request's token state at the end: first token, finish, preemptions.
    pub requests: Requests,
    /// The replica that served each request ([`REFUSED`]: none could ever hold it).
    pub instance: Vec<u32>,
    /// The replicas at the end (steps, tokens, preemptions, KV use).
    pub replicas: Vec<Replica>,
    /// Per model, inter-token gaps: gap in ns -> how many (exact counts of distinct values).
    pub itl: Vec<BTreeMap<u64, u64>>,
    /// When the last step ended (0: nothing ran).
    pub end_ns: u64,
}

/// Replay the requests of `s` through `router`.
pub fn replay(s: &LlmSetup, router: &mut dyn Router) -> Result<LlmOutcome> {
    let n = s.arrival_ns.len();
    if s.model.len() != n || s.prompt.len() != n || s.output.len() != n {
        return Err(Error::Internal(
            "LLM replay: columns of unequal length".into(),
        ));
    }
    let mut q = Requests::new(s.prompt, s.output);
    let mut reps: Vec<Replica> = s.replicas.iter().map(|r| Replica::new(r.limits)).collect();
    let models = s.model.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut of_model: Vec<Vec<u32>> = vec![Vec::new(); models];
    for (i, r) in s.replicas.iter().enumerate() {
        if (r.model as usize) < models {
            of_model[r.model as usize].push(i as u32);
        }
    }
    let mut instance = vec![REFUSED; n];
    let mut done: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::with_capacity(reps.len());
    let mut itl: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); models];
    let mut emitted = Emitted::default();
    let mut candidates: Vec<u32> = Vec::new();
    let mut kicked: Vec<u32> = Vec::new();
    let mut end_ns = 0u64;
    let mut next = 0usize;
    loop {
        let t_arr = if next < n {
            s.arrival_ns[next]
        } else {
            u64::MAX
        };
        let t_done = done.peek().map_or(u64::MAX, |r| r.0.0);
        if t_done == u64::MAX && t_arr == u64::MAX {
            break;
        }
        if t_done <= t_arr {
            let Reverse((t, i)) = done.pop().expect("peeked");
            let rep = &mut reps[i as usize];
            let len = t - rep.step_start();
            rep.end_step(&mut q, t, &mut emitted);
            let gaps = &mut itl[s.replicas[i as usize].model as usize];
            if emitted.steady > 0 {
                *gaps.entry(len).or_insert(0) += emitted.steady;
                emitted.steady = 0;
            }
            for g in emitted.gaps.drain(..) {
                *gaps.entry(g).or_insert(0) += 1;
            }
            end_ns = t;
            start(rep, &mut q, &mut done, t, i, s.replicas[i as usize].step)?;
            continue;
        }
        // Every arrival at t_arr is routed, then idle replicas that got work start.
        let t = t_arr;
        while next < n && s.arrival_ns[next] == t {
            let r = next;
            next += 1;
            let (m, p, o) = (s.model[r], s.prompt[r], s.output[r]);
            candidates.clear();
            if let Some(of) = of_model.get(m as usize) {
                candidates.extend(
                    of.iter()
                        .copied()
                        .filter(|&i| reps[i as usize].limits.can_serve(p, o)),
                );
            }
            if candidates.is_empty() {
                continue; // refused: no replica of its model can ever hold it
            }
            let req = Request {
                id: r as u32,
                model: m,
                prompt: p,
                output: s.oracle.then_some(o),
            };
            let i = router.route(&req, &candidates, &reps);
            if !candidates.contains(&i) {
                return Err(Error::Usage(format!(
                    "the router sent request {r} to replica {i}, which is not one of its candidates {candidates:?}"
                )));
            }
            instance[r] = i;
            reps[i as usize].enqueue(r as u32, &q);
            if !reps[i as usize].busy() && !kicked.contains(&i) {
                kicked.push(i);
            }
        }
        kicked.sort_unstable();
        for &i in &kicked {
            start(
                &mut reps[i as usize],
                &mut q,
                &mut done,
                t,
                i,
                s.replicas[i as usize].step,
            )?;
        }
        kicked.clear();
    }
    for (i, r) in reps.iter().enumerate() {
        if r.pending() != 0 || r.busy() {
            return Err(Error::Internal(format!(
                "replica {i} ended with {} requests pending",
                r.pending()
            )));
        }
    }
    debug_assert!(
        (0..n).all(|r| (instance[r] == REFUSED) == (q.finish[r] == NONE)),
        "every routed request finishes"
    );
    Ok(LlmOutcome {
        requests: q,
        instance,
        replicas: reps,
        itl,
        end_ns,
    })
}

/// Schedule replica `i`'s next step at `t`, if it has work.
#[inline]
fn start(
    rep: &mut Replica,
    q: &mut Requests,
    done: &mut BinaryHeap<Reverse<(u64, u32)>>,
    t: u64,
    i: u32,
    step: &StepModel,
) -> Result<()> {
    if let Some(content) = rep.schedule(q, t)? {
        let d = step.step_ns(&content).max(1);
        let end = t.checked_add(d).filter(|e| *e < 1 << 63).ok_or_else(|| {
            Error::Usage(format!(
                "simulated time overflows 2^63 ns (a step of {d} ns at {t} ns)"
            ))
        })?;
        done.push(Reverse((end, i)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{LlmSetup, REFUSED, ReplicaSpec, replay};
    use crate::llm::replica::Limits;
    use crate::llm::step::StepModel;
    use crate::policy::router::ROUTERS;

    const US: u64 = 1000;

    fn run(
        reqs: &[(u64, u32, u32)],
        lim: Limits,
        step: &StepModel,
        replicas: usize,
        router: &str,
    ) -> super::LlmOutcome {
        let arrival: Vec<u64> = reqs.iter().map(|r| r.0).collect();
        let prompt: Vec<u32> = reqs.iter().map(|r| r.1).collect();
        let output: Vec<u32> = reqs.iter().map(|r| r.2).collect();
        let model = vec![0; reqs.len()];
        let setup = LlmSetup {
            arrival_ns: &arrival,
            model: &model,
            prompt: &prompt,
            output: &output,
            replicas: (0..replicas)
                .map(|_| ReplicaSpec {
                    model: 0,
                    limits: lim,
                    step,
                })
                .collect(),
            oracle: false,
        };
        let mut r = (ROUTERS.iter().find(|e| e.name == router).unwrap().build)();
        replay(&setup, r.as_mut()).unwrap()
    }

    fn lim(budget: u32, seqs: u32, blocks: u32) -> Limits {
        Limits {
            max_num_batched_tokens: budget,
            max_num_seqs: seqs,
            block_size: 16,
            kv_blocks: blocks,
        }
    }

    /// One request alone: a 5000-token prompt in chunks of 2048, 2048 and 904 (1000 us + 1 us
    /// per token each: 3048 + 3048 + 1904 = 8000 us to the first token), then one decode step
    /// per further token (1000 + 10 us each): 2 more tokens, 10020 us.
    #[test]
    fn one_request_alone() {
        let step = StepModel {
            c0: 1000.0,
            p1: 1.0,
            d1: 10.0,
            ..StepModel::default()
        };
        let o = run(
            &[(0, 5000, 3)],
            lim(2048, 256, 1000),
            &step,
            1,
            "round-robin",
        );
        assert_eq!(o.requests.first[0], 8000 * US);
        assert_eq!(o.requests.finish[0], 10020 * US);
        assert_eq!(o.replicas[0].steps, 5);
    }

    /// Two requests arrive together on 4 blocks of 16 tokens: both prefill in one step
    /// (100 + 48 us = 148); at the next step r0's decode takes the last free block and r1's
    /// decode finds none: r1, the most recently admitted, is preempted. r0 decodes alone
    /// (110 us each) to its 4th token at 478 us, freeing its 3 blocks; only then does r1 fit
    /// again (its whole prompt plus emitted token, 17 tokens, needs 2 blocks): it recomputes
    /// 17 tokens (117 us, to 595) and decodes its 8 remaining tokens (880 us): 1475 us.
    #[test]
    fn a_preemption_recomputes_prompt_and_emitted_tokens() {
        let step = StepModel {
            c0: 100.0,
            p1: 1.0,
            d1: 10.0,
            ..StepModel::default()
        };
        let o = run(
            &[(0, 32, 4), (0, 16, 10)],
            lim(2048, 256, 4),
            &step,
            1,
            "round-robin",
        );
        assert_eq!(o.requests.first[0], 148 * US);
        assert_eq!(o.requests.finish[0], 478 * US);
        assert_eq!(
            o.requests.first[1],
            148 * US,
            "TTFT is kept across a preemption"
        );
        assert_eq!(o.requests.finish[1], 1475 * US);
        assert_eq!(o.requests.preemptions, vec![0, 1]);
    }

    /// A request whose context at its last step (40 + 30 - 1 = 69 tokens, 5 blocks) exceeds
    /// the replica's 4 blocks is refused; the other is served.
    #[test]
    fn a_request_that_can_never_fit_is_refused() {
        let step = StepModel {
            c0: 100.0,
            p1: 0.0,
            d1: 0.0,
            ..StepModel::default()
        };
        let o = run(
            &[(0, 40, 30), (0, 40, 25)],
            lim(2048, 256, 4),
            &step,
            1,
            "round-robin",
        );
        assert_eq!(o.instance[0], REFUSED);
        assert_eq!(o.requests.first[0], super::NONE);
        // 40 + 25 - 1 = 64 tokens: exactly 4 blocks; 25 steps of 100 us.
        assert_eq!(o.instance[1], 0);
        assert_eq!(o.requests.finish[1], 2500 * US);
    }

    /// max_num_seqs = 1: the second request waits for the first to finish (each 1 prefill step
    /// + 1 decode step of 100 us), then runs its own two steps.
    #[test]
    fn max_num_seqs_caps_the_running_set() {
        let step = StepModel {
            c0: 100.0,
            p1: 0.0,
            d1: 0.0,
            ..StepModel::default()
        };
        let o = run(
            &[(0, 10, 2), (0, 10, 2)],
            lim(2048, 1, 100),
            &step,
            1,
            "round-robin",
        );
        assert_eq!(o.requests.finish, vec![200 * US, 400 * US]);
        assert_eq!(o.requests.first, vec![100 * US, 300 * US]);
    }

    /// Round robin sends requests 0, 1, 2 to replicas 0, 1, 0; least-tokens sends the third
    /// to the replica with fewer outstanding tokens at its arrival (replica 1: 10 against 100).
    #[test]
    fn routers_pick_as_documented() {
        let step = StepModel {
            c0: 100.0,
            p1: 0.0,
            d1: 0.0,
            ..StepModel::default()
        };
        let reqs = [(0, 100, 50), (0, 10, 50), (1, 10, 5)];
        let o = run(&reqs, lim(8, 256, 100), &step, 2, "round-robin");
        assert_eq!(o.instance, vec![0, 1, 0]);
        let o = run(&reqs, lim(8, 256, 100), &step, 2, "least-tokens");
        assert_eq!(o.instance, vec![0, 1, 1]);
    }
}
