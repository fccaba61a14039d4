//! What the configuration may not do: files outside the directory, planted paths, added words.

use super::*;

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
