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
