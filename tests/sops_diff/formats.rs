//! (1) sops encrypts → leafseal decrypts and the reverse, every format and selector,
//! with byte-identical `decrypt` output; (3) layout parity of the encrypted files.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::same_layout;
use crate::inputs;
use crate::support::AGE_RECIPIENT;

/// Encrypts `name` with both tools (same arguments; with a policy text, through
/// `--config` and no key flag), cross-decrypts all four ways and compares the layouts.
pub fn cross_case(p: &Peer, name: &str, policy: Option<&str>, label: &str) -> Result<(), String> {
    let cfg = format!("policy-{label}.yaml");
    let mut args = Vec::new();
    match policy {
        Some(text) => {
            p.write(&cfg, text);
            args.extend(["--config", cfg.as_str(), "encrypt"]);
        }
        None => args.extend(["encrypt", "--age", AGE_RECIPIENT]),
    }
    args.push(name);
    let s = p.run(Tool::Sops, &args);
    let l = p.run(Tool::Leafseal, &args);
    if !s.ok() || !l.ok() {
        if s.ok() != l.ok() || s.code != l.code {
            return Err(format!(
                "{label}: encrypt: sops exit {} ({}), leafseal exit {} ({})",
                s.code,
                s.stderr.trim(),
                l.code,
                l.stderr.trim()
            ));
        }
        return Err(format!(
            "{label}: both tools refuse to encrypt {name} (exit {}): {}",
            s.code,
            s.stderr.trim()
        ));
    }
    let (sname, lname) = (
        format!("sops-{label}-{name}"),
        format!("leafseal-{label}-{name}"),
    );
    p.write(&sname, &s.stdout);
    p.write(&lname, &l.stdout);
    let from_sops = p
        .decrypt_both(&sname, &[])
        .map_err(|e| format!("{label}: {e}"))?;
    let from_leafseal = p
        .decrypt_both(&lname, &[])
        .map_err(|e| format!("{label}: {e}"))?;
    if from_sops != from_leafseal {
        return Err(format!(
            "{label}: the decrypted file sops wrote differs from the one leafseal wrote"
        ));
    }
    same_layout(
        label,
        &String::from_utf8_lossy(&l.stdout),
        &String::from_utf8_lossy(&s.stdout),
    )
}

#[test]
fn every_format_both_ways_and_same_layout() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (name, text) in inputs::INPUTS {
        p.write(name, text);
        cases += 1;
        if let Err(e) = cross_case(&p, name, None, name) {
            diffs.push(e);
        }
    }
    p.write("deep.yaml", inputs::deep_yaml(40));
    cases += 1;
    if let Err(e) = cross_case(&p, "deep.yaml", None, "deep") {
        diffs.push(e);
    }
    for indent in ["2", "4"] {
        for (name, store) in [("comments.yaml", "yaml"), ("values.json", "json")] {
            cases += 1;
            let policy = inputs::policy("", &format!("  {store}:\n    indent: {indent}"));
            let label = format!("indent{indent}-{store}");
            if let Err(e) = cross_case(&p, name, Some(&policy), &label) {
                diffs.push(e);
            }
        }
    }
    // `stores.yaml.indent: 0` is not set for sops 3.11 (4 spaces); leafseal wrote 2
    // (round 20, F11). 1 gives go-yaml's 2, 3 is taken as it is.
    for indent in ["0", "1", "3"] {
        cases += 1;
        let policy = inputs::policy("", &format!("  yaml:\n    indent: {indent}"));
        let label = format!("indent{indent}-yaml");
        if let Err(e) = cross_case(&p, "comments.yaml", Some(&policy), &label) {
            diffs.push(e);
        }
    }
    assert_no_differences("formats", cases, &diffs);
}

#[test]
fn every_partial_encryption_setting() {
    let Some(p) = Peer::new(None) else { return };
    let files = [
        ("sel.yaml", inputs::SELECTOR_YAML),
        ("sel.json", inputs::SELECTOR_JSON),
        ("sel.env", inputs::SELECTOR_ENV),
        ("sel.ini", inputs::SELECTOR_INI),
    ];
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (name, text) in files {
        p.write(name, text);
        for (label, rule) in inputs::SELECTORS {
            cases += 1;
            let policy = inputs::policy(rule, "");
            if let Err(e) = cross_case(&p, name, Some(&policy), label) {
                diffs.push(e);
            }
        }
    }
    assert_no_differences("partial encryption", cases, &diffs);
}

#[test]
fn binary_files_both_ways() {
    let Some(p) = Peer::new(None) else { return };
    let mut blob: Vec<u8> = (0..=255u8).collect();
    blob.extend_from_slice(b"\xff\xfe not utf-8 \x00 end");
    p.write("blob.bin", &blob);
    p.write("text.txt", "just some text\nwith two lines\n");
    p.write("empty.bin", "");
    let mut diffs = Vec::new();
    let mut cases = 0;
    for name in ["blob.bin", "text.txt", "empty.bin"] {
        cases += 1;
        if let Err(e) = cross_case(&p, name, None, "binary") {
            diffs.push(e);
            continue;
        }
        let out = p.ok(Tool::Leafseal, &["decrypt", &format!("sops-binary-{name}")]);
        assert_eq!(out, p.read(name), "{name}: binary round trip");
    }
    assert_no_differences("binary", cases, &diffs);
}

/// Deliberate difference: leafseal (like sops 3.13.2) keeps JSON integers as integers,
/// sops 3.11 turns every JSON number into a float: integers above
/// 2^53 lose precision in files sops 3.11 writes. Each tool still decrypts the other's
/// files to the same bytes.
#[test]
fn deliberate_json_integers_stay_exact() {
    let Some(p) = Peer::new(None) else { return };
    p.write(
        "ints.json",
        "{\"big\": 9007199254740993, \"negzero\": -0}\n",
    );
    let s = p.ok(
        Tool::Sops,
        &["encrypt", "--age", AGE_RECIPIENT, "ints.json"],
    );
    let l = p.ok(
        Tool::Leafseal,
        &["encrypt", "--age", AGE_RECIPIENT, "ints.json"],
    );
    p.write("s-ints.json", s);
    p.write("l-ints.json", l);
    let from_sops = p.decrypt_both("s-ints.json", &[]).expect("sops file");
    let from_leafseal = p.decrypt_both("l-ints.json", &[]).expect("leafseal file");
    let from_sops = String::from_utf8_lossy(&from_sops);
    let from_leafseal = String::from_utf8_lossy(&from_leafseal);
    assert!(
        from_sops.contains("9007199254740992") && from_sops.contains("-0"),
        "{from_sops}"
    );
    assert!(
        // `-0` is the float negative zero since round 16, as in sops 3.11 (an integer
        // would lose the sign, and a clear `-0` its MAC).
        from_leafseal.contains("9007199254740993") && from_leafseal.contains("\"negzero\": -0"),
        "{from_leafseal}"
    );
}

/// Deliberate difference (the same as above): a JSON integer left in clear is a float
/// for sops 3.11, so converting it to dotenv prints `0.0`; leafseal (and sops 3.13.2)
/// print `0`. Values sops encrypted keep sops's float type and convert alike (found by
/// the generated differential, `generated.rs`).
#[test]
fn deliberate_clear_json_integers_convert_as_integers() {
    let Some(p) = Peer::new(None) else { return };
    p.write("clear.json", "{\"n_unencrypted\": 0, \"e\": 1234567}\n");
    let enc = p.ok(
        Tool::Sops,
        &["encrypt", "--age", AGE_RECIPIENT, "clear.json"],
    );
    p.write("clear.enc.json", enc);
    let args = ["decrypt", "--output-type", "dotenv", "clear.enc.json"];
    let (s, l) = (p.ok(Tool::Sops, &args), p.ok(Tool::Leafseal, &args));
    assert_eq!(
        String::from_utf8_lossy(&s),
        "n_unencrypted=0.0\ne=1.234567E+06\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&l),
        "n_unencrypted=0\ne=1.234567E+06\n"
    );
}

/// Deliberate difference: a number that a 64-bit integer or float cannot hold exactly
/// (an integer beyond 64 bits, more digits than a double keeps, `1e-400`) is refused by
/// leafseal with its path (exit 2); sops accepts it and silently changes the value.
#[test]
fn deliberate_inexact_numbers_are_refused_not_changed() {
    let Some(p) = Peer::new(None) else { return };
    for (name, text, path) in [
        (
            "big.yaml",
            "big: 123456789012345678901234567890\n",
            r#"["big"]"#,
        ),
        (
            "big.json",
            "{\"big\": 12345678901234567890}\n",
            r#"["big"]"#,
        ),
        ("digits.json", "{\"e\": 123456789.123456789}\n", r#"["e"]"#),
        ("tiny.yaml", "t: 1e-400\n", r#"["t"]"#),
    ] {
        p.write(name, text);
        p.ok(Tool::Sops, &["encrypt", "--age", AGE_RECIPIENT, name]);
        let o = p.run(Tool::Leafseal, &["encrypt", "--age", AGE_RECIPIENT, name]);
        assert_eq!(o.code, 2, "{name}: {}", o.stderr);
        assert!(
            o.stderr.contains("cannot be kept exactly") && o.stderr.contains(path),
            "{name}: {}",
            o.stderr
        );
        assert!(o.stdout.is_empty(), "{name}");
    }
    // The same for a value given to `set` (sops writes 1.2345678901234567e+19).
    p.write("s.yaml", "a: 1\n");
    let enc = p.ok(
        Tool::Leafseal,
        &["encrypt", "--age", AGE_RECIPIENT, "s.yaml"],
    );
    p.write("s.yaml", enc);
    let o = p.run(
        Tool::Leafseal,
        &["set", "s.yaml", r#"["a"]"#, "12345678901234567890"],
    );
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(o.stderr.contains("cannot be kept exactly"), "{}", o.stderr);
}

/// Deliberate difference: leafseal reads a `%YAML 1.2` directive, sops 3.11 refuses
/// the file (exit 2); what leafseal writes has no directive and sops reads it.
#[test]
fn deliberate_yaml_directive_accepted() {
    let Some(p) = Peer::new(None) else { return };
    p.write("d.yaml", "%YAML 1.2\n---\na: 1\n");
    let s = p.run(Tool::Sops, &["encrypt", "--age", AGE_RECIPIENT, "d.yaml"]);
    assert_eq!(s.code, 2, "{}", s.stderr);
    let l = p.ok(
        Tool::Leafseal,
        &["encrypt", "--age", AGE_RECIPIENT, "d.yaml"],
    );
    p.write("l-d.yaml", l);
    assert_eq!(
        p.decrypt_both("l-d.yaml", &[]).expect("both read it"),
        b"a: 1\n"
    );
}

/// Deliberate difference: `decrypt -` reads standard input; sops 3.11 looks for a file
/// named `-` (exit 100).
#[test]
fn deliberate_decrypt_dash_reads_stdin() {
    let Some(p) = Peer::new(None) else { return };
    p.write("plain.yaml", "a: 1\n");
    let enc = p.ok(
        Tool::Sops,
        &["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"],
    );
    let s = p.run_with(Tool::Sops, &["decrypt", "-"], &[], &[], Some(&enc));
    assert_eq!(s.code, 100, "{}", s.stderr);
    let l = p.run_with(
        Tool::Leafseal,
        &["decrypt", "--input-type", "yaml", "-"],
        &[],
        &[],
        Some(&enc),
    );
    assert!(l.ok(), "{}", l.stderr);
    assert_eq!(l.stdout, b"a: 1\n");
}

/// A negative zero left in clear in JSON: sops reads it as the float -0 (MAC text `-0`);
/// leafseal read the integer 0 and refused every such file, its own included, with a
/// MAC mismatch (exit 51) before round 16.
#[test]
fn json_negative_zero_in_clear_both_ways() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    let cases = [
        ("z1.json", "{\"a_unencrypted\": -0, \"b\": 1}\n"),
        ("z2.json", "{\"a_unencrypted\": -0.0, \"b\": -0}\n"),
        (
            "z3.json",
            "{\"a_unencrypted\": [-0, 0, -0e0], \"b\": \"x\"}\n",
        ),
    ];
    for (name, text) in cases {
        p.write(name, text);
        if let Err(e) = cross_case(&p, name, None, name) {
            diffs.push(e);
        }
    }
    assert_no_differences("JSON negative zero in clear", cases.len(), &diffs);
}

/// An INI comment block (go-ini joins the comment lines before a key, and sops strips
/// only the first line's marker) shown as YAML: go-yaml writes a later line after `# `
/// unless it starts with `#`, and keeps the `\r` of a CRLF file before the break;
/// leafseal wrote `## b` and split `\r\n` into an empty comment line before round 18.
#[test]
fn ini_comment_blocks_shown_as_yaml_as_sops_shows_them() {
    let Some(p) = Peer::new(None) else { return };
    let cases: [(&str, &[u8]); 4] = [
        ("cb1.ini", b"[sec]\n# a\n# b\nk = v\n"),
        (
            "cb2.ini",
            b"; top\n[sec]\n# c1\nk = v ; inline\n;c2\nj = w\n",
        ),
        (
            "cb3.ini",
            b"[sec]\r\n# a\r\n# b\r\n;c\r\n\r\n#d\r\nk = v\r\n",
        ),
        (
            "cb4.ini",
            b"[s]\n;;  x\n#  ## y\n;\nk = v\n[t]\n# z\n; w\nq = 1\n",
        ),
    ];
    let diffs = crate::harness::sops_files_read_alike(&p, &cases, &["yaml", "ini", "json"]);
    assert_no_differences("INI comment blocks as YAML", cases.len() * 3, &diffs);
}

/// `encrypt --output-type binary` of a YAML document with a clear timestamp: the JSON
/// envelope holds it as a string, which sops decrypts; leafseal refused its own file
/// (exit 53, its integrity record covered the timestamp) before round 20 (F10).
#[test]
fn a_binary_envelope_with_a_clear_timestamp_is_read_by_both() {
    let Some(p) = Peer::new(None) else { return };
    p.write("ts.yaml", "k_unencrypted: 2024-01-02\nv: 1\n");
    let enc = p.ok(
        Tool::Leafseal,
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--output-type",
            "binary",
            "ts.yaml",
        ],
    );
    p.write("ts.bin", &enc);
    let out = p
        .decrypt_both("ts.bin", &["--output-type", "yaml"])
        .expect("both decrypt");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "k_unencrypted: \"2024-01-02T00:00:00Z\"\nv: 1\n"
    );
}
