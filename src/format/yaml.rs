//! The yaml store.

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

/// The yaml store.
#[derive(Debug, Clone, Copy, Default)]
pub struct YamlStore;

impl Store for YamlStore {
    fn name(&self) -> &'static str {
        "yaml"
    }

    fn load(&self, _input: &[u8]) -> Result<Loaded, FormatError> {
        Err(FormatError::new(
            "yaml",
            "the yaml store is not implemented yet",
        ))
    }

    fn emit(
        &self,
        _doc: &Document,
        _meta: Option<&Map>,
        _opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "yaml",
            "the yaml store is not implemented yet",
        ))
    }

    fn emit_value(&self, _value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "yaml",
            "the yaml store is not implemented yet",
        ))
    }
}
