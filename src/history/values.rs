//! `history --values`: the decrypted value of each key path before and after a commit.
//! Needs a key; the values go to the caller (the CLI shows them on a terminal only) and
//! are held in wiped buffers.

use std::collections::BTreeMap;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::keys::KeyContext;
use crate::ops;
use crate::ops::OpenOptions;
use crate::tree::Value;

/// Key path → decrypted value text.
pub type Plain = BTreeMap<String, Zeroizing<String>>;

fn text(v: &Value) -> Zeroizing<String> {
    Zeroizing::new(match v {
        Value::Str(s) => s.as_str().to_owned(),
        Value::Bytes(b) => format!("<{} bytes, not UTF-8>", b.len()),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.to_rfc3339_nano(),
        Value::Null => "null".to_owned(),
        Value::Map(_) | Value::Seq(_) => String::new(),
    })
}

/// Decrypts one version (MAC and integrity record checked as `decrypt` does) and returns
/// its leaves and the warnings of opening it; a file without sops metadata gives its clear
/// leaves.
pub fn decrypt_version(
    path: &Path,
    bytes: &[u8],
    ctx: &KeyContext,
    opts: &OpenOptions,
) -> Result<(Plain, Vec<String>), Error> {
    let format = crate::check::format_of(path, bytes);
    let loaded = format.store().load(bytes).map_err(ops::read_error)?;
    let mut out = Plain::new();
    let (doc, warnings) = if loaded.meta.is_some() {
        let o = ops::open_for_reading(loaded, ctx, opts)?;
        (o.doc, o.warnings)
    } else {
        (loaded.doc, Vec::new())
    };
    super::for_each_leaf(&doc, &mut |p, v| {
        out.insert(p, text(v));
    });
    Ok((out, warnings))
}
