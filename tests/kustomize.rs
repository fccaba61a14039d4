//! The kustomize/kpt secret generator against the real tools on this machine: kubectl's
//! embedded kustomize (legacy exec plugin) and kpt (KRM exec function, `fn eval` and
//! `fn render`), plus the sops-format check of the Secret manifests written for Flux.

mod support;

#[path = "kustomize/kpt.rs"]
mod kpt;
#[path = "kustomize/kubectl.rs"]
mod kubectl;
#[path = "kustomize/refusals.rs"]
mod refusals;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;

use base64::Engine;
use leafseal::format::Format;
use leafseal::tree::Map;
use leafseal::tree::SeqItem;
use leafseal::tree::Value;
use support::*;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("version").output().is_ok()
}

/// A wrong age identity (a valid key, not the one the files are encrypted for).
fn wrong_key() -> PathBuf {
    sops_fixture("keys/age-vectors/other-x25519-identity.txt")
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    vars: HashMap<String, String>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().to_owned();
        let mut vars = env_vars(None, &root);
        vars.insert(
            "KUSTOMIZE_PLUGIN_HOME".to_owned(),
            root.join("plugins").display().to_string(),
        );
        Fixture {
            _tmp: tmp,
            root,
            vars,
        }
    }

    fn leafseal(&self, args: &[&str], cwd: &Path) -> Output {
        let out = leafseal(&self.vars)
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("run leafseal");
        assert!(
            out.status.success(),
            "leafseal {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Writes `plain` to `dir/name.plain` and its encryption to `dir/name`.
    fn encrypt(&self, dir: &Path, name: &str, plain: &str, extra: &[&str]) {
        std::fs::create_dir_all(dir).expect("mkdir");
        let src = dir.join(format!("{name}.plain"));
        std::fs::write(&src, plain).expect("write");
        let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.extend(["--filename-override", name]);
        let src_s = src.display().to_string();
        args.push(&src_s);
        let out = self.leafseal(&args, dir);
        std::fs::write(dir.join(name), &out.stdout).expect("write enc");
        std::fs::remove_file(&src).expect("rm plain");
    }

    /// An app directory with a Secret manifest, a password file, a JSON file and an env
    /// file, all encrypted, and the generator configuration (`gen.yaml`).
    fn app(&self, dir: &Path, function_annotation: Option<&str>) {
        self.encrypt(
            &dir.join("secrets"),
            "api.enc.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: t0ken-plain\n",
            &["--encrypted-regex", "^(data|stringData)$"],
        );
        self.encrypt(&dir.join("secrets"), "password.txt", "hunter2", &[]);
        self.encrypt(
            &dir.join("secrets"),
            "db.env",
            "DB_USER=admin\nDB_PORT=5432\n",
            &[],
        );
        let ann = match function_annotation {
            Some(a) => format!("  annotations:\n{a}"),
            None => String::new(),
        };
        std::fs::write(
            dir.join("gen.yaml"),
            format!(
                "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: app-secrets\n{ann}files:\n  - secrets/api.enc.yaml\nsecretFrom:\n  - metadata:\n      name: db\n      labels:\n        app: web\n    type: Opaque\n    files:\n      - password=secrets/password.txt\n    envs:\n      - secrets/db.env\n"
            ),
        )
        .expect("gen");
    }

    fn install_plugin(&self) -> PathBuf {
        let home = self.root.join("plugins").display().to_string();
        let out = self.leafseal(
            &["kustomize", "install-plugin", "--plugin-home", &home],
            &self.root,
        );
        let path = PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim());
        assert_eq!(
            path,
            self.root
                .join("plugins/leafseal.dev/v1/secretgenerator/SecretGenerator")
        );
        path
    }

    fn tool(&self, tool: &str, args: &[&str], cwd: &Path, key: Option<&Path>) -> Output {
        let mut vars = self.vars.clone();
        vars.remove("SOPS_AGE_KEY_FILE");
        if let Some(k) = key {
            vars.insert("SOPS_AGE_KEY_FILE".to_owned(), k.display().to_string());
        }
        Command::new(tool)
            .env_clear()
            .envs(&vars)
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("run tool")
    }
}

/// Every resource of a YAML stream, unwrapping a ResourceList.
fn resources(yaml: &[u8]) -> Vec<Map> {
    let doc = Format::Yaml.store().load(yaml).expect("parse output").doc;
    let mut out = Vec::new();
    for b in doc.branches {
        match b.get("items") {
            Some(Value::Seq(items))
                if b.get("kind").and_then(Value::as_str) == Some("ResourceList") =>
            {
                for i in items {
                    if let SeqItem::Value(Value::Map(m)) = i {
                        out.push(m.clone());
                    }
                }
            }
            _ => out.push(b),
        }
    }
    out
}

fn named<'a>(rs: &'a [Map], kind: &str, name_prefix: &str) -> &'a Map {
    rs.iter()
        .find(|r| {
            r.get("kind").and_then(Value::as_str) == Some(kind)
                && r.get("metadata")
                    .and_then(Value::as_map)
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .unwrap_or_else(|| panic!("no {kind} {name_prefix} in {} resources", rs.len()))
}

fn field<'a>(m: &'a Map, path: &[&str]) -> &'a Value {
    let mut v = m.get(path[0]).expect("field");
    for p in &path[1..] {
        v = v.as_map().and_then(|m| m.get(p)).expect("field");
    }
    v
}

fn decoded(secret: &Map, key: &str) -> String {
    let b64 = field(secret, &["data", key]).as_str().expect("string");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64"),
    )
    .expect("utf8")
}

fn assert_rendered(stdout: &[u8]) {
    let text = String::from_utf8_lossy(stdout);
    assert!(!text.contains("ENC["), "ciphertext in output:\n{text}");
    let rs = resources(stdout);
    let api = named(&rs, "Secret", "api");
    assert_eq!(
        field(api, &["stringData", "token"]).as_str(),
        Some("t0ken-plain")
    );
    assert!(api.get("sops").is_none());
    let db = named(&rs, "Secret", "db");
    assert_eq!(decoded(db, "password"), "hunter2");
    assert_eq!(decoded(db, "DB_USER"), "admin");
    assert_eq!(decoded(db, "DB_PORT"), "5432");
    assert_eq!(
        field(db, &["metadata", "labels", "app"]).as_str(),
        Some("web")
    );
}

fn assert_failed(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "build succeeded:\n{stdout}");
    assert!(!stdout.contains("ENC["), "ciphertext in stdout:\n{stdout}");
    assert!(!stdout.contains("t0ken-plain") && !stdout.contains("hunter2"));
    assert!(
        stderr.contains("failed to get the data key"),
        "stderr does not explain:\n{stderr}"
    );
}

/// A kpt package: a ConfigMap, the generator configuration (local-config), encrypted
/// files under `secrets/` kept out of the package by `.krmignore`.
fn kpt_package(f: &Fixture, exec: &str) -> PathBuf {
    let pkg = f.root.join("pkg");
    f.app(
        &pkg,
        Some("    config.kubernetes.io/local-config: \"true\"\n"),
    );
    std::fs::write(pkg.join(".krmignore"), "secrets/\n").expect("krmignore");
    std::fs::write(
        pkg.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n",
    )
    .expect("cm");
    std::fs::write(
        pkg.join("Kptfile"),
        format!(
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\npipeline:\n  mutators:\n    - exec: \"{exec}\"\n      configPath: gen.yaml\n"
        ),
    )
    .expect("Kptfile");
    pkg
}

/// The Secret manifests leafseal writes for Flux are sops files: `encrypted_regex`
/// `^(data|stringData)$`, metadata in sops 3.13's layout (sorted keys, `version` 3.13.2),
/// everything but `data`/`stringData` readable, decryptable.
#[test]
fn flux_secret_manifest_is_sops_format() {
    let f = Fixture::new();
    let dir = f.root.join("flux");
    f.encrypt(
        &dir,
        "db.enc.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\ntype: Opaque\nstringData:\n  password: hunter2\ndata:\n  user: YWRtaW4=\n",
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let bytes = std::fs::read(dir.join("db.enc.yaml")).expect("read");
    let text = String::from_utf8(bytes.clone()).expect("utf8");
    let loaded = Format::Yaml.store().load(&bytes).expect("parse");
    let doc = &loaded.doc.branches[0];
    assert_eq!(
        field(doc, &["metadata", "namespace"]).as_str(),
        Some("apps")
    );
    assert_eq!(field(doc, &["kind"]).as_str(), Some("Secret"));
    let pw = field(doc, &["stringData", "password"])
        .as_str()
        .expect("str");
    assert!(pw.starts_with("ENC[AES256_GCM,data:") && pw.ends_with(",type:str]"));
    let meta = loaded.meta.expect("sops block");
    let keys: Vec<&str> = meta.entries().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "age",
            "encrypted_regex",
            "lastmodified",
            "leafseal_integrity",
            "mac",
            "version"
        ]
    );
    assert_eq!(meta.get("version").and_then(Value::as_str), Some("3.13.2"));
    assert_eq!(
        meta.get("encrypted_regex").and_then(Value::as_str),
        Some("^(data|stringData)$")
    );
    let Some(Value::Seq(age)) = meta.get("age") else {
        panic!("age list")
    };
    let Some(SeqItem::Value(Value::Map(r))) = age.first() else {
        panic!("age entry")
    };
    assert_eq!(
        r.get("recipient").and_then(Value::as_str),
        Some(AGE_RECIPIENT)
    );
    assert!(
        r.get("enc")
            .and_then(Value::as_str)
            .is_some_and(|e| e.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"))
    );
    // The layout matches a file written by sops 3.13 (sorted metadata, same indentation).
    let sops_written =
        std::fs::read_to_string(sops_fixture("yaml/format.enc.yaml")).expect("fixture");
    assert!(sops_written.contains("\nsops:\n    lastmodified: "));
    assert!(
        text.contains("\nsops:\n    age:\n        - enc: |\n            -----BEGIN AGE"),
        "{text}"
    );
    assert!(
        sops_written.contains("\n        - created_at: ")
            && text.contains("\n          recipient: age1")
    );
    // helm-secrets' "is it encrypted" probe and Flux's decryption both work.
    assert!(
        text.lines()
            .any(|l| l.contains("mac: ENC[") && l.ends_with(",type:str]"))
    );
    let out = f.leafseal(&["decrypt", "db.enc.yaml"], &dir);
    assert_eq!(
        String::from_utf8(out.stdout).expect("utf8"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: apps\ntype: Opaque\nstringData:\n    password: hunter2\ndata:\n    user: YWRtaW4=\n"
    );
}
