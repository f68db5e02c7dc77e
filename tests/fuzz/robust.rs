//! The families of the second robustness pass (issue 31): shard and job counts, timeline
//! windows, and I/O kinds (folders, symbolic link loops, non-UTF-8 text, an `--out` that is a
//! file). Besides "no panic, no hang", each checks the contract of its family and panics (a
//! failure the harness reports) when it breaks: a refusal writes nothing, and an I/O kind
//! given for an input or an output is exit 2.

use super::values::{self, Rng};
use super::{Case, Ctx, Outcome, note, s};
use mig_replay::cli::{Cli, run_command};
use mig_replay::policy::Registry;
use std::path::{Path, PathBuf};

/// Run `args` in-process: the outcome and, for an error, its exit code.
fn cli_code(args: &[String]) -> (Outcome, i32) {
    note(args);
    let mut full = vec![s("mig-replay")];
    full.extend(args.iter().cloned());
    match <Cli as clap::Parser>::try_parse_from(&full) {
        Err(_) => (Outcome::Usage, 2),
        Ok(c) => match run_command(c, &Registry::builtin()) {
            Ok(code) => (Outcome::Accepted, code),
            Err(e) => {
                let code = e.exit_code();
                (Outcome::Refused(e.to_string()), code)
            }
        },
    }
}

/// A count at the edges: 0, 1, small, the tasks' neighbourhood, huge.
fn count(r: &mut Rng) -> String {
    match r.below(6) {
        0 => s(*r.pick(&[0u64, 1, 2, 3])),
        1 => s(1 + r.below(40)),
        2 => s(*r.pick(&[1_000_000_000u64, 3_000_000_000, 4_294_967_296, u64::MAX])),
        3 => s(values::int(r)),
        4 => s(r.below(1 << 20)),
        _ => values::string(r),
    }
}

/// `sweep --phase P --shard K/N` and `--jobs J` at the edges, on the tiny sweep: a shard
/// count beyond the sweep's tasks is refused at once (no allocation, no minutes of work), and
/// a refusal writes no shard file.
pub fn shard_counts(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let cfg = ctx.work.join("tiny.toml");
    let out = ctx.work.join("shard-counts");
    let _ = std::fs::remove_dir_all(&out);
    let n = count(r);
    let k = match n.parse::<u64>() {
        Ok(n) if r.chance(0.7) => s(r.below(n.clamp(1, 1 << 20) as usize)),
        _ => count(r),
    };
    let mut a = vec![
        s("sweep"),
        s("--config"),
        s(cfg.display()),
        s("--out"),
        s(out.display()),
        s("--phase"),
        s(*r.pick(&["peaks", "loads"])),
        s("--shard"),
        format!("{k}/{n}"),
    ];
    if r.chance(0.5) {
        a.extend([s("--jobs"), count(r)]);
    } else {
        a.extend([s("--jobs"), s(1)]);
    }
    case.args = a;
    let (o, _) = cli_code(&case.args);
    if !matches!(o, Outcome::Accepted) {
        assert!(
            !out.join("shards").exists() || listing(&out.join("shards")).is_empty(),
            "a refused shard wrote {:?}",
            listing(&out.join("shards"))
        );
    }
    o
}

/// `run --timeline-s W` with W at the edges (and a repartitioner sometimes): a refusal
/// leaves no `--out`, and an accepted timeline has at most one window per query.
pub fn timeline_windows(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let out = ctx.work.join("timeline-out");
    let _ = std::fs::remove_dir_all(&out);
    let w = match r.below(4) {
        0 => values::float(r).to_string(),
        1 => s(*r.pick(&[
            "0", "-1", "NaN", "inf", "-inf", "1e-12", "5e-324", "1e-9", "1e308", "1e-300",
        ])),
        2 => format!("{:e}", 10f64.powi(-(r.below(12) as i32))),
        _ => values::string(r),
    };
    let mut a = vec![
        s("run"),
        s("--trace"),
        s(ctx.small_trace.display()),
        s("--profiles"),
        s(ctx.profiles.display()),
        s("--gpu"),
        s("A100-80GB"),
        s("--gpus"),
        s(1 + r.below(2)),
        s("--policy"),
        s(*r.pick(&["fcfs", "paris+elsa"])),
        s("--timeline-s"),
        w,
        s("--no-queries"),
        s("--quiet"),
        s("--out"),
        s(out.display()),
    ];
    if a[10] == "paris+elsa" && r.chance(0.5) {
        a.extend([s("--repartition"), s(*r.pick(&["periodic", "threshold"]))]);
    }
    if r.chance(0.1) {
        a.push(s("--stream"));
    }
    case.args = a;
    let (o, _) = cli_code(&case.args);
    match &o {
        Outcome::Accepted => {
            let f = std::fs::File::open(out.join("timeline.parquet")).expect("timeline written");
            let rows = {
                use parquet::file::reader::FileReader;
                parquet::file::reader::SerializedFileReader::new(f)
                    .expect("a Parquet timeline")
                    .metadata()
                    .file_metadata()
                    .num_rows()
            };
            // 333 queries of three models: at most 333 windows of 4 rows each.
            assert!(rows <= 333 * 4, "{rows} timeline rows for 333 queries");
        }
        _ => assert!(!out.exists(), "a refused run left {:?}", listing(&out)),
    }
    o
}

/// The kinds of path a user can give by mistake.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Folder,
    Loop,
    NonUtf8,
    AFile,
    Dangling,
}

fn make(work: &Path, kind: Kind) -> PathBuf {
    let dir = work.join("io-kinds");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{kind:?}").to_lowercase());
    match kind {
        Kind::Folder => std::fs::create_dir_all(&p).unwrap(),
        Kind::NonUtf8 => std::fs::write(&p, b"name = \"x\"\n\xff\xfe\x80 = 1\n").unwrap(),
        Kind::AFile => std::fs::write(&p, "x").unwrap(),
        #[cfg(unix)]
        Kind::Loop => {
            let q = dir.join("loop-b");
            std::os::unix::fs::symlink(&q, &p).unwrap();
            std::os::unix::fs::symlink(&p, &q).unwrap();
        }
        #[cfg(unix)]
        Kind::Dangling => std::os::unix::fs::symlink(dir.join("nowhere"), &p).unwrap(),
        #[cfg(not(unix))]
        Kind::Loop | Kind::Dangling => std::fs::create_dir_all(&p).unwrap(),
    }
    p
}

/// A folder, a symbolic link loop, non-UTF-8 text, a plain file or a dangling link given
/// where a command reads a file or writes a folder: always exit 2 (never 1, never a panic).
pub fn io_kinds(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let kind = *r.pick(&[
        Kind::Folder,
        Kind::Loop,
        Kind::NonUtf8,
        Kind::AFile,
        Kind::Dangling,
    ]);
    let p = make(&ctx.work, kind);
    let bad = s(p.display());
    let out = s(ctx.work.join("io-out").display());
    let trace = s(ctx.small_trace.display());
    let prof = s(ctx.profiles.display());
    let tiny = s(ctx.work.join("tiny.toml").display());
    let run = |extra: &[String]| {
        let mut a = vec![
            s("run"),
            s("--gpu"),
            s("A100-80GB"),
            s("--policy"),
            s("fcfs"),
            s("--quiet"),
        ];
        a.extend(extra.iter().cloned());
        a
    };
    let tgen = |extra: &[String]| {
        let mut a = vec![
            s("trace"),
            s("gen"),
            s("--rate"),
            s(100),
            s("--queries"),
            s(10),
            s("--model"),
            s("resnet50"),
        ];
        a.extend(extra.iter().cloned());
        a
    };
    let slot = r.below(12);
    // A plain file is a valid --config/--trace/... path whose content is wrong: still 2.
    let args = match slot {
        0 => vec![s("sweep"), s("--config"), bad.clone(), s("--out"), out],
        1 => run(&[
            s("--trace"),
            bad.clone(),
            s("--profiles"),
            prof,
            s("--out"),
            out,
        ]),
        2 => run(&[
            s("--trace"),
            trace,
            s("--profiles"),
            bad.clone(),
            s("--out"),
            out,
        ]),
        3 => run(&[
            s("--trace"),
            trace,
            s("--profiles"),
            prof,
            s("--policy-config"),
            bad.clone(),
            s("--out"),
            out,
        ]),
        4 => tgen(&[s("--segments"), bad.clone(), s("--out"), out + ".parquet"]),
        5 => tgen(&[s("--rate-shape"), bad.clone(), s("--out"), out + ".parquet"]),
        6 => vec![s("compare"), bad.clone(), bad.clone()],
        7 => vec![s("merge"), bad.clone()],
        8 => vec![s("trace"), s("inspect"), bad.clone()],
        // Outputs: --out given a file, a folder, a loop.
        9 => run(&[
            s("--trace"),
            trace,
            s("--profiles"),
            prof,
            s("--out"),
            bad.clone(),
        ]),
        10 => tgen(&[s("--out"), bad.clone()]),
        _ => vec![s("sweep"), s("--config"), tiny, s("--out"), bad.clone()],
    };
    case.files.push(p.clone());
    case.args = args;
    let (o, code) = cli_code(&case.args);
    // Where the path is a legal output (an empty folder for --out; a file or a link that
    // `trace gen` replaces), success is allowed; otherwise 2.
    let may_succeed = matches!(
        (slot, kind),
        (9 | 11, Kind::Folder | Kind::Dangling)
            | (
                10,
                Kind::AFile | Kind::NonUtf8 | Kind::Dangling | Kind::Loop
            )
    );
    if !(may_succeed && matches!(o, Outcome::Accepted)) {
        assert_eq!(
            code, 2,
            "{kind:?} in slot {slot}: exit {code} ({o:?}); expected 2"
        );
    }
    if let Outcome::Refused(m) = &o {
        assert!(!m.contains('\n'), "a message of one line: {m}");
    }
    o
}

fn listing(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
