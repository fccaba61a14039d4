//! What an edit writes: minimal changes, exit 200 for none, new files, sops-written files.

use super::*;

#[test]
fn one_changed_value_changes_exactly_three_lines_in_git() {
    let t = T::new();
    t.committed();
    // lastmodified has seconds precision: make sure it differs.
    std::thread::sleep(Duration::from_millis(1100));
    let ed = t.editor(
        "ed.sh",
        "stat -c '%a' \"$(dirname \"$F\")\" > \"$LOG/dirmode\"\nstat -c '%a' \"$F\" > \"$LOG/filemode\"\nsed -i 's/hunter2-/hunter3-/' \"$F\"",
    );
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let diff = git(t.repo.path(), &["diff", "-U0", "--", "secrets.yaml"]);
    let removed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    // The value, and the three metadata lines that follow every change: lastmodified,
    // the integrity record and the MAC.
    assert_eq!(removed.len(), 4, "{diff}");
    assert_eq!(added.len(), 4, "{diff}");
    for lines in [&removed, &added] {
        assert!(lines[0][1..].starts_with("    password: ENC[AES256_GCM,data:"));
        assert!(lines[1][1..].starts_with("    lastmodified: \""));
        assert!(lines[2][1..].starts_with("    leafseal_integrity: v3:"));
        assert!(lines[3][1..].starts_with("    mac: ENC[AES256_GCM,data:"));
    }
    let changed = t.secret.replace("hunter2-", "hunter3-");
    assert_eq!(t.decrypt("secrets.yaml"), plain(&changed));
    // The workspace was private, in the XDG runtime dir, named like the target.
    assert_eq!(t.logged("dirmode").unwrap().trim(), "700");
    assert_eq!(t.logged("filemode").unwrap().trim(), "600");
    let path = PathBuf::from(t.logged("path").unwrap());
    assert_eq!(path.file_name().unwrap(), "secrets.yaml");
    let dir = path.parent().unwrap();
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("leafseal-edit-")
    );
    assert_eq!(
        dir.parent().unwrap(),
        std::fs::canonicalize(t.xdg.path()).unwrap()
    );
    assert!(!path.starts_with(std::fs::canonicalize(t.repo.path()).unwrap()));
    t.assert_no_plaintext(&changed);
    t.assert_no_plaintext(&t.secret);
}

#[test]
fn unchanged_file_exits_200_and_stays_byte_identical() {
    let t = T::new();
    let before = t.committed();
    let ed = t.editor("noop.sh", "cat \"$F\" > /dev/null");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    assert!(stderr(&o).contains("File has not changed"));
    assert_eq!(t.target(), before);
    assert_eq!(git(t.repo.path(), &["status", "--porcelain"]), "");
    t.assert_no_plaintext(&t.secret);
}

#[test]
fn editing_a_new_path_creates_an_encrypted_file() {
    let t = T::new();
    let ed = t.editor(
        "new.sh",
        "grep -q 'database:' \"$F\"\nprintf 'api_key: brand-new-SECRET\\nport: 8080\\n' > \"$F\"",
    );
    let o = t.edit(&ed, &["--age", AGE_RECIPIENT, "new.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let enc = std::fs::read_to_string(t.repo.path().join("new.yaml")).expect("created");
    assert!(!enc.contains("brand-new-SECRET"));
    assert!(enc.contains("api_key: ENC[AES256_GCM,data:"));
    assert!(enc.contains(AGE_RECIPIENT));
    assert_eq!(
        t.decrypt("new.yaml"),
        "api_key: brand-new-SECRET\nport: 8080\n"
    );
    t.assert_no_plaintext("brand-new-SECRET");

    // The example left as it is: exit 200 and no file.
    let ed = t.editor("keep.sh", "true");
    let o = t.edit(&ed, &["--age", AGE_RECIPIENT, "other.json"]);
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    assert!(!t.repo.path().join("other.json").exists());

    // No key: refused before the editor runs.
    std::fs::remove_file(t.log.path().join("path")).expect("rm");
    let ed = t.editor("never.sh", "touch \"$LOG/ran\"");
    let o = t.edit(&ed, &["nokeys.yaml"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(t.logged("ran").is_none());
    assert!(!t.repo.path().join("nokeys.yaml").exists());
}

#[test]
fn new_dotenv_file_from_the_example() {
    let t = T::new();
    let ed = t.editor("env.sh", "sed -i 's/change-me/env-SECRET/' \"$F\"");
    let o = t.edit(&ed, &["--age", AGE_RECIPIENT, "app.env"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plain = t.decrypt("app.env");
    assert!(plain.contains("DATABASE_PASSWORD=env-SECRET\n"), "{plain}");
    t.assert_no_plaintext("env-SECRET");
}

/// A file written by sops 3.7.1: unchanged values keep their ciphertext through an edit,
/// and `version` is raised to the one leafseal writes.
#[test]
fn sops_written_file_keeps_unchanged_ciphertexts_and_gets_the_new_version() {
    let t = T::new();
    let src = sops_fixture("yaml/example.age.v3.7.1.yaml");
    let before = std::fs::read_to_string(&src).unwrap();
    std::fs::write(t.repo.path().join("secrets.yaml"), &before).unwrap();
    let ed = t.editor("add.sh", "printf 'added_key: added-value\\n' >> \"$F\"");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = String::from_utf8(t.target()).unwrap();
    let enc_lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("ENC[") && !l.trim_start().starts_with("mac:"))
            .map(str::to_owned)
            .collect()
    };
    let old = enc_lines(&before);
    let new = enc_lines(&after);
    assert!(!old.is_empty());
    for l in &old {
        assert!(new.contains(l), "ciphertext changed: {l}");
    }
    assert_eq!(new.len(), old.len() + 1);
    assert!(after.contains("added_key: ENC[AES256_GCM,data:"));
    assert!(after.contains(&format!("version: {}", leafseal::metadata::FORMAT_VERSION)));
    assert!(!after.contains("version: 3.7.1"));
    assert!(
        t.decrypt("secrets.yaml")
            .ends_with("added_key: added-value\n")
    );
}
