use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::WriteOptions;
use super::lock;
use super::replace;
use super::target;
use super::temp;
use super::write;

#[test]
fn temp_names_are_recognised_and_nothing_else() {
    assert_eq!(
        temp::tmp_pid(".s.yaml.leafseal-tmp.1234.0123456789abcdef"),
        Some(1234)
    );
    for other in [
        "s.yaml",
        ".s.yaml.leafseal-tmp.1234",
        ".s.yaml.leafseal-tmp.12x4.0123456789abcdef",
        ".s.yaml.leafseal-tmp.1234.0123456789abcde",
        "s.yaml.leafseal-tmp.1234.0123456789abcdef",
        ".s.yaml.other-tmp.1234.0123456789abcdef",
    ] {
        assert_eq!(temp::tmp_pid(other), None, "{other}");
    }
}

#[test]
fn stale_temps_of_dead_processes_are_removed_live_ones_kept() {
    let d = tempfile::tempdir().expect("dir");
    // Above the largest pid Linux hands out: never alive.
    let dead = d
        .path()
        .join(".a.yaml.leafseal-tmp.4194399.0123456789abcdef");
    let live = d.path().join(format!(
        ".a.yaml.leafseal-tmp.{}.0123456789abcdef",
        std::os::unix::process::parent_id()
    ));
    let other = d.path().join(".a.yaml.1234.tmp");
    // Of a dead process id, but locked (a live writer in another PID namespace): kept.
    let locked = d
        .path()
        .join(".b.yaml.leafseal-tmp.4194398.0123456789abcdef");
    for p in [&dead, &live, &other, &locked] {
        std::fs::write(p, b"x").expect("write");
    }
    let holder = std::fs::File::open(&locked).expect("open");
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    assert_eq!(temp::remove_stale(d.path()), 1);
    assert!(!dead.exists());
    assert!(live.exists());
    assert!(other.exists());
    assert!(locked.exists());
    drop(holder);
    assert_eq!(temp::remove_stale(d.path()), 1);
    assert!(!locked.exists());
}

#[test]
fn dangling_links_resolve_to_the_file_they_name() {
    let d = tempfile::tempdir().expect("dir");
    std::os::unix::fs::symlink("sub/new.yaml", d.path().join("l.yaml")).expect("link");
    std::fs::create_dir(d.path().join("sub")).expect("dir");
    let t = target::resolve(&d.path().join("l.yaml")).expect("resolve");
    let real = std::fs::canonicalize(d.path()).expect("canon");
    assert_eq!(t.path, real.join("sub/new.yaml"));
    assert!(t.existing.is_none());
    assert_eq!(
        target::check(&t, &WriteOptions::default()).expect("inside"),
        target::Mode::Replace
    );
}

#[test]
fn link_loops_are_an_error() {
    let d = tempfile::tempdir().expect("dir");
    std::os::unix::fs::symlink("b", d.path().join("a")).expect("link");
    std::os::unix::fs::symlink("a", d.path().join("b")).expect("link");
    let e = target::resolve(&d.path().join("a")).expect_err("loop");
    assert!(e.message.contains("too many levels"), "{}", e.message);
}

#[test]
fn the_root_is_the_work_tree_else_the_policy_dir_else_the_directory() {
    let d = tempfile::tempdir().expect("dir");
    let base = std::fs::canonicalize(d.path()).expect("canon");
    std::fs::create_dir_all(base.join("repo/.git")).expect("git");
    std::fs::create_dir_all(base.join("repo/a/b")).expect("dirs");
    std::fs::create_dir_all(base.join("plain/c")).expect("dirs");
    assert_eq!(
        target::root_of(&base.join("repo/a/b/s.yaml"), None),
        base.join("repo")
    );
    assert_eq!(
        target::root_of(&base.join("plain/c/s.yaml"), Some(&base.join("plain"))),
        base.join("plain")
    );
    // A policy elsewhere does not widen the root of a file outside it.
    assert_eq!(
        target::root_of(&base.join("plain/c/s.yaml"), Some(&base.join("repo"))),
        base.join("plain/c")
    );
    assert_eq!(
        target::root_of(&base.join("repo/a/../a/b/s.yaml"), None),
        base.join("repo")
    );
}

#[test]
fn a_new_file_is_private_and_an_existing_one_keeps_its_mode() {
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("new.yaml");
    super::atomic_write(&p, b"one").expect("write");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&p), 0o600);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    super::atomic_write(&p, b"two").expect("write");
    assert_eq!(mode(&p), 0o644);
    assert_eq!(std::fs::read(&p).expect("read"), b"two");
    let left: Vec<_> = std::fs::read_dir(d.path()).expect("dir").collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn the_lock_is_exclusive_and_follows_replacements() {
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("s.yaml");
    std::fs::write(&p, b"one").expect("write");
    let t = target::resolve(&p).expect("resolve");
    let held = match lock::take(&t, lock::Wait::Block(&|| {}), lock::Absent::Nothing).expect("lock")
    {
        lock::Taken::Held(Some(l)) => l,
        other => panic!("not locked: {other:?}"),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let t2 = t.clone();
    let waiter = std::thread::spawn(move || {
        let l = lock::take(
            &t2,
            lock::Wait::Block(&|| {
                let _ = tx.send(());
            }),
            lock::Absent::Nothing,
        );
        matches!(l, Ok(lock::Taken::Held(Some(_))))
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the second lock waits");
    // Replace the file (as a writer does), then release: the waiter must relock the new one.
    super::atomic_write(&p, b"two").expect("write");
    drop(held);
    assert!(waiter.join().expect("join"));
}

#[test]
fn a_large_temporary_file_is_written_whole_with_its_writeback_started_on_the_way() {
    use std::io::Write;
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("t");
    let every = usize::try_from(replace::EARLY_WRITEBACK).expect("fits");
    // One buffer of several pieces, then small writes past the next threshold.
    let big: Vec<u8> = (0..every * 2 + 12_345).map(|i| (i % 251) as u8).collect();
    let mut f = std::fs::File::create(&p).expect("create");
    let mut t = replace::Tracked::new(&mut f);
    t.write_all(&big).expect("write");
    assert_eq!(t.written, big.len() as u64);
    assert_eq!(
        t.flushed,
        2 * replace::EARLY_WRITEBACK,
        "writeback started per piece"
    );
    for _ in 0..every / 1000 {
        t.write_all(&big[..1000]).expect("write");
    }
    assert!(t.written - t.flushed < replace::EARLY_WRITEBACK);
    assert!(t.flushed > 2 * replace::EARLY_WRITEBACK);
    drop(t);
    drop(f);
    let back = std::fs::read(&p).expect("read");
    assert_eq!(back.len(), big.len() + every / 1000 * 1000);
    assert!(back[..big.len()] == big[..]);
    assert!(back[big.len()..].chunks(1000).all(|c| c == &big[..1000]));
}

#[test]
fn a_large_file_is_read_in_parallel_ranges_to_the_same_bytes() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("big.bin");
    // Not a multiple of the thread count, nor of any page size.
    let data: Vec<u8> = (0..(super::PARALLEL_READ_MIN + 12_345))
        .map(|i| (i * 7 + i / 4093) as u8)
        .collect();
    std::fs::write(&p, &data).expect("write");
    let read = super::read_input(&p.display().to_string()).expect("read");
    assert!(read.as_slice() == data.as_slice());
    let small = dir.path().join("small.bin");
    std::fs::write(&small, &data[..1000]).expect("write");
    let read = super::read_input(&small.display().to_string()).expect("read");
    assert!(read.as_slice() == &data[..1000]);
}

#[test]
fn an_open_file_is_read_whole_also_when_it_grew_after_its_size_was_taken() {
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("f.yaml");
    let path = p.display().to_string();
    for (first, more) in [
        (&b"a: 1\n"[..], &b""[..]),
        (b"", b""),
        (b"", b"late: 2\n"),
        (b"a: 1\n", b"b: 2\n"),
        (b"a: 1\n", &[b'x'; 200][..]),
    ] {
        std::fs::write(&p, first).expect("write");
        let f = std::fs::File::open(&p).expect("open");
        let meta = f.metadata().expect("meta");
        let mut grow = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("append");
        std::io::Write::write_all(&mut grow, more).expect("grow");
        let got = super::read_opened(&path, f, Some(&meta)).expect("read");
        assert_eq!(&got[..], [first, more].concat().as_slice());
        assert_eq!(&super::read_input(&path).expect("read")[..], &got[..]);
    }
}

/// A change another program makes to a file, by name.
type Change = (&'static str, fn(&Path));

/// What another program may do to a locked file between the read and the write.
fn changes() -> Vec<Change> {
    vec![
        ("append", |p| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .expect("open");
            std::io::Write::write_all(&mut f, b"b: 2\n").expect("append");
        }),
        ("same length, in place, time kept", |p| {
            let m = std::fs::metadata(p).expect("meta");
            // Past the file system's timestamp tick (coarse before Linux 6.13: a few ms),
            // so that the change time moves.
            std::thread::sleep(std::time::Duration::from_millis(30));
            std::fs::write(p, b"a: 9\n").expect("rewrite");
            // The modification time put back: the change time still moves.
            let f = std::fs::File::options().write(true).open(p).expect("open");
            f.set_modified(m.modified().expect("mtime")).expect("touch");
        }),
        ("renamed over", |p| {
            let other = p.with_extension("new");
            std::fs::write(&other, b"a: 1\n").expect("write");
            std::fs::rename(&other, p).expect("rename");
        }),
        ("truncated", |p| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .expect("open")
                .set_len(0)
                .expect("truncate");
        }),
        ("linked", |p| {
            std::fs::hard_link(p, p.with_extension("link")).expect("link");
        }),
        ("removed", |p| std::fs::remove_file(p).expect("remove")),
    ]
}

/// Every file in `dir` but `keep`.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_locked_file_another_program_changed_is_not_written_over() {
    for (what, change) in changes() {
        for force in [false, true] {
            let d = tempfile::tempdir().expect("dir");
            let p = d.path().join("s.yaml");
            std::fs::write(&p, b"a: 1\n").expect("write");
            if force {
                // A hard-linked file: written in place (`--force-target`).
                std::fs::hard_link(&p, d.path().join("s.other")).expect("link");
            }
            let opts = WriteOptions {
                force_target: force,
                ..Default::default()
            };
            let dest = write::Destination::open(&p, &opts)
                .and_then(|t| t.lock(&|| {}))
                .expect("lock");
            change(&p);
            let after = std::fs::read(&p).ok();
            let e = dest.write(b"a: 2\n").expect_err(what);
            assert_eq!(e.code, 3, "{what}");
            assert!(
                e.message.contains("was changed by another program"),
                "{what}: {}",
                e.message
            );
            assert_eq!(std::fs::read(&p).ok(), after, "{what}: left as it was");
            assert_eq!(
                others(d.path(), &["s.yaml", "s.link", "s.other"]),
                Vec::<String>::new(),
                "{what}: no temporary file"
            );
        }
    }
}

#[test]
fn a_file_created_after_the_lock_found_none_is_not_written_over() {
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("new.yaml");
    let dest = write::Destination::open(&p, &WriteOptions::default())
        .and_then(|t| t.lock(&|| {}))
        .expect("lock");
    std::fs::write(&p, b"theirs\n").expect("write");
    let e = dest.write(b"ours\n").expect_err("created meanwhile");
    assert_eq!(e.code, 3);
    assert_eq!(std::fs::read(&p).expect("read"), b"theirs\n");
}

#[test]
fn an_unchanged_locked_file_is_written_and_written_again() {
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("s.yaml");
    std::fs::write(&p, b"a: 1\n").expect("write");
    let dest = write::Destination::open(&p, &WriteOptions::default())
        .and_then(|t| t.lock(&|| {}))
        .expect("lock");
    dest.write(b"a: 2\n").expect("first write");
    // The second write replaces leafseal's own first one: not another program's change.
    dest.write(b"a: 3\n").expect("second write");
    assert_eq!(std::fs::read(&p).expect("read"), b"a: 3\n");
    // Without the lock (a plain output), nothing is compared.
    let q = d.path().join("out.yaml");
    let plain = write::Destination::open(&q, &WriteOptions::default()).expect("open");
    std::fs::write(&q, b"x\n").expect("write");
    plain.write(b"y\n").expect("unlocked write");
    assert_eq!(std::fs::read(&q).expect("read"), b"y\n");
}

#[test]
fn the_file_a_locked_write_puts_in_place_stays_locked_until_the_writer_is_done() {
    // The new file's mode is set after the rename (it is 0600 until then), which changes
    // its status change time: another leafseal process that locked it at once and took
    // its snapshot would then find it "changed by another program" (a CI failure of a
    // hundred parallel `set`s). The writer locks the new file before the rename and keeps
    // it until it is dropped; a second write through it still works.
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("s.yaml");
    std::fs::write(&p, b"a: 1\n").expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let first = write::Destination::open(&p, &WriteOptions::default())
        .and_then(|t| t.lock(&|| {}))
        .expect("lock");
    first.write(b"a: 2\n").expect("first write");
    second_locker_waits(&p, (b"a: 3\n", b"a: 4\n"), || {
        first
            .write(b"a: 3\n")
            .expect("second write through the first");
        drop(first);
    });
    assert_eq!(std::fs::read(&p).expect("read"), b"a: 4\n");
    let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn locking_several_files_that_do_not_exist_in_one_directory_returns_at_once() {
    // `lock_all` locks only files that exist (`decrypt -i`: the read of a missing one
    // fails), and nothing is waited for.
    let d = tempfile::tempdir().expect("dir");
    let dests = ["x.yaml", "y.yaml"]
        .iter()
        .map(|n| write::Destination::open(&d.path().join(n), &WriteOptions::default()))
        .collect::<Result<Vec<_>, _>>()
        .expect("open");
    let start = std::time::Instant::now();
    let locked = write::Destination::lock_all(dests, &|p| panic!("waited for {}", p.display()))
        .expect("lock_all");
    assert_eq!(locked.len(), 2);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_new_files_name_lock_is_exclusive_removed_when_done_and_stale_ones_are_cleared() {
    let d = tempfile::tempdir().expect("dir");
    let p = d.path().join("new.yaml");
    let name_lock = d.path().join(".new.yaml.leafseal-lock");
    let first = write::Destination::open(&p, &WriteOptions::default())
        .and_then(|t| t.lock(&|| {}))
        .expect("lock");
    assert!(name_lock.exists(), "the name is locked by a file");
    // Another new file in the directory does not wait.
    let other = write::Destination::open(&d.path().join("other.yaml"), &WriteOptions::default())
        .and_then(|t| t.lock(&|| panic!("a new file of another name waited")))
        .expect("other lock");
    drop(other);
    // The same name does, and then finds the file the first wrote.
    second_locker_waits(&p, (b"a: 1\n", b"a: 2\n"), || {
        first.write(b"a: 1\n").expect("first write");
        drop(first);
    });
    assert_eq!(std::fs::read(&p).expect("read"), b"a: 2\n");
    assert!(!name_lock.exists(), "the name's lock file is removed");
    // One left by a killed process is removed by a later write when no one holds it.
    std::fs::write(&name_lock, b"").expect("stale");
    assert_eq!(temp::remove_stale(d.path()), 1);
    assert!(!name_lock.exists());
}

/// A second locker of `p` (a thread standing for another process) must wait; once it
/// does, `release` runs (the first holder writes and lets go), and the second then
/// finds `found` in the file and writes `next` through its own lock.
fn second_locker_waits(p: &Path, (found, next): (&[u8], &[u8]), release: impl FnOnce()) {
    let waited = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let second = s.spawn(|| {
            let dest = write::Destination::open(p, &WriteOptions::default())
                .and_then(|t| t.lock(&|| waited.store(true, std::sync::atomic::Ordering::SeqCst)))
                .expect("second lock");
            assert_eq!(std::fs::read(p).expect("read"), found);
            dest.write(next).expect("the second locker's write");
        });
        while !waited.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(!second.is_finished(), "the second locker did not wait");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        release();
        second.join().expect("second");
    });
}
