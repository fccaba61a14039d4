//! The `leafseal` binary: parse arguments, run, exit with the command's code.
//!
//! Under the name `sops` (a symlink), sops's command line is first rewritten into
//! leafseal's (see `cli::sops_compat`).

use leafseal::cli::sops_compat;

/// mimalloc: the decrypt of a large file makes hundreds of thousands of small, short-lived
/// allocations (keys, values, paths); glibc malloc spent ~17% of the time there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Huge pages only once a large input shows up (see `leafseal::process`).
    leafseal::process::huge_pages_off_at_start();
    if let Err(code) = leafseal::cli::cpu::require() {
        std::process::exit(code);
    }
    let args = match sops_compat::intercept(std::env::args_os().collect()) {
        sops_compat::Action::Run(args) => args,
        sops_compat::Action::Exit(code) => std::process::exit(code),
    };
    let cli = match leafseal::cli::parse(args.clone()) {
        Ok(cli) => cli,
        Err(e) => {
            leafseal::cli::usage_error(&e);
            std::process::exit(leafseal::cli::usage_code(&e, &args));
        }
    };
    std::process::exit(leafseal::cli::run(cli));
}
