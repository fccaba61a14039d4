use super::*;
use crate::tree::Bytes;
use crate::tree::Comment;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Timestamp;

fn doc(items: Vec<(&str, Value)>) -> Document {
    let mut m = Map::new();
    m.push_comment(Comment::line(" a comment"));
    for (k, v) in items {
        m.push(k, v);
    }
    Document::single(m)
}

fn rendered(vars: &[EnvVar]) -> Vec<(String, String)> {
    vars.iter()
        .map(|v| {
            (
                v.name.clone(),
                String::from_utf8(v.value.to_vec()).expect("utf8"),
            )
        })
        .collect()
}

#[test]
fn scalars_render_like_dotenv() {
    let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05Z").expect("time");
    let d = doc(vec![
        ("S", Value::str("a b\nc")),
        ("I", Value::Int(-5)),
        ("F", Value::Float(5.0)),
        ("G", Value::Float(1e6)),
        ("B", Value::Bool(true)),
        ("T", Value::Time(t)),
        ("N", Value::Null),
        ("X", Value::Bytes(Bytes::new(vec![0xff, 0x41]))),
    ]);
    let vars = env_from_document(&d).expect("env");
    assert_eq!(vars.len(), 8);
    let r: Vec<(String, Vec<u8>)> = vars
        .iter()
        .map(|v| (v.name.clone(), v.value.to_vec()))
        .collect();
    assert_eq!(
        r,
        vec![
            ("S".into(), b"a b\nc".to_vec()),
            ("I".into(), b"-5".to_vec()),
            ("F".into(), b"5.0".to_vec()),
            ("G".into(), b"1E+06".to_vec()),
            ("B".into(), b"true".to_vec()),
            ("T".into(), b"2024-01-02T03:04:05Z".to_vec()),
            ("N".into(), b"".to_vec()),
            ("X".into(), vec![0xff, 0x41]),
        ]
    );
}

#[test]
fn only_first_document_and_no_comments() {
    let mut d = doc(vec![("A", Value::str("1"))]);
    let mut second = Map::new();
    second.push("B", Value::str("2"));
    d.branches.push(second);
    assert_eq!(
        rendered(&env_from_document(&d).expect("env")),
        vec![("A".to_owned(), "1".to_owned())]
    );
    assert!(
        env_from_document(&Document { branches: vec![] })
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn nested_values_and_bad_names_are_errors_naming_the_key() {
    let mut inner = Map::new();
    inner.push("pw", Value::str("hunter2"));
    let e = env_from_document(&doc(vec![("db", Value::Map(inner))])).expect_err("map");
    assert!(e.message.contains("`db`"), "{}", e.message);
    assert!(!e.message.contains("hunter2"));
    assert_eq!(e.code, exit::GENERIC);

    let seq = Value::Seq(vec![SeqItem::Value(Value::str("s3cret"))]);
    let e = env_from_document(&doc(vec![("list", seq)])).expect_err("seq");
    assert!(e.message.contains("`list`") && !e.message.contains("s3cret"));

    let e = env_from_document(&doc(vec![("A=B", Value::str("v"))])).expect_err("=");
    assert!(e.message.contains("`=`"));
    let e = env_from_document(&doc(vec![("A\0B", Value::str("v"))])).expect_err("nul");
    assert!(e.message.contains("NUL"));
    let e = env_from_document(&doc(vec![("", Value::str("v"))])).expect_err("empty");
    assert!(e.message.contains("empty"));
    let e = env_from_document(&doc(vec![("K", Value::str("se\0cret"))])).expect_err("nul value");
    assert!(e.message.contains("`K`") && !e.message.contains("cret"));
    // A name with control characters is shown inert (round-19 review).
    let e = env_from_document(&doc(vec![("A\u{1b}[2J=\nB", Value::str("v"))])).expect_err("escape");
    assert!(e.message.contains("`A?[2J=?B`"), "{}", e.message);
}

#[test]
fn command_forms() {
    assert_eq!(
        CommandSpec::from_args(Some("echo $X".into()), vec![]).expect("shell"),
        CommandSpec::Shell("echo $X".into())
    );
    assert_eq!(
        CommandSpec::from_args(None, vec!["env".into(), "-0".into()]).expect("argv"),
        CommandSpec::Argv(vec!["env".into(), "-0".into()])
    );
    assert!(CommandSpec::from_args(None, vec![]).is_err());
    assert!(CommandSpec::from_args(Some("  ".into()), vec![]).is_err());
    assert!(CommandSpec::from_args(Some("a".into()), vec!["b".into()]).is_err());
}

#[test]
fn placeholder_substitution() {
    let s = CommandSpec::Shell("cat {} {}".into());
    assert!(s.has_placeholder());
    assert_eq!(
        s.substitute("/run/x/.leafseal-ab12/tmp-file").expect("sub"),
        CommandSpec::Shell(
            "cat /run/x/.leafseal-ab12/tmp-file /run/x/.leafseal-ab12/tmp-file".into()
        )
    );
    // A path the shell would split or expand is refused in the shell form only.
    assert!(s.substitute("/tmp/my dir/f").is_err());
    assert!(s.substitute("/tmp/$x/f").is_err());
    let a = CommandSpec::Argv(vec!["cp".into(), "{}".into(), "--x={}".into()]);
    assert_eq!(
        a.substitute("/tmp/my dir/f").expect("argv"),
        CommandSpec::Argv(vec![
            "cp".into(),
            "/tmp/my dir/f".into(),
            "--x=/tmp/my dir/f".into()
        ])
    );
    assert!(!CommandSpec::Shell("true".into()).has_placeholder());
    // No placeholder: any path is fine.
    assert!(CommandSpec::Shell("true".into()).substitute("/a b").is_ok());
}

#[test]
fn exit_codes() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    assert_eq!(child::exit_code(ExitStatus::from_raw(7 << 8)), 7);
    assert_eq!(child::exit_code(ExitStatus::from_raw(15)), 143);
}

#[test]
fn run_child_propagates_exit_code_and_env() {
    let spec = CommandSpec::Shell("test \"$LS_UNIT_X\" = 'a b' && exit 3".into());
    let mut cmd = spec.command().expect("cmd");
    apply_env(
        &mut cmd,
        &[EnvVar {
            name: "LS_UNIT_X".into(),
            value: Zeroizing::new(b"a b".to_vec()),
        }],
        true,
    );
    assert_eq!(run_child(cmd, spec.program()).expect("run"), 3);
    assert!(std::env::var_os("LS_UNIT_X").is_none());
    let missing = CommandSpec::Argv(vec!["/nonexistent/leafseal-prog".into()]);
    let e = run_child(missing.command().expect("cmd"), missing.program()).expect_err("missing");
    assert_eq!(e.code, 127);
}
