//! The UI's TypeScript protocol types are generated from the Rust types; this test fails
//! when the committed file is stale, and rewrites it with `FERRY_UPDATE_GENERATED=1`.

use std::path::PathBuf;

#[test]
fn generated_typescript_matches_the_rust_protocol() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../ui/src/lib/generated/protocol.ts");
    let expected = ferry_ws::protocol::typescript_declarations();
    if std::env::var_os("FERRY_UPDATE_GENERATED").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "{} is stale; regenerate it with `FERRY_UPDATE_GENERATED=1 cargo test -p ferry-ws --test protocol_typescript`",
        path.display()
    );
}
