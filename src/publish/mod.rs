//! `publish`: sends encrypted files to the destinations of `.sops.yaml`'s
//! `destination_rules` (see [`crate::policy::destination`]), as sops's `publish` does.
//!
//! * S3 ([`s3`]) and GCS ([`gcs`]): the *encrypted* file is uploaded as an object named
//!   `prefix + name` (re-encrypted first when the rule has a `recreation_rule` with keys).
//! * Vault KV ([`vault_kv`]): the *decrypted* data (the top-level mapping of the file, as
//!   JSON) is written as a KV v1 or v2 secret at `mount + [data/] + vault_path + name`;
//!   an existing secret with the same data is left alone.
//!
//! The name is the file's base name, or with `--recursive` its path below the directory
//! given; `omit_extensions` drops its extension.

use std::collections::HashMap;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::keys::KeyContext;
pub use crate::policy::destination::Destination;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

pub mod gcs;
pub mod s3;
pub mod vault_kv;

/// The destination name of `file`: its base name, or its path below `root` (recursive
/// publishing, `/`-separated), without the extension when `omit_extension`.
pub fn destination_name(file: &Path, root: Option<&Path>, omit_extension: bool) -> String {
    let rel = root
        .and_then(|r| file.strip_prefix(r).ok())
        .filter(|r| !r.as_os_str().is_empty())
        .map(|r| {
            r.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        });
    let name = rel.unwrap_or_else(|| {
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    if !omit_extension {
        return name;
    }
    // Go's filepath.Ext of the file: from the last `.` of the base name.
    match file.extension() {
        Some(ext) => {
            let ext = format!(".{}", ext.to_string_lossy());
            name.strip_suffix(&ext).map(str::to_owned).unwrap_or(name)
        }
        None => name,
    }
}

/// How the destination of `name` is shown (`s3://bucket/prefix/name`,
/// `gcs://bucket/prefix/name`, `ADDRESS/v1/secret/data/path/name`).
pub fn describe(dest: &Destination, ctx: &KeyContext, name: &str) -> String {
    match dest {
        Destination::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}{name}"),
        Destination::Gcs { bucket, prefix } => format!("gcs://{bucket}/{prefix}{name}"),
        Destination::Vault { .. } => {
            format!(
                "{}/v1/{}",
                vault_kv::address(dest, ctx),
                vault_kv::secret_path(dest, name)
            )
        }
    }
}

/// Uploads the encrypted file `bytes` to an S3 or GCS destination as `name`.
pub fn upload(
    dest: &Destination,
    ctx: &KeyContext,
    name: &str,
    bytes: Vec<u8>,
) -> Result<(), Error> {
    match dest {
        Destination::S3 { bucket, prefix } => {
            s3::put_object(ctx, bucket, &format!("{prefix}{name}"), bytes)
        }
        Destination::Gcs { bucket, prefix } => {
            gcs::upload(ctx, bucket, &format!("{prefix}{name}"), bytes)
        }
        Destination::Vault { .. } => Err(Error::new(
            exit::GENERIC,
            "a Vault destination takes the decrypted data, not the encrypted file",
        )),
    }
}

/// The decrypted top-level mapping of `doc` (every document's entries, later keys
/// replacing earlier ones, as sops's `EmitAsMap`) as JSON text, in a wiped buffer.
pub fn data_json(doc: &Document) -> Result<Zeroizing<Vec<u8>>, Error> {
    // Each key once, where it last appears (what removing an earlier entry and pushing
    // the later one gives), found with a hash map: `Map::remove` per entry scanned the
    // map (quadratic in the number of keys).
    let entries: Vec<(&String, &Value)> = doc
        .branches
        .iter()
        .flat_map(|b| b.0.iter())
        .filter_map(|i| match i {
            Item::Entry(k, v) => Some((k, v)),
            _ => None,
        })
        .collect();
    let last: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.as_str(), i))
        .collect();
    let mut merged = Map::new();
    for (i, (k, v)) in entries.iter().enumerate() {
        if last.get(k.as_str()) == Some(&i) {
            merged.push((*k).clone(), (*v).clone());
        }
    }
    // The copies are wiped when `single` drops (the tree's text types zero themselves).
    let single = Document::single(merged);
    Format::Json
        .store()
        .emit(&single, None, &EmitOptions { indent: Some(0) })
        .map_err(|e| {
            Error::new(
                exit::ERROR_DUMPING_TREE,
                format!("cannot turn the decrypted data into a Vault secret: {e}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn data_json_keeps_each_key_where_it_last_appears() {
        let mut a = Map::new();
        for k in ["x", "y", "z"] {
            a.push(k, Value::str(format!("a{k}")));
        }
        let mut b = Map::new();
        b.push("y", Value::str("by"));
        b.push("w", Value::str("bw"));
        let doc = Document {
            branches: vec![a, b],
        };
        let out = data_json(&doc).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap().trim_end(),
            "{\n\"x\": \"ax\",\n\"z\": \"az\",\n\"y\": \"by\",\n\"w\": \"bw\"\n}"
        );
    }

    #[test]
    fn data_json_of_many_keys_is_linear() {
        // 100k keys in two documents: a scan of the map per key took minutes.
        let mut a = Map::new();
        let mut b = Map::new();
        for i in 0..100_000 {
            a.push(format!("k{i}"), Value::Int(i));
            b.push(format!("k{i}"), Value::Int(-i));
        }
        let start = std::time::Instant::now();
        let out = data_json(&Document {
            branches: vec![a, b],
        })
        .unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        assert!(
            std::str::from_utf8(&out)
                .unwrap()
                .contains(r#""k99999": -99999"#)
        );
    }

    #[test]
    fn names() {
        let f = Path::new("dir/sub/app.enc.yaml");
        assert_eq!(destination_name(f, None, false), "app.enc.yaml");
        assert_eq!(destination_name(f, None, true), "app.enc");
        assert_eq!(
            destination_name(f, Some(Path::new("dir")), false),
            "sub/app.enc.yaml"
        );
        assert_eq!(
            destination_name(f, Some(Path::new("dir")), true),
            "sub/app.enc"
        );
        assert_eq!(destination_name(f, Some(f), false), "app.enc.yaml");
        assert_eq!(destination_name(Path::new("noext"), None, true), "noext");
    }
}
