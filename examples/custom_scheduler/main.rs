//! mig-replay plus a scheduler written outside the crate: the whole command line (`run`,
//! `peak`, `partition`, `sweep`, sharded sweeps, `merge`, `policy list`, ...) with the
//! built-in policies and `jsq` ("join the shortest queue", in `jsq.rs`), which pairs with
//! every partitioner.
//!
//! ```text
//! cargo run --release --example custom_scheduler -- policy list
//! cargo run --release --example custom_scheduler -- peak --trace traces/paper-resnet50.parquet \
//!   --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --sla-ms 53.61 \
//!   --policy paris+jsq --policy paris+elsa --policy paris+fifo
//! cargo run --release --example custom_scheduler -- sweep --config examples/custom_scheduler/sweep.toml
//! ```

mod jsq;

fn main() {
    let mut registry = mig_replay::policy::Registry::builtin();
    registry.register_scheduler(jsq::ENTRY);
    std::process::exit(mig_replay::cli::main_with(registry));
}
