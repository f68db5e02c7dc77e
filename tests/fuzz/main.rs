//! The fuzz harness, on stable Rust (no nightly, no cargo-fuzz): seeded, structure-aware
//! mutation of every input the product reads, driven in-process through the same entry points
//! a user reaches (the CLI's `run_command`, `SweepConfig::parse`, `shard::merge`), with any
//! panic a failure, any internal error (`Error::Internal`: a violated simulator invariant, an
//! engine consistency check; exit code 3) a failure too, told apart from a refusal of bad input,
//! and any input that runs past a time limit a hang. Before the inputs, the harness proves it
//! catches a planted bug (`planted.rs`: a scheduler that breaks its contract).
//!
//! Targets (each input picks one; `FUZZ_ONLY=name` keeps one):
//! - `trace-parquet`: trace files built column by column (edge values, nulls, wrong types,
//!   missing / extra / renamed columns, shuffled rows, split row groups, damaged bytes), then
//!   `trace inspect`, `run`, `peak` or `partition` on them;
//! - `profile-parquet`: the same for profile files (latency, std and memory columns), then
//!   `profile inspect`, `run`, `peak` or `partition` with them;
//! - `azure-csv`, `alibaba-csv`: the importers' CSV files (edge cells, damaged text, odd flags);
//! - `sweep-toml`: the shipped sweep files and a tiny one with their TOML trees edited (values
//!   of any type at the edges, keys dropped and added, arrays emptied or grown) or their text
//!   damaged, parsed and planned, and the tiny one's mutants run end to end;
//! - `policy-toml`: policy parameter files (declared keys, `[sla]`, junk) for `run`,
//!   `partition` and `peak`;
//! - `shard-json`: a real sharded sweep's shard files with their JSON edited, a file dropped or
//!   duplicated, then merged;
//! - `cli-flags`: every numeric flag and `--param` of `run`, `peak` and `partition` at the
//!   edges;
//! - `shard-counts`, `timeline-windows`, `io-kinds` ([`robust`]): shard and job counts at the
//!   edges, `--timeline-s` at the edges (a refusal leaves no `--out`), and folders, symbolic
//!   link loops, non-UTF-8 text and files where a command reads or writes (always exit 2).
//!
//! Inputs are numbered: input i of seed S is generated from (S, i) alone, so
//! `FUZZ_SEED=S FUZZ_CASE=i cargo test --test fuzz` replays one. `FUZZ_INPUTS` sets how many
//! run (default 600, the slice `cargo test` and CI run; `just fuzz` runs 100,000 in a release
//! build). A failing input's files are kept under `target/fuzz-failures/`.

mod inputs;
mod planted;
mod robust;
mod values;

use clap::Parser;
use mig_replay::cli::{Cli, run_command};
use mig_replay::drive::sweep::config::SweepConfig;
use mig_replay::drive::sweep::{Tasks, estimate_tasks};
use mig_replay::policy::Registry;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use values::Rng;

/// An input running longer than this is reported as a hang (`FUZZ_HANG_S` overrides).
const HANG_S: u64 = 120;
/// A process larger than this (resident) while an input runs is a runaway allocation
/// (`FUZZ_RSS_MB` overrides).
const RSS_MB: u64 = 4096;

/// Resident memory of this process, MB (Linux; 0 elsewhere).
fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| (pages * 4096) >> 20)
}

/// Where the harness writes: stderr as it was before the commands' output is silenced.
static REPORT: Mutex<Option<std::fs::File>> = Mutex::new(None);
/// The input running now and when it started (ms since the harness started; 0 = none).
static CURRENT: AtomicU64 = AtomicU64::new(u64::MAX);
static STARTED_MS: AtomicU64 = AtomicU64::new(0);
/// Decoder panics the product contained (turned into errors).
static CONTAINED: AtomicU64 = AtomicU64::new(0);
/// The last panic's message and place.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// `run --stream` inputs compared byte for byte with the same `run` in memory.
static STREAM_SAME: AtomicU64 = AtomicU64::new(0);

fn say(s: &str) {
    let mut g = REPORT.lock().unwrap();
    match g.as_mut() {
        Some(f) => {
            let _ = writeln!(f, "{s}");
        }
        None => eprintln!("{s}"),
    }
}

/// Silence stdout and stderr (the commands print summaries and errors, 100,000 times), keeping
/// a handle on the real stderr for the report.
fn silence() {
    #[cfg(unix)]
    // SAFETY: plain descriptor duplication before any other thread writes.
    unsafe {
        use std::os::fd::FromRawFd;
        let saved = libc::dup(2);
        if saved >= 0 {
            *REPORT.lock().unwrap() = Some(std::fs::File::from_raw_fd(saved));
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null >= 0 && std::env::var_os("FUZZ_VERBOSE").is_none() {
            libc::dup2(null, 1);
            libc::dup2(null, 2);
        }
    }
}

/// Everything the targets share: the work folder, the registry, small valid inputs.
struct Ctx {
    work: PathBuf,
    registry: Registry,
    /// A 333-query window of the quickstart trace (three models).
    small_trace: PathBuf,
    profiles: PathBuf,
    /// Sweep files to mutate: (name, text).
    sweeps: Vec<(String, String)>,
    /// A real sharded sweep's `shards/` files: (file name, bytes).
    shards: Vec<(String, Vec<u8>)>,
    /// Keys `--param` and policy files accept, per policy.
    declared: Vec<(String, Vec<String>)>,
}

/// A tiny sweep that runs end to end in well under a second.
const TINY_SWEEP: &str = r#"
name = "fuzz"
gpu = "A100-80GB"
gpus = 2
profiles = "profiles/a100-80gb.parquet"
seeds = [1, 2]
percentile = 99
tolerance = 0.1
loads = [0.5, 1.0]
reference_load = 0.5

[plan]
max_gpus = 6

[[workload]]
name = "gen"
generate = { rate = 200, queries = 300, models = ["resnet50"], batch_mu = 1.0, batch_sigma = 0.5, max_batch = 16 }
sla_ms = 60

[[policy]]
name = "fcfs"

[[policy]]
name = "paris+elsa"
"#;

/// How an input ended (a panic aside): accepted, refused with a message, or a bug found.
#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted,
    /// Refused by the argument parser.
    Usage,
    /// Refused by the product with an error (its message).
    Refused(String),
    /// An internal error (its message): a bug in mig-replay, a failure like a panic.
    Bug(String),
}

/// An error's outcome: [`mig_replay::Error::Internal`] is a bug (a violated invariant, a broken
/// engine check), anything else a refusal of the input.
fn judge(e: mig_replay::Error) -> Outcome {
    match e {
        mig_replay::Error::Internal(_) => Outcome::Bug(e.to_string()),
        _ => Outcome::Refused(e.to_string()),
    }
}

/// The arguments of the command running now (for the hang report).
static ARGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn cli(args: &[String]) -> Outcome {
    cli_with(args, &Registry::builtin())
}

/// [`cli`] with `registry`'s policies (the planted bug's scheduler, in `planted.rs`).
fn cli_with(args: &[String], registry: &Registry) -> Outcome {
    *ARGS.lock().unwrap() = args.to_vec();
    let mut full = vec!["mig-replay".to_string()];
    full.extend(args.iter().cloned());
    match Cli::try_parse_from(&full) {
        // A usage error clap reports: not a crash.
        Err(_) => Outcome::Usage,
        Ok(c) => {
            let out = match run_command(c, registry) {
                Ok(_) => Outcome::Accepted,
                Err(e) => judge(e),
            };
            if args.first().is_some_and(|a| a == "run") && args.iter().any(|a| a == "--stream") {
                same_as_in_memory(args, &out);
            }
            out
        }
    }
}

/// The differential check of `run --stream`: the same command in memory must accept what the
/// stream accepted and write the same bytes, and may accept what the stream refused only where
/// the stream refuses by design (a repartitioner, a timeline). A difference panics: the
/// harness reports it as a failure, with the input kept.
fn same_as_in_memory(args: &[String], streamed: &Outcome) {
    let k = args
        .iter()
        .position(|a| a == "--out")
        .expect("run has --out");
    let dir = PathBuf::from(&args[k + 1]);
    let mem = PathBuf::from(format!("{}-mem", args[k + 1]));
    let _ = std::fs::remove_dir_all(&mem);
    let mut again: Vec<String> = vec![s("mig-replay")];
    again.extend(args.iter().filter(|a| *a != "--stream").cloned());
    // `run` streams by default: the reference asks for memory.
    again.push(s("--in-memory"));
    let j = again.iter().position(|a| a == "--out").expect("kept --out");
    again[j + 1] = s(mem.display());
    let c = Cli::try_parse_from(&again).expect("parsed once already");
    let in_memory = run_command(c, &Registry::builtin());
    match (streamed, in_memory) {
        (Outcome::Accepted, Ok(_)) => {
            let mut files = vec!["summary.json"];
            if !args.iter().any(|a| a == "--no-queries") {
                files.push("queries.parquet");
            }
            for f in files {
                let (a, b) = (std::fs::read(dir.join(f)), std::fs::read(mem.join(f)));
                assert!(
                    a.is_ok() && a.ok() == b.ok(),
                    "run --stream and run wrote different {f}"
                );
            }
            STREAM_SAME.fetch_add(1, Ordering::SeqCst);
        }
        (_, Err(e @ mig_replay::Error::Internal(_))) => panic!("run (in memory): {e}"),
        (Outcome::Accepted, Err(e)) => panic!("run refused ({e}) what run --stream accepted"),
        // The refusals by design say so ("run without --stream").
        (Outcome::Refused(m), Ok(_)) if !m.contains("without --stream") => {
            panic!("run --stream refused ({m}) what run accepted")
        }
        _ => {}
    }
}

/// Record what a library call runs on (for the hang and runaway reports).
fn note(args: &[String]) {
    *ARGS.lock().unwrap() = args.to_vec();
}

fn lib<T>(r: mig_replay::Result<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Accepted,
        Err(e) => judge(e),
    }
}

/// Whether an input's end fails the run: a panic, or a bug the product reported.
fn failed(outcome: &std::thread::Result<Outcome>) -> bool {
    matches!(outcome, Err(_) | Ok(Outcome::Bug(_)))
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

impl Ctx {
    fn new(work: PathBuf) -> Ctx {
        let registry = Registry::builtin();
        let t = mig_replay::trace::Trace::load(Path::new("traces/quickstart.parquet"))
            .expect("the shipped quickstart trace");
        let small_trace = work.join("small.parquet");
        t.window(0, 6)
            .write(&small_trace)
            .expect("write small trace");
        let mut sweeps = vec![("tiny".to_string(), TINY_SWEEP.to_string())];
        for f in [
            "experiments/ci.toml",
            "experiments/realism.toml",
            "experiments/bench-all.toml",
        ] {
            sweeps.push((f.into(), std::fs::read_to_string(f).expect("shipped sweep")));
        }
        // A real sharded sweep of the tiny config: two peaks shards, two loads shards.
        let cfg = work.join("tiny.toml");
        std::fs::write(&cfg, TINY_SWEEP).unwrap();
        let out = work.join("sharded");
        for phase in ["peaks", "loads"] {
            for k in 0..2 {
                let args = [
                    s("sweep"),
                    s("--config"),
                    s(cfg.display()),
                    s("--out"),
                    s(out.display()),
                    s("--jobs"),
                    s(1),
                    s("--phase"),
                    s(phase),
                    s("--shard"),
                    format!("{k}/2"),
                ];
                assert_eq!(cli(&args), Outcome::Accepted, "the tiny sharded sweep runs");
            }
        }
        let mut shards: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("shards"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        shards.sort();
        assert_eq!(shards.len(), 4);
        let run_keys = [
            "service_noise",
            "batching.max_batch",
            "batching.max_delay_us",
            "seed",
            "repartition.name",
            "repartition.period_s",
            "repartition.window_s",
            "repartition.check_s",
            "repartition.tv",
            "repartition.dwell_s",
            "reconfig.cost_s",
            "reconfig.max_concurrent",
            "reconfig.drain",
        ];
        let mut declared = Vec::new();
        for p in registry.partitioners() {
            for sch in registry.schedulers() {
                let mut keys: Vec<String> = p
                    .params
                    .iter()
                    .chain(sch.params.iter())
                    .map(|x| x.name.to_string())
                    .collect();
                keys.extend(run_keys.iter().map(|k| k.to_string()));
                keys.push("sla.resnet50".into());
                declared.push((format!("{}+{}", p.name, sch.name), keys));
            }
        }
        for a in ["fcfs", "homogeneous", "fixed"] {
            let (p, sch) = registry.lookup(a).expect("alias");
            let keys = p
                .params
                .iter()
                .chain(sch.params.iter())
                .map(|x| x.name.to_string())
                .chain(run_keys.iter().map(|k| k.to_string()))
                .collect();
            declared.push((a.to_string(), keys));
        }
        Ctx {
            work,
            registry,
            small_trace,
            profiles: PathBuf::from("profiles/a100-80gb.parquet"),
            sweeps,
            shards,
            declared,
        }
    }

    /// A policy name and, sometimes, parameters: `--param key=value` with declared keys and
    /// edge values, or a shortcut flag.
    fn policy_flags(&self, r: &mut Rng) -> Vec<String> {
        let (name, keys) = self.declared[r.below(self.declared.len())].clone();
        let mut a = vec![
            s("--policy"),
            if r.chance(0.03) {
                values::string(r)
            } else {
                name.clone()
            },
        ];
        // What the policy needs, most of the time.
        if name.starts_with("homogeneous") && r.chance(0.9) {
            a.extend([s("--slice"), r.pick(&inputs::SLICES).to_string()]);
        }
        if name.starts_with("fixed") && r.chance(0.9) {
            a.extend([
                s("--layout"),
                r.pick(&[
                    "4g.40gb+3g.40gb",
                    "7g.80gb",
                    "3g.40gb+2g.20gb+1g.10gb+1g.10gb",
                ])
                .to_string(),
            ]);
        }
        for _ in 0..r.below(3) {
            let k = if r.chance(0.85) {
                r.pick(&keys).clone()
            } else {
                values::key(r)
            };
            let v = inputs::param_value(r, &k);
            a.extend([s("--param"), format!("{k}={v}")]);
        }
        if r.chance(0.15) {
            a.extend([
                s("--service-noise"),
                r.pick(&[
                    "lognormal:cv=0.2",
                    "lognormal:cv=NaN",
                    "lognormal:cv=1e9",
                    "profile",
                    "profile:cv=-1",
                    "bogus",
                ])
                .to_string(),
            ]);
        }
        if r.chance(0.15) {
            a.extend([
                s("--batching"),
                format!(
                    "max_batch={},max_delay_us={}",
                    if r.chance(0.5) { values::int(r) } else { 8 },
                    if r.chance(0.5) { values::int(r) } else { 1000 }
                ),
            ]);
        }
        a
    }

    /// `--gpus`, `--sla-ms` and `--rate-scale` at the edges, sometimes.
    fn run_flags(&self, r: &mut Rng, a: &mut Vec<String>) {
        a.extend([
            s("--gpus"),
            if r.chance(0.2) {
                values::int(r).to_string()
            } else {
                s(1 + r.below(3))
            },
        ]);
        if r.chance(0.4) {
            a.extend([
                s("--sla-ms"),
                if r.chance(0.5) {
                    values::float(r).to_string()
                } else {
                    s(20 + r.below(80))
                },
            ]);
        }
        if r.chance(0.2) {
            a.extend([s("--rate-scale"), values::float(r).to_string()]);
        }
    }

    /// `run`, `peak`, `plan` or `partition` on `trace` and `profiles` with random policy flags.
    fn replay_command(&self, r: &mut Rng, trace: &Path, profiles: &Path) -> Vec<String> {
        let cmd = *r.pick(&["run", "run", "run", "peak", "plan", "partition"]);
        let mut a = vec![
            s(cmd),
            s("--trace"),
            s(trace.display()),
            s("--profiles"),
            s(profiles.display()),
            s("--gpu"),
            s(if r.chance(0.97) {
                "A100-80GB"
            } else {
                "A100-40GB"
            }),
        ];
        a.extend(self.policy_flags(r));
        self.run_flags(r, &mut a);
        if cmd == "plan" {
            // plan searches the count: its bound instead of --gpus (small, or at the edges).
            let k = a
                .iter()
                .position(|x| x == "--gpus")
                .expect("run_flags gives --gpus");
            a[k] = s("--max-gpus");
            // A legal bound above 64 could mean thousands of replays (scan): keep the legal
            // ones small, and the illegal ones (0, above 100,000, not a number) as they are.
            let legal = a[k + 1]
                .parse::<usize>()
                .is_ok_and(|n| (1..=mig_replay::scenario::MAX_GPUS).contains(&n));
            if legal || r.chance(0.8) {
                a[k + 1] = s(1 + r.below(12));
            }
            if r.chance(0.3) {
                a.extend([
                    s("--search"),
                    s(*r.pick(&["auto", "bisect", "scan", "linear"])),
                ]);
            }
            if r.chance(0.2) {
                a.extend([s("--rate"), values::float(r).to_string()]);
            }
            if r.chance(0.2) {
                a.extend([s("--cost"), format!("A100-80GB={}", values::float(r))]);
            }
        }
        match cmd {
            "run" => {
                a.extend([s("--out"), s(self.work.join("out").display()), s("--quiet")]);
                if r.chance(0.4) {
                    a.push(s("--stream"));
                }
            }
            "peak" => {
                if r.chance(0.3) {
                    a.extend([s("--tolerance"), values::float(r).to_string()]);
                } else {
                    a.extend([s("--tolerance"), s("0.2")]);
                }
                if r.chance(0.3) {
                    a.extend([s("--percentile"), values::float(r).to_string()]);
                }
                if r.chance(0.2) {
                    a.push(s("--pooled"));
                }
            }
            _ => {}
        }
        a
    }
}

/// One input: which target, and the files and arguments it made (for the failure report).
struct Case {
    target: &'static str,
    files: Vec<PathBuf>,
    args: Vec<String>,
}

fn trace_parquet(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let path = ctx.work.join("trace.parquet");
    let mut cols = inputs::trace_columns(r);
    inputs::damage(r, &mut cols);
    inputs::write_parquet(r, &path, &cols);
    case.files.push(path.clone());
    case.args = if r.chance(0.3) {
        vec![s("trace"), s("inspect"), s(path.display())]
    } else {
        ctx.replay_command(r, &path, &ctx.profiles)
    };
    cli(&case.args)
}

fn profile_parquet(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let path = ctx.work.join("profile.parquet");
    let mut cols = inputs::profile_columns(r);
    inputs::damage(r, &mut cols);
    inputs::write_parquet(r, &path, &cols);
    case.files.push(path.clone());
    case.args = if r.chance(0.25) {
        let mut a = vec![s("profile"), s("inspect"), s(path.display())];
        if r.chance(0.3) {
            a.extend([s("--theta"), values::float(r).to_string()]);
        }
        a
    } else {
        ctx.replay_command(r, &ctx.small_trace, &path)
    };
    cli(&case.args)
}

fn import_flags(r: &mut Rng, a: &mut Vec<String>) {
    if r.chance(0.3) {
        a.extend([
            s("--rate"),
            if r.chance(0.5) {
                values::float(r).to_string()
            } else {
                s(100)
            },
        ]);
    }
}

fn azure_csv(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let path = ctx.work.join("azure.csv");
    std::fs::write(&path, inputs::azure_csv(r)).unwrap();
    case.files.push(path.clone());
    let mut a = vec![
        s("trace"),
        s("import"),
        s("azure"),
        s("--csv"),
        s(path.display()),
        s("--out"),
        s(ctx.work.join("imported.parquet").display()),
    ];
    if r.chance(0.3) {
        a.extend([s("--tokens-per-item"), values::int(r).to_string()]);
    }
    if r.chance(0.3) {
        a.extend([s("--max-batch"), values::int(r).to_string()]);
    }
    if r.chance(0.5) {
        a.extend([
            s("--tokens"),
            s(if r.chance(0.5) { "total" } else { "context" }),
        ]);
    }
    import_flags(r, &mut a);
    case.args = a;
    cli(&case.args)
}

fn alibaba_csv(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let path = ctx.work.join("alibaba.csv");
    std::fs::write(&path, inputs::alibaba_csv(r)).unwrap();
    case.files.push(path.clone());
    let mut a = vec![
        s("trace"),
        s("import"),
        s("alibaba"),
        s("--csv"),
        s(path.display()),
        s("--out"),
        s(ctx.work.join("imported.parquet").display()),
    ];
    if r.chance(0.3) {
        let models: Vec<String> = (0..r.below(4)).map(|_| values::string(r)).collect();
        a.extend([s("--models"), models.join(",")]);
    }
    if r.chance(0.5) {
        a.extend([
            s("--others"),
            s(if r.chance(0.5) { "drop" } else { "spread" }),
        ]);
    }
    import_flags(r, &mut a);
    case.args = a;
    cli(&case.args)
}

fn sweep_toml(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let k = r.below(ctx.sweeps.len());
    let (name, text) = &ctx.sweeps[k];
    let mut text = text.clone();
    if r.chance(0.8)
        && let Ok(mut t) = text.parse::<toml::Table>()
    {
        values::mutate_toml(r, &mut t);
        text = toml::to_string(&t).unwrap_or_default();
    }
    if r.chance(0.2) {
        values::mutate_text(r, &mut text);
    }
    let path = ctx.work.join("sweep.toml");
    std::fs::write(&path, &text).unwrap();
    case.files.push(path.clone());
    case.args = vec![s("(library)"), s("SweepConfig::parse"), s(name)];
    note(&case.args);
    let cfg = match SweepConfig::parse(&text, &path) {
        Ok(c) => c,
        Err(e) => return judge(e),
    };
    let tasks = estimate_tasks(&cfg);
    let _ = Tasks::of(&cfg, &ctx.registry);
    // A plan replays up to max_gpus counts per cell: only small bounds run end to end.
    let small_plan = cfg.plan.as_ref().is_none_or(|p| p.max_gpus <= 64);
    if name == "tiny" && tasks <= 400 && small_plan {
        // Small enough to run end to end (the shipped matrices take seconds each).
        case.args = vec![
            s("sweep"),
            s("--config"),
            s(path.display()),
            s("--out"),
            s(ctx.work.join("sweep-out").display()),
            s("--jobs"),
            s(1),
        ];
        cli(&case.args)
    } else if r.chance(0.2) {
        case.args = vec![s("(library)"), s("sweep::prepare"), s(name)];
        note(&case.args);
        lib(mig_replay::drive::sweep::prepare(&cfg, &ctx.registry))
    } else {
        Outcome::Accepted
    }
}

fn policy_toml(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let (name, keys) = ctx.declared[r.below(ctx.declared.len())].clone();
    let path = ctx.work.join("policy.toml");
    let text = inputs::policy_toml(r, &keys);
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        say(&format!("policy file:\n{text}"));
    }
    std::fs::write(&path, text).unwrap();
    case.files.push(path.clone());
    let mut a = ctx.replay_command(r, &ctx.small_trace, &ctx.profiles);
    // This policy, with the file.
    if let Some(i) = a.iter().position(|x| x == "--policy") {
        a[i + 1] = name;
    }
    a.extend([s("--policy-config"), s(path.display())]);
    case.args = a;
    cli(&case.args)
}

fn shard_json(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    let dir = ctx.work.join("merge");
    let shards = dir.join("shards");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&shards).unwrap();
    let victim = r.below(ctx.shards.len());
    for (i, (name, bytes)) in ctx.shards.iter().enumerate() {
        if i == victim && r.chance(0.05) {
            continue; // a missing shard
        }
        let mut b = bytes.clone();
        if i == victim {
            if r.chance(0.9) {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&b) {
                    values::mutate_json(r, &mut v);
                    b = serde_json::to_vec(&v).unwrap();
                }
            } else {
                values::mutate_bytes(r, &mut b);
            }
        }
        std::fs::write(shards.join(name), &b).unwrap();
        if i == victim && r.chance(0.05) {
            // The same shard twice, under another name.
            std::fs::write(shards.join(format!("copy-{name}")), &b).unwrap();
        }
        case.files.push(shards.join(name));
    }
    case.args = vec![s("(library)"), s("shard::merge"), s(dir.display())];
    note(&case.args);
    lib(mig_replay::drive::sweep::shard::merge(&dir, &ctx.registry))
}

fn cli_flags(ctx: &Ctx, r: &mut Rng, case: &mut Case) -> Outcome {
    case.args = ctx.replay_command(r, &ctx.small_trace, &ctx.profiles);
    cli(&case.args)
}

type Target = (&'static str, u32, fn(&Ctx, &mut Rng, &mut Case) -> Outcome);

const TARGETS: [Target; 11] = [
    ("trace-parquet", 20, trace_parquet),
    ("profile-parquet", 20, profile_parquet),
    ("azure-csv", 10, azure_csv),
    ("alibaba-csv", 10, alibaba_csv),
    ("sweep-toml", 12, sweep_toml),
    ("policy-toml", 10, policy_toml),
    ("shard-json", 8, shard_json),
    ("cli-flags", 10, cli_flags),
    ("shard-counts", 3, robust::shard_counts),
    ("timeline-windows", 4, robust::timeline_windows),
    ("io-kinds", 5, robust::io_kinds),
];

/// Per target: inputs, how they ended, the slowest.
#[derive(Default)]
struct Stats {
    inputs: u64,
    accepted: u64,
    refused: u64,
    usage: u64,
    panics: u64,
    bugs: u64,
    slowest: f64,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seed = env_u64("FUZZ_SEED", 1);
    let inputs = env_u64("FUZZ_INPUTS", 600);
    let only = std::env::var("FUZZ_ONLY").ok();
    let one = std::env::var("FUZZ_CASE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let hang = Duration::from_secs(env_u64("FUZZ_HANG_S", HANG_S));
    let rss_limit = env_u64("FUZZ_RSS_MB", RSS_MB);
    // FUZZ_VERBOSE=1: print every refusal's message too (and leave the commands' output on).
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    if let Some(o) = &only {
        assert!(
            TARGETS.iter().any(|t| t.0 == o),
            "FUZZ_ONLY: no target '{o}'"
        );
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let ctx = Ctx::new(tmp.path().to_path_buf());
    planted::caught(&ctx);
    silence();
    std::panic::set_hook(Box::new(|info| {
        if mig_replay::io::guard::is_contained() {
            // A decoder's panic on a corrupt file, which the product turns into an error.
            CONTAINED.fetch_add(1, Ordering::SeqCst);
        } else {
            *PANIC.lock().unwrap() = Some(info.to_string());
        }
    }));
    // The watchdog: an input past the time or memory limit is a hang or a runaway; report it
    // and stop.
    let t0 = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let c = CURRENT.load(Ordering::SeqCst);
            let at = STARTED_MS.load(Ordering::SeqCst);
            let mb = rss_mb();
            if c != u64::MAX && mb > rss_limit {
                say(&format!(
                    "fuzz: input {c} (seed {seed}) grew the process to {mb} MB (limit {rss_limit} MB): a runaway allocation. Last command: {:?}. Replay: FUZZ_SEED={seed} FUZZ_CASE={c} cargo test --test fuzz",
                    ARGS.lock().unwrap()
                ));
                std::process::exit(1);
            }
            if c != u64::MAX && t0.elapsed().as_millis() as u64 > at + hang.as_millis() as u64 {
                say(&format!(
                    "fuzz: input {c} (seed {seed}) ran past {} s: a hang. Last command: {:?}. Replay: FUZZ_SEED={seed} FUZZ_CASE={c} cargo test --test fuzz",
                    hang.as_secs(),
                    ARGS.lock().unwrap()
                ));
                std::process::exit(1);
            }
        }
    });
    let total_w: u32 = TARGETS
        .iter()
        .filter(|t| only.as_deref().is_none_or(|o| o == t.0))
        .map(|t| t.1)
        .sum();
    let mut per: Vec<Stats> = (0..TARGETS.len()).map(|_| Stats::default()).collect();
    let mut failures = Vec::new();
    let range: Box<dyn Iterator<Item = u64>> = match one {
        Some(c) => Box::new(c..c + 1),
        None => Box::new(0..inputs),
    };
    let start = Instant::now();
    for i in range {
        if i > 0 && i % 10_000 == 0 {
            say(&format!(
                "fuzz: {i} inputs, {:.0} s, {} MB",
                start.elapsed().as_secs_f64(),
                rss_mb()
            ));
        }
        let mut r = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ i);
        let mut pick = r.below(total_w as usize) as u32;
        let ti = TARGETS
            .iter()
            .position(|t| {
                if only.as_deref().is_some_and(|o| o != t.0) {
                    return false;
                }
                if pick < t.1 {
                    true
                } else {
                    pick -= t.1;
                    false
                }
            })
            .expect("weights");
        let (name, _, f) = TARGETS[ti];
        if verbose {
            say(&format!("input {i}: {name}"));
        }
        let mut case = Case {
            target: name,
            files: Vec::new(),
            args: Vec::new(),
        };
        STARTED_MS.store(t0.elapsed().as_millis() as u64, Ordering::SeqCst);
        CURRENT.store(i, Ordering::SeqCst);
        let began = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&ctx, &mut r, &mut case)));
        CURRENT.store(u64::MAX, Ordering::SeqCst);
        let secs = began.elapsed().as_secs_f64();
        if secs > 10.0 {
            // Not a hang, but worth a look: say how to replay it.
            say(&format!(
                "fuzz: input {i} ({name}) took {secs:.1} s: {:?}. Replay: FUZZ_SEED={seed} FUZZ_CASE={i} cargo test --release --test fuzz",
                case.args
            ));
        }
        let st = &mut per[ti];
        st.inputs += 1;
        st.slowest = st.slowest.max(secs);
        match &outcome {
            Ok(Outcome::Accepted) => st.accepted += 1,
            Ok(Outcome::Usage) => st.usage += 1,
            Ok(Outcome::Refused(m)) => {
                st.refused += 1;
                if verbose {
                    say(&format!("input {i} ({name}) refused: {m}"));
                }
            }
            Ok(Outcome::Bug(_)) => st.bugs += 1,
            Err(_) => st.panics += 1,
        }
        if failed(&outcome) {
            let (what, msg) = match &outcome {
                Ok(Outcome::Bug(m)) => ("BUG (an internal error)", m.clone()),
                _ => ("PANIC", PANIC.lock().unwrap().take().unwrap_or_default()),
            };
            let keep = PathBuf::from("target/fuzz-failures").join(format!("seed{seed}-case{i}"));
            let _ = std::fs::create_dir_all(&keep);
            for f in &case.files {
                if let Some(n) = f.file_name() {
                    let _ = std::fs::copy(f, keep.join(n));
                }
            }
            let _ = std::fs::write(keep.join("args.txt"), case.args.join("\n"));
            say(&format!(
                "fuzz: {what} in input {i} ({}): {msg}\n  args: {:?}\n  files kept in {}\n  replay: FUZZ_SEED={seed} FUZZ_CASE={i} cargo test --test fuzz",
                case.target,
                case.args,
                keep.display()
            ));
            failures.push(i);
        }
    }
    let ran: u64 = per.iter().map(|p| p.inputs).sum();
    say(&format!(
        "fuzz: {ran} inputs (seed {seed}) in {:.1} s, {} failures (panics or internal errors), no hang over {} s, no input past {rss_limit} MB; {} decoder panics on corrupt files contained as errors",
        start.elapsed().as_secs_f64(),
        failures.len(),
        hang.as_secs(),
        CONTAINED.load(Ordering::SeqCst)
    ));
    say(&format!(
        "  run --stream: {} accepted inputs wrote the same summary.json and queries.parquet as run in memory",
        STREAM_SAME.load(Ordering::SeqCst)
    ));
    for (t, p) in TARGETS.iter().zip(&per) {
        if p.inputs > 0 {
            say(&format!(
                "  {:<16} {:>7} inputs: {:>6} accepted, {:>6} refused with an error, {:>5} usage errors, {} panics, {} internal errors; slowest {:.3} s",
                t.0, p.inputs, p.accepted, p.refused, p.usage, p.panics, p.bugs, p.slowest
            ));
        }
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
