//! The end-of-run invariants every replay records: conservation, causality, no overlap on an
//! instance, and (with batching) the batch rules. They are checked, with the metrics, by one
//! accumulator over the records ([`crate::metrics::Accumulator`]).

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
