//! The public HTTP contract, `/openapi.json`, kept as a file in the repository
//! (`schemas/openapi.json`): a change to a route, a parameter, a field or a status shows in review
//! as a change to that file, and this test fails until the file says the same. After a change made
//! on purpose: `VODFLOW_UPDATE_OPENAPI=1 cargo test -p vodflow-api --test openapi_contract`.

const KEPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/openapi.json");

fn document() -> String {
    // The server URL is the only part that depends on the deployment: a fixed one here.
    let spec = vodflow_api::openapi("http://127.0.0.1:8080").spec();
    format!("{spec}\n")
}

#[test]
fn the_openapi_document_is_the_one_kept_in_the_repository() {
    let now = document();
    assert_eq!(now, document(), "the document is not deterministic");
    if std::env::var_os("VODFLOW_UPDATE_OPENAPI").is_some() {
        std::fs::write(KEPT, &now).expect("write schemas/openapi.json");
        return;
    }
    let kept = std::fs::read_to_string(KEPT).expect("schemas/openapi.json");
    if kept != now {
        let first = kept
            .lines()
            .zip(now.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| kept.lines().count().min(now.lines().count()));
        panic!(
            "the OpenAPI document differs from schemas/openapi.json from line {}:\n  kept: {}\n  now:  {}\nIf the change is meant, regenerate it (VODFLOW_UPDATE_OPENAPI=1 cargo test -p vodflow-api --test openapi_contract) and say so in the change.",
            first + 1,
            kept.lines().nth(first).unwrap_or("(end)"),
            now.lines().nth(first).unwrap_or("(end)"),
        );
    }
}
