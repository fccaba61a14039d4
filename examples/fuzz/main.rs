//! Fuzz campaign driver for leafseal's parsers (stable Rust, no cargo-fuzz).
//!
//! ```text
//! cargo run --locked --profile fuzz --example fuzz -- \
//!     --target yaml|json|toml|dotenv|ini|enc|metadata|policy|stream_yaml|stream_json|splice|all \
//!     --iterations 10000000 --seed 1 [--fixtures fixtures] [--crashes DIR]
//! ```
//!
//! The `fuzz` profile is the release profile with unwinding panics, so a panic is caught
//! and counted instead of aborting. Each target runs on a thread with a 2 MiB stack (the
//! size of Rust's worker threads), so unbounded recursion shows up as a crash. Exits 1
//! if any input panicked (the inputs are written to the crashes directory), else 0.

mod engine;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    targets: Vec<String>,
    iterations: u64,
    seed: u64,
    fixtures: PathBuf,
    crashes: PathBuf,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: fuzz --target {}|all --iterations N [--seed S] [--fixtures DIR] [--crashes DIR]",
        engine::TARGETS.join("|")
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    let mut a = Args {
        targets: Vec::new(),
        iterations: 100_000,
        seed: 1,
        fixtures: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")),
        crashes: PathBuf::from("target/fuzz-crashes"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next()?;
        match flag.as_str() {
            "--target" => {
                if value == "all" {
                    a.targets = engine::TARGETS.iter().map(|t| t.to_string()).collect();
                } else if engine::TARGETS.contains(&value.as_str()) {
                    a.targets.push(value);
                } else {
                    return None;
                }
            }
            "--iterations" => a.iterations = value.replace('_', "").parse().ok()?,
            "--seed" => a.seed = value.parse().ok()?,
            "--fixtures" => a.fixtures = PathBuf::from(value),
            "--crashes" => a.crashes = PathBuf::from(value),
            _ => return None,
        }
    }
    (!a.targets.is_empty()).then_some(a)
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        return usage();
    };
    // Panics are counted, not printed (the inputs are saved instead).
    std::panic::set_hook(Box::new(|_| {}));
    // One target runs at a time: the process's peak memory is this input's.
    engine::sealed::MEMORY_CHECK.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut failed = false;
    for target in &args.targets {
        let seeds = engine::corpus(target, &args.fixtures);
        let (t, iterations, seed) = (target.clone(), args.iterations, args.seed);
        let start = Instant::now();
        let worker = std::thread::Builder::new()
            .name(format!("fuzz-{t}"))
            .stack_size(2 << 20)
            .spawn(move || {
                engine::run(&t, &seeds, iterations, seed, &mut |r| {
                    eprintln!(
                        "  {t}: {} inputs, {} accepted, {} panics, {:.0} s",
                        r.inputs,
                        r.accepted,
                        r.panics,
                        start.elapsed().as_secs_f64()
                    );
                })
            });
        let report = match worker.map(|h| h.join()) {
            Ok(Ok(r)) => r,
            _ => {
                eprintln!("{target}: the fuzz thread failed");
                return ExitCode::from(1);
            }
        };
        let secs = start.elapsed().as_secs_f64();
        let notes = engine::sealed::MESSAGE_NOTES.swap(0, std::sync::atomic::Ordering::Relaxed);
        let streamed = engine::sealed::STREAMED.swap(0, std::sync::atomic::Ordering::Relaxed);
        println!(
            "target={target} seed={} inputs={} accepted={} panics={} streamed={streamed} message_notes={notes} seconds={secs:.1} rate={:.0}/s",
            args.seed,
            report.inputs,
            report.accepted,
            report.panics,
            report.inputs as f64 / secs.max(1e-9)
        );
        if report.panics > 0 {
            failed = true;
            let _ = std::fs::create_dir_all(&args.crashes);
            for (i, input) in report.panicking.iter().enumerate() {
                let p = args.crashes.join(format!("{target}-{}-{i}.bin", args.seed));
                if std::fs::write(&p, input).is_ok() {
                    println!("  panicking input saved: {}", p.display());
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
