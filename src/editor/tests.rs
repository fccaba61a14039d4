#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::command::find_editor;
use super::command::resolve_program;
use super::command::split_words;
use super::*;

/// Serializes the tests that hold workspaces: the panic-hook test wipes every live one.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn words(s: &str) -> Vec<String> {
    split_words(s).unwrap()
}

#[test]
fn split_words_like_a_shell() {
    assert_eq!(words("vim"), ["vim"]);
    assert_eq!(words("  code  --wait\t"), ["code", "--wait"]);
    assert_eq!(
        words(r#"'/opt/My Editor/bin/ed' -c "set ft=yaml""#),
        ["/opt/My Editor/bin/ed", "-c", "set ft=yaml"]
    );
    assert_eq!(
        words(r#"a\ b "x\"y\$z\q" '\n'"#),
        ["a b", r#"x"y$z\q"#, r"\n"]
    );
    assert_eq!(words(r#"ed '' "" x"#), ["ed", "", "", "x"]);
    assert_eq!(words(r#"pre'mid'"end""#), ["premidend"]);
    assert_eq!(words(""), Vec::<String>::new());
    assert!(split_words("'open").is_err());
    assert!(split_words("\"open").is_err());
    assert!(split_words("end\\").is_err());
}

proptest::proptest! {
    #[test]
    fn split_words_never_panics(s in ".*") {
        let _ = split_words(&s);
    }
}

fn exe(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    fs::write(&p, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn resolve_uses_absolute_path_entries_only() {
    let d = tempfile::tempdir().unwrap();
    let bin = d.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let found = exe(&bin, "myed");
    // Not executable: skipped.
    fs::write(bin.join("plain"), "x").unwrap();
    let path = std::env::join_paths([Path::new(""), Path::new("rel"), &bin]).unwrap();
    assert_eq!(
        resolve_program(OsStr::new("myed"), Some(&path)),
        Some(found.clone())
    );
    assert_eq!(resolve_program(OsStr::new("plain"), Some(&path)), None);
    // An empty or relative PATH entry never means the current directory.
    assert_eq!(
        resolve_program(OsStr::new("myed"), Some(OsStr::new(""))),
        None
    );
    assert_eq!(
        resolve_program(OsStr::new("myed"), Some(OsStr::new(".:rel"))),
        None
    );
    assert_eq!(resolve_program(OsStr::new("myed"), None), None);
    // A name with a slash is a path.
    assert_eq!(
        resolve_program(found.as_os_str(), None),
        Some(found.clone())
    );
    assert_eq!(resolve_program(OsStr::new("/nonexistent/ed"), None), None);
    assert_eq!(resolve_program(OsStr::new(""), Some(&path)), None);
}

#[test]
fn editor_selection_order() {
    let d = tempfile::tempdir().unwrap();
    let a = exe(d.path(), "eda");
    let b = exe(d.path(), "edb");
    let vi = exe(d.path(), "vi");
    let nano = exe(d.path(), "nano");
    let path: OsString = d.path().as_os_str().to_owned();
    let env = |pairs: Vec<(&'static str, &'static str)>| {
        let path = path.clone();
        move |k: &str| -> Option<OsString> {
            if k == "PATH" {
                return Some(path.clone());
            }
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(*v))
        }
    };
    let e = find_editor(&env(vec![("SOPS_EDITOR", "eda -x"), ("EDITOR", "edb")])).unwrap();
    assert_eq!(e.program, a);
    assert_eq!(e.args, [OsString::from("-x")]);
    let e = find_editor(&env(vec![("SOPS_EDITOR", "  "), ("EDITOR", "edb 'a b'")])).unwrap();
    assert_eq!(e.program, b);
    assert_eq!(e.args, [OsString::from("a b")]);
    let e = find_editor(&env(vec![("VISUAL", "eda")])).unwrap();
    assert_eq!(e.program, a);
    // Fallback: vim is absent, nano comes before vi.
    let e = find_editor(&env(vec![])).unwrap();
    assert_eq!(e.program, nano);
    fs::remove_file(&nano).unwrap();
    assert_eq!(find_editor(&env(vec![])).unwrap().program, vi);
    fs::remove_file(&vi).unwrap();
    assert_eq!(
        find_editor(&env(vec![])).unwrap_err().code,
        exit::NO_EDITOR_FOUND
    );
    // A configured editor that is missing is an error, not a fall-back.
    let err = find_editor(&env(vec![("EDITOR", "missing-editor")])).unwrap_err();
    assert_eq!(err.code, exit::NO_EDITOR_FOUND);
    assert!(err.message.contains("missing-editor"));
    assert!(find_editor(&env(vec![("EDITOR", "'unterminated")])).is_err());
}

#[test]
fn workspace_is_private_and_wiped() {
    let _g = serial();
    let root = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    let ws = Workspace::create(
        OsStr::new("secrets.yaml"),
        b"password: hunter2\n",
        &[root.path().to_owned()],
        tree.path(),
    )
    .unwrap();
    let dir = ws.dir().to_owned();
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(DIR_PREFIX)
    );
    assert_eq!(ws.file().file_name().unwrap(), "secrets.yaml");
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        fs::metadata(ws.file()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(ws.is_unchanged(&ws.read().unwrap()));
    assert!(!ws.is_unchanged(b"password: other\n"));
    // Editor leftovers (swap files, sub-directories, links) go too.
    fs::write(dir.join(".secrets.yaml.swp"), b"hunter2").unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/x"), b"hunter2").unwrap();
    let outside = root.path().join("outside.txt");
    fs::write(&outside, b"keep").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
    drop(ws);
    assert!(!dir.exists());
    // Links are unlinked, never followed.
    assert_eq!(fs::read(&outside).unwrap(), b"keep");
}

#[test]
fn workspace_skips_roots_inside_the_work_tree() {
    let _g = serial();
    let tree = tempfile::tempdir().unwrap();
    let inside = tree.path().join("tmp");
    fs::create_dir(&inside).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let canon_tree = fs::canonicalize(tree.path()).unwrap();
    let err = Workspace::create(
        OsStr::new("a.yaml"),
        b"x",
        std::slice::from_ref(&inside),
        &canon_tree,
    )
    .unwrap_err();
    assert!(err.message.contains("temporary directory"));
    let ws = Workspace::create(
        OsStr::new("a.yaml"),
        b"x",
        &[inside, outside.path().to_owned()],
        &canon_tree,
    )
    .unwrap();
    assert!(
        ws.dir()
            .starts_with(fs::canonicalize(outside.path()).unwrap())
    );
    ws.remove().unwrap();
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn workspace_rejects_bad_names() {
    let _g = serial();
    let root = tempfile::tempdir().unwrap();
    for bad in ["", ".", "..", "a/b"] {
        assert!(
            Workspace::create(
                OsStr::new(bad),
                b"x",
                &[root.path().to_owned()],
                Path::new("/nonexistent-tree")
            )
            .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn wipe_zeroes_before_unlinking() {
    // An open descriptor keeps the inode alive, so we can observe the overwrite.
    use std::io::Read;
    use std::io::Seek;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("w");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("f"), b"secret-bytes").unwrap();
    let mut witness = fs::File::open(dir.join("f")).unwrap();
    wipe_dir(&dir).unwrap();
    assert!(!dir.exists());
    let mut back = Vec::new();
    witness.rewind().unwrap();
    witness.read_to_end(&mut back).unwrap();
    assert_eq!(back, vec![0u8; 12]);
    wipe_dir(&dir).unwrap();
}

#[test]
fn wipe_never_zeroes_a_file_with_another_link() {
    // The other name may be any file of the user's: it keeps its content.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("w");
    fs::create_dir(&dir).unwrap();
    let precious = root.path().join("precious");
    fs::write(&precious, b"keep-me").unwrap();
    fs::hard_link(&precious, dir.join("f")).unwrap();
    wipe_dir(&dir).unwrap();
    assert!(!dir.exists());
    assert_eq!(fs::read(&precious).unwrap(), b"keep-me");
}

#[test]
fn roots_and_work_tree() {
    let x = tempfile::tempdir().unwrap();
    let xs = x.path().as_os_str().to_owned();
    let roots = temp_roots(&|k| match k {
        "XDG_RUNTIME_DIR" => Some(xs.clone()),
        "TMPDIR" => Some(OsString::from("/var/tmp")),
        _ => None,
    });
    assert_eq!(roots.first().unwrap(), x.path());
    assert_eq!(roots.last().unwrap(), Path::new("/var/tmp"));
    let roots = temp_roots(&|k| match k {
        "XDG_RUNTIME_DIR" => Some(OsString::from("relative")),
        _ => None,
    });
    assert_eq!(roots.last().unwrap(), Path::new("/tmp"));
    assert!(!roots.iter().any(|r| r == Path::new("relative")));

    let repo = tempfile::tempdir().unwrap();
    fs::create_dir_all(repo.path().join(".git")).unwrap();
    fs::create_dir_all(repo.path().join("a/b")).unwrap();
    let canon = fs::canonicalize(repo.path()).unwrap();
    assert_eq!(work_tree_of(&repo.path().join("a/b/s.yaml")), Some(canon));
    assert_eq!(work_tree_of(&repo.path().join("missing/s.yaml")), None);
    assert_eq!(signal_exit_code(15), 143);
}

#[test]
fn panic_hook_wipes_workspaces_even_without_drop() {
    // Release builds use panic = "abort", where no destructor runs: the hook must do it.
    let _g = serial();
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_owned();
    let dir = std::panic::catch_unwind(move || {
        let ws = Workspace::create(
            OsStr::new("s.env"),
            b"TOKEN=secret\n",
            &[root_path],
            Path::new("/nonexistent-tree"),
        )
        .unwrap();
        let dir = ws.dir().to_owned();
        std::mem::forget(ws);
        assert!(dir.exists());
        panic!("boom {}", dir.display());
    })
    .unwrap_err();
    let msg = dir.downcast_ref::<String>().unwrap();
    let dir = Path::new(msg.strip_prefix("boom ").unwrap());
    assert!(!dir.exists());
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
}
