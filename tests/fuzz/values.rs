//! Random values and mutations for the fuzz harness: a seeded generator (splitmix64, so a case
//! replays from its number alone), "interesting" values at the edges of every type, and
//! structure-aware mutators for TOML, JSON, CSV text and raw bytes.

/// splitmix64: small, seedable, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability p.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Integers at the edges: zero, one, the limits of i32/u32/i64, 2^53, 2^62, and small ones.
pub fn int(r: &mut Rng) -> i64 {
    match r.below(20) {
        0 => 0,
        1 => 1,
        2 => -1,
        3 => i64::MAX,
        4 => i64::MIN,
        5 => i32::MAX as i64,
        6 => u32::MAX as i64,
        7 => u32::MAX as i64 + 1,
        8 => 1 << 53,
        9 => 1 << 62,
        10 => -(1 << 62),
        11 => 65_536,
        12 => 65_537,
        13 => 100_000,
        14 => 100_001,
        _ => r.below(200) as i64 - 20,
    }
}

/// Floats at the edges: NaN, infinities, signed zero, subnormal and huge values, and small ones.
pub fn float(r: &mut Rng) -> f64 {
    match r.below(20) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => 0.0,
        4 => -0.0,
        5 => 1e-300,
        6 => 1e300,
        7 => f64::MAX,
        8 => f64::MIN_POSITIVE,
        9 => 5e-324,
        10 => -1.0,
        11 => 1e-10,
        12 => 1e10,
        13 => 0.5,
        14 => 1.0,
        _ => r.unit() * 200.0 - 20.0,
    }
}

/// Strings users (and files) produce: names the product knows, empty, blank, unicode, control
/// characters, numbers in odd notations, separators, and a long one.
pub fn string(r: &mut Rng) -> String {
    let s: &[&str] = &[
        "",
        " ",
        "resnet50",
        "bert-base",
        "mobilenet-v2",
        "no-such-model",
        "1g.10gb",
        "7g.80gb",
        "3g",
        "A100-80GB",
        "A100-40GB",
        "A30",
        "é€😀",
        "\u{0}",
        "\t\n",
        "NaN",
        "inf",
        "-5",
        "1e309",
        "0x10",
        "1,2",
        "\"q\"",
        "a=b",
        "[x]",
        "fcfs",
        "paris+elsa",
        "2023-11-16 18:15:46.6805900",
        "9999-99-99 99:99:99",
    ];
    if r.chance(0.03) {
        return "x".repeat(1 + r.below(5000));
    }
    r.pick(s).to_string()
}

/// A random TOML value of any type, edges included.
pub fn toml_value(r: &mut Rng, depth: usize) -> toml::Value {
    use toml::Value;
    match r.below(if depth > 2 { 5 } else { 8 }) {
        0 => Value::Integer(int(r)),
        1 => Value::Float(float(r)),
        2 => Value::String(string(r)),
        3 => Value::Boolean(r.chance(0.5)),
        4 => Value::Integer(r.below(10) as i64),
        5 => Value::Array((0..r.below(4)).map(|_| toml_value(r, depth + 1)).collect()),
        6 => {
            let mut t = toml::Table::new();
            for _ in 0..r.below(4) {
                t.insert(key(r), toml_value(r, depth + 1));
            }
            Value::Table(t)
        }
        _ => Value::Float(r.unit()),
    }
}

/// Keys the product's TOML files use (and a few it does not).
pub fn key(r: &mut Rng) -> String {
    let k: &[&str] = &[
        "name",
        "gpu",
        "gpus",
        "profiles",
        "seeds",
        "percentile",
        "tolerance",
        "loads",
        "reference_load",
        "reference_qps",
        "replicates",
        "pooled",
        "rate",
        "queries",
        "models",
        "batch_mu",
        "batch_sigma",
        "max_batch",
        "sla_ms",
        "sla",
        "trace",
        "generate",
        "params",
        "workload",
        "policy",
        "theta",
        "margin_frac",
        "margin_std",
        "slice",
        "layout",
        "seed",
        "service_noise",
        "batching",
        "max_delay_us",
        "windows",
        "heat_maps",
        "arrival",
        "resnet50",
        "bert-base",
        "nonsense",
    ];
    r.pick(k).to_string()
}

/// Apply 1-4 structural edits to a TOML table: replace a value anywhere with a random one,
/// delete a key, add a key, or duplicate / drop / empty an array.
pub fn mutate_toml(r: &mut Rng, t: &mut toml::Table) {
    for _ in 0..1 + r.below(2) {
        edit_table(r, t, 0);
    }
}

fn edit_table(r: &mut Rng, t: &mut toml::Table, depth: usize) {
    let keys: Vec<String> = t.keys().cloned().collect();
    if keys.is_empty() || r.chance(0.1) {
        t.insert(key(r), toml_value(r, depth));
        return;
    }
    let k = r.pick(&keys).clone();
    match r.below(10) {
        0 => {
            t.remove(&k);
        }
        1 => {
            t.insert(k, toml_value(r, depth));
        }
        _ => {
            let v = t.get_mut(&k).expect("listed");
            edit_value(r, v, depth + 1);
        }
    }
}

fn edit_value(r: &mut Rng, v: &mut toml::Value, depth: usize) {
    use toml::Value;
    match v {
        Value::Table(t) => edit_table(r, t, depth),
        Value::Array(a) if !a.is_empty() => match r.below(5) {
            0 => a.clear(),
            1 => {
                let i = r.below(a.len());
                let x = a[i].clone();
                a.push(x);
            }
            2 => {
                let i = r.below(a.len());
                a.remove(i);
            }
            _ => {
                let i = r.below(a.len());
                edit_value(r, &mut a[i], depth + 1);
            }
        },
        // A leaf: mostly an edge value of its own type (so that parsing succeeds and the
        // checks behind it run), sometimes any value.
        Value::Integer(i) if r.chance(0.8) => {
            *i = if r.chance(0.5) {
                int(r)
            } else {
                i.saturating_add(r.below(5) as i64 - 2)
            }
        }
        Value::Float(f) if r.chance(0.8) => *f = if r.chance(0.5) { float(r) } else { *f * 2.0 },
        Value::String(x) if r.chance(0.7) => *x = string(r),
        Value::Boolean(b) if r.chance(0.8) => *b = !*b,
        _ => *v = toml_value(r, depth),
    }
}

/// A random JSON value, edges included (JSON has no NaN: huge and negative numbers instead).
pub fn json_value(r: &mut Rng, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    match r.below(if depth > 2 { 5 } else { 7 }) {
        0 => Value::from(int(r)),
        1 => {
            let f = float(r);
            if f.is_finite() {
                Value::from(f)
            } else {
                Value::from(-1e308)
            }
        }
        2 => Value::from(string(r)),
        3 => Value::Bool(r.chance(0.5)),
        4 => Value::Null,
        5 => Value::Array((0..r.below(3)).map(|_| json_value(r, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..r.below(3) {
                m.insert(key(r), json_value(r, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// Apply 1-3 structural edits anywhere in a JSON document.
pub fn mutate_json(r: &mut Rng, v: &mut serde_json::Value) {
    for _ in 0..1 + r.below(3) {
        edit_json(r, v, 0);
    }
}

fn edit_json(r: &mut Rng, v: &mut serde_json::Value, depth: usize) {
    use serde_json::Value;
    // Go deeper most of the time: the interesting values sit in the arrays of rows.
    let descend = r.chance(0.9);
    match v {
        Value::Object(m) if descend && !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = r.pick(&keys).clone();
            match r.below(16) {
                0 => {
                    m.remove(&k);
                }
                1 => {
                    m.insert(k, json_value(r, depth));
                }
                _ => edit_json(r, m.get_mut(&k).expect("listed"), depth + 1),
            }
        }
        Value::Array(a) if descend && !a.is_empty() => match r.below(8) {
            0 => a.clear(),
            1 => {
                let i = r.below(a.len());
                a.remove(i);
            }
            2 => {
                let i = r.below(a.len());
                let x = a[i].clone();
                a.push(x);
            }
            _ => {
                let i = r.below(a.len());
                edit_json(r, &mut a[i], depth + 1);
            }
        },
        // A leaf: mostly an edge value of its own type, sometimes any value.
        Value::Number(n) if r.chance(0.8) => {
            *v = if n.is_f64() {
                let f = float(r);
                Value::from(if f.is_finite() { f } else { 1e308 })
            } else {
                Value::from(int(r))
            }
        }
        Value::String(_) if r.chance(0.7) => *v = Value::from(string(r)),
        Value::Bool(b) if r.chance(0.8) => *b = !*b,
        _ => *v = json_value(r, depth),
    }
}

/// Byte-level damage: flip bits, overwrite a range, truncate, duplicate a range, or insert
/// random bytes.
pub fn mutate_bytes(r: &mut Rng, b: &mut Vec<u8>) {
    if b.is_empty() {
        b.push(r.next() as u8);
        return;
    }
    for _ in 0..1 + r.below(3) {
        let n = b.len();
        match r.below(5) {
            0 => {
                for _ in 0..1 + r.below(8) {
                    let i = r.below(n);
                    b[i] ^= 1 << r.below(8);
                }
            }
            1 => {
                let i = r.below(n);
                let len = (1 + r.below(16)).min(n - i);
                for x in &mut b[i..i + len] {
                    *x = r.next() as u8;
                }
            }
            2 => b.truncate(r.below(n)),
            3 => {
                let i = r.below(n);
                let len = (1 + r.below(64)).min(n - i);
                let piece = b[i..i + len].to_vec();
                let at = r.below(n);
                b.splice(at..at, piece);
            }
            _ => {
                let at = r.below(n);
                let ins: Vec<u8> = (0..1 + r.below(8)).map(|_| r.next() as u8).collect();
                b.splice(at..at, ins);
            }
        }
        if b.is_empty() {
            return;
        }
    }
}

/// Text damage for CSV and TOML: delete, duplicate or insert characters at line, field or
/// character granularity, strip the newline at the end, or add a BOM or CRLFs.
pub fn mutate_text(r: &mut Rng, s: &mut String) {
    let lines: Vec<String> = s.lines().map(str::to_string).collect();
    match r.below(7) {
        0 if !lines.is_empty() => {
            let mut l = lines.clone();
            l.remove(r.below(l.len()));
            *s = l.join("\n") + "\n";
        }
        1 if !lines.is_empty() => {
            let mut l = lines.clone();
            let i = r.below(l.len());
            let x = l[i].clone();
            l.insert(r.below(l.len()), x);
            *s = l.join("\n") + "\n";
        }
        2 => *s = s.replace('\n', "\r\n"),
        3 => s.insert(0, '\u{feff}'),
        4 => {
            let ins = string(r);
            let at = char_boundary(s, r.below(s.len() + 1));
            s.insert_str(at, &ins);
        }
        5 if !s.is_empty() => {
            let at = char_boundary(s, r.below(s.len()));
            let end = char_boundary(s, (at + 1 + r.below(20)).min(s.len()));
            s.replace_range(at..end, "");
        }
        _ => {
            let t = s.trim_end().to_string();
            *s = t;
        }
    }
}

fn char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}
