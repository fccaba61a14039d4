//! A YAML file changed between the planning read and the part reads is declined: the
//! shared cases of [`changed_tests`](crate::stream::changed_tests), for the planned path
//! and for the overlapped one (the file changed once its metadata was read from its
//! tail, before the planner starts).

crate::stream::changed_tests::changed_tests!(crate::stream::changed_tests::Doc {
    decrypt: super::decrypt_file,
    fixture: "fixtures/sops/yaml/example.age.v3.7.1.yaml",
    name: "f.yaml",
    tail: b"zz: 1\n",
    other: b"a: 1\n",
});

mod overlapped {
    crate::stream::changed_tests::changed_tests!(crate::stream::changed_tests::Doc {
        decrypt: super::super::decrypt_overlapped,
        fixture: "fixtures/sops/yaml/example.age.v3.7.1.yaml",
        name: "f.yaml",
        tail: b"zz: 1\n",
        other: b"a: 1\n",
    });
}
