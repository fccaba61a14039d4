//! Generated differential against sops 3.11.0: seeded random YAML, JSON, dotenv and INI
//! documents (`generated_docs.rs`) with random partial-encryption and indent settings.
//! For each one: (1) sops encrypts, both tools decrypt to the same bytes; (2) leafseal
//! encrypts, both decrypt to the same bytes (and to what (1) gave); (3) the masked
//! layouts of the two encrypted files are equal; (4) one random `set`, `unset`,
//! `decrypt --extract` or `decrypt --output-type` gives the same exit code and bytes.
//! When sops refuses a document, leafseal must refuse it with the same exit code.
//!
//! `LEAFSEAL_GENDIFF_SEED` (decimal or `0x…`) sets the seed, `LEAFSEAL_GENDIFF_CASES` the
//! documents per format (default 15, about 60 in all); a failure names the seed, the
//! format and the case number, and shows the document and the policy.

use crate::generated_docs;
use crate::generated_docs::Doc;
use crate::generated_docs::Rng;
use crate::generated_flat;
use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::mask;
use crate::harness::same_layout;
use crate::inputs;
use crate::setvalues::same_change;

const DEFAULT_SEED: u64 = 0x1EAF_5EA1_2022;
const DEFAULT_CASES_PER_FORMAT: usize = 15;

/// Creation-rule lines: every partial-encryption setting sops 3.11 has.
const RULES: &[&str] = &[
    "",
    "",
    "unencrypted_suffix: _plain",
    "encrypted_suffix: _secret",
    "unencrypted_regex: '^pub'",
    "encrypted_regex: '^(sec|key)'",
    "mac_only_encrypted: true\n    unencrypted_suffix: _plain",
    "mac_only_encrypted: true\n    encrypted_regex: '^sec'",
    "unencrypted_comment_regex: 'sops:clear'",
    "encrypted_comment_regex: 'sops:enc'",
];
const STORES: &[&str] = &[
    "",
    "",
    "  yaml:\n    indent: 2",
    "  yaml:\n    indent: 4",
    "  yaml:\n    indent: 3",
    "  json:\n    indent: 2",
    "  json:\n    indent: 4",
    "  yaml:\n    indent: 4\n  json:\n    indent: 4",
];
/// `set` values (JSON, as both tools take them); a bare array is left out (a deliberate
/// difference: docs/compatibility.md, "Deliberate differences", `set` with an array).
const SET_VALUES: &[&str] = &[
    "\"\"",
    "\"str\"",
    "\"ünï 😀\"",
    "\"needs: quote\"",
    "1",
    "-7",
    "1.5",
    "1e3",
    "true",
    "null",
    "\"multi\\nline\"",
    "{}",
    "{\"x\": {\"y\": [1, \"z\"]}}",
];
const OUTPUT_TYPES: &[&str] = &["yaml", "json", "dotenv", "ini", "binary"];

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Runs `args` with both tools; `Err` unless the exit codes and outputs are equal.
fn same_run(p: &Peer, args: &[&str]) -> Result<(), String> {
    let s = p.run(Tool::Sops, args);
    let l = p.run(Tool::Leafseal, args);
    if s.code != l.code || s.stdout != l.stdout {
        return Err(format!(
            "{args:?}: sops exit {} ({}):\n{}\nleafseal exit {} ({}):\n{}",
            s.code,
            s.stderr.trim(),
            s.text(),
            l.code,
            l.stderr.trim(),
            l.text()
        ));
    }
    Ok(())
}

/// Whether `leafseal`'s text is `sops`'s with only whole comment lines added: sops 3.11
/// drops the comments before a list's first item when that item is a collection that
/// starts with comments of its own (`l:` / `# c` / `-` / `  # d` / `  - 1`, or `# c` /
/// `- # d` / `  a: 1`) when it writes the plaintext; leafseal prints them
/// (docs/compatibility.md, "Round 23", deliberate).
/// In an encrypted file, a comment line is `#ENC[…]` or, in a list,
/// `- ENC[…,type:comment]`.
fn sops_dropped_comment_lines_only(sops: &[u8], leafseal: &[u8]) -> bool {
    let (s, l) = (
        String::from_utf8_lossy(sops),
        String::from_utf8_lossy(leafseal),
    );
    let mut sops_lines = s.lines().peekable();
    for line in l.lines() {
        if sops_lines.peek() == Some(&line) {
            sops_lines.next();
        } else if !(line.trim_start().starts_with('#') || line.ends_with("type:comment]")) {
            return false;
        }
    }
    sops_lines.next().is_none() && s.len() < l.len()
}

/// [`Peer::decrypt_both`], but accepting the comments sops 3.11 drops
/// ([`sops_dropped_comment_lines_only`]); returns leafseal's output.
fn decrypt_alike(p: &Peer, name: &str) -> Result<Vec<u8>, String> {
    let both = p.decrypt_both(name, &[]);
    if both.is_ok() {
        return both;
    }
    let s = p.run(Tool::Sops, &["decrypt", name]);
    let l = p.run(Tool::Leafseal, &["decrypt", name]);
    if s.ok() && l.ok() && sops_dropped_comment_lines_only(&s.stdout, &l.stdout) {
        eprintln!("note: sops 3.11 drops comments leafseal prints from {name}");
        return Ok(l.stdout);
    }
    both
}

/// Steps (1) to (4) for one document written as `name`.
fn one_document(p: &Peer, rng: &mut Rng, doc: &Doc, name: &str, ext: &str) -> Result<(), String> {
    let policy = inputs::policy(rng.pick(RULES), rng.pick(STORES));
    p.write("gen-policy.yaml", &policy);
    p.write(name, &doc.text);
    let args = ["--config", "gen-policy.yaml", "encrypt", name];
    let s = p.run(Tool::Sops, &args);
    let l = p.run(Tool::Leafseal, &args);
    if !s.ok() || !l.ok() {
        if s.code == l.code {
            return Ok(()); // both refuse alike
        }
        // Under a comment rule leafseal refuses (exit 4) a file whose comments would
        // not stay next to their values once written; sops writes it, and must then be
        // unable to read it back (docs/compatibility.md, "Round 22: the generated
        // differential").
        if s.ok() && l.code == 4 && policy.contains("comment_regex") {
            p.write(&format!("sops-{name}"), &s.stdout);
            let back = p.run(Tool::Sops, &["decrypt", &format!("sops-{name}")]);
            if !back.ok() {
                return Ok(());
            }
        }
        return Err(format!(
            "encrypt: sops exit {} ({}), leafseal exit {} ({})\npolicy:\n{policy}",
            s.code,
            s.stderr.trim(),
            l.code,
            l.stderr.trim()
        ));
    }
    let (sname, lname) = (format!("sops-{name}"), format!("leafseal-{name}"));
    p.write(&sname, &s.stdout);
    p.write(&lname, &l.stdout);
    let with_policy = |e: String| format!("{e}\npolicy:\n{policy}");
    let sops_reads_its_file = p.run(Tool::Sops, &["decrypt", &sname]);
    let leafseal_file = decrypt_alike(p, &lname);
    if !sops_reads_its_file.ok() {
        // sops wrote a file it cannot read back itself (docs/compatibility.md, "Round
        // 22: the generated differential", files sops 3.11 cannot read back): leafseal
        // must refuse it alike, or, for sops's MAC failure (exit 51) under a comment
        // regex, read it; and it must read what it wrote itself unless both tools
        // refuse that file as they refuse sops's.
        let l = p.run(Tool::Leafseal, &["decrypt", &sname]);
        let sops_mac_defect =
            policy.contains("comment_regex") && sops_reads_its_file.code == 51 && l.ok();
        let on_leafseal_file =
            [Tool::Sops, Tool::Leafseal].map(|t| p.run(t, &["decrypt", &lname]).code);
        let shared = on_leafseal_file == [sops_reads_its_file.code; 2]
            || (sops_mac_defect && on_leafseal_file == [51, 0]);
        if leafseal_file.is_err() && !shared {
            return leafseal_file.map(|_| ()).map_err(with_policy);
        }
        if l.code != sops_reads_its_file.code && !sops_mac_defect {
            return Err(with_policy(format!(
                "sops cannot read the file it wrote (exit {}: {}); leafseal exit {} ({})",
                sops_reads_its_file.code,
                sops_reads_its_file.stderr.trim(),
                l.code,
                l.stderr.trim()
            )));
        }
        eprintln!(
            "note: sops 3.11 cannot read the file it wrote for {name} (exit {}); both \
             refuse it alike{}",
            l.code,
            if shared {
                ", and leafseal's file too"
            } else {
                ""
            }
        );
        return Ok(());
    }
    let from_leafseal = leafseal_file.map_err(with_policy)?;
    let from_sops = decrypt_alike(p, &sname).map_err(with_policy)?;
    // sops 3.11 drops such comments when it reads the plaintext too, so its file holds
    // fewer of them ([`sops_dropped_comment_lines_only`]).
    let dropped_by_sops = from_sops != from_leafseal
        && sops_dropped_comment_lines_only(&from_sops, &from_leafseal)
        && sops_dropped_comment_lines_only(
            mask(&String::from_utf8_lossy(&s.stdout)).data.as_bytes(),
            mask(&String::from_utf8_lossy(&l.stdout)).data.as_bytes(),
        );
    if dropped_by_sops {
        eprintln!("note: sops 3.11 dropped comments of {name} that leafseal keeps");
        return Ok(());
    }
    if from_sops != from_leafseal {
        return Err(with_policy(format!(
            "the file sops wrote decrypts to\n{}\nthe file leafseal wrote to\n{}",
            String::from_utf8_lossy(&from_sops),
            String::from_utf8_lossy(&from_leafseal)
        )));
    }
    same_layout(
        "encrypt",
        &String::from_utf8_lossy(&l.stdout),
        &String::from_utf8_lossy(&s.stdout),
    )
    .map_err(with_policy)?;
    let (source, enc) = if rng.chance(1, 2) {
        (&sname, &s.stdout)
    } else {
        (&lname, &l.stdout)
    };
    let path = if doc.paths.is_empty() || rng.chance(1, 8) {
        "[\"new_key\"]".to_owned()
    } else {
        doc.paths[rng.below(doc.paths.len())].clone()
    };
    // dotenv and INI hold text only: a null or a map set there is written by sops as a
    // file neither tool reads (docs/compatibility.md, "Round 18 (continued)", nulls in
    // dotenv or INI, and a document that would read back with other keys).
    let values: Vec<&str> = SET_VALUES
        .iter()
        .copied()
        .filter(|v| !matches!(ext, "env" | "ini") || (*v != "null" && !v.starts_with('{')))
        .collect();
    match rng.below(4) {
        0 => same_change(p, ext, enc, "set", &[&path, rng.pick(&values)]),
        1 => same_change(p, ext, enc, "unset", &[&path]),
        2 => same_run(p, &["decrypt", "--extract", &path, source]),
        // A JSON integer left in clear is a float for sops 3.11 (`0` becomes `0.0` in
        // dotenv), an integer for leafseal and sops 3.13.2 (docs/compatibility.md,
        // "Deliberate differences", JSON integers): JSON is converted to YAML, JSON and
        // binary only.
        _ if ext == "json" => {
            let to = rng.pick(&["yaml", "json", "binary"]);
            same_run(p, &["decrypt", "--output-type", to, source])
        }
        // A YAML null is written `<nil>` to dotenv and INI by sops, the empty value by
        // leafseal (docs/compatibility.md, "Null in dotenv and `exec-env`"): the YAML
        // documents, full of nulls, are converted to YAML, JSON and binary only.
        _ if ext == "yaml" => {
            let to = rng.pick(&["yaml", "json", "binary"]);
            same_run(p, &["decrypt", "--output-type", to, source])
        }
        _ => same_run(
            p,
            &["decrypt", "--output-type", rng.pick(OUTPUT_TYPES), source],
        ),
    }
    .map_err(|e| format!("on the file {source} wrote: {e}\npolicy:\n{policy}"))
}

/// Generates and compares `LEAFSEAL_GENDIFF_CASES` documents of one format.
fn campaign(format_index: u64, ext: &str, generate: fn(&mut Rng) -> Doc) {
    let Some(p) = Peer::new(None) else { return };
    let seed = env_number("LEAFSEAL_GENDIFF_SEED").unwrap_or(DEFAULT_SEED);
    let cases =
        env_number("LEAFSEAL_GENDIFF_CASES").map_or(DEFAULT_CASES_PER_FORMAT, |n| n as usize);
    let mut diffs = Vec::new();
    for case in 0..cases {
        let mut rng = Rng::new(seed ^ (format_index << 56) ^ (case as u64).wrapping_mul(0x9E37));
        let doc = generate(&mut rng);
        let name = format!("gen-{case}.{ext}");
        if let Err(e) = one_document(&p, &mut rng, &doc, &name, ext) {
            diffs.push(format!(
                "LEAFSEAL_GENDIFF_SEED={seed:#x} {ext} case {case}: {e}\ndocument:\n{}",
                doc.text
            ));
        }
    }
    assert_no_differences(
        &format!("generated {ext} documents (seed {seed:#x})"),
        cases,
        &diffs,
    );
}

#[test]
fn generated_yaml_documents_match_sops() {
    campaign(1, "yaml", generated_docs::yaml);
}

#[test]
fn generated_json_documents_match_sops() {
    campaign(2, "json", generated_docs::json);
}

#[test]
fn generated_dotenv_documents_match_sops() {
    campaign(3, "env", generated_flat::dotenv);
}

#[test]
fn generated_ini_documents_match_sops() {
    campaign(4, "ini", generated_flat::ini);
}
