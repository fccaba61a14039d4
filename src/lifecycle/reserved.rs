//! Names that `set` and `unset` must not touch: they belong to the `sops` metadata block
//! in the file's format, and writing a value there would leave a file that neither
//! leafseal nor sops can read again.

use crate::error::Error;
use crate::error::exit;
use crate::format::Format;
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
}
