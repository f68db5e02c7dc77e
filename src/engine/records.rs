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
    /// Queries started (each should start exactly once).
    pub starts: u64,
    /// A reconfigurable server: its reconfigurations, and every instance's lifetime (`instance`
    /// and `busy_ns` then index instance ids, see [`crate::engine::repartition`]).
    pub reconfig: Option<ReconfigLog>,
    /// The global position of the first per-query record (0 but in a streamed replay's window,
    /// [`crate::drive::stream`]: its trace's `base`), and the batch id of `batch_size[0]`.
    pub base: usize,
    pub batch_base: u32,
}

/// One GPU's reconfiguration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReconfigEvent {
    pub gpu: u32,
    /// When the repartitioner decided, and when this GPU's turn began (rolling), ns.
    pub decided_ns: u64,
    pub begin_ns: u64,
    /// When its last retired batch ended (the region went down), and when the new instances
    /// joined, ns (`None` only while the replay runs: every reconfiguration completes).
    pub down_ns: Option<u64>,
    pub up_ns: Option<u64>,
    /// The placements (`4g.40gb@0 2g.20gb@4 ...`) and the canonical names (`4g.40gb+2g.20gb`).
    pub layout_before: String,
    pub layout_after: String,
    pub layout_name_before: String,
    pub layout_name_after: String,
    pub instances_kept: u32,
    pub instances_destroyed: u32,
    pub instances_created: u32,
    /// GPCs of the destroyed and of the created instances.
    pub gpcs_destroyed: u32,
    pub gpcs_created: u32,
    /// Queries this GPU's destroyed instances gave back (their local queues and forming
    /// batches), offered again to the rebuilt scheduler.
    pub queries_handed_back: u64,
    /// Queries the scheduler held (its own queue, FIFO's) and gave back when the server changed
    /// for this reconfiguration, at its begin and at its up, offered again to the rebuilt
    /// scheduler. GPUs that begin (or come up) at the same instant share one rebuild: its
    /// count is recorded on the lowest GPU of the group and 0 on the others, so that the sum
    /// over events counts every hand-back once.
    pub queries_held_handed_back: u64,
    /// Batches that went on running on destroyed instances.
    pub batches_retired: u32,
    pub reason: String,
}

impl ReconfigEvent {
    /// The drain, ns: from the begin (the destroyed instances take no new query) to the end of
    /// their last retired batch (0 when none ran).
    pub fn drain_ns(&self) -> Option<u64> {
        self.down_ns.map(|d| d - self.begin_ns)
    }

    /// The downtime, ns: from the region going down to the new instances joining
    /// (`reconfig.cost_s` exactly).
    pub fn downtime_ns(&self) -> Option<u64> {
        Some(self.up_ns? - self.down_ns?)
    }

    /// From the begin to the new instances joining, ns (drain + downtime).
    pub fn reconfiguring_ns(&self) -> Option<u64> {
        self.up_ns.map(|u| u - self.begin_ns)
    }
}

/// Seconds of a replay's reconfigurations, summed over them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReconfigSeconds {
    /// From begin to up (drain + downtime), one GPU each: seconds a GPU spent reconfiguring.
    pub reconfiguring: f64,
    /// The drains (begin to down), and the same weighted by the destroyed instances' share of
    /// the GPU's GPCs: GPU-seconds of capacity that took no new query.
    pub draining: f64,
    pub gpu_draining: f64,
    /// The downtimes (down to up, `reconfig.cost_s` each), and the same weighted by the share
    /// of the GPU's GPCs out of service (the larger of the destroyed and the created
    /// instances'): GPU-seconds of capacity down.
    pub down: f64,
    pub gpu_down: f64,
}

/// Everything a reconfigurable replay reports about its reconfigurations.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReconfigLog {
    pub events: Vec<ReconfigEvent>,
    /// Checks of the repartitioner, plans that changed some GPU, and plans not taken because a
    /// reconfiguration was under way.
    pub checks: u64,
    pub plans_applied: u64,
    pub plans_skipped_busy: u64,
    /// Checks made while a reconfiguration was under way (whatever they returned: the
    /// built-in repartitioners return no plan then, and a plan returned is not taken).
    pub checks_busy: u64,
    /// The layout of every GPU at the end.
    pub final_layouts: Vec<String>,
    /// Per instance id: (created, destroyed) ns; `u64::MAX` while it exists.
    pub lifetimes: Vec<(u64, u64)>,
}

impl ReconfigLog {
    /// The seconds of every reconfiguration on GPUs of `gpcs` GPCs ([`ReconfigSeconds`]).
    pub fn seconds(&self, gpcs: u32) -> ReconfigSeconds {
        let s = |ns: u64| ns as f64 / 1e9;
        let gpcs = gpcs as f64;
        let mut r = ReconfigSeconds::default();
        for e in &self.events {
            if let Some(d) = e.reconfiguring_ns() {
                r.reconfiguring += s(d);
            }
            if let Some(d) = e.drain_ns() {
                r.draining += s(d);
                r.gpu_draining += s(d) * e.gpcs_destroyed as f64 / gpcs;
            }
            if let Some(d) = e.downtime_ns() {
                r.down += s(d);
                r.gpu_down += s(d) * e.gpcs_destroyed.max(e.gpcs_created) as f64 / gpcs;
            }
        }
        r
    }
}
