//! Time-varying traffic (`trace gen --segments / --rate-shape / --diurnal-*`): the generated
//! arrivals follow the rate and mix of each stretch of time, against expectations computed by
//! hand from the intensity (Poisson counts within 4 standard deviations), and bad segment files
//! are exit 2 naming what is wrong.

mod common;

use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate_varying};
use mig_replay::trace::vary::{Diurnal, Segment, Variation};

fn cfg(rate: f64, duration: f64) -> GenConfig {
    GenConfig {
        rate,
        queries: None,
        duration_s: Some(duration),
        models: vec![("a".into(), 1.0)],
        arrivals: Arrivals::Poisson,
        batch: BatchSpec::Histogram(vec![(1, 1.0)]),
        seed: 3,
    }
}

/// |count - expected| within 4 Poisson standard deviations.
fn near(count: usize, expected: f64) {
    let sd = expected.sqrt();
    assert!(
        (count as f64 - expected).abs() <= 4.0 * sd,
        "{count} arrivals, expected {expected:.1} +- {:.1}",
        4.0 * sd
    );
}

#[test]
fn segments_give_each_stretch_its_rate_and_mix() {
    // 0-100 s: 50 q/s of model a, batch 1 (5,000 expected); 100-200 s: 10 q/s of model b,
    // batch 4 (1,000 expected).
    let var = Variation {
        segments: vec![
            Segment {
                start_s: 0.0,
                rate: Some(50.0),
                models: None,
                batch: None,
            },
            Segment {
                start_s: 100.0,
                rate: Some(10.0),
                models: Some(vec![("b".into(), 1.0)]),
                batch: Some(BatchSpec::Histogram(vec![(4, 1.0)])),
            },
        ],
        ..Variation::default()
    };
    let t = generate_varying(&cfg(1.0, 200.0), &var).unwrap();
    let split = t.arrival_ns.partition_point(|&a| a < 100_000_000_000);
    near(split, 5000.0);
    near(t.len() - split, 1000.0);
    let name = |q: usize| t.models[t.model[q] as usize].as_str();
    assert!((0..split).all(|q| name(q) == "a" && t.batch[q] == 1));
    assert!((split..t.len()).all(|q| name(q) == "b" && t.batch[q] == 4));
}

#[test]
fn the_diurnal_factor_shapes_the_rate() {
    // r(t) = 100 (1 - cos(2 pi t / 100)): over [0, 25) s the integral is
    // 100 (25 - 100 / (2 pi)) = 908.5; over [25, 50) s it is 100 (25 + 100 / (2 pi)) = 4091.5.
    let var = Variation {
        diurnal: Some(Diurnal {
            amplitude: 1.0,
            period_s: 100.0,
        }),
        ..Variation::default()
    };
    let t = generate_varying(&cfg(100.0, 50.0), &var).unwrap();
    let q = t.arrival_ns.partition_point(|&a| a < 25_000_000_000);
    let k = 100.0 / (2.0 * std::f64::consts::PI);
    near(q, 100.0 * (25.0 - k));
    near(t.len() - q, 100.0 * (25.0 + k));
}

#[test]
fn bad_segment_files_are_exit_2_naming_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[segment]]\nstart_s = 5\n", "start_s 5 must be 0"),
        (
            "[[segment]]\nstart_s = 0\n[[segment]]\nstart_s = 10\nrate = -1\n",
            "segment 2: rate must be > 0",
        ),
        (
            "[[segment]]\nstart_s = 0\nbatch_hist = \"1:1\"\nbatch_mu = 2\n",
            "not both",
        ),
        (
            "[[segment]]\nstart_s = 0\nspeed = 3\n",
            "unknown key 'speed'",
        ),
    ];
    for (k, (text, want)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("s{k}.toml"));
        std::fs::write(&f, text).unwrap();
        let out = dir.path().join(format!("t{k}.parquet"));
        let o = common::run(&[
            "trace",
            "gen",
            "--rate",
            "10",
            "--duration",
            "10",
            "--model",
            "resnet50",
            "--segments",
            common::path_str(&f),
            "--out",
            common::path_str(&out),
        ]);
        assert_eq!(o.code, 2, "{text}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{text}: {}", o.stderr);
        assert!(o.stderr.contains(&format!("s{k}.toml")), "{}", o.stderr);
        assert!(!out.exists());
    }
}
