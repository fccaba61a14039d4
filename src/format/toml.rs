//! The toml store.

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

/// The toml store.
#[derive(Debug, Clone, Copy, Default)]
pub struct TomlStore;

impl Store for TomlStore {
    fn name(&self) -> &'static str {
        "toml"
    }

    fn load(&self, _input: &[u8]) -> Result<Loaded, FormatError> {
        Err(FormatError::new(
            "toml",
            "the toml store is not implemented yet",
        ))
    }

    fn emit(
        &self,
        _doc: &Document,
        _meta: Option<&Map>,
        _opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "toml",
            "the toml store is not implemented yet",
        ))
    }

    fn emit_value(&self, _value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "toml",
            "the toml store is not implemented yet",
        ))
    }
}

/// Whether the bytes are a TOML document with a top-level `sops` table.
pub fn sniff(_input: &[u8]) -> bool {
    false
}
