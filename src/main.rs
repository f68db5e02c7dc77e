use clap::Parser;

fn main() {
    let cli = mig_replay::cli::Cli::parse();
    match mig_replay::cli::main_with(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
