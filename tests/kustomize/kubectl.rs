//! kubectl's embedded kustomize running the legacy exec plugin.

use super::*;

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
