//! The end-of-run invariant checks every replay records: conservation, causality, no overlap
//! on an instance, and (with batching) the batch rules.

use super::Records;
use crate::server::Server;
use crate::service::BatchRule;
use crate::trace::Trace;

/// The results of the end-of-run invariant checks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invariants {
    /// Every query that arrived completed exactly once.
    pub conservation: bool,
    /// No query started before it arrived; every finish is after its start.
    pub causality: bool,
    /// No instance ran two queries (batches) at once.
    pub no_overlap: bool,
    /// With batching: every query ran in exactly one batch; a batch's members share its
    /// model, instance, start and finish; their batches sum to the batch's size, which is at
    /// most the model's max_batch unless the batch is one oversized query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<bool>,
    /// A reconfigurable server: every query started exactly once (none lost or served twice
    /// across reconfigurations), on an instance that existed and took queries at that instant
    /// (created at or before its start, destroyed at or after it: at one instant, completions
    /// and the starts they trigger come before a reconfiguration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconfiguration: Option<bool>,
}

impl Invariants {
    pub fn all_ok(&self) -> bool {
        self.conservation
            && self.causality
            && self.no_overlap
            && self.batches != Some(false)
            && self.reconfiguration != Some(false)
    }
}

/// Check the cheap invariants on the records of a finished replay (`rules`: the batching
/// rules, empty without batching).
pub fn check_invariants(
    trace: &Trace,
    server: &Server,
    rec: &Records,
    rules: &[BatchRule],
) -> Invariants {
    let n = trace.len();
    let conservation = rec.instance.len() == n
        && rec
            .instance
            .iter()
            .all(|&i| (i as usize) < server.instances.len());
    let causality = (0..n)
        .all(|q| rec.start_ns[q] >= trace.arrival_ns[q] && rec.finish_ns[q] > rec.start_ns[q]);
    let batched = !rec.batch_id.is_empty();
    let batches = batched.then(|| conservation && check_batches(trace, rec, rules));
    let mut no_overlap = conservation;
    if conservation {
        // Bucket queries by instance (counting sort), then check each instance's timeline;
        // with batching, one representative (the first member) per batch.
        let ni = server.instances.len();
        let first_of_batch: Option<Vec<bool>> = batched.then(|| {
            let mut seen = vec![false; rec.batch_size.len()];
            rec.batch_id
                .iter()
                .map(|&b| {
                    let b = b as usize;
                    let first = b < seen.len() && !seen[b];
                    if b < seen.len() {
                        seen[b] = true;
                    }
                    first
                })
                .collect()
        });
        let counted = |q: usize| first_of_batch.as_ref().is_none_or(|f| f[q]);
        let mut count = vec![0usize; ni + 1];
        for (q, &i) in rec.instance.iter().enumerate() {
            if counted(q) {
                count[i as usize + 1] += 1;
            }
        }
        for k in 0..ni {
            count[k + 1] += count[k];
        }
        let mut order = vec![0u32; count[ni]];
        let mut pos = count.clone();
        for (q, &i) in rec.instance.iter().enumerate() {
            if counted(q) {
                order[pos[i as usize]] = q as u32;
                pos[i as usize] += 1;
            }
        }
        for k in 0..ni {
            let seg = &mut order[count[k]..count[k + 1]];
            seg.sort_unstable_by_key(|&q| (rec.start_ns[q as usize], q));
            no_overlap &= seg
                .windows(2)
                .all(|w| rec.finish_ns[w[0] as usize] <= rec.start_ns[w[1] as usize]);
        }
    }
    let reconfiguration = rec.reconfig.as_ref().map(|log| {
        conservation
            && rec.starts == n as u64
            && log.lifetimes.len() == server.instances.len()
            && (0..n).all(|q| {
                let (born, gone) = log.lifetimes[rec.instance[q] as usize];
                born <= rec.start_ns[q] && rec.start_ns[q] <= gone
            })
    });
    Invariants {
        conservation,
        causality,
        no_overlap,
        batches,
        reconfiguration,
    }
}

/// The batch invariants (see [`Invariants::batches`]).
fn check_batches(trace: &Trace, rec: &Records, rules: &[BatchRule]) -> bool {
    let nb = rec.batch_size.len();
    // Per batch: (model, instance, start, finish, summed batch, members), from its first member.
    let mut first: Vec<Option<(u32, u32, u64, u64)>> = vec![None; nb];
    let mut sum = vec![0u64; nb];
    let mut members = vec![0u32; nb];
    for q in 0..trace.len() {
        let b = rec.batch_id[q] as usize;
        if b >= nb {
            return false;
        }
        let key = (
            trace.model[q],
            rec.instance[q],
            rec.start_ns[q],
            rec.finish_ns[q],
        );
        match first[b] {
            None => first[b] = Some(key),
            Some(k) if k != key => return false,
            Some(_) => {}
        }
        sum[b] += trace.batch[q] as u64;
        members[b] += 1;
    }
    (0..nb).all(|b| {
        let Some((m, ..)) = first[b] else {
            return false;
        };
        let max = rules.get(m as usize).map_or(u32::MAX, |r| r.max_batch);
        sum[b] == rec.batch_size[b] as u64 && (sum[b] <= max as u64 || members[b] == 1)
    })
}
