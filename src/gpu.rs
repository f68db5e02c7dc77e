//! MIG geometry: the GPU catalog, MIG profiles with their legal start slots, and layouts.
//!
//! A GPU has `gpcs` compute slices and `mem_slices` memory slices. A MIG profile (e.g. `3g.20gb`)
//! takes `gpcs` compute slices and `mem_slices` consecutive memory slices, starting at one of its
//! legal start slots. Instances on one GPU may not overlap in memory slices and may use at most
//! the GPU's GPCs together. These are the placement rules of NVIDIA's MIG user guide; for the A100
//! they give 19 maximal placements.
//!
//! The catalog models the standard profile of each compute size. The "double memory" 1g profiles
//! (`1g.10gb` on A100-40GB, `1g.20gb` on A100-80GB/H100) and the `+me` media-extension variants
//! are not modeled.

use crate::error::{Error, Result};
use std::fmt;

/// One MIG GPU-instance profile.
#[derive(Debug, Clone, PartialEq)]
pub struct MigProfile {
    /// NVIDIA's name, e.g. `3g.20gb`.
    pub name: &'static str,
    /// Compute slices (GPCs).
    pub gpcs: u8,
    /// Memory slices.
    pub mem_slices: u8,
    /// Memory in GB.
    pub memory_gb: u32,
    /// Legal start memory slices.
    pub starts: &'static [u8],
}

/// A GPU model with its MIG profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub gpcs: u8,
    pub mem_slices: u8,
    pub memory_gb: u32,
    /// Ordered from the smallest to the largest.
    pub profiles: Vec<MigProfile>,
}

/// Index of a profile inside [`GpuSpec::profiles`].
pub type SliceId = usize;

fn a100_like(
    name: &'static str,
    aliases: &'static [&'static str],
    memory_gb: u32,
    names: [&'static str; 5],
) -> GpuSpec {
    let per = memory_gb / 8;
    GpuSpec {
        name,
        aliases,
        gpcs: 7,
        mem_slices: 8,
        memory_gb,
        profiles: vec![
            MigProfile {
                name: names[0],
                gpcs: 1,
                mem_slices: 1,
                memory_gb: per,
                starts: &[0, 1, 2, 3, 4, 5, 6],
            },
            MigProfile {
                name: names[1],
                gpcs: 2,
                mem_slices: 2,
                memory_gb: 2 * per,
                starts: &[0, 2, 4],
            },
            MigProfile {
                name: names[2],
                gpcs: 3,
                mem_slices: 4,
                memory_gb: 4 * per,
                starts: &[0, 4],
            },
            MigProfile {
                name: names[3],
                gpcs: 4,
                mem_slices: 4,
                memory_gb: 4 * per,
                starts: &[0],
            },
            MigProfile {
                name: names[4],
                gpcs: 7,
                mem_slices: 8,
                memory_gb,
                starts: &[0],
            },
        ],
    }
}

/// The GPU catalog: A100-40GB, A100-80GB, H100-80GB, H200-141GB and A30-24GB.
pub fn catalog() -> Vec<GpuSpec> {
    vec![
        a100_like(
            "A100-40GB",
            &["A100", "A100-SXM4-40GB", "A100-PCIE-40GB"],
            40,
            ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"],
        ),
        a100_like(
            "A100-80GB",
            &["A100-SXM4-80GB", "A100-PCIE-80GB"],
            80,
            ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
        ),
        a100_like(
            "H100-80GB",
            &["H100", "H100-SXM5-80GB", "H100-PCIE-80GB"],
            80,
            ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
        ),
        // H200: 141 GB in 8 memory slices; NVIDIA names the profiles by rounded memory.
        GpuSpec {
            memory_gb: 141,
            ..a100_like(
                "H200-141GB",
                &["H200"],
                136,
                ["1g.18gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"],
            )
        }
        .with_memory([18, 35, 71, 71, 141]),
        GpuSpec {
            name: "A30-24GB",
            aliases: &["A30"],
            gpcs: 4,
            mem_slices: 4,
            memory_gb: 24,
            profiles: vec![
                MigProfile {
                    name: "1g.6gb",
                    gpcs: 1,
                    mem_slices: 1,
                    memory_gb: 6,
                    starts: &[0, 1, 2, 3],
                },
                MigProfile {
                    name: "2g.12gb",
                    gpcs: 2,
                    mem_slices: 2,
                    memory_gb: 12,
                    starts: &[0, 2],
                },
                MigProfile {
                    name: "4g.24gb",
                    gpcs: 4,
                    mem_slices: 4,
                    memory_gb: 24,
                    starts: &[0],
                },
            ],
        },
    ]
}

impl GpuSpec {
    fn with_memory(mut self, gb: [u32; 5]) -> Self {
        for (p, g) in self.profiles.iter_mut().zip(gb) {
            p.memory_gb = g;
        }
        self
    }

    /// Look a GPU up by name or alias (case-insensitive).
    pub fn find(name: &str) -> Option<GpuSpec> {
        catalog().into_iter().find(|g| {
            g.name.eq_ignore_ascii_case(name)
                || g.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Like [`GpuSpec::find`], with an error listing the known names.
    pub fn by_name(name: &str) -> Result<GpuSpec> {
        Self::find(name).ok_or_else(|| {
            let known: Vec<_> = catalog().iter().map(|g| g.name).collect();
            Error::Usage(format!(
                "unknown GPU '{name}': expected one of {}",
                known.join(", ")
            ))
        })
    }

    /// Find a profile by its full name (`3g.20gb`) or by its compute size alone (`3g`).
    pub fn slice_id(&self, name: &str) -> Option<SliceId> {
        let n = name.trim();
        self.profiles
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(n))
            .or_else(|| {
                self.profiles.iter().position(|p| {
                    p.name
                        .split('.')
                        .next()
                        .is_some_and(|g| g.eq_ignore_ascii_case(n))
                })
            })
    }

    /// Like [`GpuSpec::slice_id`], with an error listing the valid names.
    pub fn slice_by_name(&self, name: &str) -> Result<SliceId> {
        self.slice_id(name)
            .ok_or_else(|| Error::Usage(self.unknown_slice(name)))
    }

    /// The message for a slice name this GPU does not have.
    pub fn unknown_slice(&self, name: &str) -> String {
        let known: Vec<_> = self.profiles.iter().map(|p| p.name).collect();
        format!(
            "unknown MIG slice '{name}' for {}: expected one of {}",
            self.name,
            known.join(", ")
        )
    }

    /// The largest profile (the whole GPU as one instance).
    pub fn full_slice(&self) -> SliceId {
        self.profiles.len() - 1
    }

    /// Every maximal legal placement: no further instance of any profile can be added.
    /// Placements are listed in a canonical order (by start slot).
    pub fn maximal_layouts(&self) -> Vec<Layout> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        self.enumerate(0, &mut cur, &mut out);
        out
    }

    /// Every legal layout (maximal or not), one per distinct multiset of profiles, ordered by
    /// that multiset (largest profiles first, then more instances first).
    pub fn legal_layouts(&self) -> Vec<Layout> {
        fn go(
            g: &GpuSpec,
            cands: &[Placement],
            from: usize,
            cur: &mut Vec<Placement>,
            out: &mut std::collections::BTreeMap<Vec<std::cmp::Reverse<SliceId>>, Layout>,
        ) {
            if !cur.is_empty() {
                let mut key: Vec<_> = cur.iter().map(|p| std::cmp::Reverse(p.slice)).collect();
                key.sort();
                out.entry(key).or_insert_with(|| {
                    let mut ps = cur.clone();
                    ps.sort_by_key(|p| p.start);
                    Layout { placements: ps }
                });
            }
            for k in from..cands.len() {
                if g.fits(cur, cands[k]) {
                    cur.push(cands[k]);
                    go(g, cands, k + 1, cur, out);
                    cur.pop();
                }
            }
        }
        let mut out = std::collections::BTreeMap::new();
        go(self, &self.candidates(), 0, &mut Vec::new(), &mut out);
        out.into_values().collect()
    }

    fn candidates(&self) -> Vec<Placement> {
        let mut c: Vec<Placement> = self
            .profiles
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.starts
                    .iter()
                    .map(move |&s| Placement { slice: i, start: s })
            })
            .collect();
        c.sort_by_key(|p| (p.start, std::cmp::Reverse(self.profiles[p.slice].gpcs)));
        c
    }

    /// Whether placement `p` can be added to `cur` (no overlap, GPC budget, memory bounds).
    pub fn fits_placement(&self, cur: &[Placement], p: Placement) -> bool {
        self.fits(cur, p)
    }

    fn fits(&self, cur: &[Placement], p: Placement) -> bool {
        let prof = &self.profiles[p.slice];
        let (a0, a1) = (p.start, p.start + prof.mem_slices);
        if a1 > self.mem_slices {
            return false;
        }
        let gpcs: u32 = cur.iter().map(|q| self.profiles[q.slice].gpcs as u32).sum();
        if gpcs + prof.gpcs as u32 > self.gpcs as u32 {
            return false;
        }
        cur.iter().all(|q| {
            let (b0, b1) = (q.start, q.start + self.profiles[q.slice].mem_slices);
            a1 <= b0 || b1 <= a0
        })
    }

    fn enumerate(&self, from: usize, cur: &mut Vec<Placement>, out: &mut Vec<Layout>) {
        let cands = self.candidates();
        let mut extended = false;
        for (k, &p) in cands.iter().enumerate().skip(from) {
            if self.fits(cur, p) {
                extended = true;
                cur.push(p);
                self.enumerate(k + 1, cur, out);
                cur.pop();
            }
        }
        // A leaf is maximal only if nothing at all (also before `from`) can be added.
        if !extended && !cands.iter().any(|&p| self.fits(cur, p)) && !cur.is_empty() {
            out.push(Layout {
                placements: cur.clone(),
            });
        }
    }

    /// The most instances of one profile that fit on one GPU, and their placement.
    pub fn max_homogeneous(&self, slice: SliceId) -> Layout {
        let mut best = Vec::new();
        let mut cur = Vec::new();
        let cands: Vec<Placement> = self
            .candidates()
            .into_iter()
            .filter(|p| p.slice == slice)
            .collect();
        fn go(
            g: &GpuSpec,
            cands: &[Placement],
            from: usize,
            cur: &mut Vec<Placement>,
            best: &mut Vec<Placement>,
        ) {
            if cur.len() > best.len() {
                *best = cur.clone();
            }
            for k in from..cands.len() {
                if g.fits(cur, cands[k]) {
                    cur.push(cands[k]);
                    go(g, cands, k + 1, cur, best);
                    cur.pop();
                }
            }
        }
        go(self, &cands, 0, &mut cur, &mut best);
        Layout { placements: best }
    }

    /// Parse a layout string such as `4g.20gb+2g.10gb+1g.5gb` (a `N*` or `Nx` prefix repeats
    /// a profile: `3x2g.10gb`) and find a legal placement for it.
    pub fn parse_layout(&self, s: &str) -> Result<Layout> {
        let mut slices = Vec::new();
        for part in s.split('+') {
            let part = part.trim();
            let (n, name) = match part.split_once(['x', '*']) {
                Some((n, name)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => (
                    n.parse::<usize>()
                        .map_err(|_| Error::Usage(format!("bad count in '{part}'")))?,
                    name,
                ),
                _ => (1, part),
            };
            let id = self.slice_id(name).ok_or_else(|| {
                Error::Usage(format!("layout '{s}': {}", self.unknown_slice(name)))
            })?;
            slices.extend(std::iter::repeat_n(id, n));
        }
        self.place(&slices).ok_or_else(|| {
            Error::Usage(format!(
                "layout '{s}' cannot be placed legally on {} (at most {} GPCs, {} memory slices, \
                 and each profile only at its legal start slots)",
                self.name, self.gpcs, self.mem_slices
            ))
        })
    }

    /// Find a legal placement for a multiset of profiles, if one exists.
    pub fn place(&self, slices: &[SliceId]) -> Option<Layout> {
        let mut order = slices.to_vec();
        order.sort_by_key(|&s| {
            std::cmp::Reverse((self.profiles[s].mem_slices, self.profiles[s].gpcs))
        });
        fn go(g: &GpuSpec, order: &[SliceId], cur: &mut Vec<Placement>) -> bool {
            let Some((&s, rest)) = order.split_first() else {
                return true;
            };
            for &st in g.profiles[s].starts {
                let p = Placement {
                    slice: s,
                    start: st,
                };
                if g.fits(cur, p) {
                    cur.push(p);
                    if go(g, rest, cur) {
                        return true;
                    }
                    cur.pop();
                }
            }
            false
        }
        let mut cur = Vec::new();
        if go(self, &order, &mut cur) {
            cur.sort_by_key(|p| p.start);
            Some(Layout { placements: cur })
        } else {
            None
        }
    }
}

/// One placed instance: a profile at a start memory slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placement {
    pub slice: SliceId,
    pub start: u8,
}

/// The MIG layout of one GPU: its placed instances, ordered by start slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    pub placements: Vec<Placement>,
}

impl Layout {
    /// The canonical layout string: profiles from the largest to the smallest, joined by `+`.
    pub fn name(&self, gpu: &GpuSpec) -> String {
        let mut s: Vec<SliceId> = self.placements.iter().map(|p| p.slice).collect();
        s.sort_by(|a, b| b.cmp(a));
        s.iter()
            .map(|&i| gpu.profiles[i].name)
            .collect::<Vec<_>>()
            .join("+")
    }

    /// The placement with start slots, e.g. `4g.20gb@0 2g.10gb@4 1g.5gb@6`.
    pub fn placement_string(&self, gpu: &GpuSpec) -> String {
        self.placements
            .iter()
            .map(|p| format!("{}@{}", gpu.profiles[p.slice].name, p.start))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// GPCs used by this layout.
    pub fn gpcs(&self, gpu: &GpuSpec) -> u32 {
        self.placements
            .iter()
            .map(|p| gpu.profiles[p.slice].gpcs as u32)
            .sum()
    }
}

impl fmt::Display for GpuSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a100_has_19_maximal_layouts() {
        for name in ["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"] {
            let g = GpuSpec::by_name(name).unwrap();
            assert_eq!(g.maximal_layouts().len(), 19, "{name}");
        }
        // A30: 4g, 2g+2g, 2g+1g+1g, 1g+1g+2g, 4x1g.
        assert_eq!(GpuSpec::by_name("A30").unwrap().maximal_layouts().len(), 5);
    }

    #[test]
    fn maximal_layouts_are_legal_and_distinct() {
        let g = GpuSpec::by_name("A100-40GB").unwrap();
        let all = g.maximal_layouts();
        let set: std::collections::HashSet<_> = all.iter().cloned().collect();
        assert_eq!(set.len(), all.len());
        let names: std::collections::BTreeSet<_> = all.iter().map(|l| l.name(&g)).collect();
        assert!(names.contains("4g.20gb+3g.20gb"));
        assert!(names.contains("4g.20gb+2g.10gb+1g.5gb"));
        assert!(names.contains("7g.40gb"));
        assert!(names.contains("1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb"));
        for l in &all {
            assert!(l.gpcs(&g) <= 7);
            assert!(
                g.place(&l.placements.iter().map(|p| p.slice).collect::<Vec<_>>())
                    .is_some()
            );
        }
    }

    #[test]
    fn homogeneous_counts() {
        let g = GpuSpec::by_name("A100-40GB").unwrap();
        let counts: Vec<usize> = (0..5)
            .map(|s| g.max_homogeneous(s).placements.len())
            .collect();
        assert_eq!(counts, vec![7, 3, 2, 1, 1]);
    }

    #[test]
    fn layout_parsing_and_rules() {
        let g = GpuSpec::by_name("A100-40GB").unwrap();
        let l = g.parse_layout("1g.5gb+4g.20gb+2g.10gb").unwrap();
        assert_eq!(l.name(&g), "4g.20gb+2g.10gb+1g.5gb");
        assert_eq!(l.placement_string(&g), "4g.20gb@0 2g.10gb@4 1g.5gb@6");
        assert_eq!(
            g.parse_layout("3x2g+1g").unwrap().name(&g),
            "2g.10gb+2g.10gb+2g.10gb+1g.5gb"
        );
        // 4g only at 0, so two 4g never fit; 8 x 1g exceeds both GPCs and 1g's start slots.
        assert!(g.parse_layout("4g.20gb+4g.20gb").is_err());
        assert!(g.parse_layout("8x1g.5gb").is_err());
        assert!(g.parse_layout("7g.40gb+1g.5gb").is_err());
        // 3g+3g+1g: 3g at 0 and 4 take all 8 memory slices.
        assert!(g.parse_layout("3g.20gb+3g.20gb+1g.5gb").is_err());
        let e = g.parse_layout("5g.20gb").unwrap_err().to_string();
        assert!(e.contains("unknown MIG slice '5g.20gb'"), "{e}");
    }
}
