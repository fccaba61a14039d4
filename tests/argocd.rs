//! The Argo CD config management plugin (integrations/argocd/plugin.yaml) run the way the
//! argocd-repo-server sidecar runs it: its `generate` and `discover` commands through
//! `sh -c`, in the application's source path, with Argo CD's build environment.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;

use leafseal::format::Format;
use leafseal::tree::Map;
use leafseal::tree::SeqItem;
use leafseal::tree::Value;
use support::*;

fn plugin() -> Map {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/argocd/plugin.yaml");
    let bytes = std::fs::read(path).expect("plugin.yaml");
    let mut doc = Format::Yaml.store().load(&bytes).expect("parse").doc;
    doc.branches.remove(0)
}

fn get<'a>(m: &'a Map, path: &[&str]) -> &'a Value {
    let mut v = m.get(path[0]).expect("field");
    for p in &path[1..] {
        v = v
            .as_map()
            .and_then(|m| m.get(p))
            .unwrap_or_else(|| panic!("no {p}"));
    }
    v
}

fn strings(v: &Value) -> Vec<String> {
    let Value::Seq(items) = v else {
        panic!("not a list")
    };
    items
        .iter()
        .filter_map(|i| match i {
            SeqItem::Value(v) => v.as_str().map(str::to_owned),
            SeqItem::Comment(_) => None,
        })
        .collect()
}

/// The command line of `spec.generate` or `spec.discover.find`.
fn plugin_command(section: &[&str]) -> Vec<String> {
    let p = plugin();
    let mut path: Vec<&str> = vec!["spec"];
    path.extend_from_slice(section);
    let mut cmd = path.clone();
    cmd.push("command");
    let mut args = path;
    args.push("args");
    let mut out = strings(get(&p, &cmd));
    out.extend(strings(get(&p, &args)));
    out
}

struct Sidecar {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    env: HashMap<String, String>,
}

impl Sidecar {
    /// A sidecar: `leafseal` and `kubectl` on PATH, the kustomize plugin installed, the
    /// age key in the environment.
    fn new() -> Sidecar {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().to_owned();
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leafseal"), bin.join("leafseal"))
            .expect("symlink");
        let plugins = root.join("plugins");
        let mut env = HashMap::new();
        env.insert("HOME".to_owned(), root.display().to_string());
        env.insert(
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", bin.display()),
        );
        env.insert(
            "KUSTOMIZE_PLUGIN_HOME".to_owned(),
            plugins.display().to_string(),
        );
        env.insert(
            "SOPS_AGE_KEY_FILE".to_owned(),
            age_key_file().display().to_string(),
        );
        let out = leafseal(&env)
            .args(["kustomize", "install-plugin", "--leafseal"])
            .arg(bin.join("leafseal"))
            .output()
            .expect("install");
        assert!(out.status.success());
        Sidecar {
            _tmp: tmp,
            root,
            env,
        }
    }

    fn encrypt(&self, path: &Path, plain: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let out = leafseal(&self.env)
            .args([
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                "--encrypted-regex",
                "^(data|stringData)$",
                "--filename-override",
                &name,
                "-",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(plain.as_bytes())?;
                c.wait_with_output()
            })
            .expect("encrypt");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(path, out.stdout).expect("write");
    }

    /// Runs a plugin command as the sidecar does for an Application whose source path
    /// is `app` (relative to the repository root `repo`).
    fn run(&self, cmd: &[String], repo: &Path, app: &str, extra: &[(&str, &str)]) -> Output {
        let mut env = self.env.clone();
        for (k, v) in [
            ("ARGOCD_APP_NAME", "guestbook"),
            ("ARGOCD_APP_NAMESPACE", "apps"),
            ("ARGOCD_APP_PROJECT_NAME", "default"),
            (
                "ARGOCD_APP_REVISION",
                "0123456789abcdef0123456789abcdef01234567",
            ),
            ("ARGOCD_APP_REVISION_SHORT", "0123456"),
            ("ARGOCD_APP_SOURCE_PATH", app),
            (
                "ARGOCD_APP_SOURCE_REPO_URL",
                "https://git.example.com/org/deploy.git",
            ),
            ("ARGOCD_APP_SOURCE_TARGET_REVISION", "HEAD"),
            ("KUBE_VERSION", "1.32.4"),
            ("KUBE_API_VERSIONS", "v1,apps/v1"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            env.insert(k.to_owned(), v.to_owned());
        }
        Command::new(&cmd[0])
            .args(&cmd[1..])
            .env_clear()
            .envs(&env)
            .current_dir(repo.join(app))
            .output()
            .expect("run plugin command")
    }
}

fn kinds_and_names(yaml: &[u8]) -> Vec<(String, String)> {
    let doc = Format::Yaml.store().load(yaml).expect("parse output").doc;
    doc.branches
        .iter()
        .map(|b| {
            (
                get(b, &["kind"]).as_str().expect("kind").to_owned(),
                get(b, &["metadata", "name"])
                    .as_str()
                    .expect("name")
                    .to_owned(),
            )
        })
        .collect()
}

/// A plain-manifest app: plain YAML, plain JSON, an encrypted Secret, a nested file.
fn plain_app(s: &Sidecar) -> PathBuf {
    let repo = s.root.join("repo");
    let app = repo.join("apps/guestbook");
    std::fs::create_dir_all(app.join("nested")).expect("mkdir");
    std::fs::write(
        app.join("deploy.yaml"),
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
    )
    .expect("deploy");
    std::fs::write(
        app.join("cm.json"),
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"settings\"}, \"data\": {\"mode\": \"fast\"}}",
    )
    .expect("cm");
    std::fs::write(
        app.join("nested/svc.yml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
    )
    .expect("svc");
    std::fs::write(app.join(".sops.yaml"), "creation_rules: []\n").expect("policy");
    std::fs::write(app.join("README.md"), "not a manifest\n").expect("readme");
    s.encrypt(
        &app.join("secret.enc.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
    );
    repo
}

#[test]
fn generate_plain_manifest_directory_as_the_sidecar_does() {
    let s = Sidecar::new();
    let repo = plain_app(&s);
    let generate = plugin_command(&["generate"]);
    assert_eq!(generate[..2], ["sh", "-c"]);
    let out = s.run(&generate, &repo, "apps/guestbook", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("utf8");
    assert!(!text.contains("ENC["), "{text}");
    assert!(!text.contains("sops:"), "{text}");
    assert!(text.contains("password: hunter2"), "{text}");
    assert_eq!(
        kinds_and_names(&out.stdout),
        [
            ("ConfigMap".to_owned(), "settings".to_owned()),
            ("Deployment".to_owned(), "web".to_owned()),
            ("Service".to_owned(), "web".to_owned()),
            ("Secret".to_owned(), "db".to_owned()),
        ]
    );
    // Plain YAML passes through byte for byte (its leading `---` folded into the separator).
    assert!(text.contains("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n---\n"), "{text}");

    // ARGOCD_ENV_LEAFSEAL_RECURSE (from the Application's plugin.env) stops the descent.
    let out = s.run(
        &generate,
        &repo,
        "apps/guestbook",
        &[("ARGOCD_ENV_LEAFSEAL_RECURSE", "false")],
    );
    assert!(out.status.success());
    assert_eq!(kinds_and_names(&out.stdout).len(), 3);
}

#[test]
fn generate_fails_without_the_key_and_prints_nothing() {
    let mut s = Sidecar::new();
    let repo = plain_app(&s);
    s.env.insert(
        "SOPS_AGE_KEY_FILE".to_owned(),
        sops_fixture("keys/age-vectors/other-x25519-identity.txt")
            .display()
            .to_string(),
    );
    let out = s.run(&plugin_command(&["generate"]), &repo, "apps/guestbook", &[]);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("application guestbook (namespace apps):") && err.contains("secret.enc.yaml"),
        "{err}"
    );
}

#[test]
fn generate_kustomize_directory_with_the_legacy_plugin() {
    if Command::new("kubectl").arg("version").output().is_err() {
        return;
    }
    let s = Sidecar::new();
    let repo = s.root.join("repo");
    let app = repo.join("apps/kust");
    s.encrypt(
        &app.join("secret.enc.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: t0ken\n",
    );
    std::fs::write(
        app.join("gen.yaml"),
        "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\nfiles: [secret.enc.yaml]\n",
    )
    .expect("gen");
    std::fs::write(
        app.join("kustomization.yaml"),
        "namespace: apps\ngenerators: [gen.yaml]\nresources: [svc.yaml]\n",
    )
    .expect("k");
    std::fs::write(
        app.join("svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
    )
    .expect("svc");
    let out = s.run(&plugin_command(&["generate"]), &repo, "apps/kust", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("utf8");
    assert!(
        text.contains("token: t0ken") && !text.contains("ENC["),
        "{text}"
    );
    let mut got = kinds_and_names(&out.stdout);
    got.sort();
    assert_eq!(
        got,
        [
            ("Secret".to_owned(), "api".to_owned()),
            ("Service".to_owned(), "web".to_owned())
        ]
    );
}

#[test]
fn discover_matches_only_directories_with_encrypted_files() {
    let s = Sidecar::new();
    let repo = plain_app(&s);
    let find = plugin_command(&["discover", "find"]);
    let out = s.run(&find, &repo, "apps/guestbook", &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("secret.enc.yaml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(repo.join("apps/plain")).expect("mkdir");
    std::fs::write(repo.join("apps/plain/a.yaml"), "kind: ConfigMap\n").expect("a");
    let out = s.run(&find, &repo, "apps/plain", &[]);
    assert!(out.stdout.is_empty());
    // A JSON file written by sops/leafseal is found too.
    let out = leafseal(&s.env)
        .args([
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--filename-override",
            "x.json",
            "-",
        ])
        .stdin(std::fs::File::open(repo.join("apps/guestbook/cm.json")).expect("cm"))
        .output()
        .expect("encrypt json");
    std::fs::write(repo.join("apps/plain/s.json"), out.stdout).expect("json");
    let out = s.run(&find, &repo, "apps/plain", &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("s.json"));
}

/// Round-19 review: a link in the application directory leading to another
/// application's encrypted manifest was decrypted and emitted. It is refused (exit 2,
/// nothing printed), as Argo CD refuses links that leave the repository, unless the
/// sidecar's own environment sets `LEAFSEAL_LOAD_RESTRICTOR=LoadRestrictionsNone`; a
/// link that stays inside the directory is rendered.
#[test]
fn generate_refuses_a_link_leaving_the_application_directory() {
    let s = Sidecar::new();
    let repo = plain_app(&s);
    s.encrypt(
        &repo.join("apps/other/secret.enc.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: other\nstringData:\n  token: other-app-secret\n",
    );
    let app = repo.join("apps/guestbook");
    std::fs::create_dir_all(app.join(".extra")).expect("mkdir");
    std::fs::write(
        app.join(".extra/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
    )
    .expect("cm");
    std::os::unix::fs::symlink(".extra/cm.yaml", app.join("extra.yaml")).expect("link");
    let generate = plugin_command(&["generate"]);
    let out = s.run(&generate, &repo, "apps/guestbook", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kinds_and_names(&out.stdout).contains(&("ConfigMap".to_owned(), "extra".to_owned())));

    std::os::unix::fs::symlink("../other/secret.enc.yaml", app.join("link.yaml")).expect("link");
    let out = s.run(&generate, &repo, "apps/guestbook", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains("link.yaml") && err.contains("outside"),
        "{err}"
    );
    assert!(!err.contains("other-app-secret"), "{err}");
    // The Application's plugin.env (ARGOCD_ENV_*) cannot lift it; the sidecar can.
    let out = s.run(
        &generate,
        &repo,
        "apps/guestbook",
        &[(
            "ARGOCD_ENV_LEAFSEAL_LOAD_RESTRICTOR",
            "LoadRestrictionsNone",
        )],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = s.run(
        &generate,
        &repo,
        "apps/guestbook",
        &[("LEAFSEAL_LOAD_RESTRICTOR", "LoadRestrictionsNone")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("other-app-secret"));
}

/// Round-21 review: the renderers read no policy, so `leafseal: {strict_integrity: true}`
/// in the repository's `.sops.yaml` did not reach them. Another application's Secret
/// copied into an application with its integrity record removed and `namespace:` renamed
/// (the sops MAC does not cover map keys) was rendered without a word, and Argo CD would
/// have applied it in the Application's destination namespace. Now every `.sops.yaml`
/// above the file counts (one planted in the application's directory cannot switch the
/// setting off), in both plugin modes; without the setting the render goes on and the
/// missing record is named on stderr.
#[test]
fn generate_applies_the_repository_strict_integrity_setting() {
    let s = Sidecar::new();
    let repo = s.root.join("repo");
    let victim = repo.join("apps/victim/secret.enc.yaml");
    s.encrypt(
        &victim,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: victim-pw\n",
    );
    let sealed = std::fs::read_to_string(&victim).expect("read");
    assert!(sealed.contains("leafseal_integrity:"), "{sealed}");
    let tampered: String = sealed
        .lines()
        .filter(|l| !l.contains("leafseal_integrity:"))
        .map(|l| format!("{}\n", l.replace("namespace: prod", "namespac: prod")))
        .collect();
    assert_ne!(tampered, sealed);
    let plain = repo.join("apps/plain");
    let kust = repo.join("apps/kust");
    std::fs::create_dir_all(&plain).expect("mkdir");
    std::fs::create_dir_all(&kust).expect("mkdir");
    std::fs::write(plain.join("secret.enc.yaml"), &tampered).expect("write");
    std::fs::write(kust.join("secret.enc.yaml"), &tampered).expect("write");
    std::fs::write(
        kust.join("gen.yaml"),
        "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\nfiles:\n  - secret.enc.yaml\n",
    )
    .expect("gen");
    std::fs::write(
        kust.join("kustomization.yaml"),
        "generators:\n  - gen.yaml\n",
    )
    .expect("kustomization");
    let generate = plugin_command(&["generate"]);

    // Without the setting: rendered, and stderr names the file without a record
    // (kubectl's kustomize shows a plugin's stderr only when it fails).
    for app in ["apps/plain", "apps/kust"] {
        let out = s.run(&generate, &repo, app, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{app}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("victim-pw"));
        if app == "apps/plain" {
            assert!(
                err.contains("secret.enc.yaml") && err.contains("integrity record"),
                "{app}: {err}"
            );
        }
    }

    // The repository's policy sets it; each application plants one that does not.
    std::fs::write(
        repo.join(".sops.yaml"),
        "creation_rules:\n  - path_regex: .*\\.enc\\.yaml$\n    age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw\nleafseal:\n  strict_integrity: true\n",
    )
    .expect("policy");
    for app in ["apps/plain", "apps/kust"] {
        std::fs::write(repo.join(app).join(".sops.yaml"), "creation_rules: []\n").expect("planted");
        let out = s.run(&generate, &repo, app, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{app}: rendered");
        assert!(
            out.stdout.is_empty(),
            "{app}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(err.contains("integrity record"), "{app}: {err}");
        assert!(!err.contains("victim-pw"), "{app}: {err}");
    }
    // A file with a current record still renders under the setting.
    std::fs::write(plain.join("secret.enc.yaml"), &sealed).expect("write");
    let out = s.run(&generate, &repo, "apps/plain", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace: prod"));
}
