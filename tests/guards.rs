//! Guards against breaking files, leaking key material and trusting configuration too
//! much, through the real binary: reserved keys in `set`/`unset`, redaction of key
//! material, the `--ignore-mac` warning, the exec-env variable deny-list, the plain-http
//! rule, the notice for a policy outside the git work tree, the key services listed by
//! `check`, and the bound on concurrent gpg processes.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use support::*;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
        }
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert("TMPDIR".into(), self.home.path().display().to_string());
        v
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.dir().join(name), content).expect("write");
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join(name)).expect("read")
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars(), self.dir(), args)
    }

    fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut vars = self.vars();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        run_in(&vars, self.dir(), args)
    }

    /// Encrypts `plain` (named `name`) for the age test recipient into `enc`.
    fn encrypt(&self, name: &str, plain: &str, enc: &str) {
        self.write(name, plain);
        let out = self.run(&["encrypt", "--age", AGE_RECIPIENT, "--output", enc, name]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
}

// ------------------------------------------------------------------ reserved keys

#[test]
fn set_and_unset_refuse_the_reserved_metadata_keys_in_every_format() {
    let env = Env::new();
    env.encrypt("p.yaml", "a: 1\n", "s.yaml");
    env.encrypt("p.json", "{\"a\": 1}\n", "s.json");
    env.encrypt("p.env", "A=1\n", "s.env");
    env.encrypt("p.ini", "[main]\na = 1\n", "s.ini");
    let cases: &[(&str, &str)] = &[
        ("s.yaml", r#"["sops"]"#),
        ("s.yaml", r#"["sops"]["mac"]"#),
        ("s.json", r#"["sops"]"#),
        ("s.json", r#"["sops"]["version"]"#),
        ("s.env", r#"["sops_version"]"#),
        ("s.env", r#"["sops_anything"]"#),
        ("s.env", r#"["sops"]"#),
        ("s.ini", r#"["sops"]"#),
        ("s.ini", r#"["sops"]["mac"]"#),
    ];
    for (file, path) in cases {
        let before = env.read(file);
        let out = env.run(&["set", file, path, r#""x""#]);
        assert_eq!(code(&out), 7, "set {file} {path}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("reserved") && err.contains("hint:"), "{err}");
        assert_eq!(env.read(file), before, "set {file} {path} changed the file");
        let out = env.run(&["unset", file, path]);
        assert_eq!(code(&out), 7, "unset {file} {path}: {}", stderr(&out));
        assert_eq!(
            env.read(file),
            before,
            "unset {file} {path} changed the file"
        );
        // The file still decrypts.
        let out = env.run(&["decrypt", file]);
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
    }
    // Ordinary keys, and `sops` below the top level, still work.
    let out = env.run(&["set", "s.yaml", r#"["b"]["sops"]"#, r#""ok""#]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["set", "s.env", r#"["MY_sops_X"]"#, r#""ok""#]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["decrypt", "s.env"]);
    assert_eq!(stdout(&out), "A=1\nMY_sops_X=ok\n");
}

#[test]
fn encrypt_and_edit_refuse_a_plaintext_with_a_top_level_sops_key() {
    let env = Env::new();
    for (name, text) in [
        ("p.yaml", "a: 1\nsops:\n  x: 1\n"),
        ("p.json", "{\"a\": 1, \"sops\": {\"x\": 1}}"),
        ("p.env", "A=1\nsops_x=1\n"),
        ("p.ini", "[sops]\nx = 1\n"),
    ] {
        env.write(name, text);
        let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, name]);
        assert_eq!(code(&out), 203, "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    // edit: the editor adds a top-level `sops` entry; the file is left as it was.
    env.encrypt("q.yaml", "a: 1\n", "s.yaml");
    let before = env.read("s.yaml");
    let editor = env.home.path().join("ed.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'a: 2\\nsops:\\n  x: 1\\n' > \"$1\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = env.run_with(
        &["edit", "s.yaml"],
        &[("EDITOR", &editor.display().to_string())],
    );
    assert_eq!(code(&out), 203, "{}", stderr(&out));
    assert_eq!(env.read("s.yaml"), before);
}

// ------------------------------------------------------------------ redaction

fn age_identity() -> String {
    std::fs::read_to_string(age_key_file())
        .expect("age key file")
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("an identity")
        .to_owned()
}

#[test]
fn an_age_identity_given_as_recipient_is_never_printed() {
    let env = Env::new();
    env.write("p.yaml", "a: 1\n");
    let id = age_identity();
    let body = id.trim_start_matches("AGE-SECRET-KEY-1");
    for args in [
        vec!["encrypt", "--age", id.as_str(), "p.yaml"],
        vec![
            "encrypt",
            "--age",
            &format!("{AGE_RECIPIENT},{id}"),
            "p.yaml",
        ],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains(body), "the identity was printed: {err}");
        assert!(
            !err.to_ascii_lowercase()
                .contains(&body.to_ascii_lowercase()[..20]),
            "{err}"
        );
        assert!(
            err.contains("identity") && err.contains("age-keygen -y"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    // A usage error quoting the identity (clap's message) masks it too.
    let out = env.run(&["encrypt", "p.yaml", &id]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!stderr(&out).contains(body), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("AGE-SECRET-KEY-1[redacted]"),
        "{}",
        stderr(&out)
    );
    // A private key block given as a PGP key is masked by the report.
    let pem = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQdGBFakeSecretBody0123\n-----END PGP PRIVATE KEY BLOCK-----";
    let out = env.run(&["encrypt", &format!("--pgp={pem}"), "p.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(!stderr(&out).contains("FakeSecretBody"), "{}", stderr(&out));
    // rotate --add-age with an identity: same.
    env.encrypt("q.yaml", "a: 1\n", "s.yaml");
    let out = env.run(&["rotate", "-i", "--add-age", &id, "s.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(!stderr(&out).contains(body), "{}", stderr(&out));
    // A policy naming an identity as recipient: the error does not show it either.
    env.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", id.to_lowercase()),
    );
    let out = env.run(&["encrypt", "p.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(
        !stderr(&out)
            .to_ascii_lowercase()
            .contains(&body.to_ascii_lowercase()),
        "{}",
        stderr(&out)
    );
}

// ------------------------------------------------------------------ --ignore-mac

#[test]
fn ignore_mac_warns_that_the_mac_was_skipped() {
    let env = Env::new();
    env.encrypt("p.yaml", "a: 1\nb: two\n", "s.yaml");
    let plain = env.run(&["decrypt", "s.yaml"]);
    assert_eq!(code(&plain), 0);
    assert_eq!(stderr(&plain), "", "no warning without --ignore-mac");
    for args in [
        vec!["decrypt", "--ignore-mac", "s.yaml"],
        vec!["exec-env", "--ignore-mac", "s.yaml", "true"],
        vec!["set", "--ignore-mac", "s.yaml", r#"["c"]"#, "1"],
        vec!["unset", "--ignore-mac", "s.yaml", r#"["c"]"#],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("warning: s.yaml: --ignore-mac: the MAC and the leafseal integrity record were not checked"),
            "{args:?}: {err}"
        );
    }
    let out = env.run(&["decrypt", "--ignore-mac", "s.yaml"]);
    assert_eq!(out.stdout, plain.stdout);
}

// ------------------------------------------------------------------ exec-env

/// The variables docs/security.md lists (exact names and examples of the prefixes).
const REFUSED: &[&str] = &[
    "PATH",
    "CDPATH",
    "ENV",
    "BASH_ENV",
    "IFS",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
    "GLOBIGNORE",
    "PROMPT_COMMAND",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5LIB",
    "PERLLIB",
    "PERL5OPT",
    "PERL5DB",
    "RUBYLIB",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "CLASSPATH",
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_PROXY_COMMAND",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "BASH_FUNC_ls%%",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_KEY_0",
    // Round 16 (review: code ran through the first two, and through GIT_DIR).
    "PYTHONWARNINGS",
    "BROWSER",
    "LUA_INIT",
    "LUA_INIT_5_4",
    "LUA_PATH",
    "LUA_CPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "GEM_HOME",
    "GEM_PATH",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    "EXINIT",
    "VIMINIT",
    "ZDOTDIR",
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_TEMPLATE_DIR",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "KUBECONFIG",
    "TF_CLI_CONFIG_FILE",
    "TERRAFORM_CONFIG",
    "TF_PLUGIN_CACHE_DIR",
    "CURL_HOME",
    "CARGO_HOME",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC",
    "RUSTDOC",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTDOC",
    "CARGO_REGISTRY_CREDENTIAL_PROVIDER",
    "CARGO_REGISTRY_GLOBAL_CREDENTIAL_PROVIDERS",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "CARGO",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_HOME",
    // Cargo's per-target, host, registry and alias settings (patterns, round 20).
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
    "CARGO_HOST_LINKER",
    "CARGO_REGISTRIES_MY_REGISTRY_CREDENTIAL_PROVIDER",
    "CARGO_ALIAS_B",
    "GOFLAGS",
    "GOENV",
    "GOROOT",
    "LESSOPEN",
    "LESSCLOSE",
    "DOCKER_CONFIG",
    "DOCKER_HOST",
    "DOCKER_CERT_PATH",
    "YARN_RC_FILENAME",
    "YARN_YARN_PATH",
    "PIP_CONFIG_FILE",
    "GRADLE_USER_HOME",
    "GRADLE_OPTS",
    "MAVEN_OPTS",
    "ANSIBLE_CONFIG",
    "ANSIBLE_VAULT_PASSWORD_FILE",
    "HGRCPATH",
    "PSQLRC",
    "GNUPGHOME",
    "SUDO_ASKPASS",
    "HELM_PLUGINS",
    "CLOUDSDK_CONFIG",
    "AZURE_CONFIG_DIR",
    "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "PYTHONHTTPSVERIFY",
    "AWS_CA_BUNDLE",
    "GIT_SSL_NO_VERIFY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "CARGO_HTTP_CAINFO",
    "PIP_CERT",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_SKIP_VERIFY",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "npm_config_script_shell",
    "NPM_CONFIG_USERCONFIG",
];

const MARKER: &str = "value-marker-7f3a";

#[test]
fn exec_env_refuses_each_listed_variable_and_names_it() {
    let env = Env::new();
    // The library's list and the documented one agree.
    for n in leafseal::exec::guard::REFUSED_NAMES {
        assert!(
            REFUSED.contains(n),
            "{n} is refused but not listed in this test"
        );
    }
    for (i, name) in REFUSED.iter().enumerate() {
        assert!(leafseal::exec::guard::is_refused(name), "{name}");
        let enc = format!("s{i}.json");
        let plain = format!("{{\"OK_VAR\": \"fine\", \"{name}\": \"{MARKER}\"}}\n");
        env.encrypt(&format!("p{i}.json"), &plain, &enc);
        let out = env.run(&["exec-env", &enc, "--", "echo", "child-ran"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{name}: {err}");
        assert!(err.contains(&format!("`{name}`")), "{name}: {err}");
        assert!(
            err.contains(&format!("--allow-env {name}")),
            "{name}: {err}"
        );
        assert!(
            !err.contains(MARKER),
            "{name}: the value was printed: {err}"
        );
        assert!(out.stdout.is_empty(), "{name}: the command ran");
    }
}

#[test]
fn exec_env_with_an_attacker_path_does_not_run_the_attackers_program() {
    let env = Env::new();
    let evil = env.dir().join("evil");
    std::fs::create_dir(&evil).expect("mkdir");
    let pwned = env.dir().join("pwned");
    std::fs::write(
        evil.join("ls"),
        format!("#!/bin/sh\nenv > '{}'\n", pwned.display()),
    )
    .expect("write");
    std::fs::set_permissions(
        evil.join("ls"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    env.encrypt(
        "p.env",
        &format!("DB_PASSWORD=s3cret\nPATH={}\n", evil.display()),
        "s.env",
    );
    for args in [
        vec!["exec-env", "s.env", "ls"],
        vec!["exec-env", "s.env", "--", "ls"],
        vec!["exec-env", "--pristine", "s.env", "--", "ls"],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert!(!pwned.exists(), "{args:?}: the attacker's ls ran");
        assert!(!stderr(&out).contains("s3cret"));
    }
}

#[test]
fn exec_env_allows_a_refused_variable_named_with_allow_env_and_passes_ordinary_ones() {
    let env = Env::new();
    let path = std::env::var("PATH").unwrap_or_default();
    env.encrypt(
        "p.yaml",
        &format!("DB_PASSWORD: s3cret\nPATH: \"{path}:/opt/extra\"\nPYTHONPATH: /srv/lib\n"),
        "s.yaml",
    );
    // Only PATH allowed: PYTHONPATH still refused, and only it is named.
    let out = env.run(&["exec-env", "--allow-env", "PATH", "s.yaml", "true"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("`PYTHONPATH`") && !stderr(&out).contains("`PATH`"));
    // Both allowed: the child sees them and the ordinary variable.
    let out = env.run(&[
        "exec-env",
        "--allow-env",
        "PATH",
        "--allow-env",
        "PYTHONPATH",
        "s.yaml",
        "printf '%s|%s|%s' \"$DB_PASSWORD\" \"$PATH\" \"$PYTHONPATH\"",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("s3cret|{path}:/opt/extra|/srv/lib"));
    // A file with only ordinary variables needs no flag.
    env.encrypt("q.yaml", "DB_PASSWORD: s3cret\nTMPDIR: /tmp\n", "t.yaml");
    let out = env.run(&["exec-env", "t.yaml", "printf %s \"$DB_PASSWORD\""]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "s3cret");
}

// ------------------------------------------------------------------ plain http

const VAULT_HTTP: &str = "http://192.0.2.1:8200/v1/transit/keys/app";

#[test]
fn plain_http_to_a_non_loopback_key_service_is_refused_unless_opted_in() {
    let env = Env::new();
    env.write("p.yaml", "a: 1\n");
    let net = [
        ("VAULT_TOKEN", "tok"),
        ("LEAFSEAL_HTTP_TIMEOUT_SECS", "1"),
        ("LEAFSEAL_HTTP_RETRY_DELAY_MS", "10"),
    ];
    let out = env.run_with(
        &["encrypt", "--hc-vault-transit", VAULT_HTTP, "p.yaml"],
        &net,
    );
    let err = stderr(&out);
    assert_ne!(code(&out), 0);
    assert!(
        err.contains("plain http with 192.0.2.1") && err.contains("LEAFSEAL_ALLOW_INSECURE_HTTP=1"),
        "{err}"
    );
    assert!(!err.contains("tok\n") && !err.contains("`tok`"));
    // The same address from a policy file.
    env.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - hc_vault_transit_uri: {VAULT_HTTP}\n"),
    );
    let out = env.run_with(&["encrypt", "p.yaml"], &net);
    assert!(
        stderr(&out).contains("plain http with 192.0.2.1"),
        "{}",
        stderr(&out)
    );
    // AWS endpoints from the environment follow the same rule.
    let out = env.run_with(
        &[
            "encrypt",
            "--kms",
            "arn:aws:kms:eu-west-1:123456789012:key/0b0e2b36-0b4d-4b8c-9f0b-3b0d6e0e5f00",
            "p.yaml",
        ],
        &[
            ("AWS_ENDPOINT_URL_KMS", "http://192.0.2.1:4566"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("LEAFSEAL_AWS_TIMEOUT_SECS", "1"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let err = stderr(&out);
    assert_ne!(code(&out), 0);
    assert!(
        err.contains("plain http with 192.0.2.1") && err.contains("AWS_ENDPOINT_URL_KMS"),
        "{err}"
    );
    // Opted in: the request is attempted (and fails to connect here).
    let mut opted = net.to_vec();
    opted.push(("LEAFSEAL_ALLOW_INSECURE_HTTP", "1"));
    let out = env.run_with(
        &["encrypt", "--hc-vault-transit", VAULT_HTTP, "p.yaml"],
        &opted,
    );
    assert_ne!(code(&out), 0);
    assert!(!stderr(&out).contains("plain http"), "{}", stderr(&out));
}

// ------------------------------------------------------------------ policy trust

#[test]
fn a_policy_above_the_git_work_tree_is_used_with_a_notice() {
    let top = tempfile::tempdir().expect("top");
    let home = tempfile::tempdir().expect("home");
    let repo = top.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    std::fs::write(repo.join("p.yaml"), "a: 1\n").expect("write");
    let outside = top.path().join(".sops.yaml");
    std::fs::write(
        &outside,
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    )
    .expect("write");
    let vars = env_vars(None, home.path());
    let out = run_in(&vars, &repo, &["encrypt", "p.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("outside the git work tree") && err.contains(&outside.display().to_string()),
        "{err}"
    );
    assert_eq!(err.matches("outside the git work tree").count(), 1, "{err}");
    // The git merge driver, which reads the policy for its output settings, too.
    for side in ["base.yaml", "ours.yaml", "theirs.yaml"] {
        std::fs::write(repo.join(side), &out.stdout).expect("write");
    }
    let out = run_in(
        &vars,
        &repo,
        &[
            "git",
            "merge-driver",
            "base.yaml",
            "ours.yaml",
            "theirs.yaml",
            "s.yaml",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("outside the git work tree"),
        "{}",
        stderr(&out)
    );
    // Chosen explicitly: no notice.
    let out = run_in(
        &vars,
        &repo,
        &[
            "--config",
            &outside.display().to_string(),
            "encrypt",
            "p.yaml",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("outside the git work tree"));
    // A policy inside the work tree: no notice.
    std::fs::copy(&outside, repo.join(".sops.yaml")).expect("copy");
    let out = run_in(&vars, &repo, &["encrypt", "p.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

// ------------------------------------------------------------------ check

#[test]
fn check_lists_every_key_service_address_of_the_policy() {
    let env = Env::new();
    env.write(
        ".sops.yaml",
        "creation_rules:
  - path_regex: vault/.*
    hc_vault_transit_uri: http://10.1.2.3:8200/v1/transit/keys/app
  - path_regex: aws/.*
    kms: arn:aws:kms:eu-west-3:123456789012:key/0b0e2b36-0b4d-4b8c-9f0b-3b0d6e0e5f00
  - path_regex: gcp/.*
    gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k
  - path_regex: azure/.*
    azure_keyvault: https://myvault.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef
  - age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw
",
    );
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "hc_vault http://10.1.2.3:8200 (transit/keys/app) [plain http",
        "kms https://kms.eu-west-3.amazonaws.com (arn:aws:kms:eu-west-3:123456789012:key/0b0e2b36",
        "gcp_kms https://cloudkms.googleapis.com (projects/p/locations/global/keyRings/r/cryptoKeys/k)",
        "azure_kv https://myvault.vault.azure.net (https://myvault.vault.azure.net/keys/k/",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("age1yt3"), "{text}");
    let out = env.run(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let services = v["key_services"].as_array().expect("key_services");
    assert_eq!(services.len(), 4, "{v}");
    assert_eq!(services[0]["address"], "http://10.1.2.3:8200");
    assert_eq!(services[0]["plain_http"], true);
}

// ------------------------------------------------------------------ gpg

/// A stand-in for gpg: "encrypts" by base64 with the recipient in the armor, "decrypts"
/// only for `$FAKE_GPG_GOOD`, and records how many copies run at once.
const FAKE_GPG: &str = r#"#!/bin/sh
mode=; rcpt=
while [ $# -gt 0 ]; do
  case "$1" in
    --encrypt) mode=enc ;;
    --decrypt) mode=dec ;;
    --recipient) shift; rcpt="$1" ;;
  esac
  shift
done
if [ "$mode" = enc ]; then
  echo "-----BEGIN PGP MESSAGE-----"
  echo "for:$rcpt"
  base64 -w0; echo
  echo "-----END PGP MESSAGE-----"
  exit 0
fi
input=$(cat)
touch "$FAKE_GPG_DIR/run.$$"
ls "$FAKE_GPG_DIR" | grep -c '^run\.' >> "$FAKE_GPG_DIR/counts"
sleep 0.05
rm -f "$FAKE_GPG_DIR/run.$$"
fp=$(printf '%s\n' "$input" | sed -n 's/^for://p')
if [ "$fp" = "$FAKE_GPG_GOOD" ]; then
  printf '%s\n' "$input" | sed -n '3p' | base64 -d
  exit 0
fi
echo "gpg: decryption failed: No secret key" >&2
exit 2
"#;

#[test]
fn many_pgp_entries_still_decrypt_with_a_bounded_number_of_gpg_processes() {
    let env = Env::new();
    let bin = env.home.path().join("fake-gpg");
    std::fs::write(&bin, FAKE_GPG).expect("write");
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let runs = env.home.path().join("runs");
    std::fs::create_dir(&runs).expect("mkdir");
    let fps: Vec<String> = (0..24).map(|i| format!("{:040X}", 0xA000 + i)).collect();
    let good = fps.last().expect("fps").clone();
    let vars = [
        ("SOPS_GPG_EXEC", bin.display().to_string()),
        ("FAKE_GPG_DIR", runs.display().to_string()),
        ("FAKE_GPG_GOOD", good.clone()),
        ("LEAFSEAL_GPG_MAX_PROCS", "1".to_owned()),
    ];
    let extra: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list = fps.join(",");
    let mut files = Vec::new();
    for i in 0..4 {
        let name = format!("p{i}.yaml");
        env.write(&name, &format!("v: {i}\n"));
        let enc = format!("s{i}.yaml");
        let out = env.run_with(
            &["encrypt", "--pgp", &list, "--output", &enc, &name],
            &extra,
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(env.read(&enc).matches("fp: ").count(), 24);
        files.push(enc);
    }
    let mut args = vec!["decrypt"];
    args.extend(files.iter().map(String::as_str));
    let out = env.run_with(&args, &extra);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "v: 0\n---\nv: 1\n---\nv: 2\n---\nv: 3\n");
    let counts = std::fs::read_to_string(runs.join("counts")).expect("counts");
    let seen: Vec<usize> = counts
        .lines()
        .map(|l| l.trim().parse().expect("count"))
        .collect();
    assert_eq!(seen.len(), 4 * 24, "every entry was tried once per file");
    assert!(
        seen.iter().all(|&n| n == 1),
        "more than one gpg at once: {seen:?}"
    );
}

// ------------------------------------------------------------------ unknown metadata

/// What docs/security.md states: unknown fields at the top level of the `sops` block
/// (a future key kind, a future setting) are kept when `set` rewrites the file.
#[test]
fn unknown_top_level_metadata_fields_are_kept_on_rewrite() {
    let env = Env::new();
    env.encrypt("p.yaml", "a: 1\n", "s.yaml");
    let text = env.read("s.yaml").replacen(
        "sops:\n",
        "sops:\n    future_setting: keep-me\n    future_kms:\n        - id: x\n          enc: y\n",
        1,
    );
    env.write("s.yaml", &text);
    let out = env.run(&["set", "s.yaml", r#"["b"]"#, r#""two""#]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = env.read("s.yaml");
    assert!(after.contains("future_setting: keep-me"), "{after}");
    assert!(
        after.contains("future_kms:\n        - id: x\n          enc: \"y\""),
        "{after}"
    );
    let out = env.run(&["decrypt", "s.yaml"]);
    assert_eq!(stdout(&out), "a: 1\nb: two\n");
}
