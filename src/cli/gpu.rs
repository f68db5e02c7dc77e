//! `mig-replay gpu list | layouts`.

use crate::error::Result;
use crate::gpu::{GpuSpec, catalog};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum GpuCommand {
    /// List the GPUs with their MIG profiles (GPCs, memory slices, memory, legal start slots).
    List,
    /// List every maximal legal MIG layout of a GPU, one per line.
    Layouts {
        /// GPU kind, e.g. A100-40GB (see `mig-replay gpu list`).
        #[arg(long)]
        gpu: String,
    },
}

/// Run a `gpu` subcommand.
pub fn gpu_cmd(c: GpuCommand) -> Result<i32> {
    match c {
        GpuCommand::List => print!("{}", gpu_list()),
        GpuCommand::Layouts { gpu } => {
            let g = GpuSpec::by_name(&gpu)?;
            for l in g.maximal_layouts() {
                println!("{:<48} {}", l.name(&g), l.placement_string(&g));
            }
        }
    }
    Ok(0)
}

fn gpu_list() -> String {
    let mut s = String::new();
    for g in catalog() {
        s += &format!(
            "{} ({} GPCs, {} memory slices, {} GB; also: {})\n",
            g.name,
            g.gpcs,
            g.mem_slices,
            g.memory_gb,
            g.aliases.join(", ")
        );
        s += &format!(
            "  {:<10} {:>4} {:>10} {:>8}  {}\n",
            "profile", "GPCs", "mem-slices", "memory", "start slots"
        );
        for p in &g.profiles {
            let starts: Vec<String> = p.starts.iter().map(|x| x.to_string()).collect();
            s += &format!(
                "  {:<10} {:>4} {:>10} {:>6}GB  {}\n",
                p.name,
                p.gpcs,
                p.mem_slices,
                p.memory_gb,
                starts.join(",")
            );
        }
        s += &format!(
            "  max instances per profile: {}\n",
            (0..g.profiles.len())
                .map(|k| format!(
                    "{}x{}",
                    g.max_homogeneous(k).placements.len(),
                    g.profiles[k].name
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    s
}
