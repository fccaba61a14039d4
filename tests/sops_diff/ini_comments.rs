//! Round 23: INI comments that leafseal keeps where sops 3.11 drops them, in files that
//! both tools still decrypt (docs/compatibility.md, "Round 23: INI comments").

use crate::harness::Peer;
use crate::harness::Tool;
use crate::support::AGE_RECIPIENT;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A comment after the last key of a file stays at the end of leafseal's file; a `set`
/// that added a section after it dropped it (the comment was the file's trailing one
/// and the writer kept trailing comments only after the last section). It is now the
/// new section's comment, where sops reads it too.
#[test]
fn ini_set_of_a_new_section_keeps_the_trailing_comment_before_it() {
    let Some(p) = Peer::new(None) else { return };
    p.write("t.ini", "[s]\nk = v\n# end of s\n");
    let enc = p.ok(
        Tool::Leafseal,
        &["encrypt", "--age", AGE_RECIPIENT, "t.ini"],
    );
    p.write("t.ini", &enc);
    p.ok(
        Tool::Leafseal,
        &["set", "t.ini", r#"["u"]"#, r#"{"n": "x"}"#],
    );
    let both = p
        .decrypt_both("t.ini", &[])
        .expect("both tools decrypt alike");
    assert_eq!(text(&both), "[s]\nk = v\n\n; end of s\n[u]\nn = x\n");
}

/// Comments of a YAML file written as INI: the ones before a section, the second one
/// before a section's first key and all of a run after a key were dropped (as sops
/// 3.11 drops them); now they are the section's or key's comment, which sops reads.
#[test]
fn ini_written_from_yaml_keeps_every_comment_before_a_section_or_key() {
    let Some(p) = Peer::new(None) else { return };
    p.write(
        "y.yaml",
        "# about s\ns:\n  # a\n  # b\n  k: v\n  # c1\n  # c2\n  k2: v2\n",
    );
    let enc = p.ok(
        Tool::Leafseal,
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--output-type",
            "ini",
            "y.yaml",
        ],
    );
    p.write("y.ini", &enc);
    let both = p
        .decrypt_both("y.ini", &[])
        .expect("both tools decrypt alike");
    assert_eq!(
        text(&both),
        ";  about s\n;  a\n;  b\n[s]\n; c1\n; c2\nk  = v\nk2 = v2\n"
    );
}

/// Two comments after the last key of a YAML file written as INI: both were written,
/// each its own `ENC[…]` line, but read back as one comment of which only the first
/// line decrypted, so leafseal printed the first and silently lost the second. sops
/// 3.11 drops comments after the last section in any case.
#[test]
fn ini_written_from_yaml_keeps_every_comment_after_the_last_key() {
    let Some(p) = Peer::new(None) else { return };
    p.write("z.yaml", "s:\n  k: v\n# end1\n# end2\n");
    let enc = p.ok(
        Tool::Leafseal,
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--output-type",
            "ini",
            "z.yaml",
        ],
    );
    p.write("z.ini", &enc);
    let leafseal = p.ok(Tool::Leafseal, &["decrypt", "z.ini"]);
    assert_eq!(text(&leafseal), "[s]\nk = v\n; end1\n; end2\n");
    let sops = p.ok(Tool::Sops, &["decrypt", "z.ini"]);
    assert_eq!(text(&sops), "[s]\nk = v\n");
}
