//! The kustomize secret generator: its configuration, the Secrets it renders, and the KRM
//! function protocol (ResourceList in, ResourceList out) used by kustomize and kpt.
//!
//! The configuration keeps the field layout of KSOPS (`files`, `secretFrom` with
//! `metadata`, `type`, `files`, `binaryFiles`, `envs`) under leafseal's own
//! `apiVersion: leafseal.dev/v1`, `kind: SecretGenerator`, so a KSOPS user changes two
//! lines; a `viaduct.ai/v1` `ksops` configuration is accepted as it is.

use std::path::Path;
use std::path::PathBuf;

use base64::Engine;

use crate::error::Error;
use crate::error::exit;
use crate::integrations;
use crate::integrations::Rendered;
pub use crate::integrations::confine::LoadRestrictor;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::Output;
use crate::ops::k8s;
use crate::ops::k8s::Field;
use crate::ops::k8s::Fields;
use crate::ops::k8s::Resource;
use crate::ops::k8s::Secret;
use crate::ops::k8s::Text;

/// leafseal's generator `apiVersion`.
pub const API_VERSION: &str = "leafseal.dev/v1";
/// leafseal's generator `kind`.
pub const KIND: &str = "SecretGenerator";
/// The KSOPS `apiVersion`s accepted for compatibility.
pub const KSOPS_API_VERSIONS: [&str; 2] = ["viaduct.ai/v1", "viaduct.ai/v2"];
/// The KSOPS `kind` accepted for compatibility.
pub const KSOPS_KIND: &str = "ksops";

/// kustomize's generator behavior annotation.
pub const BEHAVIOR_ANNOTATION: &str = "kustomize.config.k8s.io/behavior";
/// kustomize's annotation asking for a name-suffix hash on generated resources.
pub const NEEDS_HASH_ANNOTATION: &str = "kustomize.config.k8s.io/needs-hash";

/// One Secret built from encrypted files (`secretFrom` entry).
#[derive(Debug, Clone, Default)]
pub struct SecretFrom {
    /// `metadata.name` (required).
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`, in order.
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations`, in order.
    pub annotations: Vec<(String, String)>,
    /// Secret `type` (default `Opaque`).
    pub type_: String,
    /// kustomize generator behavior: `create`, `merge` or `replace`.
    pub behavior: Option<String>,
    /// Ask kustomize to append a content hash to the name.
    pub name_suffix_hash: bool,
    /// Files whose decrypted content becomes one key each: `path` or `key=path`.
    pub files: Vec<String>,
    /// Encrypted dotenv (or flat YAML/JSON) files whose entries become keys.
    pub envs: Vec<String>,
}

/// A generator configuration.
#[derive(Debug, Clone, Default)]
pub struct GeneratorConfig {
    /// Encrypted manifests, emitted decrypted as they are.
    pub files: Vec<String>,
    /// Secrets to build from encrypted files.
    pub secret_from: Vec<SecretFrom>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(exit::GENERIC, msg.into())
        .hint("see docs/gitops.md for the generator configuration format")
}

fn string_list(m: &Fields, key: &str, ctx: &str) -> Result<Vec<String>, Error> {
    match m.get(key) {
        None | Some(Field::Null) => Ok(Vec::new()),
        Some(Field::List(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("{ctx}`{key}` must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(bad(format!("{ctx}`{key}` must be a list of strings"))),
    }
}

fn string_map(m: &Fields, key: &str, ctx: &str) -> Result<Vec<(String, String)>, Error> {
    match m.get(key) {
        None | Some(Field::Null) => Ok(Vec::new()),
        Some(Field::Map(map)) => map
            .entries()
            .map(|(k, v)| {
                v.text()
                    .filter(|_| !matches!(v, Field::Null))
                    .map(|s| (k.to_owned(), s.into_owned()))
                    .ok_or_else(|| bad(format!("{ctx}`{key}.{k}` must be a string")))
            })
            .collect(),
        Some(_) => Err(bad(format!("{ctx}`{key}` must be a map of strings"))),
    }
}

impl GeneratorConfig {
    /// Reads a configuration resource (its `apiVersion`/`kind` must be leafseal's or KSOPS's).
    pub fn from_resource(r: &Resource) -> Result<GeneratorConfig, Error> {
        GeneratorConfig::from_fields(&r.fields())
    }

    /// Reads a configuration given as plain data (see [`GeneratorConfig::from_resource`]).
    pub fn from_fields(m: &Fields) -> Result<GeneratorConfig, Error> {
        let api = m.str("apiVersion").unwrap_or_default();
        let kind = m.str("kind").unwrap_or_default();
        let ok = (api == API_VERSION && kind == KIND)
            || (KSOPS_API_VERSIONS.contains(&api) && kind == KSOPS_KIND);
        if !ok {
            return Err(bad(format!(
                "the generator configuration has apiVersion `{api}` and kind `{kind}`; expected `{API_VERSION}` `{KIND}` (or KSOPS's `viaduct.ai/v1` `{KSOPS_KIND}`)"
            )));
        }
        let mut cfg = GeneratorConfig {
            files: string_list(m, "files", "")?,
            secret_from: Vec::new(),
        };
        let entries: Vec<&Field> = match m.get("secretFrom") {
            None | Some(Field::Null) => Vec::new(),
            Some(Field::List(s)) => s.iter().collect(),
            Some(_) => return Err(bad("`secretFrom` must be a list")),
        };
        for (i, e) in entries.into_iter().enumerate() {
            let ctx = format!("secretFrom[{i}]: ");
            let e = e
                .as_map()
                .ok_or_else(|| bad(format!("{ctx}each entry must be a map")))?;
            let empty = Fields::default();
            let meta = match e.get("metadata") {
                None => &empty,
                Some(Field::Map(m)) => m,
                Some(_) => return Err(bad(format!("{ctx}`metadata` must be a map"))),
            };
            let name = meta
                .str("name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad(format!("{ctx}`metadata.name` is required")))?;
            let behavior = e.str("behavior").map(str::to_owned);
            if behavior
                .as_deref()
                .is_some_and(|b| !matches!(b, "create" | "merge" | "replace"))
            {
                return Err(bad(format!(
                    "{ctx}`behavior` must be create, merge or replace"
                )));
            }
            let mut files = string_list(e, "files", &ctx)?;
            files.extend(string_list(e, "binaryFiles", &ctx)?);
            let sf = SecretFrom {
                name: name.to_owned(),
                namespace: meta.str("namespace").map(str::to_owned),
                labels: string_map(meta, "labels", &ctx)?,
                annotations: string_map(meta, "annotations", &ctx)?,
                type_: e.str("type").unwrap_or("Opaque").to_owned(),
                behavior,
                name_suffix_hash: matches!(e.get("nameSuffixHash"), Some(Field::Bool(true))),
                files,
                envs: string_list(e, "envs", &ctx)?,
            };
            if sf.files.is_empty() && sf.envs.is_empty() {
                return Err(bad(format!("{ctx}lists no `files` and no `envs`")));
            }
            cfg.secret_from.push(sf);
        }
        Ok(cfg)
    }

    /// Decrypts every file and returns the resources, in configuration order: first the
    /// decrypted manifests of `files`, then one Secret per `secretFrom` entry. Relative
    /// paths resolve against `base`, and every file must be inside `base` (see
    /// [`GeneratorConfig::generate_within`]).
    pub fn generate(&self, base: &Path, ctx: &KeyContext) -> Result<Vec<Resource>, Error> {
        self.generate_within(base, Some(base), ctx, &mut Vec::new())
    }

    /// [`GeneratorConfig::generate`] with every file's real path (links resolved) inside
    /// `limit` (exit 2 otherwise), or anywhere when `limit` is `None`; the decryptions'
    /// notes for stderr (a file without a valid integrity record) go to `notes`.
    pub fn generate_within(
        &self,
        base: &Path,
        limit: Option<&Path>,
        ctx: &KeyContext,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Resource>, Error> {
        let mut out = Vec::new();
        for f in &self.files {
            let d = integrations::decrypt_within(&resolve(base, f), limit, ctx)?;
            notes.extend(d.warnings);
            if !matches!(d.format, Format::Yaml | Format::Json) {
                return Err(bad(format!(
                    "{f}: `files` takes encrypted Kubernetes manifests (YAML or JSON); use `secretFrom` for other files"
                )));
            }
            out.extend(k8s::resources_of(d.doc));
        }
        for sf in &self.secret_from {
            out.push(sf.render_within(base, limit, ctx, notes)?);
        }
        Ok(out)
    }
}

/// Resolves a configuration path against the base directory.
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// Whether a Secret data key is valid (`[-._a-zA-Z0-9]+`).
pub fn valid_data_key(k: &str) -> bool {
    !k.is_empty()
        && k != "."
        && k != ".."
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl SecretFrom {
    /// Decrypts the entry's files and builds the Secret; every file must be inside `base`.
    pub fn render(&self, base: &Path, ctx: &KeyContext) -> Result<Resource, Error> {
        self.render_within(base, Some(base), ctx, &mut Vec::new())
    }

    /// [`SecretFrom::render`] with the files inside `limit` (anywhere when `None`), the
    /// decryptions' notes going to `notes`.
    pub fn render_within(
        &self,
        base: &Path,
        limit: Option<&Path>,
        ctx: &KeyContext,
        notes: &mut Vec<String>,
    ) -> Result<Resource, Error> {
        let mut data: Vec<(String, Text)> = Vec::new();
        let mut add = |key: String, value: Text| -> Result<(), Error> {
            if !valid_data_key(&key) {
                return Err(bad(format!(
                    "Secret `{}`: `{key}` is not a valid data key (letters, digits, `-`, `_`, `.`)",
                    self.name
                )));
            }
            if data.iter().any(|(k, _)| *k == key) {
                return Err(bad(format!(
                    "Secret `{}`: the key `{key}` is given twice",
                    self.name
                )));
            }
            data.push((key, value));
            Ok(())
        };
        for spec in &self.files {
            let (key, path) = match spec.split_once('=') {
                Some((k, p)) => (k.to_owned(), p),
                None => (
                    Path::new(spec)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    spec.as_str(),
                ),
            };
            let bytes = file_content(&resolve(base, path), limit, ctx, notes)?;
            add(key, b64(&bytes))?;
        }
        for env in &self.envs {
            let shown = resolve(base, env);
            let d = integrations::decrypt_within(&shown, limit, ctx)?;
            notes.extend(d.warnings.iter().cloned());
            let entries = k8s::env_entries(&d.doc).map_err(|e| {
                bad(format!(
                    "{}: `envs` files must hold flat key/value pairs (`{}` is a {})",
                    shown.display(),
                    e.key,
                    e.kind
                ))
            })?;
            for (k, s) in entries {
                add(k, b64(s.as_bytes()))?;
            }
        }
        data.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ann = self.annotations.clone();
        if let Some(b) = &self.behavior {
            ann.push((BEHAVIOR_ANNOTATION.to_owned(), b.clone()));
        }
        if self.name_suffix_hash {
            ann.push((NEEDS_HASH_ANNOTATION.to_owned(), "true".to_owned()));
        }
        Ok(Secret {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            labels: self.labels.clone(),
            annotations: ann,
            type_: self.type_.clone(),
            data,
            string_data: Vec::new(),
        }
        .to_resource())
    }
}

fn b64(bytes: &[u8]) -> Text {
    Text::new(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The decrypted content of one `secretFrom.files` file: the raw bytes of a binary file,
/// else the decrypted document written back in its own format.
fn file_content(
    path: &Path,
    limit: Option<&Path>,
    ctx: &KeyContext,
    notes: &mut Vec<String>,
) -> Result<Output, Error> {
    let d = integrations::decrypt_within(path, limit, ctx)?;
    notes.extend(d.warnings.iter().cloned());
    k8s::plaintext_of(&d.doc, d.format)
        .map_err(|e| {
            Error::new(
                exit::ERROR_DUMPING_TREE,
                format!("{}: cannot write the decrypted file: {e}", path.display()),
            )
        })?
        .ok_or_else(|| {
            bad(format!(
                "{}: the binary file has no `data` value",
                path.display()
            ))
        })
}

/// Parses a YAML configuration file's bytes (the first document).
pub fn parse_config(bytes: &[u8]) -> Result<GeneratorConfig, Error> {
    let resources = k8s::parse_resources(bytes)
        .map_err(|e| bad(format!("cannot parse the generator configuration: {e}")))?;
    let first = resources
        .first()
        .ok_or_else(|| bad("the generator configuration is empty"))?;
    GeneratorConfig::from_resource(first)
}

/// Runs the legacy exec plugin: reads the configuration and returns the YAML stream of
/// the generated resources, with notes for stderr. `base` is the kustomization root (kustomize passes it as
/// `KUSTOMIZE_PLUGIN_CONFIG_ROOT` and runs the plugin there); files must be inside it
/// unless `restrictor` is [`LoadRestrictor::None`].
pub fn exec_plugin(
    config: &[u8],
    base: &Path,
    restrictor: LoadRestrictor,
    ctx: &KeyContext,
) -> Result<Rendered, Error> {
    let cfg = parse_config(config)?;
    let mut warnings = Vec::new();
    let resources = cfg.generate_within(base, restrictor.limit(base), ctx, &mut warnings)?;
    Ok(Rendered {
        yaml: k8s::emit_resources(resources)?,
        warnings,
    })
}

/// kpt's annotation giving the absolute package directory (`kpt fn render`).
pub const PACKAGE_PATH_ANNOTATION: &str = "internal.config.kubernetes.io/package-path";
/// The annotations giving a resource's file path relative to the package.
pub const PATH_ANNOTATIONS: [&str; 2] = [
    "internal.config.kubernetes.io/path",
    "config.kubernetes.io/path",
];

/// The directory relative paths of a KRM function configuration resolve against: kpt's
/// package path (plus the configuration file's directory) when given, else `cwd`.
pub fn krm_base(function_config: &Resource, cwd: &Path) -> PathBuf {
    let file_dir = PATH_ANNOTATIONS
        .iter()
        .find_map(|k| function_config.annotation(k))
        .and_then(|p| Path::new(p).parent().map(Path::to_owned))
        .unwrap_or_default();
    match function_config.annotation(PACKAGE_PATH_ANNOTATION) {
        Some(pkg) => Path::new(pkg).join(file_dir),
        None => cwd.join(file_dir),
    }
}

/// The directory a KRM function's files must stay in: `base` when given (`--base-dir`),
/// else kpt's package path when it lies inside `cwd`, else `cwd` (kustomize runs the
/// function in the kustomization directory).
///
/// The package path only narrows the root. `kpt fn render` sets the annotation itself,
/// but `kpt fn eval --fn-config FILE` passes the configuration's own annotations through,
/// so the file (repository content) could otherwise name `/` as its package and lift the
/// load restriction (round-21 review).
pub fn krm_root(function_config: &Resource, base: Option<&Path>, cwd: &Path) -> PathBuf {
    if let Some(b) = base {
        return b.to_owned();
    }
    function_config
        .annotation(PACKAGE_PATH_ANNOTATION)
        .and_then(|pkg| package_inside(Path::new(pkg), cwd))
        .unwrap_or_else(|| cwd.to_owned())
}

/// `pkg` (relative to `cwd` when relative), links resolved, when it is `cwd` or below it.
fn package_inside(pkg: &Path, cwd: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(cwd.join(pkg)).ok()?;
    let real_cwd = std::fs::canonicalize(cwd).ok()?;
    real.starts_with(&real_cwd).then_some(real)
}

/// The note given when a package-path annotation is not used as the root.
fn ignored_package_path(
    function_config: &Resource,
    base: Option<&Path>,
    cwd: &Path,
) -> Option<String> {
    let pkg = function_config.annotation(PACKAGE_PATH_ANNOTATION)?;
    if base.is_some() || package_inside(Path::new(pkg), cwd).is_some() {
        return None;
    }
    Some(format!(
        "the configuration's {PACKAGE_PATH_ANNOTATION} `{}` is not inside the current directory {}, so files must stay inside the current directory; run kpt from the package or a directory above it, or pass --base-dir",
        crate::redact::inert(pkg),
        crate::redact::inert(&cwd.display().to_string())
    ))
}

/// The outcome of a KRM function run: the ResourceList to print and notes for stderr.
pub type KrmOutput = Rendered;

/// Runs the generator as a KRM function: `input` is a ResourceList whose
/// `functionConfig` is the generator configuration; the result keeps the incoming items
/// and appends the generated resources. `base` overrides [`krm_base`]; files must be
/// inside [`krm_root`] unless `restrictor` is [`LoadRestrictor::None`].
pub fn krm(
    input: &[u8],
    base: Option<&Path>,
    cwd: &Path,
    restrictor: LoadRestrictor,
    ctx: &KeyContext,
) -> Result<KrmOutput, Error> {
    let resources = k8s::parse_resources(input).map_err(|e| {
        bad(format!(
            "cannot parse the ResourceList on standard input: {e}"
        ))
    })?;
    let mut list = resources
        .into_iter()
        .next()
        .ok_or_else(|| bad("standard input holds no ResourceList"))?;
    if list.kind() != Some("ResourceList") {
        return Err(bad("standard input is not a ResourceList").hint(
            "this command is run by kustomize or kpt as a KRM exec function; use `leafseal kustomize exec-plugin CONFIG` by hand",
        ));
    }
    let fc = list
        .child("functionConfig")
        .ok_or_else(|| bad("the ResourceList has no functionConfig"))?;
    let cfg = GeneratorConfig::from_resource(&fc)?;
    let root = krm_root(&fc, base, cwd);
    let mut warnings: Vec<String> = ignored_package_path(&fc, base, cwd).into_iter().collect();
    let mut notes = Vec::new();
    let base = base.map_or_else(|| krm_base(&fc, cwd), Path::to_owned);
    let generated = cfg
        .generate_within(&base, restrictor.limit(&root), ctx, &mut notes)
        .map_err(|e| match warnings.first() {
            Some(w) if e.message.contains(" is outside ") => e.hint(w.clone()),
            _ => e,
        })?;
    warnings.extend(notes);
    for item in list.children("items") {
        if item.is_encrypted() {
            let path = PATH_ANNOTATIONS
                .iter()
                .find_map(|k| item.annotation(k))
                .unwrap_or("an input item");
            warnings.push(format!(
                "{path} is a sops-encrypted file read as a resource and is passed on encrypted; keep encrypted files out of the package (list them in .krmignore)"
            ));
        }
    }
    list.append("items", generated);
    let yaml = list.to_yaml().map_err(|e| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!("cannot write the ResourceList: {e}"),
        )
    })?;
    Ok(KrmOutput { yaml, warnings })
}

#[cfg(test)]
mod tests;
