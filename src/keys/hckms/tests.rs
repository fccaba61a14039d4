#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::*;

fn ctx(vars: &[(&str, &str)]) -> KeyContext {
    KeyContext::with_vars(
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
    )
}

#[test]
fn key_ids() {
    let k = HckmsKey::parse(" tr-west-1 : 0d0466b0-e727 ").unwrap();
    assert_eq!((k.region(), k.key_uuid()), ("tr-west-1", "0d0466b0-e727"));
    assert_eq!(k.id(), "tr-west-1 : 0d0466b0-e727");
    for bad in [
        "", "nocolon", ":uuid", "region:", "a/b:c", "r:u/../x", "R:u",
    ] {
        assert!(HckmsKey::parse(bad).is_err(), "{bad}");
    }
    let mut entry = KeyFields::new();
    entry.push("key_id", FieldValue::str("cn-north-4:abc"));
    let k = HckmsKey::from_fields(&entry).unwrap();
    let out = k.fields();
    assert_eq!(
        out.get("key_id").and_then(FieldValue::as_str),
        Some("cn-north-4:abc")
    );
}

#[test]
fn endpoints() {
    let none = ctx(&[]);
    assert_eq!(
        endpoint(&none, "tr-west-1").unwrap().0,
        "https://kms.tr-west-1.myhuaweicloud.com"
    );
    assert_eq!(
        endpoint(&none, "eu-west-101").unwrap().0,
        "https://kms.eu-west-101.myhuaweicloud.eu"
    );
    let e = endpoint(&none, "xx-nowhere-9").unwrap_err();
    assert!(
        e.hint
            .unwrap()
            .contains("HUAWEICLOUD_SDK_REGION_KMS_XX_NOWHERE_9")
    );
    let over = ctx(&[(
        "HUAWEICLOUD_SDK_REGION_KMS_XX_NOWHERE_9",
        "http://127.0.0.1:9/, https://b",
    )]);
    assert_eq!(
        endpoint(&over, "xx-nowhere-9").unwrap(),
        (
            "http://127.0.0.1:9".to_owned(),
            "HUAWEICLOUD_SDK_REGION_KMS_XX_NOWHERE_9".to_owned()
        )
    );
}

#[test]
fn plain_http_beyond_loopback_is_refused_before_any_request() {
    let c = ctx(&[
        (AK_VAR, "ak"),
        (SK_VAR, "sk"),
        (PROJECT_VAR, "p"),
        (
            "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
            "http://kms.example.com",
        ),
    ]);
    let k = HckmsKey::parse("tr-west-1:u").unwrap();
    let e = k.wrap(&[1u8; 32], &c).unwrap_err();
    assert!(e.message.contains("plain http"), "{e}");
}

#[test]
fn error_bodies() {
    assert_eq!(
        huawei_error(r#"{"error":{"error_code":"KMS.0207","error_msg":"not found"}}"#),
        (Some("KMS.0207".into()), Some("not found".into()))
    );
    assert_eq!(
        huawei_error(r#"{"error_code":"APIGW.0301","error_msg":"bad sig"}"#),
        (Some("APIGW.0301".into()), Some("bad sig".into()))
    );
    assert_eq!(huawei_error("<html>"), (None, None));
}
