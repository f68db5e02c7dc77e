//! The outputs: `queries.parquet` reads back equal to the records, column by column, across
//! several row groups, and byte-identical whether its trace columns were encoded ahead or not; `--no-queries` writes only the summary, and the same summary.

mod common;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type};
use mig_replay::drive::replay::replay;
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PolicyParams, Registry};
use mig_replay::profile::Profiles;
use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

#[test]
fn queries_parquet_round_trips_every_column_across_row_groups() {
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let prof = Profiles::load("profiles/a100-80gb.parquet".as_ref()).unwrap();
    let trace = generate(&GenConfig {
        rate: 900.0,
        queries: Some(5_000),
        duration_s: None,
        models: vec![("resnet50".into(), 2.0), ("bert-base".into(), 1.0)],
        arrivals: Arrivals::Poisson,
        batch: BatchSpec::LogNormal {
            mu: 1.5,
            sigma: 1.0,
            max: 64,
        },
        seed: 7,
    })
    .unwrap();
    let params = PolicyParams::from_pairs(&[("layout", "4g.40gb+2g.20gb+1g.10gb")]);
    let p = common::built(&Registry::builtin(), "fixed", &params);
    let r = replay(
        &common::scenario(
            &trace,
            &prof,
            (&gpu, 2),
            p,
            &Default::default(),
            &Default::default(),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queries.parquet");
    mig_replay::report::write_queries_in_groups(&path, &trace, &r, 1_000).unwrap();
    // What `run` does: the trace columns of the first row group encoded ahead (while the
    // replay runs), the rest at the end. The file is byte-identical.
    let ahead = dir.path().join("ahead.parquet");
    let mut w = mig_replay::report::QueriesWriter::create(&ahead, false, 1_000).unwrap();
    w.prepare(&trace).unwrap();
    w.finish(&trace, &r).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&ahead).unwrap()
    );

    let f = std::fs::File::open(&path).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    assert_eq!(b.metadata().num_row_groups(), 5);
    let mut rows = 0usize;
    for batch in b.build().unwrap() {
        let batch = batch.unwrap();
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let id = col("id");
        let id = id.as_primitive::<Int64Type>();
        let batch_c = col("batch");
        let arrival = col("arrival_us");
        let start = col("start_us");
        let finish = col("finish_us");
        let gpu_c = col("gpu");
        let inst = col("instance");
        let model = col("model");
        let model = model.as_any_dictionary();
        let model_names = arrow_cast::cast(model.values(), &arrow_schema::DataType::Utf8).unwrap();
        let model_keys = arrow_cast::cast(model.keys(), &arrow_schema::DataType::Int64).unwrap();
        let slice = col("slice");
        let slice = slice.as_any_dictionary();
        let slice_names = arrow_cast::cast(slice.values(), &arrow_schema::DataType::Utf8).unwrap();
        let slice_keys = arrow_cast::cast(slice.keys(), &arrow_schema::DataType::Int64).unwrap();
        for k in 0..batch.num_rows() {
            let q = rows + k;
            assert_eq!(id.value(k), trace.id_of(q));
            assert_eq!(
                batch_c.as_primitive::<Int32Type>().value(k) as u32,
                trace.batch[q]
            );
            let us = |a: &arrow_array::ArrayRef| a.as_primitive::<Float64Type>().value(k);
            // The trace's own type: whole microseconds; the exact ns beside them.
            let int = |a: &arrow_array::ArrayRef| a.as_primitive::<Int64Type>().value(k);
            assert_eq!(int(&arrival), (trace.arrival_ns[q] / 1000) as i64);
            assert_eq!(int(&col("arrival_ns")), trace.arrival_ns[q] as i64);
            assert_eq!(us(&start), r.records.start_ns[q] as f64 / 1e3);
            assert_eq!(us(&finish), r.records.finish_ns[q] as f64 / 1e3);
            // Exact to the nanosecond.
            assert_eq!((us(&finish) * 1e3).round() as u64, r.records.finish_ns[q]);
            let i = r.records.instance[q];
            assert_eq!(inst.as_primitive::<UInt32Type>().value(k), i);
            let instance = r.server.instances[i as usize];
            assert_eq!(
                gpu_c.as_primitive::<Int32Type>().value(k) as u32,
                instance.gpu
            );
            let mk = model_keys.as_primitive::<Int64Type>().value(k) as usize;
            assert_eq!(
                model_names.as_string::<i32>().value(mk),
                trace.models[trace.model[q] as usize]
            );
            let sk = slice_keys.as_primitive::<Int64Type>().value(k) as usize;
            assert_eq!(
                slice_names.as_string::<i32>().value(sk),
                gpu.profiles[instance.slice].name
            );
            assert!(!id.is_null(k));
        }
        rows += batch.num_rows();
    }
    assert_eq!(rows, trace.len());
}

#[test]
fn no_queries_writes_only_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let trace = common::good_trace(dir.path());
    let prof = common::good_profile(dir.path());
    let mut outs = vec![];
    for (k, extra) in [None, Some("--no-queries")].into_iter().enumerate() {
        let out = dir.path().join(format!("out{k}"));
        let mut args = vec![
            "run",
            "--trace",
            common::path_str(&trace),
            "--profiles",
            common::path_str(&prof),
            "--gpu",
            "A100-40GB",
            "--gpus",
            "1",
            "--policy",
            "fcfs",
            "--out",
            common::path_str(&out),
        ];
        args.extend(extra);
        let o = common::run(&args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        outs.push(out);
    }
    assert!(outs[0].join("queries.parquet").exists());
    assert!(!outs[1].join("queries.parquet").exists());
    assert_eq!(
        std::fs::read(outs[0].join("summary.json")).unwrap(),
        std::fs::read(outs[1].join("summary.json")).unwrap()
    );
}
