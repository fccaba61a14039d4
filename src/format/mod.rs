//! File formats ("stores"): one file per format behind the [`Store`] trait.
//!
//! A store turns bytes into a [`Document`] plus, for an encrypted file, the raw `sops`
//! metadata as a [`Map`] (nested the way YAML/JSON write it; dotenv and INI un-flatten
//! their `sops_…`/`[sops]` keys into the same shape). Emitting is the mirror image. Stores
//! never see keys; [`crate::metadata`] converts the raw map to and from the domain
//! [`crate::metadata::Metadata`].
//!
//! Errors never contain document text: only a message about the structure and a position.

use std::fmt;

use zeroize::Zeroizing;

use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

/// The deepest nesting of maps and lists any reader accepts (the top-level map of a
/// document is level 1). Every reader (YAML fast and full paths, JSON, TOML, and through
/// them the metadata and `.sops.yaml`) checks it as the document is read, before the
/// tree grows, so every later recursive stage (walk, MAC, emit, drop) stays within a
/// small fixed stack depth. Deeper input is refused with exit code 2 and its position.
pub const MAX_DEPTH: usize = 256;

/// The most tree nodes YAML anchors may copy when they are defined, and comments
/// aliases may copy, in one document stream, beyond [`ALIAS_NODES_PER_INPUT_BYTE`] per
/// byte of input (the copies go-yaml's alias rule does not count; the nodes an alias
/// copies are bounded by that rule, `format::yaml::builder::aliasing`): alias bombs are
/// refused before they grow.
pub const MAX_ALIAS_NODES: usize = 10_000;

/// How many alias-copied nodes each input byte allows on top of [`MAX_ALIAS_NODES`]
/// (keeps the tree linear in the input size).
pub const ALIAS_NODES_PER_INPUT_BYTE: usize = 4;

pub mod binary;
pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub(crate) mod number;
mod read_back;
pub mod toml;
pub mod yaml;

pub use read_back::Reread;
pub use read_back::read_back;
pub use read_back::written_then_read;

/// Output bytes that may hold plaintext: wiped on drop.
pub type Output = Zeroizing<Vec<u8>>;

/// The result of loading a file.
#[derive(Debug)]
pub struct Loaded {
    /// The data tree, without the metadata.
    pub doc: Document,
    /// The raw `sops` metadata, when the file has one.
    pub meta: Option<Map>,
}

/// Options for emitting.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitOptions {
    /// Indentation: YAML spaces (default 4), JSON spaces or -1 for TAB (default -1).
    /// `None` means the format's default.
    pub indent: Option<i64>,
}

/// A parse or emit error. The message describes structure only — never a value or comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The format that failed (`yaml`, `json`, …).
    pub format: &'static str,
    /// What went wrong, without any document text.
    pub message: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
}

impl FormatError {
    /// An error without a position.
    pub fn new(format: &'static str, message: impl Into<String>) -> Self {
        FormatError {
            format,
            message: message.into(),
            position: None,
        }
    }
    /// An error at a 1-based line and column.
    pub fn at(format: &'static str, message: impl Into<String>, line: usize, col: usize) -> Self {
        FormatError {
            format,
            message: message.into(),
            position: Some((line, col)),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{} (line {l}, column {c})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FormatError {}

/// One file format.
pub trait Store: Sync {
    /// The format's name as used by `--input-type`/`--output-type`.
    fn name(&self) -> &'static str;

    /// Parses a file. The metadata, when present, is split off into [`Loaded::meta`]
    /// (for YAML the `sops` key of the first document; `sops` keys of later documents are
    /// dropped).
    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError>;

    /// Writes a document, with the metadata appended the way this format stores it.
    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        opts: &EmitOptions,
    ) -> Result<Output, FormatError>;

    /// Writes one value on its own (`decrypt --extract` of a non-string leaf or a list).
    fn emit_value(&self, value: &Value, opts: &EmitOptions) -> Result<Output, FormatError>;
}

/// The formats leafseal knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`).
    Ini,
    /// TOML with leaf encryption (only on request: sops reads `.toml` as binary).
    Toml,
    /// Any other file: sops's JSON envelope with one `data` value.
    Binary,
}

impl Format {
    /// Parses a `--input-type`/`--output-type` value.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "toml" => Format::Toml,
            "binary" | "raw" => Format::Binary,
            _ => return None,
        })
    }

    /// The sops extension rule: `.yaml`/`.yml`, `.json`, `.env`, `.ini`; anything else
    /// (including `.toml`) is binary.
    pub fn from_path(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".json") {
            Format::Json
        } else if lower.ends_with(".env") {
            Format::Dotenv
        } else if lower.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The format of an input file as sops picks it from its name, with one leafseal
    /// addition: a `.toml` file is read with the TOML store when it holds a TOML `sops`
    /// table (a file leafseal wrote), else as sops's binary envelope. `-` (standard
    /// input) is binary.
    pub fn for_input(name: &str, bytes: Option<&[u8]>) -> Format {
        if name == "-" {
            return Format::Binary;
        }
        if name.to_ascii_lowercase().ends_with(".toml")
            && let Some(b) = bytes
            && toml::sniff(b)
        {
            return Format::Toml;
        }
        Format::from_path(name)
    }

    /// The store implementing this format.
    pub fn store(self) -> &'static dyn Store {
        match self {
            Format::Yaml => &yaml::YamlStore,
            Format::Json => &json::JsonStore,
            Format::Dotenv => &dotenv::DotenvStore,
            Format::Ini => &ini::IniStore,
            Format::Toml => &toml::TomlStore,
            Format::Binary => &binary::BinaryStore,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        self.store().name()
    }
}
