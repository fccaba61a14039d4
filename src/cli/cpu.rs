//! The processor features the binary was compiled to rely on.
//!
//! `.cargo/config.toml` builds for x86-64 with AES-NI and PCLMULQDQ, so that the value
//! cipher's hardware paths are inlined rather than chosen per call. Such a binary would
//! die on `SIGILL` in the middle of a command on a processor without them; instead it
//! checks the processor (one `cpuid`: 3.6 µs on this project's virtual machine, where it
//! traps to the hypervisor) before anything else and
//! stops with an error that says how to build a binary for that processor.

/// A feature the binary was compiled with: its name and its bit in `cpuid` leaf 1's
/// `ecx`.
#[cfg(target_arch = "x86_64")]
const COMPILED_IN: &[(&str, u32, bool)] = &[
    ("aes", 25, cfg!(target_feature = "aes")),
    ("pclmulqdq", 1, cfg!(target_feature = "pclmulqdq")),
];

/// The features the binary was compiled with that a processor whose `cpuid` leaf 1
/// reports `ecx` does not have.
#[cfg(target_arch = "x86_64")]
fn missing_in(ecx: u32) -> Vec<&'static str> {
    COMPILED_IN
        .iter()
        .filter(|&&(_, bit, compiled)| compiled && ecx & (1 << bit) == 0)
        .map(|&(name, _, _)| name)
        .collect()
}

/// The features this binary needs that this processor lacks (none on other
/// architectures, or when built without the repository's flags).
pub fn missing() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        if !COMPILED_IN.iter().any(|&(_, _, compiled)| compiled) {
            return Vec::new();
        }
        missing_in(std::arch::x86_64::__cpuid(1).ecx)
    }
    #[cfg(not(target_arch = "x86_64"))]
    Vec::new()
}

/// Checks the processor; on one that lacks a compiled-in feature, prints why and what
/// to do, and returns the exit code (1).
pub fn require() -> Result<(), i32> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    say!(
        "leafseal: error: this leafseal binary was built for x86-64 processors with {} \
         (the repository's .cargo/config.toml asks for them, for faster AES-GCM), and this \
         processor does not have them; nothing was read or written.\n  hint: build a \
         binary for this processor without those flags: RUSTFLAGS=\"\" cargo install \
         --locked --path .",
        missing.join(" and ")
    );
    Err(crate::error::exit::GENERIC)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn a_processor_without_the_features_is_named_with_what_it_lacks() {
        let aes = 1 << 25;
        let clmul = 1 << 1;
        let expect = |names: &[&'static str]| {
            COMPILED_IN
                .iter()
                .filter(|f| f.2 && names.contains(&f.0))
                .map(|f| f.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(missing_in(aes | clmul), Vec::<&str>::new());
        assert_eq!(missing_in(u32::MAX), Vec::<&str>::new());
        assert_eq!(missing_in(0), expect(&["aes", "pclmulqdq"]));
        assert_eq!(missing_in(clmul), expect(&["aes"]));
        assert_eq!(missing_in(aes), expect(&["pclmulqdq"]));
    }

    /// The repository's `.cargo/config.toml` is in force: the binary, the tests and the
    /// benchmarks are built with AES-NI and PCLMULQDQ (building with `RUSTFLAGS` set
    /// replaces it, and fails this test on purpose: the figures in docs/performance.md
    /// are for this build).
    #[test]
    fn built_with_the_repository_s_processor_features() {
        let compiled: Vec<&str> = COMPILED_IN.iter().filter(|f| f.2).map(|f| f.0).collect();
        assert_eq!(
            compiled,
            ["aes", "pclmulqdq"],
            "built without .cargo/config.toml's flags"
        );
        assert_eq!(
            missing(),
            Vec::<&str>::new(),
            "this machine lacks a feature"
        );
    }
}
