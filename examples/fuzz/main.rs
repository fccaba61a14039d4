//! Fuzz campaign driver for leafseal's parsers and write paths (stable Rust, no
//! cargo-fuzz).
//!
//! ```text
//! cargo run --locked --profile fuzz --example fuzz -- \
//!     --target yaml|json|toml|dotenv|ini|enc|metadata|policy|stream_yaml|stream_json|splice|write_yaml|…|rotate_yaml|rotate_json|updatekeys_policy|all \
//!     --iterations 10000000 --seed 1 [--seconds N] [--fixtures fixtures] [--crashes DIR] \
//!     [--save-corpus DIR | --corpus DIR]
//! fuzz --target TARGET --replay FILE
//! ```
//!
//! The `fuzz` profile is the release profile with unwinding panics, so a panic is caught
//! and counted instead of aborting. Each target runs on a thread with a 2 MiB stack (the
//! size of Rust's worker threads), so unbounded recursion shows up as a crash. A
//! panicking input is written to the crashes directory as soon as it panicked. Exits 1
//! if any input panicked, else 0.
//!
//! The targets on encrypted files encrypt their seeds at start with a fresh data key and
//! fresh nonces, so the same `--seed` gives other inputs on another run. `--save-corpus
//! DIR` writes the seeds of the run to `DIR/TARGET/`; `--corpus DIR` reads them back
//! instead of making new ones, so that `--seed` then gives the same inputs again. A kept
//! input is self-contained (the encrypted file; every setting of its case is drawn from
//! its bytes): `--replay FILE` runs that one input with panic messages shown and prints
//! what differed.

mod engine;

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use std::time::Instant;

struct Args {
    targets: Vec<String>,
    iterations: u64,
    seed: u64,
    seconds: Option<u64>,
    fixtures: PathBuf,
    crashes: PathBuf,
    save_corpus: Option<PathBuf>,
    corpus: Option<PathBuf>,
    replay: Option<PathBuf>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: fuzz --target {}|all --iterations N [--seed S] [--seconds N] [--fixtures DIR] [--crashes DIR] [--save-corpus DIR | --corpus DIR]\n       fuzz --target TARGET --replay FILE",
        engine::targets().join("|")
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    let mut a = Args {
        targets: Vec::new(),
        iterations: 100_000,
        seed: 1,
        seconds: None,
        fixtures: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")),
        crashes: PathBuf::from("target/fuzz-crashes"),
        save_corpus: None,
        corpus: None,
        replay: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next()?;
        match flag.as_str() {
            "--target" => {
                if value == "all" {
                    a.targets = engine::targets().iter().map(|t| t.to_string()).collect();
                } else if engine::targets().contains(&value.as_str()) {
                    a.targets.push(value);
                } else {
                    return None;
                }
            }
            "--iterations" => a.iterations = value.replace('_', "").parse().ok()?,
            "--seed" => a.seed = value.parse().ok()?,
            "--seconds" => a.seconds = Some(value.parse().ok()?),
            "--fixtures" => a.fixtures = PathBuf::from(value),
            "--crashes" => a.crashes = PathBuf::from(value),
            "--save-corpus" => a.save_corpus = Some(PathBuf::from(value)),
            "--corpus" => a.corpus = Some(PathBuf::from(value)),
            "--replay" => a.replay = Some(PathBuf::from(value)),
            _ => return None,
        }
    }
    let replay_ok = a.replay.is_none() || a.targets.len() == 1;
    (!a.targets.is_empty() && replay_ok).then_some(a)
}

/// The seeds of `target`: read from a saved corpus, or made (and saved when asked).
fn seeds(target: &str, args: &Args) -> Result<Vec<Vec<u8>>, String> {
    if let Some(dir) = &args.corpus {
        let dir = dir.join(target);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        return names
            .iter()
            .map(|p| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display())))
            .collect();
    }
    let seeds = engine::corpus(target, &args.fixtures);
    if let Some(dir) = &args.save_corpus {
        let dir = dir.join(target);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (i, s) in seeds.iter().enumerate() {
            let p = dir.join(format!("{i:06}.bin"));
            std::fs::write(&p, s).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
    }
    Ok(seeds)
}

/// Runs one kept input, panic messages shown.
fn replay(target: &str, file: &Path) -> ExitCode {
    let Ok(input) = std::fs::read(file) else {
        eprintln!("cannot read {}", file.display());
        return ExitCode::from(2);
    };
    let t = target.to_owned();
    let worker = std::thread::Builder::new()
        .name(format!("replay-{t}"))
        .stack_size(2 << 20)
        .spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine::exercise(&t, &input)
            }))
        });
    match worker.map(|h| h.join()) {
        Ok(Ok(Ok(accepted))) => {
            println!(
                "target={target} replay={} panicked=no accepted={accepted}",
                file.display()
            );
            ExitCode::SUCCESS
        }
        _ => {
            println!("target={target} replay={} panicked=yes", file.display());
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        return usage();
    };
    if let (Some(file), Some(target)) = (&args.replay, args.targets.first()) {
        return replay(target, file);
    }
    // Panics are counted, not printed (the inputs are saved instead).
    std::panic::set_hook(Box::new(|_| {}));
    // One target runs at a time: the process's peak memory is this input's.
    engine::sealed::MEMORY_CHECK.store(true, std::sync::atomic::Ordering::Relaxed);
    let until = args
        .seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut failed = false;
    for target in &args.targets {
        let seeds = match seeds(target, &args) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{target}: {e}");
                return ExitCode::from(2);
            }
        };
        let (t, seed) = (target.clone(), args.seed);
        let limits = engine::Limits {
            iterations: args.iterations,
            seed,
            until,
        };
        let crashes = args.crashes.clone();
        let start = Instant::now();
        let worker = std::thread::Builder::new()
            .name(format!("fuzz-{t}"))
            .stack_size(2 << 20)
            .spawn(move || {
                let mut n = 0usize;
                let mut keep = |input: &[u8]| {
                    let _ = std::fs::create_dir_all(&crashes);
                    let p = crashes.join(format!("{t}-{seed}-{n}.bin"));
                    n += 1;
                    if std::fs::write(&p, input).is_ok() {
                        println!("  panicking input saved: {}", p.display());
                        println!(
                            "  replay: target/fuzz/examples/fuzz --target {t} --replay {}",
                            p.display()
                        );
                    }
                };
                engine::run_with(
                    &t,
                    &seeds,
                    limits,
                    &mut |r| {
                        eprintln!(
                            "  {t}: {} inputs, {} accepted, {} panics, {:.0} s",
                            r.inputs,
                            r.accepted,
                            r.panics,
                            start.elapsed().as_secs_f64()
                        );
                    },
                    &mut keep,
                )
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
        failed |= report.panics > 0;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
