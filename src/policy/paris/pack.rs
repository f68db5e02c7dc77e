//! PARIS's packing step: which layout each GPU gets.
//!
//! The candidates are the catalog's *maximal* layouts over the usable slices (see
//! [`super::layout_types`]). A GPU with room for one more usable instance would only leave GPCs
//! idle, and any instance counts a non-maximal multiset reaches can be compared against the
//! maximal ones that contain it, so PARIS sizes the server from maximal layouts alone (a
//! documented choice of this reconstruction; the paper does not say).
//!
//! The objective is the deviation D = sum over slices d of w_d |n_d - t_d|, with n_d the chosen
//! instances of slice d, t_d PARIS's ideal (fractional) count and w_d its GPCs. [`pack`]
//! minimizes it exactly, as an integer program over the number x_k of GPUs of each layout type
//! k (n = sum_k x_k counts_k, sum_k x_k = GPUs):
//!
//! - **Branch and bound over the instance counts n**, best bound first. A node is a box of
//!   integer bounds on n; its bound is the linear relaxation (x real >= 0, each slice's term
//!   w_d |n_d - t_d| replaced by its convex hull over integer n_d, which adds the chord between
//!   floor(t_d) and floor(t_d) + 1 and so charges a fractional n_d at least its rounding;
//!   solved with the pure-Rust `microlp`), a lower bound on D for every integer point of the
//!   box.
//!   A node whose relaxed n is fractional in some slice splits there (n_d <= floor, n_d >=
//!   ceil: the most fractional slice first). When the relaxed n is integral, D(n) is the
//!   node's bound and n is the best point of its box: if whole GPUs reach it
//!   ([`realize`], an exact depth-first search) it is the box's optimum; otherwise that one
//!   point is cut out of the box (2 x slices disjoint boxes) and the search goes on.
//! - The incumbent starts from [`pack_local`] (greedy + local search), whose multiset is kept
//!   when nothing better than it by more than [`TOL`] exists, so ties resolve the way they
//!   always did.
//! - The search stops when the best open bound is within [`TOL`] of the incumbent: the
//!   incumbent is then optimal (up to `TOL` GPCs, the linear relaxation being solved in
//!   floating point). A search that would pass [`NODE_LIMIT`] nodes stops there and reports
//!   the incumbent with the proven lower bound instead of claiming optimality (no catalog
//!   shipped reaches it: see the tests).
//!
//! The relaxation's integer points need not all be reachable by whole GPUs (the sums of N
//! maximal layouts are not every integer point of their convex hull), which is why
//! integral nodes are checked by [`realize`] and not taken on trust.

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// D = sum_s w_s |n_s - t_s|.
pub fn deviation(n: &[u32], w: &[f64], target: &[f64]) -> f64 {
    n.iter()
        .zip(w)
        .zip(target)
        .map(|((&c, &w), &t)| w * (c as f64 - t).abs())
        .sum()
}

/// Improvements smaller than this (GPCs) are ties: the relaxations are solved in floating
/// point.
pub const TOL: f64 = 1e-6;
/// Branch-and-bound nodes after which [`pack`] stops and reports a bound instead of a proof.
pub const NODE_LIMIT: usize = 50_000;
/// Search steps [`realize`] takes before giving up on one point (it is then cut out of its box
/// and the outcome is not claimed optimal).
const REALIZE_LIMIT: usize = 20_000;
/// Boxes the search for whole GPUs reaching one point explores before giving up on it.
const REALIZE_BOXES: usize = 2_000;
const EPS: f64 = 1e-9;

/// The packing [`pack`] chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Packing {
    /// The layout type of every GPU, sorted by type index.
    pub chosen: Vec<usize>,
    /// Its deviation.
    pub deviation: f64,
    /// A proven lower bound on the deviation of any packing (equal to `deviation`, up to
    /// [`TOL`], when `optimal`).
    pub lower_bound: f64,
    /// Whether the search proved `chosen` optimal (up to [`TOL`]).
    pub optimal: bool,
    /// Branch-and-bound nodes explored.
    pub nodes: usize,
}

/// Instances of each slice in a multiset of layout types.
fn summed(counts: &[Vec<u32>], chosen: &[usize], dims: usize) -> Vec<u32> {
    let mut n = vec![0u32; dims];
    for &t in chosen {
        for (a, c) in n.iter_mut().zip(&counts[t]) {
            *a += c;
        }
    }
    n
}

/// An open box of the search: integer bounds on n and the relaxation's bound and n there.
struct Node {
    bound: f64,
    seq: usize,
    lo: Vec<u32>,
    hi: Vec<u32>,
    n: Vec<f64>,
    x: Vec<f64>,
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    /// The max-heap pops the lowest bound first, then the oldest node (deterministic).
    fn cmp(&self, o: &Self) -> Ordering {
        o.bound.total_cmp(&self.bound).then(o.seq.cmp(&self.seq))
    }
}

/// The packing problem.
struct Program<'a> {
    counts: &'a [Vec<u32>],
    w: &'a [f64],
    target: &'a [f64],
    gpus: usize,
}

impl Program<'_> {
    /// The linear relaxation on the box `lo..=hi`: (its minimum D, the relaxed n, the relaxed
    /// GPUs per type), or `None` if the box holds no point of it.
    fn relax(&self, lo: &[u32], hi: &[u32]) -> Option<(f64, Vec<f64>, Vec<f64>)> {
        let dims = self.w.len();
        let mut p = Problem::new(OptimizationDirection::Minimize);
        let x: Vec<_> = self
            .counts
            .iter()
            .map(|_| p.add_var(0.0, (0.0, self.gpus as f64)))
            .collect();
        let n: Vec<_> = (0..dims)
            .map(|d| p.add_var(0.0, (lo[d] as f64, hi[d] as f64)))
            .collect();
        for d in 0..dims {
            let mut placed: Vec<_> = x
                .iter()
                .zip(self.counts)
                .filter(|(_, c)| c[d] > 0)
                .map(|(&v, c)| (v, c[d] as f64))
                .collect();
            placed.push((n[d], -1.0));
            p.add_constraint(placed.as_slice(), ComparisonOp::Eq, 0.0);
            // z_d >= the convex hull of w |n - t| at integer n: the two rays and the chord
            // between floor(t) and floor(t) + 1 (so that a fractional n costs at least its
            // rounding; equal to w |n - t| at every integer n).
            let (w, t) = (self.w[d], self.target[d]);
            let z = p.add_var(1.0, (0.0, f64::INFINITY));
            let fl = t.floor();
            let f = t - fl;
            let slope = w * (1.0 - 2.0 * f);
            p.add_constraint([(z, 1.0), (n[d], -w)].as_slice(), ComparisonOp::Ge, -w * t);
            p.add_constraint([(z, 1.0), (n[d], w)].as_slice(), ComparisonOp::Ge, w * t);
            p.add_constraint(
                [(z, 1.0), (n[d], -slope)].as_slice(),
                ComparisonOp::Ge,
                w * f - slope * fl,
            );
        }
        let all: Vec<_> = x.iter().map(|&v| (v, 1.0)).collect();
        p.add_constraint(all.as_slice(), ComparisonOp::Eq, self.gpus as f64);
        let sol = p.solve().ok()?.into_solution().ok()?;
        Some((
            sol.objective().max(0.0),
            n.iter().map(|&v| sol.var_value_raw(v)).collect(),
            x.iter().map(|&v| sol.var_value_raw(v)).collect(),
        ))
    }

    /// A node for the box, if it is not empty and might beat `best`.
    fn node(&self, lo: Vec<u32>, hi: Vec<u32>, best: f64, seq: &mut usize) -> Option<Node> {
        if lo.iter().zip(&hi).any(|(l, h)| l > h) {
            return None;
        }
        let (bound, n, x) = self.relax(&lo, &hi)?;
        (bound < best - TOL).then(|| {
            *seq += 1;
            Node {
                bound,
                seq: *seq,
                lo,
                hi,
                n,
                x,
            }
        })
    }
}

/// Choose `gpus` layout types (indices into `counts`, each a layout's instances per slice)
/// whose summed counts minimize [`deviation`] from `target` with weights `w`: the exact
/// branch and bound of the module docs.
pub fn pack(counts: &[Vec<u32>], w: &[f64], target: &[f64], gpus: usize) -> Packing {
    let dims = w.len();
    let local = pack_local(counts, w, target, gpus);
    let mut best_dev = deviation(&summed(counts, &local, dims), w, target);
    let mut best = local;
    let done = |chosen: Vec<usize>, dev: f64, lower: f64, optimal: bool, nodes: usize| Packing {
        chosen,
        deviation: dev,
        lower_bound: lower.min(dev),
        optimal,
        nodes,
    };
    if gpus == 0 || counts.len() <= 1 || best_dev <= TOL {
        return done(best, best_dev, best_dev, true, 0);
    }
    let prog = Program {
        counts,
        w,
        target,
        gpus,
    };
    let top: Vec<u32> = (0..dims)
        .map(|d| counts.iter().map(|c| c[d]).max().unwrap_or(0) * gpus as u32)
        .collect();
    let mut seq = 0;
    let mut open = BinaryHeap::new();
    open.extend(prog.node(vec![0; dims], top, best_dev, &mut seq));
    let mut nodes = 0;
    let mut proven = true;
    while let Some(node) = open.pop() {
        if node.bound >= best_dev - TOL {
            break;
        }
        nodes += 1;
        if nodes > NODE_LIMIT {
            let lower = node.bound;
            return done(best, best_dev, lower, false, nodes);
        }
        // The most fractional slice of the relaxed n (the lowest index among ties).
        let frac = |v: f64| (v - v.round()).abs();
        let split = (0..dims)
            .filter(|&d| frac(node.n[d]) > 1e-6)
            .max_by(|&a, &b| frac(node.n[a]).total_cmp(&frac(node.n[b])).then(b.cmp(&a)));
        let children: Vec<(Vec<u32>, Vec<u32>)> = match split {
            Some(d) => {
                let f = node.n[d].floor().max(0.0) as u32;
                let mut hi = node.hi.clone();
                hi[d] = f;
                let mut lo = node.lo.clone();
                lo[d] = f + 1;
                vec![(node.lo.clone(), hi), (lo, node.hi.clone())]
            }
            None => {
                let v: Vec<u32> = node.n.iter().map(|x| x.round().max(0.0) as u32).collect();
                match realize_near(counts, &v, gpus, &node.x) {
                    Ok(Some(x)) => {
                        let dev = deviation(&v, w, target);
                        if dev < best_dev - TOL {
                            best_dev = dev;
                            best = x;
                        }
                        // The best point of the box is taken (or no better than the
                        // incumbent): the box is done.
                        continue;
                    }
                    Ok(None) => cut_point(&node.lo, &node.hi, &v),
                    Err(()) => {
                        proven = false;
                        cut_point(&node.lo, &node.hi, &v)
                    }
                }
            }
        };
        for (lo, hi) in children {
            open.extend(prog.node(lo, hi, best_dev, &mut seq));
        }
    }
    done(best, best_dev, best_dev, proven, nodes)
}

/// The box `lo..=hi` without the point `v`, as disjoint boxes: for each slice d, the points
/// equal to v before d and below (or above) v_d at d.
fn cut_point(lo: &[u32], hi: &[u32], v: &[u32]) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut out = Vec::new();
    let (mut l, mut h) = (lo.to_vec(), hi.to_vec());
    for d in 0..v.len() {
        if v[d] > l[d] {
            let mut hb = h.clone();
            hb[d] = v[d] - 1;
            out.push((l.clone(), hb));
        }
        if v[d] < h[d] {
            let mut lb = l.clone();
            lb[d] = v[d] + 1;
            out.push((lb, h.clone()));
        }
        l[d] = v[d];
        h[d] = v[d];
    }
    out
}

/// Whole GPUs reaching exactly `n` (`gpus` layout types, sorted), searched near `x`, a
/// relaxed solution reaching it: `Ok(None)` when none exists, `Err` when the search passes its
/// limits without knowing.
///
/// A branch and bound over the GPUs per type: a box of bounds on x is infeasible when its
/// linear relaxation (x real, C x = n, sum x = GPUs) is, integral when the relaxed x is;
/// otherwise it splits on the most fractional type. At every box, the relaxed x rounded down
/// leaves a few GPUs, placed by the exact search of [`realize`] (fast when a solution is near).
fn realize_near(
    counts: &[Vec<u32>],
    n: &[u32],
    gpus: usize,
    x: &[f64],
) -> Result<Option<Vec<usize>>, ()> {
    let k = counts.len();
    let (lo, hi) = (vec![0u32; k], vec![gpus as u32; k]);
    // The hint must reach n (up to rounding); otherwise the relaxation gives the start.
    let reaches = (x.iter().sum::<f64>() - gpus as f64).abs() < 1e-6
        && (0..n.len()).all(|d| {
            let placed: f64 = (0..k).map(|t| counts[t][d] as f64 * x[t]).sum();
            (placed - n[d] as f64).abs() < 1e-6
        });
    let x = match reaches {
        true => x.to_vec(),
        false => match relax_x(counts, n, gpus, &lo, &hi) {
            Some(x) => x,
            None => return Ok(None),
        },
    };
    let mut stack = vec![(lo, hi, x)];
    let mut boxes = 0;
    let mut unknown = false;
    while let Some((lo, hi, x)) = stack.pop() {
        boxes += 1;
        if boxes > REALIZE_BOXES {
            return Err(());
        }
        // Rounded down (within the box), the rest placed exactly.
        let base: Vec<u32> = (0..k)
            .map(|t| (x[t] + 1e-7).floor().clamp(lo[t] as f64, hi[t] as f64) as u32)
            .collect();
        let placed: u32 = base.iter().sum();
        let mut rest = n.to_vec();
        let fits = placed <= gpus as u32
            && (0..k).all(|t| {
                (0..n.len()).all(|d| {
                    let c = counts[t][d] * base[t];
                    if c <= rest[d] {
                        rest[d] -= c;
                        true
                    } else {
                        false
                    }
                })
            });
        if fits {
            // Any whole GPUs reaching n will do, inside the box or not.
            let left = gpus - placed as usize;
            if let Ok(Some(extra)) = Realizer::new(counts, &rest, left).run() {
                let mut out = Vec::with_capacity(gpus);
                for (t, &b) in base.iter().enumerate() {
                    out.extend(std::iter::repeat_n(t, b as usize));
                }
                out.extend(extra);
                out.sort_unstable();
                return Ok(Some(out));
            }
        }
        let frac = |v: f64| (v - v.round()).abs();
        let Some(t) = (0..k)
            .filter(|&t| frac(x[t]) > 1e-6)
            .max_by(|&a, &b| frac(x[a]).total_cmp(&frac(x[b])).then(b.cmp(&a)))
        else {
            // Integral: the rounding above was a solution unless it was out of reach, which
            // an integral relaxed point cannot be; a numerical miss.
            unknown = true;
            continue;
        };
        let f = x[t].floor() as u32;
        let mut down_hi = hi.clone();
        down_hi[t] = f;
        let mut up_lo = lo.clone();
        up_lo[t] = f + 1;
        for (l, h) in [(up_lo, hi), (lo, down_hi)] {
            if let Some(x) = relax_x(counts, n, gpus, &l, &h) {
                stack.push((l, h, x));
            }
        }
    }
    if unknown { Err(()) } else { Ok(None) }
}

/// A real x in `lo..=hi` with C x = n and sum x = GPUs, if there is one.
fn relax_x(counts: &[Vec<u32>], n: &[u32], gpus: usize, lo: &[u32], hi: &[u32]) -> Option<Vec<f64>> {
    if lo.iter().zip(hi).any(|(l, h)| l > h) {
        return None;
    }
    let mut p = Problem::new(OptimizationDirection::Minimize);
    let x: Vec<_> = (0..counts.len())
        .map(|t| p.add_var(0.0, (lo[t] as f64, hi[t] as f64)))
        .collect();
    for d in 0..n.len() {
        let row: Vec<_> = x
            .iter()
            .zip(counts)
            .filter(|(_, c)| c[d] > 0)
            .map(|(&v, c)| (v, c[d] as f64))
            .collect();
        p.add_constraint(row.as_slice(), ComparisonOp::Eq, n[d] as f64);
    }
    let all: Vec<_> = x.iter().map(|&v| (v, 1.0)).collect();
    p.add_constraint(all.as_slice(), ComparisonOp::Eq, gpus as f64);
    let sol = p.solve().ok()?.into_solution().ok()?;
    Some(x.iter().map(|&v| sol.var_value_raw(v)).collect())
}

/// `gpus` layout types (sorted) whose counts sum to exactly `n`, if there are any: an exact
/// depth-first search over the number of GPUs of each type (fewest-options types first, most
/// GPUs first), pruned by what the remaining types can still place, with failed states
/// remembered. `None` also when it passes its step limit.
pub fn realize(counts: &[Vec<u32>], n: &[u32], gpus: usize) -> Option<Vec<usize>> {
    Realizer::new(counts, n, gpus).run().ok().flatten()
}

struct Realizer<'a> {
    counts: &'a [Vec<u32>],
    /// Type indices in search order.
    order: Vec<usize>,
    /// Per position in `order`: for each slice, the most instances one GPU of a remaining type
    /// (this one or later) holds; and the fewest and most instances in all.
    max_rest: Vec<Vec<u32>>,
    x: Vec<u32>,
    rem: Vec<u32>,
    gpus: u32,
    failed: HashSet<(usize, u32, Vec<u32>)>,
    steps: usize,
}

impl<'a> Realizer<'a> {
    fn new(counts: &'a [Vec<u32>], n: &[u32], gpus: usize) -> Realizer<'a> {
        let dims = n.len();
        // Types holding slices that few types hold go first: they are the most constrained.
        let holders: Vec<usize> = (0..dims)
            .map(|d| counts.iter().filter(|c| c[d] > 0).count())
            .collect();
        let rarity = |k: usize| {
            (0..dims)
                .filter(|&d| counts[k][d] > 0)
                .map(|d| holders[d])
                .min()
                .unwrap_or(usize::MAX)
        };
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by_key(|&k| (rarity(k), k));
        let mut max_rest = vec![vec![0u32; dims]; order.len() + 1];
        for p in (0..order.len()).rev() {
            for d in 0..dims {
                max_rest[p][d] = max_rest[p + 1][d].max(counts[order[p]][d]);
            }
        }
        Realizer {
            counts,
            order,
            max_rest,
            x: vec![0; counts.len()],
            rem: n.to_vec(),
            gpus: gpus as u32,
            failed: HashSet::new(),
            steps: 0,
        }
    }

    /// `Ok(Some)` found, `Ok(None)` proven impossible, `Err` step limit.
    fn run(mut self) -> Result<Option<Vec<usize>>, ()> {
        let g = self.gpus;
        if self.go(0, g)? {
            let mut out = Vec::with_capacity(g as usize);
            for (k, &c) in self.x.iter().enumerate() {
                out.extend(std::iter::repeat_n(k, c as usize));
            }
            Ok(Some(out))
        } else {
            Ok(None)
        }
    }

    /// Place `left` GPUs with the types from position `p` on so that `rem` is met exactly.
    fn go(&mut self, p: usize, left: u32) -> Result<bool, ()> {
        self.steps += 1;
        if self.steps > REALIZE_LIMIT {
            return Err(());
        }
        if self.rem.iter().zip(&self.max_rest[p]).any(|(&r, &m)| r > m * left) {
            return Ok(false);
        }
        if p == self.order.len() {
            return Ok(left == 0 && self.rem.iter().all(|&r| r == 0));
        }
        if left == 0 {
            return Ok(self.rem.iter().all(|&r| r == 0));
        }
        let key = (p, left, self.rem.clone());
        if self.failed.contains(&key) {
            return Ok(false);
        }
        let k = self.order[p];
        let c = &self.counts[k];
        let most = (0..c.len())
            .filter(|&d| c[d] > 0)
            .map(|d| self.rem[d] / c[d])
            .min()
            .unwrap_or(left)
            .min(left);
        for take in (0..=most).rev() {
            for (r, &c) in self.rem.iter_mut().zip(c) {
                *r -= c * take;
            }
            let ok = self.go(p + 1, left - take);
            for (r, &c) in self.rem.iter_mut().zip(c) {
                *r += c * take;
            }
            if ok? {
                self.x[k] = take;
                return Ok(true);
            }
        }
        self.failed.insert(key);
        Ok(false)
    }
}

/// The heuristic [`pack`] starts from: a greedy start (each GPU takes the type that brings the
/// running sum closest to the prorated target), then best-improvement moves of one or two
/// GPUs until none lowers the deviation. Not always optimal. Returned sorted by type index.
pub fn pack_local(counts: &[Vec<u32>], w: &[f64], target: &[f64], gpus: usize) -> Vec<usize> {
    let k = counts.len();
    let dims = w.len();
    let add = |sum: &mut [i64], t: usize, sign: i64| {
        for d in 0..dims {
            sum[d] += sign * counts[t][d] as i64;
        }
    };
    let dev = |sum: &[i64]| -> f64 {
        (0..dims)
            .map(|d| w[d] * (sum[d] as f64 - target[d]).abs())
            .sum()
    };
    // Greedy: each GPU takes the type that brings the running sum closest to the prorated
    // target.
    let mut chosen = Vec::with_capacity(gpus);
    let mut sum = vec![0i64; dims];
    for g in 0..gpus {
        let frac = (g + 1) as f64 / gpus as f64;
        let mut best = (f64::INFINITY, 0);
        for t in 0..k {
            add(&mut sum, t, 1);
            let d: f64 = (0..dims)
                .map(|x| w[x] * (sum[x] as f64 - target[x] * frac).abs())
                .sum();
            add(&mut sum, t, -1);
            if d < best.0 - EPS {
                best = (d, t);
            }
        }
        chosen.push(best.1);
        add(&mut sum, best.1, 1);
    }
    // Local search over multisets: remove one or two GPUs' types, add one or two.
    let mut cur = dev(&sum);
    loop {
        let mut hist = vec![0usize; k];
        for &t in &chosen {
            hist[t] += 1;
        }
        let present: Vec<usize> = (0..k).filter(|&t| hist[t] > 0).collect();
        let mut best: Option<(f64, Vec<usize>, Vec<usize>)> = None;
        let mut consider = |d: f64, out: Vec<usize>, inn: Vec<usize>| {
            if d < cur - EPS && best.as_ref().is_none_or(|b| d < b.0 - EPS) {
                best = Some((d, out, inn));
            }
        };
        for &a in &present {
            add(&mut sum, a, -1);
            for b in 0..k {
                if b != a {
                    add(&mut sum, b, 1);
                    consider(dev(&sum), vec![a], vec![b]);
                    add(&mut sum, b, -1);
                }
            }
            for &a2 in present
                .iter()
                .filter(|&&x| x > a || (x == a && hist[a] >= 2))
            {
                add(&mut sum, a2, -1);
                for b in 0..k {
                    add(&mut sum, b, 1);
                    for b2 in b..k {
                        add(&mut sum, b2, 1);
                        consider(dev(&sum), vec![a, a2], vec![b, b2]);
                        add(&mut sum, b2, -1);
                    }
                    add(&mut sum, b, -1);
                }
                add(&mut sum, a2, 1);
            }
            add(&mut sum, a, 1);
        }
        let Some((d, out, inn)) = best else { break };
        for t in out {
            let pos = chosen.iter().position(|&x| x == t).expect("present");
            chosen.swap_remove(pos);
            add(&mut sum, t, -1);
        }
        for t in inn {
            chosen.push(t);
            add(&mut sum, t, 1);
        }
        cur = d;
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuSpec;
    use std::collections::HashSet;

    /// The A100's maximal layout types (instances per slice).
    fn a100() -> Vec<Vec<u32>> {
        let gpu = GpuSpec::by_name("A100-40GB").unwrap();
        super::super::layout_types(&gpu, &[0, 1, 2, 3, 4]).1
    }

    #[test]
    fn cut_point_covers_the_box_without_the_point_exactly_once() {
        let (lo, hi, v) = ([0u32, 1, 2], [3u32, 2, 4], [1u32, 2, 2]);
        let boxes = cut_point(&lo, &hi, &v);
        for a in lo[0]..=hi[0] {
            for b in lo[1]..=hi[1] {
                for c in lo[2]..=hi[2] {
                    let p = [a, b, c];
                    let inside = boxes
                        .iter()
                        .filter(|(l, h)| (0..3).all(|d| l[d] <= p[d] && p[d] <= h[d]))
                        .count();
                    assert_eq!(inside, usize::from(p != v), "{p:?}");
                }
            }
        }
    }

    #[test]
    fn realize_finds_every_reachable_count_and_only_those() {
        let counts = a100();
        let (mut relaxed, mut holes) = (0, 0);
        // Every count vector 1..=5 GPUs reach, GPU by GPU.
        let mut reach: HashSet<Vec<u32>> = [vec![0; 5]].into_iter().collect();
        for gpus in 1..=5usize {
            reach = reach
                .iter()
                .flat_map(|n| {
                    counts
                        .iter()
                        .map(|c| n.iter().zip(c).map(|(a, b)| a + b).collect::<Vec<u32>>())
                })
                .collect();
            // Every integer point of the box up to the largest reachable counts.
            let top: Vec<u32> = (0..5)
                .map(|d| reach.iter().map(|n| n[d]).max().unwrap())
                .collect();
            let mut checked = 0;
            let mut p = vec![0u32; 5];
            loop {
                let got = realize(&counts, &p, gpus);
                if let Some(x) = &got {
                    assert_eq!(x.len(), gpus);
                    let mut n = vec![0u32; 5];
                    for &t in x {
                        for d in 0..5 {
                            n[d] += counts[t][d];
                        }
                    }
                    assert_eq!(n, p);
                }
                assert_eq!(got.is_some(), reach.contains(&p), "{gpus} GPUs, {p:?}");
                // The relaxation-guided search the packing uses, from the relaxed x (points
                // outside the relaxation need no search: none is reachable).
                let lo = vec![0u32; counts.len()];
                let hi = vec![gpus as u32; counts.len()];
                match relax_x(&counts, &p, gpus, &lo, &hi) {
                    Some(x) => {
                        relaxed += 1;
                        let near = realize_near(&counts, &p, gpus, &x).unwrap();
                        assert_eq!(near.is_some(), reach.contains(&p), "{gpus} GPUs, {p:?}");
                        holes += usize::from(near.is_none());
                    }
                    None => assert!(!reach.contains(&p)),
                }
                checked += 1;
                let mut d = 0;
                while d < 5 && p[d] == top[d] {
                    p[d] = 0;
                    d += 1;
                }
                if d == 5 {
                    break;
                }
                p[d] += 1;
            }
            assert!(checked > 10);
        }
        // On the A100's catalog every point the relaxation admits here is reachable.
        assert!(relaxed > 1000 && holes == 0, "{holes} holes of {relaxed}");
    }

    #[test]
    fn realize_proves_a_point_the_relaxation_admits_unreachable() {
        // Two layouts of two instances each: 2 GPUs reach (4, 0), (2, 2), (0, 4); the
        // relaxation also admits (1, 3) and (3, 1) (x = 1/2, 3/2), which no whole GPUs reach.
        let counts = vec![vec![2, 0], vec![0, 2]];
        for (p, ok) in [([4, 0], true), ([2, 2], true), ([1, 3], false), ([3, 1], false)] {
            let x = relax_x(&counts, &p, 2, &[0, 0], &[2, 2]).expect("relaxation feasible");
            assert_eq!(realize_near(&counts, &p, 2, &x).unwrap().is_some(), ok, "{p:?}");
            assert_eq!(realize(&counts, &p, 2).is_some(), ok, "{p:?}");
        }
        // Target (1.2, 2.8): the hole (1, 3) would deviate 0.4; the best whole GPUs reach is
        // (2, 2) at 0.8 + 0.8 = 1.6 ((0, 4) is 1.2 + 1.2).
        let p = pack(&counts, &[1.0, 1.0], &[1.2, 2.8], 2);
        assert_eq!(p.chosen, vec![0, 1]);
        assert!(p.optimal && (p.deviation - 1.6).abs() < 1e-9);
    }

    #[test]
    fn realize_near_agrees_with_realize_on_large_servers() {
        // 300 GPUs of known layouts, each filling the GPU's 7 GPCs: the point is reachable,
        // and one more 1g instance is not (2101 GPCs on 300 GPUs).
        let counts = a100();
        let full: Vec<usize> = (0..counts.len())
            .filter(|&t| (0..5).map(|d| counts[t][d] * [1, 2, 3, 4, 7][d]).sum::<u32>() == 7)
            .collect();
        assert_eq!(full.len(), counts.len() - 1, "all but 3g+3g fill the GPU");
        let chosen: Vec<usize> = (0..300).map(|g| full[g % full.len()]).collect();
        let n = summed(&counts, &chosen, 5);
        let x = vec![300.0 / counts.len() as f64; counts.len()];
        let got = realize_near(&counts, &n, 300, &x).unwrap().unwrap();
        assert_eq!(summed(&counts, &got, 5), n);
        let mut more = n.clone();
        more[0] += 1;
        assert_eq!(realize_near(&counts, &more, 300, &x), Ok(None));
    }

    #[test]
    fn pack_proves_optimality_and_reports_it() {
        let counts = a100();
        let gpu = GpuSpec::by_name("A100-40GB").unwrap();
        let w: Vec<f64> = gpu.profiles.iter().map(|p| p.gpcs as f64).collect();
        // 16 GPUs' worth of 1g, 3g and 7g in a ratio no multiset meets exactly.
        let target = [40.3, 0.0, 10.6, 0.0, 6.1];
        let p = pack(&counts, &w, &target, 16);
        assert!(p.optimal);
        assert_eq!(p.chosen.len(), 16);
        assert!((p.lower_bound - p.deviation).abs() < TOL);
        assert!((deviation(&summed(&counts, &p.chosen, 5), &w, &target) - p.deviation).abs() < 1e-9);
        // The reference optimum, by brute force: every count vector 16 GPUs reach (GPU by
        // GPU, from the catalog's layouts), each scored by hand as sum_d w_d |n_d - t_d|.
        let mut reach: HashSet<Vec<u32>> = [vec![0; 5]].into_iter().collect();
        for _ in 0..16 {
            reach = reach
                .iter()
                .flat_map(|n| {
                    counts
                        .iter()
                        .map(|c| n.iter().zip(c).map(|(a, b)| a + b).collect::<Vec<u32>>())
                })
                .collect();
        }
        let score = |n: &[u32]| -> f64 {
            (0..5)
                .map(|d| w[d] * (n[d] as f64 - target[d]).abs())
                .sum()
        };
        let best = reach.iter().map(|n| score(n)).fold(f64::INFINITY, f64::min);
        assert!((p.deviation - best).abs() < 1e-9, "{} vs {best}", p.deviation);
        assert!(p.lower_bound <= best + TOL);
        // The chosen GPUs reach a best point.
        assert!((score(&summed(&counts, &p.chosen, 5)) - best).abs() < 1e-9);
    }
}
