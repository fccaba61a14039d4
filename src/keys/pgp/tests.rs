//! Tests of the PGP key source with a temporary GnuPG home and the sops test keys.
#![allow(clippy::disallowed_macros)] // test output

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

use super::*;

const FP1: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sops")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

fn gpg_available() -> bool {
    let ok = Command::new("gpg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("gpg not installed: skipping");
    }
    ok
}

/// A temporary GNUPGHOME (and HOME); stops its gpg-agent on drop.
struct GnupgHome {
    dir: tempfile::TempDir,
}

impl GnupgHome {
    fn new(import: bool) -> GnupgHome {
        let dir = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let home = GnupgHome { dir };
        if import {
            let out = Command::new("gpg")
                .args(["--batch", "--import"])
                .arg(fixture("keys/sops_functional_tests_key.asc"))
                .env("GNUPGHOME", home.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "gpg --import failed");
        }
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ctx(&self, extra: &[(&str, &str)]) -> KeyContext {
        let mut vars = HashMap::new();
        vars.insert("GNUPGHOME".to_owned(), self.path().display().to_string());
        vars.insert("HOME".to_owned(), self.path().display().to_string());
        if let Ok(p) = std::env::var("PATH") {
            vars.insert("PATH".to_owned(), p);
        }
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        KeyContext::with_vars(vars)
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.path())
            .output();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn data_key_hex(rel: &str) -> String {
    let json = read(rel);
    let at = json.find("\"data_key_hex\": \"").unwrap() + "\"data_key_hex\": \"".len();
    json[at..at + 64].to_owned()
}

/// The `enc: |-` block of the (single) pgp entry of a sops YAML file, by string scan.
fn yaml_pgp_enc(yaml: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with("enc: |"))
        .unwrap()
        + 1;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut out = Vec::new();
    for l in &lines[start..] {
        if !l.trim().is_empty() && l.len() - l.trim_start().len() < indent {
            break;
        }
        out.push(l.get(indent..).unwrap_or(""));
    }
    out.join("\n")
}

/// The `"enc": "…"` string of a sops JSON file, with `\n` escapes decoded.
fn json_enc(json: &str) -> String {
    let at = json.find("\"enc\": \"").unwrap() + "\"enc\": \"".len();
    let end = at + json[at..].find('"').unwrap();
    json[at..end].replace("\\n", "\n")
}

#[test]
fn unwraps_sops_yaml_and_json_fixtures() {
    if !gpg_available() {
        return;
    }
    let home = GnupgHome::new(true);
    let ctx = home.ctx(&[]);
    let key = PgpKey::parse(FP1).unwrap();

    let enc = yaml_pgp_enc(&read("yaml/format.enc.yaml"));
    assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n\n"));
    assert!(enc.ends_with("-----END PGP MESSAGE-----"));
    let dk = key.unwrap(&enc, &ctx).unwrap();
    assert_eq!(
        hex(&dk),
        data_key_hex("expected/format.enc.yaml.leaves.json")
    );

    let enc = json_enc(&read("json/format.enc.json"));
    let dk = key.unwrap(&enc, &ctx).unwrap();
    assert_eq!(
        hex(&dk),
        data_key_hex("expected/format.enc.json.leaves.json")
    );
}

#[test]
fn wrap_unwrap_round_trip() {
    if !gpg_available() {
        return;
    }
    let home = GnupgHome::new(true);
    let ctx = home.ctx(&[]);
    // The primary key, spaced and lower case; and its encryption subkey with GnuPG's
    // exact-key marker `!` (the primary key itself cannot encrypt).
    for fp in [
        "fbc7 b9e2 a4f9 289a c0c1  d484 3d16 cee4 a273 81b4",
        "71D962851765394F76DB9CFC25294A17CD90507F!",
    ] {
        let key = PgpKey::parse(fp).unwrap();
        let secret: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37)).collect();
        let enc = key.wrap(&secret, &ctx).unwrap();
        assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n"), "{enc}");
        assert!(enc.ends_with("\n-----END PGP MESSAGE-----"), "{enc}");
        assert!(!enc.ends_with('\n'));
        assert_eq!(
            key.unwrap(&enc, &ctx).unwrap().as_slice(),
            secret.as_slice()
        );
        // With the trailing newline older sops versions wrote, too.
        let with_nl = format!("{enc}\n");
        assert_eq!(
            key.unwrap(&with_nl, &ctx).unwrap().as_slice(),
            secret.as_slice()
        );
    }
}

#[test]
fn empty_keyring_gives_a_clear_error() {
    if !gpg_available() {
        return;
    }
    let home = GnupgHome::new(false);
    let ctx = home.ctx(&[]);
    let key = PgpKey::parse(FP1).unwrap();
    let enc = yaml_pgp_enc(&read("yaml/format.enc.yaml"));
    let err = key.unwrap(&enc, &ctx).unwrap_err();
    assert!(
        err.message.starts_with(&format!(
            "cannot decrypt the PGP data key for {FP1}: `gpg` failed (exit status: 2): gpg:"
        )),
        "{err}"
    );
    assert!(
        err.message.contains("No secret key") || err.message.contains("no secret key"),
        "{err}"
    );
    assert!(err.hint.as_deref().unwrap().contains("GNUPGHOME"), "{err}");

    let err = key.wrap(&[1; 32], &ctx).unwrap_err();
    assert!(
        err.message
            .starts_with(&format!("PGP encryption to {FP1} failed: `gpg` failed")),
        "{err}"
    );
    assert!(err.hint.as_deref().unwrap().contains("public key"), "{err}");
}

#[test]
fn missing_gpg_binary_gives_a_clear_error() {
    let home = GnupgHome::new(false);
    let ctx = home.ctx(&[("SOPS_GPG_EXEC", "/nonexistent/gpg2")]);
    let key = PgpKey::parse(FP1).unwrap();
    let err = key.unwrap("x", &ctx).unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "cannot decrypt the PGP data key for {FP1}: could not run `/nonexistent/gpg2` (from SOPS_GPG_EXEC): program not found"
        )
    );
    let err = key.wrap(&[1; 32], &ctx).unwrap_err();
    assert!(
        err.message
            .contains("could not run `/nonexistent/gpg2` (from SOPS_GPG_EXEC)"),
        "{err}"
    );
}

#[test]
fn parse_normalises_fingerprints() {
    let k = PgpKey::parse(" fbc7 b9e2 a4f9 289a c0c1 d484 3d16 cee4 a273 81b4 ").unwrap();
    assert_eq!(k.id(), FP1);
    assert_eq!(k.kind(), KeyKind::Pgp);
    assert!(k.has_created_at());
    assert_eq!(
        PgpKey::parse(&format!("{FP1}!")).unwrap().id(),
        format!("{FP1}!")
    );
    for bad in ["", "!", "XYZ12345", "1234", "FBC7B9E2!!", "FBC7B9E2-A4F9"] {
        assert!(PgpKey::parse(bad).is_err(), "{bad}");
    }
    // Short key IDs (fewer than 16 digits) are refused as sops 3.11 refuses them: they
    // can be forged. Long key IDs are accepted.
    for short in [
        "A27381B4",
        "0xA27381B4",
        "a27381b4",
        "A27381B4!",
        "CEE4A27381B4",
    ] {
        let e = PgpKey::parse(short).expect_err(short);
        assert!(e.to_string().contains("short key ID"), "{short}: {e}");
    }
    assert!(PgpKey::parse("3D16CEE4A27381B4").is_ok());
    assert!(PgpKey::parse("0x3D16CEE4A27381B4!").is_ok());
    // Read from a file, any `fp` is kept (sops reads it; gpg decrypts without it).
    let mut short = KeyFields::new();
    short.push("fp", FieldValue::str("A27381B4"));
    assert!(PgpKey::from_fields(&short).is_ok());
    let mut entry = KeyFields::new();
    entry.push("created_at", FieldValue::str("2026-05-22T20:16:20Z"));
    entry.push("enc", FieldValue::str("x"));
    entry.push("fp", FieldValue::str(FP1));
    let k = PgpKey::from_fields(&entry).unwrap();
    let out = k.fields();
    assert_eq!(out.iter().count(), 1);
    assert_eq!(out.get("fp").and_then(FieldValue::as_str), Some(FP1));
    assert!(PgpKey::from_fields(&KeyFields::new()).is_err());
}

/// sops writes `fp` as the user gave it (`0x…`, lower case; spaces removed) and reads
/// any text there: the text is kept for writing and for gpg, and keys are compared by
/// the normalised fingerprint.
#[test]
fn fingerprint_text_is_kept_as_sops_writes_it() {
    let lower = FP1.to_ascii_lowercase();
    for (given, written) in [
        (format!("0x{FP1}"), format!("0x{FP1}")),
        (format!("0x{lower}"), format!("0x{lower}")),
        (lower.clone(), lower.clone()),
        (
            "0x3D16CEE4A27381B4".to_owned(),
            "0x3D16CEE4A27381B4".to_owned(),
        ),
        (format!("0x{} {}", &FP1[..4], &FP1[4..]), format!("0x{FP1}")),
    ] {
        let k = PgpKey::parse(&given).unwrap();
        assert_eq!(
            k.fields().get("fp").and_then(FieldValue::as_str),
            Some(written.as_str()),
            "{given}"
        );
        assert_eq!(
            k.id(),
            written.trim_start_matches("0x").to_ascii_uppercase()
        );
    }
    for bad in [
        "0x",
        "0X3D16CEE4A27381B4",
        "0x0x3D16CEE4A27381B4",
        "x3D16CEE4A27381B4",
    ] {
        assert!(PgpKey::parse(bad).is_err(), "{bad}");
    }
    for text in [
        format!("0x{lower}"),
        "not a fingerprint\u{1b}[31m".to_owned(),
        String::new(),
    ] {
        let mut entry = KeyFields::new();
        entry.push("fp", FieldValue::str(&text));
        let k = PgpKey::from_fields(&entry).unwrap();
        assert_eq!(
            k.fields().get("fp").and_then(FieldValue::as_str),
            Some(text.as_str())
        );
        assert!(!k.display_id().contains('\u{1b}'));
    }
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(s in ".*") {
        if let Ok(k) = PgpKey::parse(&s) {
            proptest::prop_assert!(!k.id().is_empty());
        }
    }
}

/// A stand-in for gpg that records how many copies of it run at once (in `counts`), then
/// fails like gpg without the secret key.
const FAKE_GPG: &str = r#"#!/bin/sh
cat >/dev/null
touch "$FAKE_GPG_DIR/run.$$"
ls "$FAKE_GPG_DIR" | grep -c '^run\.' >> "$FAKE_GPG_DIR/counts"
sleep 0.3
rm -f "$FAKE_GPG_DIR/run.$$"
echo "gpg: decryption failed: No secret key" >&2
exit 2
"#;

#[test]
fn concurrent_gpg_processes_are_bounded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("fake-gpg");
    std::fs::write(&bin, FAKE_GPG).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    let mut vars = HashMap::new();
    vars.insert("SOPS_GPG_EXEC".to_owned(), bin.display().to_string());
    vars.insert("FAKE_GPG_DIR".to_owned(), runs.display().to_string());
    vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    vars.insert(MAX_GPG_VAR.to_owned(), "2".to_owned());
    let ctx = KeyContext::with_vars(vars);
    let key = PgpKey::parse(FP1).unwrap();
    std::thread::scope(|s| {
        for _ in 0..10 {
            s.spawn(|| {
                let e = key.unwrap("-----BEGIN PGP MESSAGE-----", &ctx).unwrap_err();
                assert!(e.message.contains("No secret key"), "{}", e.message);
            });
        }
    });
    let counts = std::fs::read_to_string(runs.join("counts")).unwrap();
    let seen: Vec<usize> = counts.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(seen.len(), 10, "{counts}");
    assert!(seen.iter().all(|&n| (1..=2).contains(&n)), "{seen:?}");
}

/// Before round 25 the wait for a free gpg slot had no bound: under a key services'
/// deadline of 0.3 s, a decryption whose slot another file's gpg held for 3 s waited
/// those 3 s, and only then failed on the deadline.
#[test]
fn the_wait_for_a_gpg_slot_ends_at_the_deadline() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("slow-gpg");
    let started = dir.path().join("started");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\ncat >/dev/null\n: > '{}'\nsleep 3\necho 'gpg: decryption failed: No secret key' >&2\nexit 2\n",
            started.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut vars = HashMap::new();
    vars.insert("SOPS_GPG_EXEC".to_owned(), bin.display().to_string());
    vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    vars.insert(MAX_GPG_VAR.to_owned(), "1".to_owned());
    let ctx = KeyContext::with_vars(vars);
    let key = PgpKey::parse(FP1).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let e = key.unwrap("-----BEGIN PGP MESSAGE-----", &ctx).unwrap_err();
            assert!(e.message.contains("No secret key"), "{}", e.message);
        });
        let begun = Instant::now();
        while !started.exists() {
            assert!(
                begun.elapsed() < Duration::from_secs(20),
                "gpg never started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let _deadline = crate::keys::deadline::scope_for_test(Duration::from_millis(300));
        let waited = Instant::now();
        let e = key.unwrap("-----BEGIN PGP MESSAGE-----", &ctx).unwrap_err();
        let took = waited.elapsed();
        assert!(e.message.contains("deadline"), "{}", e.message);
        assert!(
            took < Duration::from_millis(1500),
            "waited {took:?} for a gpg slot"
        );
    });
}
