//! A key of a kind this build cannot use yet (e.g. a cloud KMS). Its metadata entry is
//! kept verbatim, so a file that also lists a usable key still decrypts, and re-writing
//! the file does not drop the entry.

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

/// A key kept only as its metadata fields.
#[derive(Debug, Clone)]
pub struct OpaqueKey {
    kind: KeyKind,
    id: String,
    fields: Map,
    reason: Option<KeyError>,
}

/// The field that identifies each kind's entry.
fn id_field(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Age => "recipient",
        KeyKind::Pgp => "fp",
        KeyKind::Kms => "arn",
        KeyKind::GcpKms => "resource_id",
        KeyKind::AzureKv => "vault_url",
        KeyKind::HcVault => "vault_address",
        KeyKind::Hckms => "key_id",
    }
}

impl OpaqueKey {
    /// Keeps a metadata entry (without `enc` and `created_at`).
    pub fn from_entry(kind: KeyKind, entry: &Map) -> OpaqueKey {
        let mut fields = Map::new();
        for item in &entry.0 {
            if let Item::Entry(k, v) = item
                && k != "enc"
                && k != "created_at"
            {
                fields.push(k.clone(), v.clone());
            }
        }
        let id = entry
            .get(id_field(kind))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        OpaqueKey {
            kind,
            id,
            fields,
            reason: None,
        }
    }

    /// Keeps an entry whose key could not be parsed, remembering why.
    pub fn unusable(kind: KeyKind, entry: &Map, reason: KeyError) -> OpaqueKey {
        OpaqueKey {
            reason: Some(reason),
            ..Self::from_entry(kind, entry)
        }
    }

    fn unsupported(&self) -> KeyError {
        if let Some(r) = &self.reason {
            return r.clone();
        }
        KeyError::with_hint(
            format!(
                "`{}` keys are not supported by this version of leafseal",
                self.kind.field()
            ),
            "use another key listed in the file",
        )
    }
}

impl MasterKey for OpaqueKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap(&self, _secret: &[u8], _ctx: &KeyContext) -> Result<String, KeyError> {
        Err(self.unsupported())
    }

    fn unwrap(&self, _enc: &str, _ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Err(self.unsupported())
    }

    fn write_fields(&self, entry: &mut Map) {
        for item in &self.fields.0 {
            entry.0.push(item.clone());
        }
    }
}
