//! A short run of the fuzzer (examples/fuzz) in the normal test suite: 5,000 inputs per
//! parser, none may panic; a few hundred tampered encrypted files per differential
//! target (streaming against the whole tree), on which the paths must agree; 30 per
//! write-command target (rotate, updatekeys, edit, set/unset in every format), 30 per
//! re-keying target (streamed rotate, updatekeys from a drawn policy). The long
//! campaign is described in docs/security.md.

#[path = "../examples/fuzz/engine.rs"]
#[allow(dead_code)]
mod engine;

mod support;

/// Inputs per differential target (each is decrypted two or three ways).
const STREAM_INPUTS: u64 = 200;

/// Inputs per re-keying target (streamed `rotate`, `updatekeys` from a policy): each is
/// rotated or re-keyed and its result decrypted with every identity.
const KEY_INPUTS: u64 = 30;

/// Inputs per write-command target (each is rotated, planned for `updatekeys`, edited or
/// changed by `set`/`unset`, and every written file decrypted).
const WRITE_INPUTS: u64 = 30;

fn quick(target: &str) {
    quick_n(target, 5_000);
}

fn quick_n(target: &str, inputs: u64) {
    let seeds = engine::corpus(target, &support::fixtures());
    assert!(seeds.len() >= 2, "{target}: no seeds");
    // A 2 MiB stack, as on worker threads: unbounded recursion must not hide here.
    let t = target.to_owned();
    let report = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || engine::run(&t, &seeds, inputs, 7, &mut |_| {}))
        .expect("spawn")
        .join()
        .expect("fuzz thread");
    assert_eq!(report.inputs, inputs);
    assert!(report.accepted > 0, "{target}: nothing accepted");
    assert_eq!(
        report.panics,
        0,
        "{target}: panicking inputs {:?}",
        report
            .panicking
            .iter()
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect::<Vec<_>>()
    );
}

#[test]
fn fuzz_yaml() {
    quick("yaml");
}

#[test]
fn fuzz_json() {
    quick("json");
}

#[test]
fn fuzz_toml() {
    quick("toml");
}

#[test]
fn fuzz_dotenv() {
    quick("dotenv");
}

#[test]
fn fuzz_ini() {
    quick("ini");
}

#[test]
fn fuzz_enc() {
    quick("enc");
}

#[test]
fn fuzz_metadata() {
    quick("metadata");
}

#[test]
fn fuzz_policy() {
    quick("policy");
}

#[test]
fn fuzz_stream_yaml() {
    quick_n("stream_yaml", STREAM_INPUTS);
}

#[test]
fn fuzz_stream_json() {
    quick_n("stream_json", STREAM_INPUTS);
}

#[test]
fn fuzz_splice() {
    quick_n("splice", STREAM_INPUTS);
}

#[test]
fn fuzz_write_yaml() {
    quick_n("write_yaml", WRITE_INPUTS);
}

#[test]
fn fuzz_write_json() {
    quick_n("write_json", WRITE_INPUTS);
}

#[test]
fn fuzz_write_toml() {
    quick_n("write_toml", WRITE_INPUTS);
}

#[test]
fn fuzz_write_dotenv() {
    quick_n("write_dotenv", WRITE_INPUTS);
}

#[test]
fn fuzz_write_ini() {
    quick_n("write_ini", WRITE_INPUTS);
}

#[test]
fn fuzz_write_binary() {
    quick_n("write_binary", WRITE_INPUTS);
}

#[test]
fn fuzz_rotate_yaml() {
    quick_n("rotate_yaml", KEY_INPUTS);
}

#[test]
fn fuzz_rotate_json() {
    quick_n("rotate_json", KEY_INPUTS);
}

#[test]
fn fuzz_updatekeys_policy() {
    quick_n("updatekeys_policy", KEY_INPUTS);
}
