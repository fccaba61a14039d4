#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::ops::KeyKind;
use crate::ops::SealPlan;
use crate::ops::Selector;

const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

fn ctx() -> KeyContext {
    let mut vars = HashMap::new();
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sops/keys/age-test-keys.txt");
    vars.insert("SOPS_AGE_KEY_FILE".to_owned(), key.display().to_string());
    KeyContext::with_vars(vars)
}

/// Encrypts `plain` (named `name` for the format) for the test age key into `dir/name`.
fn encrypt_into(dir: &Path, name: &str, plain: &[u8], selector: Option<Selector>) {
    let fmt = Format::from_path(name);
    let loaded = crate::ops::read_plaintext(plain, name, fmt).unwrap();
    let plan = SealPlan {
        groups: vec![vec![
            crate::ops::flags::parse_key(KeyKind::Age, RECIPIENT).unwrap(),
        ]],
        selector,
        binary: fmt == Format::Binary,
        ..Default::default()
    };
    let (doc, meta) = crate::ops::seal_new(loaded.doc, &plan, &ctx(), fmt).unwrap();
    let out = crate::ops::emit_encrypted(fmt, &doc, &meta, &Default::default()).unwrap();
    std::fs::write(dir.join(name), &*out).unwrap();
}

fn decode(secret: &Resource, key: &str) -> String {
    let secret = Secret::from_resource(secret).unwrap();
    let (_, v) = secret.data.iter().find(|(k, _)| k == key).unwrap();
    let b = base64::engine::general_purpose::STANDARD
        .decode(v.as_str())
        .unwrap();
    String::from_utf8(b).unwrap()
}

const CONFIG: &str = "\
apiVersion: leafseal.dev/v1
kind: SecretGenerator
metadata:
  name: gen
files:
  - manifest.enc.yaml
secretFrom:
  - metadata:
      name: db
      namespace: prod
      labels:
        app: web
      annotations:
        team: core
    type: kubernetes.io/basic-auth
    behavior: merge
    files:
      - password=pw.txt
      - config.json
    envs:
      - app.env
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    encrypt_into(
        dir.path(),
        "manifest.enc.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: t0ken\n",
        crate::ops::selector_from_flags(&[("encrypted_regex", Some("^(data|stringData)$"))])
            .unwrap(),
    );
    encrypt_into(dir.path(), "pw.txt", b"hunter2\n", None);
    encrypt_into(dir.path(), "config.json", b"{\"a\": 1}", None);
    encrypt_into(dir.path(), "app.env", b"USER=admin\nPORT=5432\n", None);
    dir
}

#[test]
fn generates_manifests_and_secrets() {
    let dir = setup();
    let cfg = parse_config(CONFIG.as_bytes()).unwrap();
    let out = cfg.generate(dir.path(), &ctx()).unwrap();
    assert_eq!(out.len(), 2);
    let api = &out[0];
    let sd = Secret::from_resource(api).unwrap().string_data;
    assert_eq!(sd.len(), 1);
    assert_eq!((sd[0].0.as_str(), sd[0].1.as_str()), ("token", "t0ken"));
    assert!(!api.is_encrypted());
    assert!(api.child("sops").is_none());
    let db = &out[1];
    assert_eq!(db.str_field("type"), Some("kubernetes.io/basic-auth"));
    assert_eq!(db.namespace(), Some("prod"));
    assert_eq!(decode(db, "password"), "hunter2\n");
    assert_eq!(decode(db, "config.json"), "{\n\t\"a\": 1\n}\n");
    assert_eq!(decode(db, "USER"), "admin");
    assert_eq!(decode(db, "PORT"), "5432");
    let keys: Vec<String> = Secret::from_resource(db)
        .unwrap()
        .data
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["PORT", "USER", "config.json", "password"]);
    let yaml = k8s::emit_resources(out).unwrap();
    let text = std::str::from_utf8(&yaml).unwrap();
    assert!(text.contains("  namespace: prod\n"), "{text}");
    assert!(
        text.contains("kustomize.config.k8s.io/behavior: merge"),
        "{text}"
    );
    assert!(text.contains("\n---\n"), "{text}");
    assert!(!text.contains("ENC["), "{text}");
}

#[test]
fn wrong_key_fails() {
    let dir = setup();
    let cfg = parse_config(CONFIG.as_bytes()).unwrap();
    let empty = KeyContext::with_vars(HashMap::new());
    let e = cfg.generate(dir.path(), &empty).unwrap_err();
    assert_eq!(e.code, exit::COULD_NOT_RETRIEVE_KEY);
    assert!(e.message.contains("manifest.enc.yaml"), "{}", e.message);
}

#[test]
fn plaintext_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw.txt"), "plain").unwrap();
    let cfg = parse_config(
        b"apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata: {name: x}\n  files: [pw.txt]\n",
    )
    .unwrap();
    let e = cfg.generate(dir.path(), &ctx()).unwrap_err();
    assert!(e.message.contains("not encrypted"), "{}", e.message);
}

#[test]
fn config_validation() {
    let cases: [(&str, &str); 6] = [
        ("apiVersion: v1\nkind: Secret\n", "expected"),
        (
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nfiles: x\n",
            "list of strings",
        ),
        (
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- files: [a]\n",
            "metadata.name",
        ),
        (
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata: {name: a}\n",
            "no `files`",
        ),
        (
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata: {name: a}\n  behavior: upsert\n  files: [a]\n",
            "behavior",
        ),
        ("", "empty"),
    ];
    for (cfg, want) in cases {
        let e = parse_config(cfg.as_bytes()).unwrap_err();
        assert!(e.message.contains(want), "{cfg:?}: {}", e.message);
    }
    let ksops = parse_config(b"apiVersion: viaduct.ai/v1\nkind: ksops\nfiles: [a.yaml]\n").unwrap();
    assert_eq!(ksops.files, ["a.yaml"]);
}

#[test]
fn data_key_rules() {
    assert!(valid_data_key("tls.crt"));
    assert!(valid_data_key("A_b-9"));
    assert!(!valid_data_key(""));
    assert!(!valid_data_key(".."));
    assert!(!valid_data_key("a/b"));
    assert!(!valid_data_key("a b"));
}

#[test]
fn krm_appends_and_keeps_items() {
    let dir = setup();
    let fc: String = CONFIG.lines().map(|l| format!("  {l}\n")).collect();
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm\n    annotations:\n      config.kubernetes.io/index: '0'\n      config.kubernetes.io/path: 'cm.yaml'\nfunctionConfig:\n{fc}"
    );
    let out = krm(
        input.as_bytes(),
        Some(dir.path()),
        Path::new("/"),
        LoadRestrictor::RootOnly,
        &ctx(),
    )
    .unwrap();
    let list = &k8s::parse_resources(&out.yaml).unwrap()[0];
    let items = list.children("items");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].kind(), Some("ConfigMap"));
    assert_eq!(items[2].name(), Some("db"));
    let text = std::str::from_utf8(&out.yaml).unwrap();
    assert!(
        text.contains("config.kubernetes.io/path: 'cm.yaml'")
            || text.contains("config.kubernetes.io/path: cm.yaml"),
        "{text}"
    );
    assert!(list.child("functionConfig").is_some());
    assert!(out.warnings.is_empty());
}

#[test]
fn krm_base_from_annotations() {
    let m = |s: &str| k8s::parse_resources(s.as_bytes()).unwrap().remove(0);
    let render = m(
        "metadata:\n  annotations:\n    internal.config.kubernetes.io/package-path: /pkg\n    internal.config.kubernetes.io/path: sub/gen.yaml\n",
    );
    assert_eq!(krm_base(&render, Path::new("/cwd")), Path::new("/pkg/sub"));
    let eval = m("metadata:\n  annotations:\n    config.kubernetes.io/index: '0'\n");
    assert_eq!(krm_base(&eval, Path::new("/cwd")), Path::new("/cwd"));
}

/// Round-21 review: a package-path annotation planted in the configuration (kept by
/// `kpt fn eval --fn-config`) made `/` the root; it may only narrow the current directory.
#[test]
fn krm_root_takes_a_package_path_only_inside_the_current_directory() {
    let d = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(d.path()).unwrap().join("pkg");
    std::fs::create_dir_all(cwd.join("sub")).unwrap();
    let with = |pkg: &str| {
        k8s::parse_resources(
            format!("metadata:\n  annotations:\n    internal.config.kubernetes.io/package-path: '{pkg}'\n").as_bytes(),
        )
        .unwrap()
        .remove(0)
    };
    for planted in ["/", "..", "sub/../..", "/nonexistent"] {
        assert_eq!(krm_root(&with(planted), None, &cwd), cwd, "{planted}");
        assert!(ignored_package_path(&with(planted), None, &cwd).is_some());
    }
    let parent = d.path().display().to_string();
    assert_eq!(krm_root(&with(&parent), None, &cwd), cwd);
    let sub = cwd.join("sub");
    assert_eq!(krm_root(&with(&sub.display().to_string()), None, &cwd), sub);
    assert_eq!(krm_root(&with("sub"), None, &cwd), sub);
    assert!(ignored_package_path(&with("sub"), None, &cwd).is_none());
    assert_eq!(
        krm_root(&with("/"), Some(Path::new("/b")), &cwd),
        Path::new("/b")
    );
}

#[test]
fn krm_rejects_other_input() {
    let e = krm(
        b"kind: List\n",
        None,
        Path::new("/"),
        LoadRestrictor::RootOnly,
        &ctx(),
    )
    .unwrap_err();
    assert!(e.message.contains("not a ResourceList"));
    let e = krm(
        b"\xff",
        None,
        Path::new("/"),
        LoadRestrictor::RootOnly,
        &ctx(),
    )
    .unwrap_err();
    assert!(e.message.contains("cannot parse"));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn krm_never_panics(input in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = krm(&input, Some(Path::new("/nonexistent")), Path::new("/"), LoadRestrictor::RootOnly, &KeyContext::with_vars(HashMap::new()));
        }

        #[test]
        fn config_never_panics(body in "(apiVersion: leafseal.dev/v1\nkind: SecretGenerator\n)?[a-zA-Z:\\[\\]{}\n -]{0,200}") {
            if let Ok(cfg) = parse_config(body.as_bytes()) {
                let _ = cfg.generate(Path::new("/nonexistent"), &KeyContext::with_vars(HashMap::new()));
            }
        }
    }
}

#[test]
fn krm_warns_about_encrypted_items() {
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n    annotations:\n      config.kubernetes.io/path: secret.enc.yaml\n  sops:\n    mac: ENC[x]\n    version: 3.13.2\nfunctionConfig:\n  apiVersion: leafseal.dev/v1\n  kind: SecretGenerator\n";
    let out = krm(
        input.as_bytes(),
        None,
        Path::new("/"),
        LoadRestrictor::RootOnly,
        &ctx(),
    )
    .unwrap();
    assert_eq!(out.warnings.len(), 1);
    assert!(out.warnings[0].starts_with("secret.enc.yaml is a sops-encrypted file"));
}

/// Values of an `envs` file that YAML types as numbers or booleans are written as the one
/// scalar renderer writes them: an integral float stays `5.0` (it once became `5`).
#[test]
fn envs_values_keep_their_written_form() {
    let dir = tempfile::tempdir().unwrap();
    encrypt_into(
        dir.path(),
        "app.yaml",
        b"ratio: 5.0\nbig: 1e6\ncount: 5\nflag: true\nempty: null\n",
        None,
    );
    let cfg = parse_config(
        b"apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata: {name: x}\n  envs: [app.yaml]\n",
    )
    .unwrap();
    let out = cfg.generate(dir.path(), &ctx()).unwrap();
    let x = &out[0];
    assert_eq!(decode(x, "ratio"), "5.0");
    assert_eq!(decode(x, "big"), "1E+06");
    assert_eq!(decode(x, "count"), "5");
    assert_eq!(decode(x, "flag"), "true");
    assert_eq!(decode(x, "empty"), "");
}

#[test]
fn envs_files_must_be_flat() {
    let dir = tempfile::tempdir().unwrap();
    encrypt_into(dir.path(), "app.yaml", b"a: 1\nnested:\n  b: 2\n", None);
    let cfg = parse_config(
        b"apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata: {name: x}\n  envs: [app.yaml]\n",
    )
    .unwrap();
    let e = cfg.generate(dir.path(), &ctx()).unwrap_err();
    assert!(
        e.message
            .ends_with("app.yaml: `envs` files must hold flat key/value pairs (`nested` is a map)"),
        "{}",
        e.message
    );
}

#[test]
fn config_scalars_in_labels_are_rendered() {
    let cfg = parse_config(
        b"apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata:\n    name: x\n    labels: {version: 5.0, on: true, n: 3}\n  nameSuffixHash: true\n  files: [a]\n",
    )
    .unwrap();
    let sf = &cfg.secret_from[0];
    let labels: Vec<(&str, &str)> = sf
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, [("version", "5.0"), ("on", "true"), ("n", "3")]);
    assert!(sf.name_suffix_hash);
    let e = parse_config(
        b"apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nsecretFrom:\n- metadata:\n    name: x\n    labels: {a: null}\n  files: [a]\n",
    )
    .unwrap_err();
    assert!(
        e.message.contains("`labels.a` must be a string"),
        "{}",
        e.message
    );
}
