//! Names that `set` and `unset` must not touch: they belong to the `sops` metadata block
//! in the file's format, and writing a value there would leave a file that neither
//! leafseal nor sops can read again.

use crate::error::Error;
use crate::error::exit;
use crate::format::Format;
use crate::tree::Value;
use crate::treepath::Step;

/// The top-level key of the metadata block (YAML, JSON, TOML, binary; the INI section).
pub const METADATA_KEY: &str = "sops";
/// The prefix of the dotenv metadata lines (`sops_version=…`).
pub const DOTENV_PREFIX: &str = "sops_";

/// Why a top-level key is reserved in `format`, if it is.
pub fn reserved_reason(format: Format, key: &str) -> Option<&'static str> {
    if key == METADATA_KEY {
        return Some(match format {
            Format::Ini => "the INI section `[sops]` holds the file's encryption metadata",
            Format::Dotenv => "`sops` is reserved for the file's encryption metadata",
            _ => "the top-level key `sops` holds the file's encryption metadata",
        });
    }
    if format == Format::Dotenv && key.starts_with(DOTENV_PREFIX) {
        return Some("dotenv keys starting with `sops_` hold the file's encryption metadata");
    }
    None
}

/// Refuses a `set`/`unset` path whose first step is a reserved key of `format` (exit 7).
pub fn check_path(format: Format, path: &[Step]) -> Result<(), Error> {
    let Some(Step::Key(first)) = path.first() else {
        return Ok(());
    };
    match reserved_reason(format, first) {
        None => Ok(()),
        Some(why) => Err(Error::new(
            exit::INVALID_SET_FORMAT,
            format!(
                "the path starts with the reserved key `{first}`: {why}, and changing it would \
                 make the file unreadable"
            ),
        )
        .hint(
            "use another name for your value; to change keys or encryption settings use \
             `leafseal rotate`, `updatekeys` or `groups`",
        )),
    }
}

/// The one value of a binary file's tree: its content.
pub const BINARY_DATA_KEY: &str = "data";

/// Refuses a change a binary file cannot hold (exit 7): its tree is one string, `data`,
/// which `decrypt` writes out as the file; any other key, a `data` that is not a string,
/// or no `data` at all leaves a file that neither leafseal nor sops can decrypt (round
/// 22 fuzzing). `value` is the value to set, `None` for `unset`. Other formats: no check.
pub fn check_change(format: Format, path: &[Step], value: Option<&Value>) -> Result<(), Error> {
    if format != Format::Binary {
        return Ok(());
    }
    let is_data = matches!(path, [Step::Key(k)] if k == BINARY_DATA_KEY);
    let why = match value {
        _ if !is_data => "a binary file holds one value, `[\"data\"]`; another path",
        None => "a binary file's content is `[\"data\"]`; removing it",
        Some(Value::Str(_) | Value::Bytes(_)) => return Ok(()),
        Some(_) => "a binary file's `[\"data\"]` is its content, a string; another value there",
    };
    Err(Error::new(
        exit::INVALID_SET_FORMAT,
        format!("{why} would leave a file that cannot be decrypted"),
    )
    .hint("set `[\"data\"]` to a string, or re-encrypt the file's new content with `leafseal encrypt`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Vec<Step> {
        vec![Step::Key(k.to_owned()), Step::Key("x".to_owned())]
    }

    #[test]
    fn reserved_keys_per_format() {
        for f in [
            Format::Yaml,
            Format::Json,
            Format::Ini,
            Format::Dotenv,
            Format::Binary,
        ] {
            let e = check_path(f, &key("sops")).expect_err("sops is reserved");
            assert_eq!(e.code, exit::INVALID_SET_FORMAT);
        }
        assert!(check_path(Format::Dotenv, &key("sops_mac")).is_err());
        assert!(check_path(Format::Yaml, &key("sops_mac")).is_ok());
        assert!(check_path(Format::Yaml, &key("SOPS")).is_ok());
        assert!(check_path(Format::Dotenv, &key("my_sops_x")).is_ok());
        assert!(
            check_path(
                Format::Yaml,
                &[Step::Key("a".into()), Step::Key("sops".into())]
            )
            .is_ok()
        );
        assert!(check_path(Format::Yaml, &[Step::Index(0)]).is_ok());
    }

    /// Round 22 (write_binary fuzz target): `set '["data"]["x"]'`, `set '["new"]'`,
    /// `unset '["data"]'` on a binary file wrote a file whose `decrypt` failed (exit 4).
    #[test]
    fn binary_changes_keep_one_string_data() {
        let data = [Step::Key("data".into())];
        let s = Value::str("new content");
        assert!(check_change(Format::Binary, &data, Some(&s)).is_ok());
        let refused = [
            check_change(Format::Binary, &key("data"), Some(&s)),
            check_change(Format::Binary, &[Step::Key("new".into())], Some(&s)),
            check_change(Format::Binary, &data, Some(&Value::Int(1))),
            check_change(Format::Binary, &data, Some(&Value::Map(Default::default()))),
            check_change(Format::Binary, &data, None),
        ];
        for r in refused {
            let e = r.expect_err("refused");
            assert_eq!(e.code, exit::INVALID_SET_FORMAT);
        }
        assert!(check_change(Format::Yaml, &key("new"), None).is_ok());
    }
}
