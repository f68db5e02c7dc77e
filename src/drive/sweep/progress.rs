//! Progress of a sweep: an indicatif bar on a terminal, plain lines otherwise (CI logs).

use std::time::Instant;

/// Reports progress: an indicatif bar on a terminal, plain lines otherwise.
pub trait Progress: Sync {
    fn stage(&self, name: &str, tasks: u64);
    fn tick(&self);
    fn finish(&self);
}

/// No progress output (a stage run inside another command, such as `merge`'s plans).
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str, _: u64) {}
    fn tick(&self) {}
    fn finish(&self) {}
}

/// Plain newline-terminated progress lines (CI logs).
pub struct Lines {
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
    t0: Instant,
}

impl Default for Lines {
    fn default() -> Self {
        Lines {
            done: 0.into(),
            total: 0.into(),
            t0: Instant::now(),
        }
    }
}

impl Progress for Lines {
    fn stage(&self, name: &str, tasks: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.done.store(0, Relaxed);
        self.total.store(tasks, Relaxed);
        println!(
            "[{:>6.1} s] {name}: {tasks} tasks",
            self.t0.elapsed().as_secs_f64()
        );
    }
    fn tick(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let d = self.done.fetch_add(1, Relaxed) + 1;
        let t = self.total.load(Relaxed);
        // A line at every quarter.
        if t >= 4 && d.is_multiple_of(t.div_ceil(4)) && d < t {
            println!("[{:>6.1} s]   {d}/{t}", self.t0.elapsed().as_secs_f64());
        }
    }
    fn finish(&self) {
        println!("[{:>6.1} s] done", self.t0.elapsed().as_secs_f64());
    }
}

/// An indicatif bar for the whole matrix, with a message per stage.
pub struct Bar {
    bar: indicatif::ProgressBar,
}

impl Bar {
    pub fn new(total: u64) -> Bar {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} runs, ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        Bar { bar }
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, _tasks: u64) {
        self.bar.println(format!("stage: {name}"));
        self.bar.set_message(name.to_string());
    }
    fn tick(&self) {
        self.bar.inc(1);
    }
    fn finish(&self) {
        self.bar.finish_with_message("done");
    }
}
