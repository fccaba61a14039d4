//! The kustomize/kpt secret generator against the real tools on this machine: kubectl's
//! embedded kustomize (legacy exec plugin) and kpt (KRM exec function, `fn eval` and
//! `fn render`), plus the sops-format check of the Secret manifests written for Flux.

mod support;

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

#[test]
fn kubectl_kustomize_legacy_exec_plugin() {
    if !have("kubectl") {
        eprintln!("kubectl not installed; skipped");
        return;
    }
    let f = Fixture::new();
    let script = f.install_plugin();
    let body = std::fs::read_to_string(&script).expect("script");
    assert!(body.starts_with("#!/bin/sh\n") && body.contains("kustomize exec-plugin \"$@\""));
    let app = f.root.join("app");
    f.app(&app, None);
    std::fs::write(
        app.join("kustomization.yaml"),
        "namespace: prod\ngenerators:\n  - gen.yaml\nresources:\n  - cm.yaml\n",
    )
    .expect("kustomization");
    std::fs::write(
        app.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n",
    )
    .expect("cm");
    // From another directory: the plugin runs in the kustomization root.
    let out = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "app"],
        &f.root,
        Some(&age_key_file()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_rendered(&out.stdout);
    let rs = resources(&out.stdout);
    assert_eq!(
        field(named(&rs, "Secret", "db"), &["metadata", "namespace"]).as_str(),
        Some("prod")
    );
    named(&rs, "ConfigMap", "cm");

    for key in [Some(wrong_key()), None] {
        let out = f.tool(
            "kubectl",
            &["kustomize", "--enable-alpha-plugins", "app"],
            &f.root,
            key.as_deref(),
        );
        assert_failed(&out);
    }
}

#[test]
fn kubectl_kustomize_name_suffix_hash_and_behavior() {
    if !have("kubectl") {
        return;
    }
    let f = Fixture::new();
    f.install_plugin();
    let app = f.root.join("app");
    f.encrypt(&app, "pw.txt", "s3cret", &[]);
    std::fs::write(
        app.join("gen.yaml"),
        "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\nsecretFrom:\n  - metadata:\n      name: hashed\n    nameSuffixHash: true\n    files: [pw.txt]\n",
    )
    .expect("gen");
    std::fs::write(app.join("kustomization.yaml"), "generators: [gen.yaml]\n").expect("k");
    let out = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "."],
        &app,
        Some(&age_key_file()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rs = resources(&out.stdout);
    let s = named(&rs, "Secret", "hashed-");
    assert_eq!(decoded(s, "pw.txt"), "s3cret");
}

/// The trap: kubectl 1.32's embedded kustomize has no `--enable-exec`, and a generator
/// with a KRM exec-function annotation is silently skipped — exit 0, nothing rendered.
#[test]
fn kubectl_kustomize_silently_skips_krm_exec_functions() {
    if !have("kubectl") {
        return;
    }
    let f = Fixture::new();
    let script = f.install_plugin();
    let app = f.root.join("app");
    let ann = format!(
        "    config.kubernetes.io/function: |\n      exec:\n        path: {}\n",
        script.display()
    );
    f.app(&app, Some(&ann));
    std::fs::write(app.join("kustomization.yaml"), "generators: [gen.yaml]\n").expect("k");
    let out = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "."],
        &app,
        Some(&age_key_file()),
    );
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "kubectl now renders KRM exec functions; update docs/gitops-k8s.md"
    );
    let flag = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "--enable-exec", "."],
        &app,
        Some(&age_key_file()),
    );
    assert!(!flag.status.success());
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

#[test]
fn kpt_fn_eval_exec_krm_function() {
    if !have("kpt") {
        eprintln!("kpt not installed; skipped");
        return;
    }
    let f = Fixture::new();
    let exe = env!("CARGO_BIN_EXE_leafseal");
    let pkg = kpt_package(&f, "unused");
    let exec = format!("{exe} kustomize krm");
    let args = [
        "fn",
        "eval",
        "--exec",
        &exec,
        "--fn-config",
        "gen.yaml",
        "-o",
        "stdout",
        ".",
    ];
    let out = f.tool("kpt", &args, &pkg, Some(&age_key_file()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_rendered(&out.stdout);
    let rs = resources(&out.stdout);
    named(&rs, "ConfigMap", "cm");
    // The package on disk is untouched (-o stdout): no plaintext written.
    assert!(!pkg.join("secret_db.yaml").exists());
    assert_eq!(std::fs::read_dir(&pkg).expect("ls").count(), 5);

    for key in [Some(wrong_key()), None] {
        let out = f.tool("kpt", &args, &pkg, key.as_deref());
        assert_failed(&out);
    }
}

#[test]
fn kpt_fn_render_with_exec_pipeline_from_another_directory() {
    if !have("kpt") {
        return;
    }
    let f = Fixture::new();
    let script = f.install_plugin();
    let pkg = kpt_package(&f, &script.display().to_string());
    let pkg_s = pkg.display().to_string();
    let args = ["fn", "render", "--allow-exec", "-o", "stdout", &pkg_s];
    // cwd is `/`: relative paths resolve through kpt's package-path annotation.
    let out = f.tool("kpt", &args, Path::new("/"), Some(&age_key_file()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_rendered(&out.stdout);

    let out = f.tool("kpt", &args, Path::new("/"), Some(&wrong_key()));
    assert_failed(&out);
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

/// `install-plugin --ksops` serves an existing KSOPS configuration unchanged.
#[test]
fn kubectl_kustomize_serves_ksops_configs() {
    if !have("kubectl") {
        return;
    }
    let f = Fixture::new();
    let home = f.root.join("plugins").display().to_string();
    let out = f.leafseal(
        &[
            "kustomize",
            "install-plugin",
            "--ksops",
            "--plugin-home",
            &home,
        ],
        &f.root,
    );
    let listed = String::from_utf8(out.stdout).expect("utf8");
    assert!(listed.contains("/viaduct.ai/v1/ksops/ksops\n"), "{listed}");
    let app = f.root.join("app");
    f.app(&app, None);
    std::fs::write(
        app.join("ksops.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: legacy\nfiles:\n  - ./secrets/api.enc.yaml\n",
    )
    .expect("ksops");
    std::fs::write(app.join("kustomization.yaml"), "generators: [ksops.yaml]\n").expect("k");
    let out = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "."],
        &app,
        Some(&age_key_file()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rs = resources(&out.stdout);
    let api = named(&rs, "Secret", "api");
    assert_eq!(
        field(api, &["stringData", "token"]).as_str(),
        Some("t0ken-plain")
    );
}

/// `kustomize exec-plugin` by hand (no kustomize needed): the Secret built from an `envs`
/// YAML file writes each value as the other commands do — an integral float stays `5.0`
/// (the generator once wrote `5`) — and the manifest layout is kubectl's.
#[test]
fn exec_plugin_writes_env_values_as_written() {
    let f = Fixture::new();
    let app = f.root.join("app");
    f.encrypt(
        &app,
        "settings.yaml",
        "ratio: 5.0\nport: 5432\nbig: 1e6\n",
        &[],
    );
    f.encrypt(&app, "password.txt", "hunter2", &[]);
    std::fs::write(
        app.join("gen.yaml"),
        "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\nsecretFrom:\n  - metadata:\n      name: app\n      namespace: prod\n      labels:\n        version: 5.0\n    nameSuffixHash: true\n    files:\n      - password.txt\n    envs:\n      - settings.yaml\n",
    )
    .expect("gen");
    let out = f.leafseal(&["kustomize", "exec-plugin", "gen.yaml"], &app);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: prod\n  labels:\n    version: \"5.0\"\n  annotations:\n    kustomize.config.k8s.io/needs-hash: \"true\"\ntype: Opaque\ndata:\n  big: {}\n  password.txt: {}\n  port: {}\n  ratio: {}\n",
            b64("1E+06"),
            b64("hunter2"),
            b64("5432"),
            b64("5.0"),
        )
    );
}

/// Round-19 review: a generator naming `../other/secret.enc.yaml`, an absolute path, or
/// a link leading out of the kustomization directory had the other application's secret
/// decrypted. Such files are refused (exit 2) in both plugin forms, as kustomize's own
/// generators refuse them, unless `LEAFSEAL_LOAD_RESTRICTOR=LoadRestrictionsNone`; files in
/// subdirectories and links that stay inside still work.
#[test]
fn generator_files_outside_the_kustomization_directory_are_refused() {
    let f = Fixture::new();
    let app = f.root.join("app");
    let other = f.root.join("other");
    f.encrypt(&other, "secret.enc.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: other\nstringData:\n  token: other-app-secret\n", &["--encrypted-regex", "^(data|stringData)$"]);
    f.encrypt(&other, "password.txt", "other-app-secret", &[]);
    f.encrypt(&app.join("sub"), "inside.txt", "inside-secret", &[]);
    std::os::unix::fs::symlink("sub/inside.txt", app.join("inside-link.txt")).expect("link");
    std::os::unix::fs::symlink("../other/password.txt", app.join("pw-link.txt")).expect("link");
    let abs = other.join("secret.enc.yaml").display().to_string();
    let gen_of = |body: &str| {
        format!("apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\n{body}")
    };
    let configs = [
        gen_of("files:\n  - ../other/secret.enc.yaml\n"),
        gen_of(&format!("files:\n  - {abs}\n")),
        gen_of("secretFrom:\n  - metadata:\n      name: s\n    files:\n      - pw=pw-link.txt\n"),
        gen_of(
            "secretFrom:\n  - metadata:\n      name: s\n    envs:\n      - ../other/password.txt\n",
        ),
    ];
    let run = |args: &[&str], stdin: Option<&str>, extra: &[(&str, &str)]| {
        let mut vars = f.vars.clone();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut c = leafseal(&vars)
            .args(args)
            .current_dir(&app)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        {
            use std::io::Write;
            let mut i = c.stdin.take().expect("stdin");
            i.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin");
        }
        c.wait_with_output().expect("wait")
    };
    let krm_input = |cfg: &str| {
        let indented: String = cfg.lines().map(|l| format!("  {l}\n")).collect();
        format!(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n{indented}"
        )
    };
    for (i, cfg) in configs.iter().enumerate() {
        std::fs::write(app.join("gen.yaml"), cfg).expect("gen");
        let input = krm_input(cfg);
        for (form, args, stdin) in [
            (
                "exec-plugin",
                vec!["kustomize", "exec-plugin", "gen.yaml"],
                None,
            ),
            ("krm", vec!["kustomize", "krm"], Some(input.as_str())),
        ] {
            let out = run(&args, stdin, &[]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{i} {form}: {err}");
            assert!(err.contains("outside"), "{i} {form}: {err}");
            assert!(
                err.contains("LEAFSEAL_LOAD_RESTRICTOR"),
                "{i} {form}: {err}"
            );
            assert!(out.stdout.is_empty(), "{i} {form}");
            let out = run(
                &args,
                stdin,
                &[("LEAFSEAL_LOAD_RESTRICTOR", "LoadRestrictionsNone")],
            );
            assert!(
                out.status.success(),
                "{i} {form}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // Inside the directory (a subdirectory, a link that stays inside): allowed.
    let cfg = gen_of(
        "secretFrom:\n  - metadata:\n      name: s\n    files:\n      - a=sub/inside.txt\n      - b=inside-link.txt\n",
    );
    std::fs::write(app.join("gen.yaml"), &cfg).expect("gen");
    let out = run(&["kustomize", "exec-plugin", "gen.yaml"], None, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["kustomize", "krm"], Some(&krm_input(&cfg)), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Round-21 review: the root of the KRM function was kpt's package-path annotation as the
/// functionConfig carried it. `kpt fn render` sets that annotation itself, but `kpt fn eval
/// --fn-config` (the documented imperative form) passes the configuration's own
/// annotations through, so a generator configuration in a pull request that said
/// `internal.config.kubernetes.io/package-path: /` lifted the load restriction and had any
/// encrypted file of the renderer decrypted. The annotation now only narrows the root: a
/// package path outside the current directory is ignored, with a warning.
#[test]
fn kpt_fn_eval_ignores_a_package_path_planted_in_the_configuration() {
    if !have("kpt") {
        eprintln!("kpt not installed; skipped");
        return;
    }
    let f = Fixture::new();
    let exe = env!("CARGO_BIN_EXE_leafseal");
    let pkg = kpt_package(&f, "unused");
    let other = f.root.join("other");
    f.encrypt(
        &other,
        "secret.enc.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: other\nstringData:\n  token: other-app-secret\n",
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let abs = other.join("secret.enc.yaml").display().to_string();
    for planted in ["/", "..", &f.root.display().to_string()] {
        std::fs::write(
            pkg.join("gen.yaml"),
            format!(
                "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n    internal.config.kubernetes.io/package-path: {planted}\nfiles:\n  - {abs}\n"
            ),
        )
        .expect("gen");
        let exec = format!("{exe} kustomize krm");
        let args = [
            "fn",
            "eval",
            "--exec",
            &exec,
            "--fn-config",
            "gen.yaml",
            "-o",
            "stdout",
            ".",
        ];
        let out = f.tool("kpt", &args, &pkg, Some(&age_key_file()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{planted}: rendered:\n{stdout}");
        assert!(!stdout.contains("other-app-secret"), "{planted}: {stdout}");
        assert!(stderr.contains("outside"), "{planted}: {stderr}");
    }
    // A package path inside the current directory still narrows the root as before.
    std::fs::write(
        pkg.join("gen.yaml"),
        "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n    internal.config.kubernetes.io/package-path: secrets\nfiles:\n  - api.enc.yaml\n",
    )
    .expect("gen");
    let exec = format!("{exe} kustomize krm");
    let args = [
        "fn",
        "eval",
        "--exec",
        &exec,
        "--fn-config",
        "gen.yaml",
        "-o",
        "stdout",
        ".",
    ];
    let out = f.tool("kpt", &args, &pkg, Some(&age_key_file()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("t0ken-plain"));
}

/// Round-21 review: kustomize appends a legacy exec plugin configuration's `argsOneLiner`
/// to the plugin's command line, and the plugin script passed the words on, where they
/// were read as leafseal's global flags: a generator configuration in a pull request
/// could make the renderer dial a key service of its choosing
/// (`--keyservice tcp://HOST:PORT --enable-local-keyservice=false`). Such words are
/// refused now; no connection is made.
#[test]
fn kubectl_kustomize_refuses_words_the_configuration_adds() {
    let f = Fixture::new();
    f.install_plugin();
    let app = f.root.join("app");
    f.encrypt(&app.join("secrets"), "db.env", "DB_USER=admin\n", &[]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    std::fs::write(
        app.join("gen.yaml"),
        format!(
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\nargsOneLiner: \"--enable-local-keyservice=false --keyservice tcp://127.0.0.1:{port}\"\nsecretFrom:\n  - metadata:\n      name: s\n    envs:\n      - secrets/db.env\n"
        ),
    )
    .expect("gen");
    std::fs::write(
        app.join("kustomization.yaml"),
        "generators:\n  - gen.yaml\n",
    )
    .expect("k");
    let out = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "."],
        &app,
        Some(&age_key_file()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "rendered:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("after the configuration file"), "{stderr}");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the renderer connected to the address the configuration named"
    );
    // Without the words the same configuration renders.
    let cfg = std::fs::read_to_string(app.join("gen.yaml")).expect("read");
    let cfg: String = cfg
        .lines()
        .filter(|l| !l.starts_with("argsOneLiner"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(app.join("gen.yaml"), cfg).expect("gen");
    let out = f.tool(
        "kubectl",
        &["kustomize", "--enable-alpha-plugins", "."],
        &app,
        Some(&age_key_file()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("DB_USER"));
}
