//! Decrypted numbers and booleans that are already in the JSON writer's form.
//!
//! The direct path writes a decrypted `int`, `float` or `bool` as the writer writes the
//! value it parses to, and feeds the MAC the form sops hashes (`with_plaintext`). Parsing
//! and formatting twice per value is most of the cost of such a value; for a plaintext
//! in the usual canonical form both results are known without either:
//!
//! * an `int` of at most 18 digits without a sign or with `-`, no leading zero and not
//!   `-0`: parsed and written back, it is the same text, for the output and the MAC;
//! * a `bool` written `true` or `false`: the output is the same text, the MAC takes
//!   `True` or `False` (sops hashes Python's spelling);
//! * a `float` written `-?D.F` with no leading zero in `D` (other than `0` itself), `F`
//!   ending in a digit other than `0`, at most 15 significant digits, and at least
//!   `1e-6` (the writer's positional range starts there; its upper bound `1e21` is beyond
//!   15 digits). Every decimal of at most 15 significant digits is the only one of at
//!   most that many digits that rounds to its double, so it is that double's shortest
//!   form: the JSON writer's output and the MAC's `Display` form both give it back.
//!
//! Anything else takes the parse-and-format path. The unit tests compare the two on
//! generated plaintexts of every shape.

use crate::crypto::value::ValueType;

/// The MAC input of `plain`, a decrypted value of type `typ`, when the JSON writer's
/// form of it is `plain` itself; `None` when it must be parsed and written.
pub(super) fn canonical(plain: &[u8], typ: ValueType) -> Option<&[u8]> {
    match typ {
        ValueType::Int => canonical_int(plain).then_some(plain),
        ValueType::Float => canonical_float(plain).then_some(plain),
        ValueType::Bool => match plain {
            b"true" => Some(b"True"),
            b"false" => Some(b"False"),
            _ => None,
        },
        _ => None,
    }
}

/// Seals `plain`, a decrypted value of type `typ`, again as the tree path does (`rotate`'s
/// scans): `seal` is given the value its plaintext reads as, in its type's one form (also
/// its MAC input), and the type it is sealed under; `None` when the plaintext does not
/// read as a value of its type (the caller then leaves the part to its tree path) or
/// when `seal` gives `None`. A plaintext already in that form is handed over as it is
/// ([`sealed_as_is`]), without parsing it into a value and formatting it back.
pub(in crate::stream) fn sealed_again<T>(
    plain: &[u8],
    typ: ValueType,
    seal: impl FnOnce(&[u8], ValueType) -> Option<T>,
) -> Option<T> {
    if let Some(ctyp) = sealed_as_is(plain, typ) {
        return seal(plain, ctyp);
    }
    let val = crate::crypto::value::value_from_plaintext(plain, typ).ok()?;
    let sealed = crate::crypto::value::with_plaintext(&val, seal);
    if let crate::tree::Value::Str(mut t) = val {
        zeroize::Zeroize::zeroize(t.as_mut_string());
    }
    sealed.flatten()
}

/// The type `plain`, a decrypted value of type `typ`, is sealed under when the tree path
/// seals it again as it is (`with_plaintext` of the value `value_from_plaintext` reads
/// gives `plain` itself, which is then also its MAC input); `None` when it must be
/// parsed and formatted. Strings and bytes are sealed as they are, as `str`; a number in
/// the form above; a `bool` spelled `True` or `False`.
fn sealed_as_is(plain: &[u8], typ: ValueType) -> Option<ValueType> {
    match typ {
        ValueType::Str | ValueType::Bytes => Some(ValueType::Str),
        ValueType::Int if canonical_int(plain) => Some(typ),
        ValueType::Float if canonical_float(plain) => Some(typ),
        ValueType::Bool if plain == b"True" || plain == b"False" => Some(typ),
        _ => None,
    }
}

/// Digits without a leading zero (or `0` alone), at most 18 of them, after an optional
/// `-`; not `-0`.
fn canonical_int(plain: &[u8]) -> bool {
    let digits = plain.strip_prefix(b"-").unwrap_or(plain);
    match digits {
        [] => false,
        [b'0'] => digits.len() == plain.len(),
        [first, ..] => {
            digits.len() <= 18 && *first != b'0' && digits.iter().all(u8::is_ascii_digit)
        }
    }
}

/// `-?D.F` as the module documentation describes.
fn canonical_float(plain: &[u8]) -> bool {
    let unsigned = plain.strip_prefix(b"-").unwrap_or(plain);
    let Some(point) = unsigned.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (int, frac) = (&unsigned[..point], &unsigned[point + 1..]);
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int.is_empty() || frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return false;
    }
    if frac.last() == Some(&b'0') {
        return false;
    }
    let significant = if int == b"0" {
        // 0.000001 is 1e-6, the smallest written without an exponent.
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        if zeros > 5 {
            return false;
        }
        frac.len() - zeros
    } else {
        if int.first() == Some(&b'0') {
            return false;
        }
        int.len() + frac.len()
    };
    significant <= 15
}

#[cfg(test)]
mod tests {
    use super::canonical;
    use super::sealed_as_is;
    use crate::crypto::value;
    use crate::crypto::value::ValueType;
    use crate::format::json::emit::SecureBuf;
    use crate::format::json::emit::write_scalar;

    /// The parse-and-format path: the output and the MAC input, or `None` when the
    /// plaintext does not parse.
    fn slow(plain: &[u8], typ: ValueType) -> Option<(Vec<u8>, Vec<u8>)> {
        let v = value::value_from_plaintext(plain, typ).ok()?;
        let mut out = SecureBuf::with_capacity(32);
        write_scalar(&mut out, &v).ok()?;
        let mac = value::with_plaintext(&v, |p, _| p.to_vec())?;
        Some((out.as_slice().to_vec(), mac))
    }

    /// `canonical` agrees with the slow path wherever it answers.
    fn agrees(plain: &str, typ: ValueType) -> bool {
        match canonical(plain.as_bytes(), typ) {
            None => true,
            Some(mac) => {
                slow(plain.as_bytes(), typ) == Some((plain.as_bytes().to_vec(), mac.to_vec()))
            }
        }
    }

    #[test]
    fn the_usual_forms_are_taken_and_agree() {
        for (p, typ) in [
            ("0", ValueType::Int),
            ("5432", ValueType::Int),
            ("-17", ValueType::Int),
            ("999999999999999999", ValueType::Int),
            ("-999999999999999999", ValueType::Int),
            ("5.54", ValueType::Float),
            ("-0.5", ValueType::Float),
            ("99.95", ValueType::Float),
            ("0.000001", ValueType::Float),
            ("123456789012.345", ValueType::Float),
            ("0.123456789012345", ValueType::Float),
            ("true", ValueType::Bool),
            ("false", ValueType::Bool),
        ] {
            assert!(canonical(p.as_bytes(), typ).is_some(), "{p} not taken");
            assert!(agrees(p, typ), "{p}");
        }
    }

    #[test]
    fn other_forms_are_left_to_the_slow_path() {
        for (p, typ) in [
            ("-0", ValueType::Int),
            ("007", ValueType::Int),
            ("+7", ValueType::Int),
            ("1000000000000000000", ValueType::Int),
            ("", ValueType::Int),
            ("-", ValueType::Int),
            ("1.0", ValueType::Float),
            ("1.", ValueType::Float),
            (".5", ValueType::Float),
            ("01.5", ValueType::Float),
            ("3", ValueType::Float),
            ("1e5", ValueType::Float),
            ("0.0000001", ValueType::Float),
            ("1234567890123.456", ValueType::Float),
            ("0.1234567890123456", ValueType::Float),
            ("True", ValueType::Bool),
            ("1", ValueType::Bool),
            ("5", ValueType::Str),
        ] {
            assert!(canonical(p.as_bytes(), typ).is_none(), "{p} taken");
        }
    }

    proptest::proptest! {
        #[test]
        fn generated_plaintexts_agree(
            int in "-?[0-9]{0,20}",
            float in "-?[0-9]{0,17}\\.?[0-9]{0,17}(e-?[0-9]{1,2})?",
            x in proptest::prelude::any::<f64>(),
            digits in 1u32..18,
        ) {
            proptest::prop_assert!(agrees(&int, ValueType::Int), "{}", int);
            proptest::prop_assert!(agrees(&float, ValueType::Float), "{}", float);
            // Floats as other writers print them: shortest, fixed digit counts, exponents.
            for text in [
                format!("{x}"),
                format!("{x:.*}", digits as usize),
                format!("{x:e}"),
                format!("{:.*}", digits as usize, x / 1e6),
            ] {
                proptest::prop_assert!(agrees(&text, ValueType::Float), "{}", text);
            }
        }
    }

    /// `sealed_as_is` agrees with the tree path's parse and format wherever it answers:
    /// the same bytes sealed (and hashed), under the same type.
    fn seals_as_the_tree(plain: &[u8], typ: ValueType) -> bool {
        match sealed_as_is(plain, typ) {
            None => true,
            Some(t) => {
                let slow = value::value_from_plaintext(plain, typ)
                    .ok()
                    .and_then(|v| value::with_plaintext(&v, |p, t| (p.to_vec(), t)));
                slow == Some((plain.to_vec(), t))
            }
        }
    }

    #[test]
    fn values_sealed_as_they_are_are_sealed_as_the_tree_seals_them() {
        for (p, typ, taken) in [
            ("5432", ValueType::Int, true),
            ("-17", ValueType::Int, true),
            ("007", ValueType::Int, false),
            ("99.95", ValueType::Float, true),
            ("1.0", ValueType::Float, false),
            ("1e5", ValueType::Float, false),
            ("True", ValueType::Bool, true),
            ("False", ValueType::Bool, true),
            ("true", ValueType::Bool, false),
            ("1", ValueType::Bool, false),
            ("any text", ValueType::Str, true),
            ("", ValueType::Str, true),
            ("\u{e9}t\u{e9}", ValueType::Bytes, true),
            ("2024-01-01T00:00:00Z", ValueType::Time, false),
            ("a comment", ValueType::Comment, false),
        ] {
            assert_eq!(sealed_as_is(p.as_bytes(), typ).is_some(), taken, "{p}");
            assert!(seals_as_the_tree(p.as_bytes(), typ), "{p}");
        }
        // Bytes that are not UTF-8 are sealed as they are too.
        assert!(seals_as_the_tree(&[0xff, 0xfe, b'a'], ValueType::Str));
        assert!(seals_as_the_tree(&[0xff, 0xfe, b'a'], ValueType::Bytes));
    }

    proptest::proptest! {
        #[test]
        fn generated_plaintexts_are_sealed_as_the_tree_seals_them(
            int in proptest::num::i64::ANY,
            float in proptest::num::f64::NORMAL,
            digits in "-?[0-9]{1,20}(\\.[0-9]{1,18})?",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
        ) {
            proptest::prop_assert!(seals_as_the_tree(int.to_string().as_bytes(), ValueType::Int));
            proptest::prop_assert!(seals_as_the_tree(float.to_string().as_bytes(), ValueType::Float));
            proptest::prop_assert!(seals_as_the_tree(digits.as_bytes(), ValueType::Int));
            proptest::prop_assert!(seals_as_the_tree(digits.as_bytes(), ValueType::Float));
            proptest::prop_assert!(seals_as_the_tree(&bytes, ValueType::Str));
        }
    }
}
