//! (round 21) Key management across the two tools: files with several key groups
//! (Shamir) written by one tool are decrypted, updated (`updatekeys`), rotated and
//! regrouped (`groups add`/`delete`) by the other, and every subset of the identities
//! must open (or fail to open) the result alike in both tools. The data key is kept
//! where sops keeps it. See docs/compatibility.md, "Round 21: key groups and Shamir".

use crate::harness::Out;
use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;

const PLAIN: &str = "a: 1\nb: secret\n";

/// Four fresh age identities made with `leafseal keygen`, and the recipients.
struct Ids {
    recipients: Vec<String>,
}

fn identities(p: &Peer) -> Ids {
    let mut recipients = Vec::new();
    for i in 0..4 {
        let name = format!("id{i}.txt");
        let out = p.run(Tool::Leafseal, &["keygen", "-o", &name]);
        assert!(out.ok(), "keygen: {}", out.stderr);
        let text = String::from_utf8(p.read(&name)).expect("utf8");
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("public key line")
            .to_owned();
        recipients.push(recipient);
    }
    Ids { recipients }
}

/// Writes a key file holding the identities `which` (0-based) and returns its path.
fn key_file(p: &Peer, which: &[usize]) -> String {
    let mut text = String::new();
    for i in which {
        text.push_str(&String::from_utf8(p.read(&format!("id{i}.txt"))).expect("utf8"));
    }
    let name = format!("keys-{}.txt", label(which));
    p.write(&name, text);
    p.path(&name).display().to_string()
}

fn label(which: &[usize]) -> String {
    if which.is_empty() {
        return "none".to_owned();
    }
    which
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Runs `tool args` with only the identities `which`.
fn run_as(p: &Peer, tool: Tool, which: &[usize], args: &[&str]) -> Out {
    let kf = key_file(p, which);
    p.run_with(tool, args, &[("SOPS_AGE_KEY_FILE", &kf)], &[], None)
}

/// Every subset of `0..n`.
fn subsets(n: usize) -> Vec<Vec<usize>> {
    (0..(1u32 << n))
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect()
}

/// Decrypts `file` with every subset of the `n` identities in both tools: same exit code,
/// same output when it succeeds. Returns the differences and the subsets that opened it.
fn subsets_alike(p: &Peer, file: &str, n: usize, what: &str) -> (Vec<String>, Vec<String>) {
    let mut diffs = Vec::new();
    let mut opened = Vec::new();
    for which in subsets(n) {
        let s = run_as(p, Tool::Sops, &which, &["decrypt", file]);
        let l = run_as(p, Tool::Leafseal, &which, &["decrypt", file]);
        if s.code != l.code || s.stdout != l.stdout {
            diffs.push(format!(
                "{what}: identities {{{}}}: sops exit {} ({}), leafseal exit {} ({})",
                label(&which),
                s.code,
                s.stderr.trim(),
                l.code,
                l.stderr.trim()
            ));
        }
        if s.ok() {
            opened.push(label(&which));
        }
    }
    (diffs, opened)
}

/// The encrypted values of a file (its data key is the same while these are).
fn values(p: &Peer, file: &str) -> Vec<String> {
    String::from_utf8_lossy(&p.read(file))
        .lines()
        .filter(|l| l.starts_with("a:") || l.starts_with("b:"))
        .map(str::to_owned)
        .collect()
}

fn policy(groups: &[&[&str]], threshold: Option<u32>) -> String {
    let mut text = String::from("creation_rules:\n  - path_regex: .*\n");
    if let Some(t) = threshold {
        text.push_str(&format!("    shamir_threshold: {t}\n"));
    }
    text.push_str("    key_groups:\n");
    for g in groups {
        text.push_str(&format!("      - age: [{}]\n", g.join(", ")));
    }
    text
}

/// A file that needs 2 of 3 groups opens with the same subsets in both tools, whichever
/// tool wrote it; `decrypt --extract` and `filestatus` agree too.
#[test]
fn two_of_three_groups_open_with_the_same_subsets() {
    let Some(p) = Peer::new(None) else {
        return;
    };
    let ids = identities(&p);
    let r = &ids.recipients;
    p.write(
        ".sops.yaml",
        policy(&[&[&r[0]], &[&r[1]], &[&r[2]]], Some(2)),
    );
    p.write("plain.yaml", PLAIN);
    let mut diffs = Vec::new();
    let mut cases = 0;
    for tool in [Tool::Sops, Tool::Leafseal] {
        let name = format!("{tool:?}.yaml");
        p.write(&name, p.ok(tool, &["encrypt", "plain.yaml"]));
        let (d, opened) = subsets_alike(&p, &name, 3, &name);
        cases += 8;
        diffs.extend(d);
        assert_eq!(opened, ["0+1", "0+2", "1+2", "0+1+2"], "{name}");
        for which in [&[0][..], &[1, 2]] {
            cases += 2;
            let args = ["decrypt", "--extract", "[\"b\"]", name.as_str()];
            let s = run_as(&p, Tool::Sops, which, &args);
            let l = run_as(&p, Tool::Leafseal, which, &args);
            if (s.code, &s.stdout) != (l.code, &l.stdout) {
                diffs.push(format!(
                    "{name} --extract: sops {} leafseal {}",
                    s.code, l.code
                ));
            }
            let s = run_as(&p, Tool::Sops, which, &["filestatus", &name]);
            let l = run_as(&p, Tool::Leafseal, which, &["filestatus", &name]);
            if (s.code, s.text().trim()) != (l.code, l.text().trim()) {
                diffs.push(format!("{name} filestatus: {} vs {}", s.text(), l.text()));
            }
        }
    }
    assert_no_differences("2 of 3 key groups", cases, &diffs);
}

/// sops 3.11 `groups add`/`groups delete --shamir-secret-sharing-threshold 1` writes
/// `shamir_threshold: 1` over the shares of the previous split (its split refuses 1 and
/// the error is dropped). sops opens such a file with enough groups; leafseal failed on
/// every subset ("at least two shares are needed (got 1)", exit 128).
#[test]
fn sops_files_with_threshold_one_open_as_in_sops() {
    let Some(p) = Peer::new(None) else {
        return;
    };
    let ids = identities(&p);
    let r = &ids.recipients;
    p.write(
        ".sops.yaml",
        policy(&[&[&r[0]], &[&r[1]], &[&r[2]]], Some(2)),
    );
    p.write("plain.yaml", PLAIN);
    let base = p.ok(Tool::Sops, &["encrypt", "plain.yaml"]);
    let mut diffs = Vec::new();
    let all = [0, 1, 2, 3];
    let threshold_one = ["--shamir-secret-sharing-threshold", "1", "-i"];
    p.write("added.yaml", &base);
    let mut add = vec!["groups", "add", "--file", "added.yaml", "--age", &r[3]];
    add.extend(threshold_one);
    let o = run_as(&p, Tool::Sops, &all, &add);
    assert!(o.ok(), "sops groups add: {}", o.stderr);
    p.write("deleted.yaml", &base);
    let mut del = vec!["groups", "delete", "--file", "deleted.yaml"];
    del.extend(threshold_one);
    del.push("0");
    let o = run_as(&p, Tool::Sops, &all, &del);
    assert!(o.ok(), "sops groups delete: {}", o.stderr);
    // Shares of a 3-of-3 split under `shamir_threshold: 1`: two groups combine into a
    // wrong key, which both tools report as a value that fails authentication (exit 25).
    let three = p.ok(
        Tool::Sops,
        &[
            "encrypt",
            "--shamir-secret-sharing-threshold",
            "3",
            "plain.yaml",
        ],
    );
    let three = String::from_utf8(three).expect("utf8");
    assert!(three.contains("shamir_threshold: 3"), "{three}");
    p.write(
        "edited.yaml",
        three.replace("shamir_threshold: 3", "shamir_threshold: 1"),
    );
    for file in ["added.yaml", "deleted.yaml", "edited.yaml"] {
        let text = String::from_utf8_lossy(&p.read(file)).into_owned();
        assert!(text.contains("shamir_threshold: 1"), "{file}:\n{text}");
        let (d, opened) = subsets_alike(&p, file, 4, file);
        diffs.extend(d);
        assert!(opened.contains(&"0+1+2+3".to_owned()), "{file}: {opened:?}");
    }
    assert_eq!(
        run_as(&p, Tool::Sops, &[0, 1], &["decrypt", "edited.yaml"]).code,
        25
    );
    // `doctor` judges such a file by the two shares it takes (it said "ok" with one).
    for (which, code) in [(&[0][..], 128), (&[0, 1][..], 0)] {
        let o = run_as(&p, Tool::Leafseal, which, &["doctor", "added.yaml"]);
        assert_eq!(
            o.code,
            code,
            "doctor with {which:?}: {}{}",
            o.text(),
            o.stderr
        );
    }
    assert_no_differences("threshold 1 written by sops", 48, &diffs);
}

/// The metadata line `shamir_threshold: N` of a YAML file, if any.
fn threshold_line(p: &Peer, file: &str) -> Option<String> {
    String::from_utf8_lossy(&p.read(file))
        .lines()
        .find(|l| l.trim_start().starts_with("shamir_threshold:"))
        .map(|l| l.trim().to_owned())
}

/// `updatekeys -y` after a policy change (a recipient added to a group, one replaced, a
/// group added, a group removed), on a file the other tool wrote: the data key is kept,
/// the threshold stays, and the same subsets open the result as open sops's own update.
#[test]
fn updatekeys_across_tools_opens_with_the_same_subsets() {
    let Some(p) = Peer::new(None) else {
        return;
    };
    let ids = identities(&p);
    let r = &ids.recipients;
    let (r0, r1, r2, r3) = (&r[0][..], &r[1][..], &r[2][..], &r[3][..]);
    p.write(".sops.yaml", policy(&[&[r0], &[r1], &[r2]], Some(2)));
    p.write("plain.yaml", PLAIN);
    let made_by_sops = p.ok(Tool::Sops, &["encrypt", "plain.yaml"]);
    let made_by_leafseal = p.ok(Tool::Leafseal, &["encrypt", "plain.yaml"]);
    let changes: [(&str, String); 4] = [
        ("add-recipient", policy(&[&[r0, r3], &[r1], &[r2]], Some(2))),
        ("replace-recipient", policy(&[&[r0], &[r1], &[r3]], Some(2))),
        ("add-group", policy(&[&[r0], &[r1], &[r2], &[r3]], Some(2))),
        ("remove-group", policy(&[&[r0], &[r1]], Some(2))),
    ];
    let all = [0, 1, 2, 3];
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (change, text) in &changes {
        p.write(".sops.yaml", text);
        let mut opened_by = Vec::new();
        for (maker, updater, base) in [
            (Tool::Sops, Tool::Sops, &made_by_sops),
            (Tool::Sops, Tool::Leafseal, &made_by_sops),
            (Tool::Leafseal, Tool::Sops, &made_by_leafseal),
        ] {
            cases += 1;
            let name = format!("{change}-{maker:?}-{updater:?}.yaml");
            p.write(&name, base);
            let before = values(&p, &name);
            let o = run_as(&p, updater, &all, &["updatekeys", "-y", &name]);
            if !o.ok() {
                diffs.push(format!("{name}: updatekeys exit {}: {}", o.code, o.stderr));
                continue;
            }
            if values(&p, &name) != before {
                diffs.push(format!(
                    "{name}: the values changed (sops keeps the data key)"
                ));
            }
            if threshold_line(&p, &name).as_deref() != Some("shamir_threshold: 2") {
                diffs.push(format!("{name}: threshold {:?}", threshold_line(&p, &name)));
            }
            let (d, opened) = subsets_alike(&p, &name, 4, &name);
            diffs.extend(d);
            opened_by.push((name, opened));
        }
        for (name, opened) in &opened_by[1..] {
            if *opened != opened_by[0].1 {
                diffs.push(format!(
                    "{name}: opened by {opened:?}, sops's own update by {:?}",
                    opened_by[0].1
                ));
            }
        }
    }
    assert_no_differences("updatekeys across tools", cases, &diffs);
}

/// `rotate --add-age` puts the key into the first group in both tools; `--rm-age` of a
/// group's only key is refused by both (exit 1) and leaves the file as it was.
#[test]
fn rotate_on_key_groups_as_sops() {
    let Some(p) = Peer::new(None) else {
        return;
    };
    let ids = identities(&p);
    let r = &ids.recipients;
    p.write(
        ".sops.yaml",
        policy(&[&[&r[0]], &[&r[1]], &[&r[2]]], Some(2)),
    );
    p.write("plain.yaml", PLAIN);
    let base = p.ok(Tool::Sops, &["encrypt", "plain.yaml"]);
    let all = [0, 1, 2, 3];
    let mut diffs = Vec::new();
    let mut opened_by = Vec::new();
    for tool in [Tool::Sops, Tool::Leafseal] {
        let name = format!("add-{tool:?}.yaml");
        p.write(&name, &base);
        let o = run_as(&p, tool, &all, &["rotate", "-i", "--add-age", &r[3], &name]);
        assert!(o.ok(), "{name}: {}", o.stderr);
        let (d, opened) = subsets_alike(&p, &name, 4, &name);
        diffs.extend(d);
        opened_by.push(opened);
        let name = format!("rm-{tool:?}.yaml");
        p.write(&name, &base);
        let o = run_as(&p, tool, &all, &["rotate", "-i", "--rm-age", &r[2], &name]);
        if o.code != 1 || p.read(&name) != base {
            diffs.push(format!("{name}: exit {} (sops: 1, file kept)", o.code));
        }
    }
    assert!(opened_by[0].contains(&"1+3".to_owned()), "{opened_by:?}");
    if opened_by[0] != opened_by[1] {
        diffs.push(format!("rotate --add-age: {opened_by:?}"));
    }
    assert_no_differences("rotate on key groups", 4, &diffs);
}

/// `groups add` and `groups delete` on the other tool's file give files that open with
/// the same subsets. Deliberate: a threshold above the number of groups is refused by
/// leafseal (exit 8, file kept) where sops 3.11 writes a file that no key opens.
#[test]
fn groups_add_and_delete_across_tools() {
    let Some(p) = Peer::new(None) else {
        return;
    };
    let ids = identities(&p);
    let r = &ids.recipients;
    p.write(
        ".sops.yaml",
        policy(&[&[&r[0]], &[&r[1]], &[&r[2]]], Some(2)),
    );
    p.write("plain.yaml", PLAIN);
    let made_by_sops = p.ok(Tool::Sops, &["encrypt", "plain.yaml"]);
    let made_by_leafseal = p.ok(Tool::Leafseal, &["encrypt", "plain.yaml"]);
    let all = [0, 1, 2, 3];
    let mut diffs = Vec::new();
    let ops: [Vec<&str>; 5] = [
        vec!["add", "--age", &r[3]],
        vec![
            "add",
            "--age",
            &r[3],
            "--shamir-secret-sharing-threshold",
            "3",
        ],
        vec!["delete", "1"],
        // 0 is no threshold: sops keeps the file's (leafseal wrote 4 of 4).
        vec![
            "add",
            "--age",
            &r[3],
            "--shamir-secret-sharing-threshold",
            "0",
        ],
        vec!["delete", "--shamir-secret-sharing-threshold", "0", "0"],
    ];
    for op in &ops {
        let mut opened_by = Vec::new();
        for (tool, base) in [
            (Tool::Sops, &made_by_leafseal),
            (Tool::Leafseal, &made_by_sops),
        ] {
            let name = format!("{}-{tool:?}.yaml", op.join("_").replace(&r[3], "r3"));
            p.write(&name, base);
            let mut args = vec!["groups", op[0], "--file", &name, "-i"];
            args.extend(&op[1..]);
            let o = run_as(&p, tool, &all, &args);
            assert!(o.ok(), "{name}: {}", o.stderr);
            let (d, opened) = subsets_alike(&p, &name, 4, &name);
            diffs.extend(d);
            opened_by.push((threshold_line(&p, &name), opened));
        }
        if opened_by[0] != opened_by[1] {
            diffs.push(format!("groups {op:?}: sops / leafseal {opened_by:?}"));
        }
    }
    // Out of range: both refuse and keep the file (sops panics, exit 2; leafseal 1).
    p.write("range.yaml", &made_by_sops);
    for tool in [Tool::Sops, Tool::Leafseal] {
        let o = run_as(
            &p,
            tool,
            &all,
            &["groups", "delete", "--file", "range.yaml", "-i", "3"],
        );
        if o.ok() || p.read("range.yaml") != made_by_sops {
            diffs.push(format!(
                "{tool:?} groups delete 3 of 3 groups: exit {}",
                o.code
            ));
        }
    }
    // Deliberate: a threshold no set of groups can meet.
    let too_high = ["--shamir-secret-sharing-threshold", "5", "--age", &r[3]];
    for tool in [Tool::Sops, Tool::Leafseal] {
        let name = format!("lockout-{tool:?}.yaml");
        p.write(&name, &made_by_sops);
        let mut args = vec!["groups", "add", "--file", &name, "-i"];
        args.extend(too_high);
        let o = run_as(&p, tool, &all, &args);
        match tool {
            Tool::Sops => {
                assert!(o.ok(), "sops 3.11 accepts it: {}", o.stderr);
                let opened = run_as(&p, Tool::Sops, &all, &["decrypt", &name]);
                assert_eq!(opened.code, 128, "sops's own file no longer opens");
            }
            Tool::Leafseal => {
                assert_eq!(o.code, 8, "{}", o.stderr);
                assert_eq!(p.read(&name), made_by_sops, "file kept");
            }
        }
    }
    assert_no_differences("groups add/delete", ops.len() * 2 + 2, &diffs);
}
