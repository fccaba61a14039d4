//! The exec-env deny-list of variables that would run or redirect programs.

use super::*;

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
