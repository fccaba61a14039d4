//! kpt running the generator as a KRM exec function (`fn eval`, `fn render`).

use super::*;

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
