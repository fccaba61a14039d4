//! Running sops 3.11.0 and leafseal side by side in one temporary directory, and
//! masking the random parts of encrypted files for layout comparisons.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;

use regex::Regex;

use crate::sops_peer::sops_bin;
use crate::support::GpgHome;
use crate::support::env_vars;

/// Which tool runs a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Sops,
    Leafseal,
}

impl Tool {
    pub fn other(self) -> Tool {
        match self {
            Tool::Sops => Tool::Leafseal,
            Tool::Leafseal => Tool::Sops,
        }
    }
}

/// What a run left behind.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A shared working directory plus the environment both tools run with.
pub struct Peer {
    pub dir: tempfile::TempDir,
    _home: tempfile::TempDir,
    pub vars: HashMap<String, String>,
    sops: PathBuf,
    leafseal: PathBuf,
}

impl Peer {
    /// `None` when sops is not available (outside CI; see `sops_peer`).
    pub fn new(gpg: Option<&GpgHome>) -> Option<Peer> {
        let sops = sops_bin()?.to_path_buf();
        let home = tempfile::tempdir().expect("home");
        let mut vars = env_vars(gpg, home.path());
        vars.insert("SOPS_DISABLE_VERSION_CHECK".into(), "1".into());
        vars.insert("TZ".into(), "UTC".into());
        Some(Peer {
            dir: tempfile::tempdir().expect("work dir"),
            _home: home,
            vars,
            sops,
            leafseal: PathBuf::from(env!("CARGO_BIN_EXE_leafseal")),
        })
    }

    /// Runs leafseal through another path (a symlink named `sops`).
    pub fn set_leafseal_exe(&mut self, exe: PathBuf) {
        self.leafseal = exe;
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write");
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn command(&self, tool: Tool) -> Command {
        let mut c = match tool {
            Tool::Sops => Command::new(&self.sops),
            Tool::Leafseal => Command::new(&self.leafseal),
        };
        c.env_clear().envs(&self.vars).current_dir(self.dir.path());
        c
    }

    /// Runs `tool args` in the directory with extra variables and optional stdin.
    pub fn run_with(
        &self,
        tool: Tool,
        args: &[&str],
        env: &[(&str, &str)],
        unset: &[&str],
        stdin: Option<&[u8]>,
    ) -> Out {
        let mut c = self.command(tool);
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        for k in unset {
            c.env_remove(k);
        }
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| panic!("{tool:?}: {e}"));
        if let Some(input) = stdin {
            let mut w = child.stdin.take().expect("stdin");
            w.write_all(input).expect("write stdin");
        }
        let o = child.wait_with_output().expect("wait");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs `tool args` in another directory.
    pub fn run_at(&self, tool: Tool, cwd: &Path, args: &[&str]) -> Out {
        let o = self
            .command(tool)
            .current_dir(cwd)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool:?}: {e}"));
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn run(&self, tool: Tool, args: &[&str]) -> Out {
        self.run_with(tool, args, &[], &[], None)
    }

    /// Runs and insists on success.
    pub fn ok(&self, tool: Tool, args: &[&str]) -> Vec<u8> {
        let o = self.run(tool, args);
        assert!(
            o.ok(),
            "{tool:?} {args:?} failed ({}): {}",
            o.code,
            o.stderr
        );
        o.stdout
    }

    /// Decrypts `name` with both tools; `Err` unless both succeed with byte-identical
    /// output.
    pub fn decrypt_both(&self, name: &str, extra: &[&str]) -> Result<Vec<u8>, String> {
        let mut args = vec!["decrypt"];
        args.extend_from_slice(extra);
        args.push(name);
        let s = self.run(Tool::Sops, &args);
        let l = self.run(Tool::Leafseal, &args);
        if !s.ok() || !l.ok() {
            return Err(format!(
                "decrypt {name}: sops exit {} ({}), leafseal exit {} ({})",
                s.code,
                s.stderr.trim(),
                l.code,
                l.stderr.trim()
            ));
        }
        if s.stdout != l.stdout {
            return Err(format!(
                "decrypt {name}: output differs\n--- leafseal\n{}\n--- sops\n{}",
                l.text(),
                s.text()
            ));
        }
        Ok(s.stdout)
    }
}

/// The masked form of an encrypted file: the data part as text, and the metadata lines
/// sorted (leafseal writes the sops 3.13 metadata order, sops 3.11 an older one).
#[derive(Debug, PartialEq, Eq)]
pub struct Masked {
    pub data: String,
    pub meta: Vec<String>,
}

/// Masks IVs, ciphertexts, tags, wrapped data keys, dates, the MAC and the version, and
/// drops a `leafseal_integrity` metadata field.
pub fn mask(text: &str) -> Masked {
    let enc = Regex::new(r"ENC\[AES256_GCM,data:[^,\]]*,iv:[^,\]]*,tag:[^,\]]*,type:([a-z]+)\]")
        .expect("re");
    let armor = Regex::new(
        r"-----BEGIN (AGE ENCRYPTED FILE|PGP MESSAGE)-----[\s\S]*?-----END (AGE ENCRYPTED FILE|PGP MESSAGE)-----",
    )
    .expect("re");
    let date = Regex::new(
        r"((lastmodified|created_at)[^:=\n]*[:=] ?\x22?)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z",
    )
    .expect("re");
    let version = Regex::new(r"(version[^:=\n]*[:=] ?\x22?)[0-9]+\.[0-9]+\.[0-9]+").expect("re");
    let kms_enc =
        Regex::new(r#"(enc[\x22]?[:=] ?[\x22]?)(vault:v[0-9]+:)?[A-Za-z0-9+/=]{40,}"#).expect("re");
    let text = enc.replace_all(text, "ENC[AES256_GCM,data:D,iv:I,tag:T,type:$1]");
    let text = armor.replace_all(&text, "ARMOR");
    let mut data = String::new();
    let mut meta = Vec::new();
    let mut in_meta = false;
    let mut json_indent: Option<String> = None;
    let mut skip_deeper_than: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let starts = line.starts_with("sops:")
            || line.starts_with("[sops]")
            || line.starts_with("sops_")
            || (trimmed.starts_with("\"sops\": {") && !indent.is_empty());
        if starts {
            in_meta = true;
            if trimmed.starts_with("\"sops\"") {
                json_indent = Some(indent.to_owned());
            }
        } else if in_meta {
            let ends = match &json_indent {
                Some(ji) => line.starts_with(&format!("{ji}}}")),
                None if line.starts_with("sops_") => false,
                None => {
                    !line.starts_with([' ', '\t', '\n', '\r'])
                        && !line.trim().is_empty()
                        && (line.starts_with('[') || !line.contains('='))
                        && !line.starts_with("sops_")
                }
            };
            if ends {
                in_meta = false;
                json_indent = None;
            }
        }
        let is_dotenv_meta = line.starts_with("sops_");
        if in_meta || is_dotenv_meta {
            // The field and, in YAML/JSON, anything nested under it.
            if let Some(depth) = skip_deeper_than {
                if indent.len() > depth && !trimmed.trim().is_empty() {
                    continue;
                }
                skip_deeper_than = None;
                if indent.len() == depth && trimmed.starts_with(['}', ']']) {
                    continue;
                }
            }
            if line.contains("leafseal_integrity") {
                if trimmed.trim_end().ends_with([':', '{', '[']) {
                    skip_deeper_than = Some(indent.len());
                }
                continue;
            }
            let l = date.replace_all(line, "${1}DATE");
            let l = version.replace_all(&l, "${1}V");
            let l = kms_enc.replace_all(&l, "${1}WRAPPED");
            // List entries: leafseal writes the sops 3.13 field order (`enc` first), sops
            // 3.11 `recipient` first; compare fields, not their order.
            let l = l.replacen("- ", "  ", 1);
            meta.push(l.trim_end_matches(['\n', ',']).to_owned());
        } else {
            data.push_str(line);
        }
    }
    meta.sort();
    Masked { data, meta }
}

/// Compares two encrypted files once masked; `Err` describes the difference.
pub fn same_layout(label: &str, leafseal: &str, sops: &str) -> Result<(), String> {
    let (mut l, mut s) = (mask(leafseal), mask(sops));
    if leafseal.trim_start().starts_with('{') {
        // JSON numbers: sops up to 3.13.1 types every one `float`, leafseal (like sops
        // 3.13.2) an integer literal `int`; both decrypt to the same text (compared by
        // the decrypt step), so the type name is not part of the layout.
        for d in [&mut l.data, &mut s.data] {
            *d = d.replace("type:int]", "type:float]");
        }
    }
    if l.data != s.data {
        return Err(format!(
            "{label}: encrypted data layout differs\n--- leafseal\n{}\n--- sops\n{}",
            l.data, s.data
        ));
    }
    if l.meta != s.meta {
        return Err(format!(
            "{label}: metadata differs once masked\n--- leafseal\n{:#?}\n--- sops\n{:#?}",
            l.meta, s.meta
        ));
    }
    Ok(())
}

/// Has sops encrypt each `(name, text)` case, then both tools decrypt sops's file as each
/// of `outs`; returns the differences (a case that both read alike adds none).
pub fn sops_files_read_alike(p: &Peer, cases: &[(&str, &[u8])], outs: &[&str]) -> Vec<String> {
    let mut diffs = Vec::new();
    for (name, text) in cases {
        p.write(name, text);
        let enc = format!("sops-{name}");
        p.write(
            &enc,
            p.ok(
                Tool::Sops,
                &["encrypt", "--age", crate::support::AGE_RECIPIENT, name],
            ),
        );
        for out in outs {
            if let Err(e) = p.decrypt_both(&enc, &["--output-type", out]) {
                diffs.push(format!("{name} as {out}: {e}"));
            }
        }
    }
    diffs
}

/// Panics with every collected difference.
pub fn assert_no_differences(what: &str, cases: usize, diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "{what}: {} of {cases} case(s) differ from sops:\n\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
    eprintln!(
        "{what}: {cases} case(s) identical to sops {}",
        crate::sops_peer::SOPS_VERSION
    );
}

/// The path of a fixture.
pub fn fixture(rel: &str) -> PathBuf {
    crate::support::sops_fixture(rel)
}

/// A second age identity that opens nothing here.
pub fn other_age_identity() -> PathBuf {
    fixture("keys/age-vectors/other-x25519-identity.txt")
}
