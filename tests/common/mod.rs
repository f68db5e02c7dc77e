//! Helpers shared by the integration tests: write small Parquet fixtures, run the binary.
#![allow(dead_code)]

use arrow_array::RecordBatch;
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub fn write_batch(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    mig_replay::io::write_parquet(path, &batch).unwrap();
}

pub fn strs(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}
pub fn i64s(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}
pub fn i32s(v: &[i32]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}
pub fn f64s(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

/// A valid small trace: 4 queries of model `m`.
pub fn good_trace(dir: &Path) -> PathBuf {
    let p = dir.join("trace.parquet");
    write_batch(
        &p,
        vec![
            ("arrival_us", i64s(&[0, 5000, 5000, 40000])),
            ("model", strs(&["m", "m", "m", "m"])),
            ("batch", i32s(&[1, 2, 1, 1])),
        ],
    );
    p
}

/// A valid profile of model `m` on every A100-40GB slice, batches 1 and 2.
pub fn good_profile(dir: &Path) -> PathBuf {
    let p = dir.join("profile.parquet");
    let slices = ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"];
    let mut gpu = vec![];
    let mut slice = vec![];
    let mut batch = vec![];
    let mut lat = vec![];
    for (k, s) in slices.iter().enumerate() {
        for b in [1, 2] {
            gpu.push("A100-40GB");
            slice.push(*s);
            batch.push(b);
            lat.push(if b == 1 { 10.0 } else { 15.0 } * [4.0, 2.0, 1.5, 1.2, 1.0][k]);
        }
    }
    write_batch(
        &p,
        vec![
            ("gpu", strs(&gpu)),
            ("slice", strs(&slice)),
            ("model", strs(&vec!["m"; gpu.len()])),
            ("batch", i32s(&batch)),
            ("latency_ms", f64s(&lat)),
        ],
    );
    p
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_mig-replay"))
        .args(args)
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Build an example with cargo (a no-op when `cargo test` already built it) and return its
/// executable's path, as cargo reports it.
pub fn example_binary(name: &str) -> PathBuf {
    let o = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "--message-format=json",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "building the example {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the example's executable")
}

/// Run `bin` with `args` in `cwd`.
pub fn run_in(bin: &Path, args: &[&str], cwd: Option<&Path>) -> Out {
    let mut c = Command::new(bin);
    c.args(args);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Model `m` on A100-40GB, profiled on 1g and 7g only:
/// 1g: 2, 3, 5, 10 ms at batches 1, 2, 4, 8 (throughput 0.5, 0.67, 0.8, 0.8 per ms: knee 2);
/// 7g: 1, 1, 1.2, 2 ms (throughput 1, 2, 3.33, 4: knee 4 at theta 0.8).
pub fn hand_profile() -> mig_replay::profile::Profiles {
    let mut p = mig_replay::profile::Profiles::default();
    p.insert(
        "A100-40GB",
        "m",
        "1g.5gb",
        &[(1, 2.0), (2, 3.0), (4, 5.0), (8, 10.0)],
    );
    p.insert(
        "A100-40GB",
        "m",
        "7g.40gb",
        &[(1, 1.0), (2, 1.0), (4, 1.2), (8, 2.0)],
    );
    p
}

/// Policy `name` of `registry` with the parameters `params` ([`Registry::build`]), a fresh one
/// per replay.
pub fn built(
    registry: &mig_replay::policy::Registry,
    name: &str,
    params: &mig_replay::policy::PolicyParams,
) -> mig_replay::scenario::PolicySource {
    let (r, n, p) = (registry.clone(), name.to_string(), params.clone());
    mig_replay::scenario::PolicySource::new(name, move || r.build(&n, &p)).unwrap()
}

/// The scenario of a library-level replay in a test: `trace` on `gpus` GPUs of kind `gpu` under
/// `policy`, the service model `service` and the SLAs `slas`; no reconfiguration rules given.
pub fn scenario(
    trace: &mig_replay::trace::Trace,
    prof: &mig_replay::profile::Profiles,
    gpus: (&mig_replay::gpu::GpuSpec, usize),
    policy: mig_replay::scenario::PolicySource,
    service: &mig_replay::service::ServiceModel,
    slas: &mig_replay::sla::SlaSpec,
) -> mig_replay::Result<mig_replay::scenario::Scenario> {
    scenario_rules(
        trace,
        prof,
        gpus,
        policy,
        (service, slas),
        &Default::default(),
    )
}

/// [`scenario`] under the reconfiguration rules `reconfig`.
pub fn scenario_rules(
    trace: &mig_replay::trace::Trace,
    prof: &mig_replay::profile::Profiles,
    (gpu, gpus): (&mig_replay::gpu::GpuSpec, usize),
    policy: mig_replay::scenario::PolicySource,
    (service, slas): (
        &mig_replay::service::ServiceModel,
        &mig_replay::sla::SlaSpec,
    ),
    reconfig: &mig_replay::server::reconfig::ReconfigRules,
) -> mig_replay::Result<mig_replay::scenario::Scenario> {
    use mig_replay::scenario::{Inputs, Names, Scenario};
    Scenario::new(
        Inputs {
            trace: Arc::new(trace.clone()),
            profiles: Arc::new(prof.clone()),
            gpu: gpu.clone(),
            gpus,
            policy,
            service: service.clone(),
            slas: slas.clone(),
            reconfig: reconfig.clone(),
        },
        &Names::default(),
    )
}

/// The scenario of a run given `run` (its service model, SLAs and reconfiguration rules) of
/// policy `label` of `registry`: `trace` on `gpus` GPUs of kind `gpu`.
pub fn run_scenario(
    trace: &mig_replay::trace::Trace,
    prof: &mig_replay::profile::Profiles,
    (gpu, gpus): (&mig_replay::gpu::GpuSpec, usize),
    registry: &mig_replay::policy::Registry,
    label: &str,
    run: &mig_replay::policy::RunParams,
) -> mig_replay::Result<mig_replay::scenario::Scenario> {
    use mig_replay::scenario::{Inputs, Names, PolicySource, Scenario};
    let policy = PolicySource::registered(registry, label, run)?;
    Scenario::new(
        Inputs::of_run(
            trace.clone(),
            prof.clone(),
            (gpu.clone(), gpus),
            policy,
            run,
        ),
        &Names::default(),
    )
}
