//! The `mig-replay` binary: the command line over the built-in policies.

fn main() {
    mig_replay::io::memory::tune_allocator();
    std::process::exit(mig_replay::cli::main_with(
        mig_replay::policy::Registry::builtin(),
    ));
}
