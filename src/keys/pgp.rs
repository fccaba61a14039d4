//! The `pgp` key source.

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::tree::Map;
use crate::tree::Value;

/// A `pgp` master key.
#[derive(Debug, Clone)]
pub struct PgpKey {
    id: String,
}

impl PgpKey {
    /// Parses the command-line / policy form.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        Ok(PgpKey {
            id: s.trim().to_owned(),
        })
    }

    /// Parses a metadata entry.
    pub fn from_entry(entry: &Map) -> Result<Self, KeyError> {
        let id = entry
            .get("fp")
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError::new("pgp entry without `fp`"))?;
        Self::parse(id)
    }
}

impl MasterKey for PgpKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Pgp
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap(&self, _secret: &[u8], _ctx: &KeyContext) -> Result<String, KeyError> {
        Err(KeyError::new("not implemented yet"))
    }

    fn unwrap(&self, _enc: &str, _ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Err(KeyError::new("not implemented yet"))
    }

    fn write_fields(&self, entry: &mut Map) {
        entry.push("fp", Value::str(self.id.as_str()));
    }
}
