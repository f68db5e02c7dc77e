//! What the machine can hold: an input whose size is known before it is built is refused with a
//! clear error when it would not fit in the memory available now, instead of the process being
//! killed halfway.

use crate::error::{Error, Result};

/// The memory available now (bytes), from `/proc/meminfo`'s `MemAvailable`; `None` where it
/// cannot be read (then nothing is refused).
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Refuse to build `what` of `bytes` when it exceeds the memory available now.
pub fn check_memory(bytes: u64, what: &str) -> Result<()> {
    match available() {
        Some(avail) if bytes > avail => Err(Error::Usage(format!(
            "{what} would need about {:.1} GiB of memory; {:.1} GiB are available",
            bytes as f64 / (1u64 << 30) as f64,
            avail as f64 / (1u64 << 30) as f64
        ))),
        _ => Ok(()),
    }
}

/// Keep large freed blocks for reuse. glibc's malloc hands every block above its mmap
/// threshold (which adapts up to 32 MB) back to the kernel when freed, and the next block of
/// that size takes fresh zeroed pages: a replay that builds and drops per-query columns spent up
/// to a quarter of its time in page faults, more or less from one run to the next as the
/// threshold adapted. Large blocks come from the heap instead, and freed memory is kept (peak
/// RSS counts blocks while they live, so it is unchanged). Call once, before other threads
/// start (the binary's `main`, the benchmarks).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
