//! The writing commands on a document large enough for parallel encryption (more than
//! 2,048 elements in one container), through the binary on real files: `set`, `unset`
//! and `edit` keep every other value's `ENC[…]` text byte for byte (the IV stash on
//! every thread); `encrypt` and `rotate -i` write files that decrypt to the same
//! plaintext, and that the real sops decrypts (its MAC check passes) when it is
//! available.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::path::Path;

use stream_env::*;
use support::*;

const SERVICES: usize = 2600;

/// Services with repeated values under one path (`env` items share their AAD), comments,
/// and every scalar type.
fn large_yaml() -> String {
    let mut s = String::from("# large document\nversion: 3\nservices:\n");
    for i in 0..SERVICES {
        s.push_str(&format!(
            "    svc-{i:05}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        env:\n            - name: MODE\n              value: same\n            - name: MODE\n              value: same\n        ports:\n            - {}\n            - {}\n",
            i % 7,
            i % 13,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("trailer: end\n");
    s
}

impl Env {
    /// Writes the large document and encrypts it in place; returns its path.
    fn encrypted(&self, name: &str) -> String {
        let p = self.work.path().join(name);
        std::fs::write(&p, large_yaml()).expect("write");
        let p = p.display().to_string();
        ok(&self.run(&["encrypt", "-i", "--age", AGE_RECIPIENT, &p]));
        p
    }

    fn decrypt(&self, path: &str) -> String {
        String::from_utf8(ok(&self.run(&["decrypt", path]))).expect("utf8")
    }
}

/// The lines of the document part of an encrypted YAML file (before the `sops` block).
fn data_lines(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read");
    text.lines()
        .take_while(|l| *l != "sops:")
        .map(str::to_owned)
        .collect()
}

/// The indices of the lines that differ between two equally long line lists.
fn changed(a: &[String], b: &[String]) -> Vec<usize> {
    assert_eq!(a.len(), b.len(), "same number of lines");
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

/// The line index of `key:` within the block of service `svc`.
fn line_of(lines: &[String], svc: &str, key: &str) -> usize {
    let start = lines
        .iter()
        .position(|l| l.trim_start() == format!("{svc}:"))
        .expect("service");
    start
        + lines[start..]
            .iter()
            .position(|l| l.trim_start().starts_with(&format!("{key}:")))
            .expect("key")
}

#[test]
fn set_keeps_every_other_ciphertext_of_a_large_file() {
    let env = Env::new(None);
    let p = env.encrypted("s.yaml");
    let before = data_lines(&p);
    ok(&env.run(&["set", &p, r#"["services"]["svc-01300"]["replicas"]"#, "42"]));
    let after = data_lines(&p);
    assert_eq!(
        changed(&before, &after),
        vec![line_of(&before, "svc-01300", "replicas")]
    );
    let plain = env.decrypt(&p);
    assert_eq!(
        plain,
        large_yaml().replacen(
            "svc-01300:\n        # owner of service 1300\n        name: service 1300\n        replicas: 5\n",
            "svc-01300:\n        # owner of service 1300\n        name: service 1300\n        replicas: 42\n",
            1
        )
    );
    sops_agrees(&env, &p, &plain);
}

#[test]
fn unset_keeps_every_other_ciphertext_of_a_large_file() {
    let env = Env::new(None);
    let p = env.encrypted("u.yaml");
    let mut before = data_lines(&p);
    ok(&env.run(&["unset", &p, r#"["services"]["svc-02001"]["cpu"]"#]));
    before.remove(line_of(&before, "svc-02001", "cpu"));
    assert_eq!(data_lines(&p), before);
}

#[test]
fn edit_keeps_every_other_ciphertext_of_a_large_file() {
    let env = Env::new(None);
    let p = env.encrypted("e.yaml");
    let before = data_lines(&p);
    let ed = env.work.path().join("ed.sh");
    std::fs::write(
        &ed,
        "#!/bin/sh\nsed -i 's/^        name: service 77$/        name: renamed/' \"$1\"\n",
    )
    .expect("editor");
    std::fs::set_permissions(&ed, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut vars = env.vars.clone();
    vars.insert("SOPS_EDITOR".to_owned(), ed.display().to_string());
    ok(&run_in(&vars, env.work.path(), &["edit", &p]));
    assert_eq!(
        changed(&before, &data_lines(&p)),
        vec![line_of(&before, "svc-00077", "name")]
    );
    assert!(
        env.decrypt(&p)
            .contains("svc-00077:\n        # owner of service 77\n        name: renamed\n")
    );
}

#[test]
fn encrypt_and_rotate_of_a_large_file_decrypt_to_the_same_plaintext() {
    let env = Env::new(None);
    let p = env.encrypted("r.yaml");
    let plain = env.decrypt(&p);
    assert_eq!(plain, large_yaml());
    sops_agrees(&env, &p, &plain);
    let before = data_lines(&p);
    ok(&env.run(&["rotate", "-i", &p]));
    let after = data_lines(&p);
    let enc = |l: &String| l.contains("ENC[");
    assert_eq!(
        before.iter().filter(|l| enc(l)).count(),
        after.iter().filter(|l| enc(l)).count()
    );
    assert!(
        changed(&before, &after)
            .iter()
            .all(|&i| enc(&before[i]) && enc(&after[i])),
        "only values change"
    );
    assert_eq!(
        changed(&before, &after).len(),
        before.iter().filter(|l| enc(l)).count(),
        "every value has a new ciphertext"
    );
    assert_eq!(env.decrypt(&p), plain);
    sops_agrees(&env, &p, &plain);
    // Every nonce is new: no two values share one.
    let mut ivs: Vec<&str> = after
        .iter()
        .filter_map(|l| l.split(",iv:").nth(1))
        .map(|r| &r[..44])
        .collect();
    let n = ivs.len();
    ivs.sort_unstable();
    ivs.dedup();
    assert_eq!(ivs.len(), n, "fresh nonces are unique");
    assert!(Path::new(&p).exists());
}

#[test]
fn rotate_takes_several_files_in_place_and_reports_each_failure() {
    let env = Env::new(None);
    let dir = env.work.path();
    let mut files = Vec::new();
    for i in 0..5 {
        let p = dir.join(format!("f{i}.yaml"));
        std::fs::write(&p, format!("a: secret {i}\nb:\n    - {i}\n")).expect("write");
        let p = p.display().to_string();
        ok(&env.run(&["encrypt", "-i", "--age", AGE_RECIPIENT, &p]));
        files.push(p);
    }
    // A file nobody here can open, between the others: `rotate` goes on with the rest.
    let foreign = dir.join("foreign.yaml");
    std::fs::write(&foreign, "a: other\n").expect("write");
    let foreign = foreign.display().to_string();
    let other = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";
    ok(&env.run(&["encrypt", "-i", "--age", other, &foreign]));
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    let foreign_before = std::fs::read(&foreign).expect("read");

    // Several files need -i.
    let args: Vec<&str> = ["rotate"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = env.run(&args);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&std::fs::read(f).expect("read"), b, "nothing written");
    }

    let mut args = vec!["rotate", "-i"];
    args.extend(files[..2].iter().map(String::as_str));
    args.push(&foreign);
    args.extend(files[2..].iter().map(String::as_str));
    let out = env.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{stderr}");
    assert!(stderr.contains(&foreign), "{stderr}");
    assert!(
        stderr.contains("1 of 6 files could not be rotated"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&foreign).expect("read"), foreign_before);
    for (i, (f, b)) in files.iter().zip(&before).enumerate() {
        let now = std::fs::read(f).expect("read");
        assert_ne!(&now, b, "{f} rotated");
        assert_eq!(env.decrypt(f), format!("a: secret {i}\nb:\n    - {i}\n"));
    }
}
