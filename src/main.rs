//! The `leafseal` binary: parse arguments, run, exit with the command's code.

use clap::Parser;

fn main() {
    let cli = leafseal::cli::Cli::parse();
    std::process::exit(leafseal::cli::run(cli));
}
