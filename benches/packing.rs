//! PARIS's packing ([`mig_replay::policy::paris::pack`]) on random and sparse targets, from 8 to
//! 100,000 GPUs: the worst time, the branch-and-bound nodes, whether every packing was proven
//! optimal, and how often (and by how much) the greedy + local search alone falls short of the
//! optimum. `cargo bench --bench packing` or `just bench-packing`.

use mig_replay::gpu::GpuSpec;
use mig_replay::policy::paris::{deviation, layout_types, pack, pack_local};
use std::time::Instant;

fn main() {
    // An LCG: the same targets on every machine.
    let mut x: u64 = 99;
    let mut rng = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    println!(
        "{:<10} {:<12} {:>7} {:>7} {:>9} {:>6} {:>9} {:>11} {:>10}",
        "gpu",
        "slices",
        "GPUs",
        "targets",
        "worst ms",
        "nodes",
        "unproven",
        "local miss",
        "worst gap"
    );
    for (name, slices) in [
        ("A100-80GB", vec![0usize, 1, 2, 3, 4]),
        ("A100-40GB", vec![0, 2, 4]),
        ("A30", vec![0, 1, 2]),
    ] {
        let gpu = GpuSpec::by_name(name).unwrap();
        let (_, counts) = layout_types(&gpu, &slices);
        let w: Vec<f64> = gpu.profiles.iter().map(|p| p.gpcs as f64).collect();
        let dims = w.len();
        let names: Vec<&str> = slices
            .iter()
            .map(|&s| gpu.profiles[s].name.split('.').next().unwrap())
            .collect();
        for gpus in [8usize, 64, 512, 4096, 100_000] {
            let cases = if gpus >= 100_000 { 30 } else { 300 };
            let (mut worst, mut gap, mut nodes) = (0f64, 0f64, 0);
            let (mut unproven, mut misses, mut ran) = (0, 0, 0);
            for i in 0..cases {
                // Every third target leaves some slices out.
                let raw: Vec<f64> = (0..dims)
                    .map(|d| {
                        if !slices.contains(&d) || (i % 3 == 0 && rng() < 0.4) {
                            0.0
                        } else {
                            rng()
                        }
                    })
                    .collect();
                let sum: f64 = raw.iter().zip(&w).map(|(r, w)| r * w).sum();
                if sum == 0.0 {
                    continue;
                }
                let server = gpu.gpcs as f64 * gpus as f64;
                let t: Vec<f64> = raw.iter().map(|r| r / sum * server).collect();
                let start = Instant::now();
                let p = pack(&counts, &w, &t, gpus);
                worst = worst.max(start.elapsed().as_secs_f64());
                ran += 1;
                unproven += usize::from(!p.optimal);
                nodes = nodes.max(p.nodes);
                let total = |c: &[usize]| {
                    let mut n = vec![0u32; dims];
                    for &k in c {
                        for d in 0..dims {
                            n[d] += counts[k][d];
                        }
                    }
                    n
                };
                let local = deviation(&total(&pack_local(&counts, &w, &t, gpus)), &w, &t);
                let g = local - deviation(&total(&p.chosen), &w, &t);
                assert!(g > -1e-6, "the exact packing lost to the local search");
                misses += usize::from(g > 1e-6);
                gap = gap.max(g);
            }
            println!(
                "{:<10} {:<12} {:>7} {:>7} {:>9.1} {:>6} {:>9} {:>11} {:>10.3}",
                name,
                names.join(","),
                gpus,
                ran,
                worst * 1e3,
                nodes,
                unproven,
                misses,
                gap
            );
        }
    }
}
