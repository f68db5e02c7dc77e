//! Streamed replay (`run --stream`, `mig_replay::drive::stream`) against the in-memory replay: the
//! same `queries.parquet` and `summary.json`, byte for byte, over row-group sizes from 1 row to
//! 2^20, on sorted and unsorted files, one and three models, exact service, noise, dynamic
//! batching, fcfs, PARIS+ELSA, homogeneous slices and the random scheduler. The in-memory replay
//! is the reference: its own tests check it against closed forms and hand-computed traces.

mod common;

use mig_replay::drive::replay::replay;
use mig_replay::drive::stream::{Source, StreamOptions, replay_stream};
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PolicyParams, Registry, RunParams};
use mig_replay::profile::Profiles;
use mig_replay::report::{QueriesWriter, Summary, write_queries_in_groups};
use mig_replay::scenario::{Inputs, Names, PolicySource, Scenario};
use mig_replay::trace::Trace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A trace of `n` queries over `models`, arrivals at a mean `gap_us` apart (whole microseconds),
/// batches 1-32, written to `path` in arrival order or, with `shuffle`, in a scrambled order
/// (ids then name the rows' arrival order, as a real unsorted log would).
fn write_trace(path: &Path, n: usize, models: &[&str], gap_us: u64, shuffle: bool, seed: u64) {
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut t = 0u64;
    let mut rows: Vec<(u64, u32, u32)> = (0..n)
        .map(|_| {
            t += rnd() % (2 * gap_us + 1);
            let b = 1 + (rnd() % 32).min(rnd() % 32) as u32;
            (t * 1000, (rnd() % models.len() as u64) as u32, b)
        })
        .collect();
    if shuffle {
        for i in (1..rows.len()).rev() {
            let j = (rnd() % (i as u64 + 1)) as usize;
            rows.swap(i, j);
        }
    }
    let trace = Trace {
        models: models.iter().map(|s| s.to_string()).collect(),
        arrival_ns: rows.iter().map(|r| r.0).collect(),
        model: rows.iter().map(|r| r.1).collect(),
        batch: rows.iter().map(|r| r.2).collect(),
        id: if shuffle {
            (0..n as i64).map(|i| i * 3 + 7).collect()
        } else {
            Vec::new()
        },
        ..Trace::default()
    };
    trace.write(path).unwrap();
}

fn profiles() -> Profiles {
    Profiles::load(Path::new("profiles/a100-80gb.parquet")).unwrap()
}

/// Replay `path` both ways with `rows_per_group`; assert the outputs are the same bytes.
fn same_both_ways(
    dir: &Path,
    path: &Path,
    policy: &str,
    params: &[(&str, &str)],
    gpus: usize,
    rate_scale: f64,
    (rows_per_group, cut_rows): (usize, usize),
) {
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let prof = profiles();
    let reg = Registry::builtin();
    let run = RunParams::split(PolicyParams::from_pairs(params)).unwrap();
    let tag = format!(
        "{policy} {params:?} on {gpus} GPUs, {rows_per_group} rows per group, cut by {cut_rows}"
    );
    let inputs = |t: &Trace| {
        let mut m = BTreeMap::new();
        m.insert(
            "trace".to_string(),
            mig_replay::report::InputFile {
                path: t.path.display().to_string(),
                sha256: t.sha256.get().unwrap(),
            },
        );
        m
    };
    // In memory.
    let mut trace = Trace::load(path).unwrap();
    trace.scale_rate(rate_scale).unwrap();

    let r = replay(&common::run_scenario(&trace, &prof, (&gpu, gpus), &reg, policy, &run).unwrap())
        .unwrap();
    assert!(r.invariants.all_ok(), "{tag}: {:?}", r.invariants);
    let mem = dir.join("mem");
    std::fs::create_dir_all(&mem).unwrap();
    write_queries_in_groups(&mem.join("queries.parquet"), &trace, &r, rows_per_group).unwrap();
    Summary::new(&r, &trace.models, inputs(&trace), rate_scale)
        .write(&mem.join("summary.json"))
        .unwrap();
    // Streamed.
    let st = dir.join("stream");
    std::fs::create_dir_all(&st).unwrap();
    let q = QueriesWriter::create(
        &st.join("queries.parquet"),
        QueriesWriter::batched(&run.service),
        rows_per_group,
    )
    .unwrap();
    let opts = StreamOptions {
        rows_per_group,
        cut_rows,
        spill_in: st.clone(),
    };
    let source = Source::open(path, rate_scale).unwrap();
    let scenario = Scenario::new(
        Inputs::of_run(
            source.head(),
            prof.clone(),
            (gpu.clone(), gpus),
            PolicySource::registered(&reg, policy, &run).unwrap(),
            &run,
        ),
        &Names::default(),
    )
    .unwrap();
    let r2 = replay_stream(&scenario, source, Some(Box::new(q)), &opts).unwrap();
    let head = scenario.trace();
    Summary::new(&r2, &head.models, inputs(head), rate_scale)
        .write(&st.join("summary.json"))
        .unwrap();
    for f in ["queries.parquet", "summary.json"] {
        let (a, b) = (
            std::fs::read(mem.join(f)).unwrap(),
            std::fs::read(st.join(f)).unwrap(),
        );
        if a != b && f == "summary.json" {
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "{tag}"
            );
        }
        assert!(a == b, "{tag}: {f} differs");
    }
    // The spill folder is gone; only the outputs remain.
    let mut left: Vec<PathBuf> = std::fs::read_dir(&st)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    left.sort();
    assert_eq!(left, [st.join("queries.parquet"), st.join("summary.json")]);
}

#[test]
fn fcfs_one_model_every_row_group_size() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    // About 80% load on 2 A100-80GB.
    write_trace(&t, 30_000, &["resnet50"], 9_000, false, 1);
    // Cuts of the window smaller than, equal to and larger than the file's row groups, and a
    // row group fed in several cuts.
    for (k, g) in [
        (1, 1),
        (7, 3),
        (1000, 64),
        (1000, 4096),
        (8192, 2048),
        (1 << 20, 1024),
        (1 << 20, 5000),
    ]
    .into_iter()
    .enumerate()
    {
        let d = dir.path().join(format!("fcfs-{k}"));
        same_both_ways(&d, &t, "fcfs", &[], 2, 1.0, g);
    }
    // A rate scale on a sorted file: the reader scales each chunk as it decodes it.
    let d = dir.path().join("fcfs-scaled");
    same_both_ways(&d, &t, "fcfs", &[], 2, 1.3, (4096, 1024));
}

#[test]
fn three_models_unsorted_paris_elsa_and_homogeneous() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    let models = ["resnet50", "bert-base", "mobilenet-v2"];
    write_trace(&t, 20_000, &models, 2_000, true, 2);
    let slas = [
        ("sla.resnet50", "60"),
        ("sla.bert-base", "130"),
        ("sla.mobilenet-v2", "30"),
    ];
    for (k, rpg) in [(0usize, (333usize, 333usize)), (1, (4096, 1000))] {
        let d = dir.path().join(format!("paris-{k}"));
        same_both_ways(&d, &t, "paris+elsa", &slas, 4, 1.0, rpg);
        let d = dir.path().join(format!("homog-{k}"));
        same_both_ways(
            &d,
            &t,
            "homogeneous",
            &[("slice", "3g.40gb"), ("sla.resnet50", "60")],
            4,
            1.5,
            rpg,
        );
    }
}

#[test]
fn batching_and_noise() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    let models = ["resnet50", "mobilenet-v2"];
    write_trace(&t, 20_000, &models, 1_500, false, 3);
    let batching = [
        ("batching.max_batch", "48"),
        ("batching.max_delay_us", "3000"),
        ("service_noise", "lognormal:cv=0.4"),
        ("seed", "9"),
    ];
    for rpg in [(5, 5), (2000, 256)] {
        let d = dir.path().join(format!("fcfs-batch-{}", rpg.0));
        same_both_ways(&d, &t, "fcfs", &batching, 3, 1.0, rpg);
        let d = dir.path().join(format!("paris-batch-{}", rpg.0));
        same_both_ways(
            &d,
            &t,
            "paris+elsa",
            &[
                ("service_noise", "profile:cv=0.2"),
                ("sla.resnet50", "80"),
                ("sla.mobilenet-v2", "40"),
            ],
            3,
            1.0,
            rpg,
        );
        let d = dir.path().join(format!("random-{}", rpg.0));
        same_both_ways(
            &d,
            &t,
            "random+least-loaded",
            &[
                ("batching.max_batch", "8"),
                ("batching.max_delay_us", "500"),
            ],
            3,
            1.0,
            rpg,
        );
    }
}

#[test]
fn the_cli_streams_whenever_it_can_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    write_trace(&t, 5_000, &["resnet50", "bert-base"], 3_000, true, 4);
    // `run` of `t` on 2 A100-80GB with `policy` into `out`, and `extra` flags.
    let run = |policy: &str, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "run",
            "--trace",
            t.to_str().unwrap(),
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--gpu",
            "A100-80GB",
            "--gpus",
            "2",
            "--policy",
            policy,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        common::run(&args)
    };
    // In memory on request, streamed by default, streamed on request: the same bytes.
    let outs = [
        dir.path().join("o0"),
        dir.path().join("o1"),
        dir.path().join("o2"),
    ];
    let modes: [&[&str]; 3] = [
        &["--sla-ms", "150", "--in-memory"],
        &["--sla-ms", "150"],
        &["--sla-ms", "150", "--stream"],
    ];
    for (k, (out, extra)) in outs.iter().zip(modes).enumerate() {
        let o = run("paris+elsa", out, extra);
        assert_eq!(o.code, 0, "{}", o.stderr);
        // Each says how it replayed (stdout), and a run that could stream says nothing on
        // stderr.
        let streamed = o.stdout.contains("(streamed:");
        assert_eq!(streamed, k > 0, "{extra:?}: {}", o.stdout);
        assert!(o.stderr.is_empty(), "{extra:?}: {}", o.stderr);
    }
    for f in ["queries.parquet", "summary.json"] {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        for o in &outs[1..] {
            assert!(a == std::fs::read(o.join(f)).unwrap(), "{f}");
        }
    }
    // A run that cannot stream is replayed in memory and says why, in one line on stderr (and
    // in no output file); with --stream it is refused by name.
    for (extra, why) in [
        (&["--timeline-s", "1"][..], "--timeline-s"),
        (
            &["--repartition", "periodic", "--sla-ms", "150"][..],
            "repartitioner 'periodic'",
        ),
    ] {
        let out = dir.path().join("o3");
        let o = run(
            if why.starts_with("--") {
                "fcfs"
            } else {
                "paris+elsa"
            },
            &out,
            extra,
        );
        assert_eq!(o.code, 0, "{extra:?}: {}", o.stderr);
        assert!(o.stdout.contains("(load "), "{extra:?}: {}", o.stdout);
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{extra:?}: {}", o.stderr);
        assert!(
            lines[0].starts_with("note: replaying in memory, not streamed: ")
                && lines[0].contains(why),
            "{extra:?}: {}",
            o.stderr
        );
        let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
        assert!(!summary.contains("not streamed"), "{extra:?}");
        let mut refused = extra.to_vec();
        refused.push("--stream");
        let o = run("paris+elsa", &dir.path().join("o4"), &refused);
        assert_eq!(o.code, 2, "{refused:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("--stream") && o.stderr.contains(why),
            "{refused:?}: {}",
            o.stderr
        );
    }
    // --quiet keeps stderr quiet too; --stream and --in-memory exclude each other.
    let o = run(
        "fcfs",
        &dir.path().join("o5"),
        &["--timeline-s", "1", "--quiet"],
    );
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    let o = run("fcfs", &dir.path().join("o6"), &["--stream", "--in-memory"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}
