//! What a replay produces: the per-query outcomes, indexed like the (sorted) trace.

/// Per-query outcomes of a replay, indexed like the (sorted) trace.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub start_ns: Vec<u64>,
    pub finish_ns: Vec<u64>,
    pub instance: Vec<u32>,
    /// Busy time of each instance (ns).
    pub busy_ns: Vec<u64>,
    /// Queries whose service time was extrapolated beyond the profiled batches.
    pub extrapolated: u64,
    /// Events processed (arrivals + completions + batch deadlines).
    pub events: u64,
    /// With batching: the batch each query ran in, batches numbered in start order (empty
    /// without batching, where every query is its own batch).
    pub batch_id: Vec<u32>,
    /// With batching: the summed batch size of each batch, by batch id.
    pub batch_size: Vec<u32>,
    /// When the run is not exact: each query's estimated completion (ns); empty otherwise.
    pub est_done_ns: Vec<u64>,
    /// Batches whose noise used `profile:cv=X`'s fallback (no std in the profile).
    pub noise_fallback: u64,
}
