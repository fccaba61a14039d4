//! A JSON file changed between the planning read and the part reads is declined: the
//! shared cases of [`changed_tests`](crate::stream::changed_tests).

crate::stream::changed_tests::changed_tests!(crate::stream::changed_tests::Doc {
    decrypt: super::planned::decrypt_file,
    fixture: "fixtures/sops/json/example.age.v3.7.1.json",
    name: "f.json",
    tail: b"\n",
    other: b"{\"a\": 1}\n",
});

/// The same for the overlapped path (the file changed once its metadata was read from
/// its tail, before the planner starts).
mod overlapped {
    crate::stream::changed_tests::changed_tests!(crate::stream::changed_tests::Doc {
        decrypt: super::super::decrypt_overlapped,
        fixture: "fixtures/sops/json/example.age.v3.7.1.json",
        name: "f.json",
        tail: b"\n",
        other: b"{\"a\": 1}\n",
    });
}
