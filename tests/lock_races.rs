//! Races between leafseal processes that an adversarial review (round 14) reproduced,
//! through the binary on real files: commands creating the same new file took no lock
//! and compared it anyway (all but the first `--output` were refused as "changed by
//! another program", and a second `edit` of a new file lost its text), and two
//! `decrypt -i` runs naming one file through two hard links waited for each other
//! forever.

#![allow(clippy::disallowed_macros)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::process::Output;
use std::time::Duration;
use std::time::Instant;

use support::*;

/// Waits for every child, killing them all and failing if any runs past `limit`.
fn finish(children: Vec<Child>, limit: Duration) -> Vec<Output> {
    let start = Instant::now();
    let mut children: Vec<Option<Child>> = children.into_iter().map(Some).collect();
    loop {
        let mut running = 0;
        for c in children.iter_mut().flatten() {
            if matches!(c.try_wait(), Ok(None)) {
                running += 1;
            }
        }
        if running == 0 {
            break;
        }
        if start.elapsed() > limit {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
            }
            panic!(
                "{running} leafseal processes still running after {limit:?}: they wait for each other"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    children
        .iter_mut()
        .map(|c| c.take().expect("child").wait_with_output().expect("wait"))
        .collect()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".leafseal-tmp.") || n.ends_with(".leafseal-lock"))
        .collect()
}

#[test]
fn commands_creating_the_same_new_file_all_succeed_and_edits_take_turns() {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let vars = env_vars(None, home.path());
    std::fs::write(work.path().join("p.yaml"), "a: 1\n").expect("plain");
    let args = [
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "--output",
        "new.yaml",
        "p.yaml",
    ];
    for round in 0..3 {
        let _ = std::fs::remove_file(work.path().join("new.yaml"));
        let children = (0..6)
            .map(|_| spawn_in(&vars, work.path(), &args))
            .collect();
        for o in finish(children, Duration::from_secs(60)) {
            ok(&o);
        }
        let o = run_in(&vars, work.path(), &["decrypt", "new.yaml"]);
        ok(&o);
        assert_eq!(o.stdout, b"a: 1\n", "round {round}");
        assert_eq!(temporaries(work.path()), Vec::<String>::new());
    }

    // Two edits of one new file: the second waits, then edits what the first wrote.
    let script = home.path().join("ed.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsleep 0.3\nprintf '%s: added\\n' \"$EDIT_KEY\" >> \"$1\"\n",
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let children = ["first", "second"]
        .iter()
        .map(|k| {
            let mut v = vars.clone();
            v.insert("SOPS_EDITOR".to_owned(), script.display().to_string());
            v.insert("EDIT_KEY".to_owned(), (*k).to_owned());
            spawn_in(
                &v,
                work.path(),
                &["edit", "--age", AGE_RECIPIENT, "fresh.yaml"],
            )
        })
        .collect();
    for o in finish(children, Duration::from_secs(60)) {
        ok(&o);
    }
    let o = run_in(&vars, work.path(), &["decrypt", "fresh.yaml"]);
    ok(&o);
    let plain = String::from_utf8(o.stdout).expect("utf8");
    assert!(plain.contains("first: added"), "{plain}");
    assert!(plain.contains("second: added"), "{plain}");
    assert_eq!(temporaries(work.path()), Vec::<String>::new());
}

#[test]
fn decrypt_in_place_of_one_file_through_two_hard_links_never_waits_forever() {
    let home = tempfile::tempdir().expect("home");
    let vars = env_vars(None, home.path());
    for round in 0..3 {
        let work = tempfile::tempdir().expect("work");
        let w = work.path();
        for f in ["a.yaml", "m.yaml"] {
            std::fs::write(w.join(f), format!("name: {f}\n")).expect("plain");
            ok(&run_in(
                &vars,
                w,
                &["encrypt", "-i", "--age", AGE_RECIPIENT, f],
            ));
        }
        std::fs::hard_link(w.join("a.yaml"), w.join("z.yaml")).expect("link");
        // m.yaml is locked by another leafseal process while both runs start: one locks
        // a.yaml and waits for m.yaml, the other waits for m.yaml and then wants z.yaml,
        // the same file as a.yaml (before: each held what the other wanted).
        let holder = std::fs::File::open(w.join("m.yaml")).expect("open");
        rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).expect("flock");
        let children = vec![
            spawn_in(
                &vars,
                w,
                &["--force-target", "decrypt", "-i", "a.yaml", "m.yaml"],
            ),
            spawn_in(
                &vars,
                w,
                &["--force-target", "decrypt", "-i", "m.yaml", "z.yaml"],
            ),
        ];
        std::thread::sleep(Duration::from_millis(400));
        drop(holder);
        let outs = finish(children, Duration::from_secs(30));
        // One run decrypts the files; the other then finds them decrypted (an error that
        // says so), or does its part first: no hang either way, and the files are plain.
        assert!(outs.iter().any(|o| o.status.success()), "round {round}");
        assert_eq!(
            std::fs::read(w.join("a.yaml")).expect("a"),
            b"name: a.yaml\n"
        );
        assert_eq!(
            std::fs::read(w.join("z.yaml")).expect("z"),
            b"name: a.yaml\n"
        );
        assert_eq!(
            std::fs::read(w.join("m.yaml")).expect("m"),
            b"name: m.yaml\n"
        );
        assert_eq!(temporaries(w), Vec::<String>::new());
    }
}
