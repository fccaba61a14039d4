//! `leafseal access` on a real git repository: six encrypted files (YAML, JSON, dotenv),
//! age and PGP recipients, key groups with a Shamir threshold, drift from `.sops.yaml`,
//! data-key age from the metadata and from git (a rotation commit), and the HTML report's
//! matrix read back with a small HTML table parser.

#[path = "support/repo.rs"]
mod repo;
mod support;

use std::collections::BTreeMap;

use repo::Repo;

/// A second age recipient (from the sops fixtures; no identity needed to encrypt to it).
const AGE_OTHER: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

const SECRETS: [&str; 4] = ["hunter2", "s3cr3t-token", "dbpass-9", "shamir-pw"];

fn policy() -> String {
    format!(
        "creation_rules:
  - path_regex: ^shamir/
    shamir_threshold: 2
    key_groups:
      - age: [{me}]
      - pgp: [{fp}]
      - age: [{other}]
  - path_regex: ^app/
    age: {me}
    pgp: {fp}
  - path_regex: ^ops/
    age: {other}
",
        me = support::AGE_RECIPIENT,
        fp = support::PGP_FP,
        other = AGE_OTHER
    )
}

/// Commits: 0 everything; 1 rotate app/a.yaml; 2 set a value in app/b.json.
fn repository() -> Repo {
    let mut r = Repo::new();
    r.write(".sops.yaml", &policy());
    r.encrypt("app/a.yaml", "password: hunter2\n");
    r.encrypt("app/b.json", "{\"token\": \"s3cr3t-token\"}\n");
    r.encrypt("app/c.env", "DB_PASSWORD=dbpass-9\n");
    r.encrypt("shamir/s.yaml", "root: shamir-pw\n");
    r.encrypt("ops/o.yaml", "k: hunter2\n");
    // Drift: encrypted for one of the rule's two keys only (written under no policy).
    r.write("app/d.yaml", "x: hunter2\n");
    r.ok(&[
        "--config",
        "/dev/null",
        "encrypt",
        "-i",
        "--age",
        support::AGE_RECIPIENT,
        "app/d.yaml",
    ]);
    r.write("README.md", "# secrets <b>&amp;</b>\n");
    r.commit("add secrets");
    r.ok(&["rotate", "-i", "app/a.yaml"]);
    r.commit("rotate a");
    r.ok(&["set", "app/b.json", r#"["token"]"#, "\"other\""]);
    r.commit("change the token of b");
    r
}

fn no_secret(s: &str) {
    for x in SECRETS {
        assert!(!s.contains(x), "{x} leaked");
    }
}

#[test]
fn access_json_resolves_groups_thresholds_drift_and_rotation() {
    let r = repository();
    let out = r.ok(&["access", "--format", "json"]);
    no_secret(&out);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let files: BTreeMap<String, &serde_json::Value> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_owned(), f))
        .collect();
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        vec![
            "app/a.yaml",
            "app/b.json",
            "app/c.env",
            "app/d.yaml",
            "ops/o.yaml",
            "shamir/s.yaml"
        ],
        "only the encrypted files, not README.md or .sops.yaml"
    );
    let s = files["shamir/s.yaml"];
    assert_eq!(s["threshold"], 2);
    assert_eq!(s["groups"].as_array().expect("groups").len(), 3);
    assert_eq!(
        s["combinations"],
        "one key from each of any 2 of groups 1, 2, 3"
    );
    assert!(s["drift"].is_null());
    assert_eq!(
        files["app/a.yaml"]["combinations"],
        "any one key of the file's only group"
    );
    let drift = files["app/d.yaml"]["drift"].as_str().expect("drift");
    assert!(
        drift.contains(&format!("pgp {}", support::PGP_FP)),
        "{drift}"
    );
    for f in files.values() {
        assert!(f["data_key_since"].as_str().is_some(), "{f}");
    }
    // Git: a's data key comes from the rotation commit; b's set did not rotate it.
    let git = |p: &str| {
        files[p]["last_rotation_commit"]["short"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(git("app/a.yaml"), Some(r.commits[1].clone()));
    assert_eq!(git("app/b.json"), Some(r.commits[0].clone()));
    assert_eq!(git("shamir/s.yaml"), Some(r.commits[0].clone()));
    assert_eq!(
        files["app/a.yaml"]["last_rotation_commit"]["subject"],
        "rotate a"
    );
    assert_eq!(
        files["app/a.yaml"]["last_rotation_commit"]["uncommitted_newer_key"],
        false
    );
    // A rotation not committed yet is pointed out.
    r.ok(&["rotate", "-i", "app/c.env"]);
    let v2: serde_json::Value =
        serde_json::from_str(&r.ok(&["access", "app", "--format", "json"])).expect("json");
    let c = v2["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "app/c.env")
        .expect("c.env");
    assert_eq!(c["last_rotation_commit"]["uncommitted_newer_key"], true);
    assert_eq!(c["last_rotation_commit"]["short"], r.commits[0].as_str());

    // The inverse view.
    let recipients: BTreeMap<String, &serde_json::Value> = v["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|x| (x["id"].as_str().expect("id").to_owned(), x))
        .collect();
    assert_eq!(recipients.len(), 3);
    let reach = |id: &str| -> BTreeMap<String, serde_json::Value> {
        recipients[id]["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| (f["path"].as_str().expect("path").to_owned(), f.clone()))
            .collect()
    };
    let me = reach(support::AGE_RECIPIENT);
    assert_eq!(me.len(), 5);
    assert_eq!(me["app/a.yaml"]["alone"], true);
    assert_eq!(me["shamir/s.yaml"]["alone"], false);
    assert_eq!(me["shamir/s.yaml"]["groups"], serde_json::json!([1]));
    assert_eq!(me["shamir/s.yaml"]["more_groups_needed"], 1);
    assert_eq!(
        me["shamir/s.yaml"]["from_groups"],
        serde_json::json!([2, 3])
    );
    let pgp = reach(support::PGP_FP);
    assert_eq!(
        pgp.keys().cloned().collect::<Vec<_>>(),
        vec!["app/a.yaml", "app/b.json", "app/c.env", "shamir/s.yaml"]
    );
    let other = reach(AGE_OTHER);
    assert_eq!(
        other.keys().cloned().collect::<Vec<_>>(),
        vec!["ops/o.yaml", "shamir/s.yaml"]
    );
    assert_eq!(other["ops/o.yaml"]["alone"], true);
}

#[test]
fn access_human_output_and_paths() {
    let r = repository();
    let out = r.ok(&["access"]);
    no_secret(&out);
    assert!(
        out.contains("shamir/s.yaml\n  opens with: one key from each of any 2 of groups 1, 2, 3"),
        "{out}"
    );
    assert!(out.contains(&format!("  group 2: pgp {}", support::PGP_FP)));
    assert!(out.contains(&format!("last rotation in git: {}", r.commits[1])));
    assert!(
        out.contains(
            "reads only with other groups: shamir/s.yaml (in group 1; needs +1 of groups 2, 3)"
        ),
        "{out}"
    );
    assert!(out.contains("1 file(s) with recipient drift"), "{out}");
    // A path limits the files.
    let out = r.ok(&["access", "ops", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["files"].as_array().expect("files").len(), 1);
    // Outside git: the directory is walked and no git information is shown.
    let plain = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(plain.path().join("x")).expect("mkdir");
    std::fs::copy(r.file("app/a.yaml"), plain.path().join("x/a.yaml")).expect("copy");
    let out = support::run_in(&r.vars, plain.path(), &["access", "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["files"][0]["path"], "x/a.yaml");
    assert!(v["files"][0]["last_rotation_commit"].is_null());
}

/// A minimal HTML reader for the report's tables: the rows of `<table id="ID">` as cell
/// texts (entities decoded), header cells included.
fn table(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table id=\"{id}\">"))
        .expect("table present");
    let end = start + html[start..].find("</table>").expect("table end");
    let t = &html[start..end];
    let mut rows = Vec::new();
    for row in t.split("<tr").skip(1) {
        let row = &row[..row.find("</tr>").expect("row end")];
        let mut cells = Vec::new();
        let mut rest = row;
        while let Some(i) = rest.find("<t") {
            let after = &rest[i + 2..];
            if !(after.starts_with('d') || after.starts_with('h')) {
                rest = after;
                continue;
            }
            let tag = &after[..1];
            let open_end = after.find('>').expect("tag end") + 1;
            let body = &after[open_end..];
            let close = body.find(&format!("</t{tag}>")).expect("cell end");
            cells.push(text(&body[..close]));
            rest = &body[close..];
        }
        rows.push(cells);
    }
    rows
}

/// Tag-stripped, entity-decoded text.
fn text(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn html_report_is_self_contained_and_its_matrix_is_right() {
    let mut r = repository();
    // A file name with markup in it must come out escaped.
    r.write(
        ".sops.yaml",
        &format!(
            "{}  - path_regex: ^odd/\n    age: {}\n",
            policy(),
            AGE_OTHER
        ),
    );
    r.encrypt("odd/<b>&x.yaml", "k: hunter2\n");
    r.commit("odd name");
    let out = r.run(&["access", "--format", "html", "-o", "report.html"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = r.read("report.html");
    no_secret(&html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for banned in ["src=", "href=", "@import", "url(", "<link"] {
        assert!(
            !html.contains(banned),
            "{banned} would load something from elsewhere"
        );
    }
    assert!(html.contains("<script>") && html.contains("<style>"));
    assert!(!html.contains("<b>&x"), "unescaped file name");
    assert!(html.contains("odd/&lt;b&gt;&amp;x.yaml"));

    let m = table(&html, "matrix");
    let header = &m[0];
    assert_eq!(header[0], "recipient");
    let files: Vec<&str> = header[1..].iter().map(String::as_str).collect();
    assert_eq!(
        files,
        vec![
            "app/a.yaml",
            "app/b.json",
            "app/c.env",
            "app/d.yaml",
            "odd/<b>&x.yaml",
            "ops/o.yaml",
            "shamir/s.yaml"
        ]
    );
    let rows: BTreeMap<&str, &[String]> = m[1..]
        .iter()
        .map(|row| (row[0].as_str(), &row[1..]))
        .collect();
    assert_eq!(rows.len(), 3);
    let me = rows[format!("age {}", support::AGE_RECIPIENT).as_str()];
    assert_eq!(
        me,
        [
            "alone",
            "alone",
            "alone",
            "alone",
            "",
            "",
            "+1 of groups 2, 3"
        ]
    );
    let pgp = rows[format!("pgp {}", support::PGP_FP).as_str()];
    assert_eq!(
        pgp,
        ["alone", "alone", "alone", "", "", "", "+1 of groups 1, 3"]
    );
    let other = rows[format!("age {AGE_OTHER}").as_str()];
    assert_eq!(
        other,
        ["", "", "", "", "alone", "alone", "+1 of groups 1, 2"]
    );

    let f = table(&html, "files");
    let d = f.iter().find(|row| row[0] == "app/d.yaml").expect("d row");
    assert!(d[5].contains("missing from the file"), "{d:?}");
    let a = f.iter().find(|row| row[0] == "app/a.yaml").expect("a row");
    assert!(a[4].starts_with(&r.commits[1]), "{a:?}");
}

/// Metadata of a file encrypted for AWS KMS and Vault transit (written by hand: `access`
/// reads the key entries only, so no key service is needed).
const CLOUD: &str = r#"password: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
sops:
    kms:
        - arn: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
          created_at: "2026-01-01T00:00:00Z"
          enc: AQICAHhfake
          aws_profile: ""
    hc_vault:
        - vault_address: https://vault.example.invalid:8200
          engine_path: transit
          key_name: team
          created_at: "2026-02-01T00:00:00Z"
          enc: vault:v1:fake
    lastmodified: "2026-03-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.9.0
"#;

#[test]
fn kms_and_vault_keys_are_listed_without_contacting_them() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("cloud.yaml"), CLOUD).expect("write");
    let vars = support::env_vars(None, dir.path());
    let out = support::run_in(&vars, dir.path(), &["access", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = &v["files"][0];
    assert_eq!(f["path"], "cloud.yaml");
    assert_eq!(f["rule"], false);
    assert_eq!(f["data_key_since"], "2026-02-01T00:00:00Z");
    let kinds: Vec<(String, String)> = v["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| {
            assert_eq!(r["files"][0]["alone"], true);
            (
                r["kind"].as_str().expect("kind").to_owned(),
                r["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "hc_vault".to_owned(),
                "https://vault.example.invalid:8200/v1/transit/keys/team".to_owned()
            ),
            (
                "kms".to_owned(),
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .to_owned()
            ),
        ]
    );
}
