//! Shared test support: fixture paths, a temporary GnuPG home with the sops test keys,
//! and a hermetic key context.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use leafseal::keys::KeyContext;

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A sops fixture file.
pub fn sops_fixture(rel: &str) -> PathBuf {
    fixtures().join("sops").join(rel)
}

/// The age test identity that opens the age fixtures.
pub fn age_key_file() -> PathBuf {
    sops_fixture("keys/age-test-keys.txt")
}

/// The age test recipient.
pub const AGE_RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
/// The first PGP test key.
pub const PGP_FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

/// A temporary GNUPGHOME with the sops functional-test keys imported. The gpg-agent it
/// starts is stopped on drop.
pub struct GpgHome {
    pub dir: tempfile::TempDir,
}

impl GpgHome {
    pub fn new() -> GpgHome {
        let dir = tempfile::Builder::new()
            .prefix("ls-gpg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        let out = Command::new("gpg")
            .env("GNUPGHOME", dir.path())
            .args(["--batch", "--quiet", "--import"])
            .arg(sops_fixture("keys/sops_functional_tests_key.asc"))
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        GpgHome { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.dir.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Environment variables for a hermetic run: an empty HOME, the gpg home, the age key.
pub fn env_vars(gpg: Option<&GpgHome>, home: &Path) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("HOME".to_owned(), home.display().to_string());
    vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    if let Some(g) = gpg {
        vars.insert("GNUPGHOME".to_owned(), g.path().display().to_string());
    }
    vars.insert(
        "SOPS_AGE_KEY_FILE".to_owned(),
        age_key_file().display().to_string(),
    );
    vars
}

/// [`env_vars`] without a gpg home, plus git with no system configuration and a fixed
/// author and committer (`t <t@example.invalid>`).
pub fn git_env_vars(home: &Path) -> HashMap<String, String> {
    let mut vars = env_vars(None, home);
    for (k, v) in [
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "t"),
        ("GIT_AUTHOR_EMAIL", "t@example.invalid"),
        ("GIT_COMMITTER_NAME", "t"),
        ("GIT_COMMITTER_EMAIL", "t@example.invalid"),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    vars
}

/// A key context with the test keys.
pub fn key_context(gpg: Option<&GpgHome>, home: &Path) -> KeyContext {
    KeyContext::with_vars(env_vars(gpg, home))
}

/// The leafseal binary under test, with a cleared environment plus `vars`.
pub fn leafseal(vars: &HashMap<String, String>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_leafseal"));
    c.env_clear().envs(vars);
    c
}

/// Runs the leafseal binary in `dir` with only `vars` and no stdin.
pub fn run_in(vars: &HashMap<String, String>, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = leafseal(vars);
    c.current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null());
    c.output().expect("run leafseal")
}

/// Starts the leafseal binary in `dir` with only `vars`, no stdin, and its output piped
/// (for runs that must overlap).
pub fn spawn_in(vars: &HashMap<String, String>, dir: &Path, args: &[&str]) -> std::process::Child {
    let mut c = leafseal(vars);
    c.current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c.spawn().expect("spawn leafseal")
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `THP_enabled` (transparent huge pages allowed) of a process, `"self"` for this one,
/// from `/proc/PID/status`; `None` on a kernel that does not show it.
pub fn thp_enabled(pid: &str) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim() == "1")
}

/// A generated age identity: its secret key and its recipient.
pub struct Id {
    pub secret: String,
    pub recipient: String,
}

/// Generates a new age identity.
pub fn new_id() -> Id {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    Id {
        secret: id.to_string().expose_secret().to_owned(),
        recipient: id.to_public().to_string(),
    }
}

/// A new passphrase-less ed25519 SSH key `dir/name` (its public half `name.pub` beside it);
/// returns the private key's path.
pub fn ssh_key(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&p)
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p
}

/// Runs git in `dir` with HOME at `home`, no system configuration, a fixed author and no
/// commit signing; fails the test with git's message when git fails. Returns its output.
pub fn git_in(dir: &Path, home: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf8")
}
