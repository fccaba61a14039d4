//! The json store.

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

/// The json store.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonStore;

impl Store for JsonStore {
    fn name(&self) -> &'static str {
        "json"
    }

    fn load(&self, _input: &[u8]) -> Result<Loaded, FormatError> {
        Err(FormatError::new(
            "json",
            "the json store is not implemented yet",
        ))
    }

    fn emit(
        &self,
        _doc: &Document,
        _meta: Option<&Map>,
        _opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "json",
            "the json store is not implemented yet",
        ))
    }

    fn emit_value(&self, _value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "json",
            "the json store is not implemented yet",
        ))
    }
}
