//! `edit` of a file opened by streaming writes the spliced change into a temporary file
//! that was filled with the encrypted input while the editor ran (only the changed
//! ranges written over it when their length is kept, else the file from the first
//! change on): through the binary, in tiny parts (`LEAFSEAL_STREAM_PART`), the output
//! equals the whole-tree path's (`LEAFSEAL_SPLICE=never`) on every line but the changed
//! values' ciphertext and the metadata, decrypts with leafseal (strict integrity) and the
//! real sops 3.11; edits the splice hands back give the whole-tree path's file; an
//! unchanged edit, a failing editor, a signal and a tampered file (whose editor is never
//! started) leave the file byte for byte and no temporary file anywhere.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::process::Output;

use stream_env::*;
use support::*;

/// A document with nested maps, lists, comments and every scalar type; a value per
/// service that is long enough to be cut into many parts.
fn doc(services: usize) -> String {
    let mut s = String::from("# top\nversion: 3\ngenerator:\n    name: gen\n    seed: 7\n");
    s.push_str("services:\n");
    for i in 0..services {
        s.push_str(&format!(
            "    svc-{i:04}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        when: 2024-01-0{}T10:00:00Z\n        env:\n            - name: MODE\n              value: same\n        ports:\n            - {}\n            - {}\n",
            i % 7,
            i % 13,
            i % 2 == 0,
            1 + i % 9,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("trailer: end\nlist:\n    - a\n    - b\n");
    s
}

/// A test environment whose editor workspace is a directory of its own (so that a
/// workspace left behind would be seen).
struct Edit {
    env: Env,
    runtime: tempfile::TempDir,
}

impl Edit {
    fn new() -> Edit {
        Edit {
            env: Env::new(None),
            runtime: tempfile::tempdir().expect("runtime dir"),
        }
    }

    /// Encrypts `plain` into `name`; returns its path.
    fn encrypted(&self, name: &str, plain: &str) -> String {
        let p = self.env.path(name);
        std::fs::write(&p, plain).expect("write");
        ok(&self
            .env
            .run_vars(&[], &["encrypt", "-i", "--age", AGE_RECIPIENT, &p]));
        p
    }

    fn decrypt(&self, path: &str) -> String {
        let out = self
            .env
            .run_vars(&[("LEAFSEAL_STRICT_INTEGRITY", "1")], &["decrypt", path]);
        String::from_utf8(ok(&out)).expect("utf8")
    }

    /// The file's plaintext, however its integrity record stands (a file another program
    /// appended to).
    fn decrypt_loose(&self, path: &str) -> String {
        let out = self.env.run_vars(&[], &["decrypt", "--ignore-mac", path]);
        String::from_utf8(ok(&out)).expect("utf8")
    }

    /// Writes an editor script with this body (`$1` is the file); returns its path.
    fn editor(&self, tag: &str, body: &str) -> String {
        let p = self.env.path(&format!("ed-{tag}.sh"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("editor");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        p
    }

    /// Runs `edit` with an editor, the private workspace root and extra variables.
    fn edit(&self, ed: &str, extra: &[(&str, &str)], file: &str) -> Output {
        self.edit_args(ed, extra, &[], file)
    }

    /// [`Edit::edit`] with options: global ones (before `edit`; `--force-target`) and the
    /// command's.
    fn edit_args(&self, ed: &str, extra: &[(&str, &str)], opts: &[&str], file: &str) -> Output {
        let rt = self.runtime.path().display().to_string();
        let mut vars: Vec<(&str, &str)> = vec![("EDITOR", ed), ("XDG_RUNTIME_DIR", &rt)];
        vars.extend_from_slice(extra);
        let (global, own): (Vec<&str>, Vec<&str>) =
            opts.iter().partition(|o| **o == "--force-target");
        let mut args = global;
        args.push("edit");
        args.extend(own);
        args.push(file);
        self.env.run_vars(&vars, &args)
    }

    /// Nothing left behind: no temporary file next to the targets, no workspace.
    fn nothing_left(&self, what: &str) {
        let tmp: Vec<String> = std::fs::read_dir(self.env.work.path())
            .expect("work dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".leafseal-tmp."))
            .collect();
        assert!(tmp.is_empty(), "{what}: temporary files left: {tmp:?}");
        let ws = std::fs::read_dir(self.runtime.path())
            .expect("runtime dir")
            .count();
        assert_eq!(ws, 0, "{what}: a workspace was left");
    }
}

#[test]
fn a_spliced_edit_is_written_over_a_copy_of_the_input() {
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(40));
    let plain = t.decrypt(&src);
    let cases = [
        // The first part, the same length (the copy is patched in place).
        ("first", "s/^version: 3$/version: 4/"),
        // The last part before the metadata, the same length.
        ("last", "s/^trailer: end$/trailer: fin/"),
        // A middle part, longer: the file is written again from the change on.
        (
            "longer",
            "s/^        name: service 31$/        name: a much longer name than before/",
        ),
        // Shorter, in a list.
        ("shorter", "s/^            - 9007$/            - 1/"),
        // The last list item.
        ("list", "s/^    - b$/    - c/"),
    ];
    for (tag, sed) in cases {
        let ed = t.editor(tag, &format!("sed -i '{sed}' \"$1\""));
        for part in ["1", "600", "100000"] {
            let (a, b) = (t.env.path("e-s.yaml"), t.env.path("e-w.yaml"));
            std::fs::copy(&src, &a).expect("copy");
            std::fs::copy(&src, &b).expect("copy");
            let out = t.edit(&ed, &spliced(part), &a);
            assert!(
                out.status.success(),
                "{tag} in parts of {part}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ok(&t.edit(&ed, &WHOLE, &b));
            same_but_value(&a, &b, 1);
            let want = t.decrypt(&b);
            assert_ne!(want, plain, "{tag}");
            assert_eq!(t.decrypt(&a), want, "{tag}");
            if part == "600" {
                sops_agrees(&t.env, &a, &want);
            }
            t.nothing_left(tag);
        }
    }
}

#[test]
fn edits_handed_back_are_written_as_by_the_whole_tree_path() {
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(30));
    let cases = [
        (
            "two parts",
            "s/^        name: service 3$/        name: x/; s/^        name: service 17$/        name: y/",
            2,
        ),
        (
            "the first and the last part",
            "s/^version: 3$/version: 4/; s/^trailer: end$/trailer: fin/",
            2,
        ),
        (
            "a new key",
            "s/^        name: service 5$/        name: service 5\\n        extra: 1/",
            1,
        ),
        ("a removed key", "/^        name: service 6$/d", 0),
    ];
    for (what, sed, values) in cases {
        let ed = t.editor("x", &format!("sed -i '{sed}' \"$1\""));
        let (a, b) = (t.env.path("x-s.yaml"), t.env.path("x-w.yaml"));
        for (p, vars) in [
            (
                &a,
                &[("LEAFSEAL_SPLICE", "always"), ("LEAFSEAL_STREAM_PART", "1")][..],
            ),
            (&b, &WHOLE[..]),
        ] {
            std::fs::copy(&src, p).expect("copy");
            ok(&t.edit(&ed, vars, p));
        }
        same_but_value(&a, &b, values);
        let want = t.decrypt(&b);
        assert_eq!(t.decrypt(&a), want, "{what}");
        sops_agrees(&t.env, &a, &want);
        t.nothing_left(what);
    }
}

/// Replaces the `ENC[…]` text of the first value line holding `key:` with `with(old)`.
fn tamper(text: &str, key: &str, with: impl Fn(&str) -> String) -> String {
    let mut done = false;
    text.lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(&format!("{key}: ENC[")) {
                done = true;
                let (k, v) = l.split_once(": ").expect("value");
                return format!("{k}: {}\n", with(v));
            }
            format!("{l}\n")
        })
        .collect()
}

#[test]
fn edits_that_write_nothing_leave_nothing_behind() {
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(20));
    let before = std::fs::read(&src).expect("read");
    let p = t.env.path("f.yaml");

    // Unchanged.
    let noop = t.editor("noop", "sed -i 's/^version: 3$/version: 3/' \"$1\"");
    std::fs::write(&p, &before).expect("write");
    let out = t.edit(&noop, &spliced("1"), &p);
    assert_eq!(out.status.code(), Some(200));
    assert_eq!(std::fs::read(&p).expect("read"), before);
    t.nothing_left("unchanged");

    // The editor fails after changing the file.
    let failing = t.editor("fail", "sed -i 's/^version: 3$/version: 4/' \"$1\"\nexit 3");
    let out = t.edit(&failing, &spliced("1"), &p);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&p).expect("read"), before);
    t.nothing_left("failed editor");

    // A signal while the editor runs.
    let killer = t.editor(
        "kill",
        "sed -i 's/^version: 3$/version: 4/' \"$1\"\nkill -TERM $PPID\nexec sleep 5",
    );
    let out = t.edit(&killer, &spliced("1"), &p);
    assert_eq!(out.status.code(), Some(128 + 15));
    assert_eq!(std::fs::read(&p).expect("read"), before);
    t.nothing_left("signal");

    // A tampered file: the editor is never started.
    let text = String::from_utf8(before).expect("utf8");
    let bad = tamper(&text, "cpu", |v| v.replacen("data:", "data:A", 1));
    let marker = t.env.path("started");
    let ed = t.editor(
        "mark",
        &format!("touch '{marker}'\nsed -i 's/^version: 3$/version: 4/' \"$1\""),
    );
    let mut seen = Vec::new();
    for mode in ["require", "always", "never"] {
        std::fs::write(&p, &bad).expect("write");
        let out = t.edit(
            &ed,
            &[("LEAFSEAL_SPLICE", mode), ("LEAFSEAL_STREAM_PART", "1")],
            &p,
        );
        assert!(!out.status.success(), "{mode}");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), bad, "{mode}");
        assert!(
            !std::path::Path::new(&marker).exists(),
            "{mode}: the editor was started"
        );
        t.nothing_left(mode);
        seen.push((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    assert_eq!(seen[1], seen[2], "same code and message");
}

/// The file is read from its open to the write (never held whole), so a change made to
/// it meanwhile by a program that does not take leafseal's lock (appended to, rewritten
/// in place with the same length, replaced by a rename) makes the edit fail with exit 3
/// and leaves the file as that program wrote it, for a spliced change and for one the
/// whole-tree path seals.
#[test]
fn a_file_changed_by_another_program_during_the_edit_is_left_as_it_wrote_it() {
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(30));
    let p = t.env.path("c.yaml");
    let changes = [
        ("appended", format!("printf '# appended\\n' >> '{p}'")),
        (
            "rewritten",
            format!(
                "sed 's/lastmodified: \"20/lastmodified: \"21/' '{p}' > '{p}.new' && dd of='{p}' if='{p}.new' conv=notrunc status=none"
            ),
        ),
        (
            "replaced",
            format!("cp '{p}' '{p}.new' && printf '# x\\n' >> '{p}.new' && mv '{p}.new' '{p}'"),
        ),
    ];
    let edits = [
        ("spliced", "s/^version: 3$/version: 4/", &spliced("1")[..]),
        (
            "whole tree",
            "s/^        name: service 5$/        name: service 5\\n        extra: 1/",
            &[("LEAFSEAL_SPLICE", "always"), ("LEAFSEAL_STREAM_PART", "1")][..],
        ),
    ];
    for (how, change) in &changes {
        for (what, sed, vars) in edits {
            std::fs::copy(&src, &p).expect("copy");
            let ed = t.editor("chg", &format!("sed -i '{sed}' \"$1\"\n{change}"));
            let out = t.edit(&ed, vars, &p);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{how}, {what}: {stderr}");
            assert!(
                stderr.contains("was changed by another program"),
                "{how}, {what}: {stderr}"
            );
            let now = std::fs::read_to_string(&p).expect("read");
            assert!(
                now != std::fs::read_to_string(&src).expect("read"),
                "{how}: the other program's change is gone"
            );
            assert!(!now.contains("extra"), "{how}, {what}");
            // What the other program left is the file: the edit's value is not in it.
            let plain = t.decrypt_loose(&p);
            assert!(plain.contains("\nversion: 3\n"), "{how}, {what}");
            let _ = std::fs::remove_file(format!("{p}.new"));
            t.nothing_left(how);
        }
    }
}

/// The same holds on the paths that do not stream: the whole-tree path, an edit the
/// streaming open declines (`-s`, another output type), a file written in place
/// (`--force-target` on a hard-linked file). The write itself compares the file with
/// what it was when the edit locked it, last, right before the rename.
#[test]
fn a_file_changed_during_an_edit_that_is_not_streamed_is_left_as_it_wrote_it() {
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(30));
    let p = t.env.path("n.yaml");
    let link = t.env.path("n-link.yaml");
    let ed = t.editor(
        "nstream",
        &format!("printf '# appended\\n' >> '{p}'\nsed -i '0,/3/s//4/' \"$1\""),
    );
    let streamed = [("LEAFSEAL_SPLICE", "always"), ("LEAFSEAL_STREAM_PART", "1")];
    // (what, variables, options)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case<'_>; 4] = [
        ("whole tree", &WHOLE, &[]),
        ("declined: -s", &streamed, &["-s"]),
        (
            "declined: --output-type json",
            &streamed,
            &["--output-type", "json"],
        ),
        ("in place", &WHOLE, &["--force-target"]),
    ];
    for (what, vars, opts) in cases {
        std::fs::copy(&src, &p).expect("copy");
        let _ = std::fs::remove_file(&link);
        if what == "in place" {
            std::fs::hard_link(&p, &link).expect("link");
        }
        let out = t.edit_args(&ed, vars, opts, &p);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
        assert!(
            stderr.contains("was changed by another program"),
            "{what}: {stderr}"
        );
        let mut want = std::fs::read_to_string(&src).expect("read");
        want.push_str("# appended\n");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            want,
            "{what}: the file is as the other program left it"
        );
        t.nothing_left(what);
    }
}

#[test]
fn a_forced_edit_of_a_hard_linked_file_is_written_in_place() {
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(20));
    let other = t.env.path("other.yaml");
    std::fs::hard_link(&src, &other).expect("link");
    let ed = t.editor("one", "sed -i 's/^version: 3$/version: 4/' \"$1\"");
    let rt = t.runtime.path().display().to_string();
    let mut vars = vec![("EDITOR", ed.as_str()), ("XDG_RUNTIME_DIR", rt.as_str())];
    vars.extend_from_slice(&spliced("600"));
    let out = t.env.run_vars(&vars, &["--force-target", "edit", &src]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let linked = std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&src).expect("stat"));
    assert_eq!(linked, 2);
    let plain = t.decrypt(&other);
    assert!(plain.contains("\nversion: 4\n"), "{plain}");
    assert_eq!(t.decrypt(&src), plain);
    t.nothing_left("in place");
}

/// The copy of the input made while the editor runs bypasses the page cache by default
/// (`O_DIRECT` for its 4 KiB-aligned prefix) and goes through it with
/// `LEAFSEAL_EDIT_COPY=buffered`: on a file of several copy blocks (4 MiB) with an
/// unaligned tail, both give the whole-tree path's file but the changed value and the
/// metadata, for an edit of the same length (patched in place) and a longer one (written
/// again from the change), keep the target's mode, and leave nothing behind; a signal
/// while the editor runs (the copy under way) leaves the file byte for byte.
#[test]
fn both_copy_modes_write_the_edited_file_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = Edit::new();
    let src = t.encrypted("src.yaml", &doc(3300));
    let size = std::fs::metadata(&src).expect("stat").len();
    assert!(
        size > (4 << 20) + 4096 && !size.is_multiple_of(4096),
        "{size}"
    );
    let before = std::fs::read(&src).expect("read");
    let required = [("LEAFSEAL_SPLICE", "require")];
    for (tag, sed) in [
        ("same", "s/^version: 3$/version: 4/"),
        ("longer", "s/^version: 3$/version: 12345/"),
    ] {
        let ed = t.editor(tag, &format!("sed -i '{sed}' \"$1\""));
        let whole = t.env.path(&format!("{tag}-w.yaml"));
        std::fs::copy(&src, &whole).expect("copy");
        ok(&t.edit(&ed, &WHOLE, &whole));
        let want = t.decrypt(&whole);
        for mode in ["direct", "buffered"] {
            let p = t.env.path(&format!("{tag}-{mode}.yaml"));
            std::fs::write(&p, &before).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
            let mut vars = required.to_vec();
            vars.push(("LEAFSEAL_EDIT_COPY", mode));
            let out = t.edit(&ed, &vars, &p);
            assert!(
                out.status.success(),
                "{tag} {mode}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let m = std::fs::metadata(&p).expect("stat").permissions().mode();
            assert_eq!(m & 0o7777, 0o640, "{tag} {mode}: mode kept");
            same_but_value(&p, &whole, 1);
            assert_eq!(t.decrypt(&p), want, "{tag} {mode}");
            t.nothing_left(&format!("{tag} {mode}"));
        }
        sops_agrees(&t.env, &t.env.path(&format!("{tag}-direct.yaml")), &want);
    }
    let killer = t.editor("kill", "kill -TERM $PPID\nexec sleep 5");
    for mode in ["direct", "buffered"] {
        let p = t.env.path("killed.yaml");
        std::fs::write(&p, &before).expect("write");
        let mut vars = required.to_vec();
        vars.push(("LEAFSEAL_EDIT_COPY", mode));
        let out = t.edit(&killer, &vars, &p);
        assert_eq!(out.status.code(), Some(128 + 15), "{mode}");
        assert!(std::fs::read(&p).expect("read") == before, "{mode}");
        t.nothing_left(&format!("signal, {mode}"));
    }
}
