//! Round 6 of the large-file `encrypt`: the value nonces come from a user-space
//! generator per walker (`leafseal::crypto::ivgen`, AES-256 in counter mode under a key
//! from the operating system), not from the kernel per value. Through the binary on real
//! files cut into tiny parts (`LEAFSEAL_STREAM_PART`), so that many walkers on both
//! worker threads each seed their own generator, and on the whole-tree path: every
//! nonce of a file is distinct, two runs share none, the output decrypts with leafseal
//! (strict integrity record) and with the real sops 3.11.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::collections::HashSet;

use stream_env::*;
use support::*;

/// A YAML document of `n` services with string, integer, boolean and repeated values
/// (equal plaintexts under equal paths must still get their own nonces).
fn yaml(n: usize) -> String {
    let mut s = String::from("# services\nversion: 3\nservices:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    s{i}:\n        name: same\n        port: {}\n        enabled: true\n        tags:\n            - same\n            - same\n",
            8000 + i
        ));
    }
    s
}

/// The JSON form of [`yaml`], laid out as sops writes JSON (tabs).
fn json(n: usize) -> String {
    let mut s = String::from("{\n\t\"version\": 3,\n\t\"services\": {");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "\n\t\t\"s{i}\": {{\n\t\t\t\"name\": \"same\",\n\t\t\t\"port\": {},\n\t\t\t\"enabled\": true,\n\t\t\t\"tags\": [\n\t\t\t\t\"same\",\n\t\t\t\t\"same\"\n\t\t\t]\n\t\t}}",
            8000 + i
        ));
    }
    s.push_str("\n\t}\n}\n");
    s
}

/// The `iv:` fields of every `ENC[…]` of an encrypted file (values and the MAC).
fn ivs(enc: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(enc);
    text.match_indices("ENC[AES256_GCM,")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let start = rest.find(",iv:")? + 4;
            let end = start + rest[start..].find(',')?;
            Some(rest[start..end].to_owned())
        })
        .collect()
}

#[test]
fn nonces_are_distinct_within_a_file_and_across_runs() {
    let env = Env::new(None);
    for (name, plain) in [("many.yaml", yaml(400)), ("many.json", json(400))] {
        let path = env.write(name, plain.as_bytes());
        let mut all: HashSet<String> = HashSet::new();
        let mut runs = 0;
        for (stream, part) in [
            ("require", Some(1)),
            ("require", Some(1)),
            ("require", None),
            ("never", None),
        ] {
            let enc = ok(&env.run_with(stream, part, &["encrypt", "--age", AGE_RECIPIENT, &path]));
            let found = ivs(&enc);
            // Five values per service plus the version, the MAC.
            assert!(found.len() > 400 * 5, "{name}: {} values", found.len());
            for iv in found {
                assert_eq!(iv.len(), 44, "{name}: a 32-byte nonce in base64");
                assert!(
                    all.insert(iv),
                    "{name}: a nonce repeated (run {runs}, {stream})"
                );
            }
            runs += 1;
            let encp = env.write(&format!("enc.{runs}.{name}"), &enc);
            let back =
                ok(&env.run_vars(&[("LEAFSEAL_STRICT_INTEGRITY", "1")], &["decrypt", &encp]));
            assert!(back == plain.as_bytes(), "{name}: round trip ({stream})");
            if runs == 1 {
                sops_agrees(&env, &encp, &plain);
            }
        }
    }
}
