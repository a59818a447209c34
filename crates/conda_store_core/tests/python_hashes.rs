//! Our canonical hash equals the sha256 the Python conda-store 2025.2.2 stored for every
//! specification of the peer database (../shared/data/peer-db), lockfile included.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_core::canonical::datastructure_hash;
use std::path::Path;

#[test]
fn hashes_match_the_python_conda_store() {
    let rows = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/peer-db/conda-store-2025.2.2.rows.json");
    let text = std::fs::read_to_string(&rows).expect("read the peer rows");
    let document: serde_json::Value = serde_json::from_str(&text).expect("json");
    let specifications = document["specification"]
        .as_array()
        .expect("specification rows");
    assert_eq!(specifications.len(), 22);
    for row in specifications {
        assert_eq!(
            datastructure_hash(&row["spec"]),
            row["sha256"].as_str().expect("sha256"),
            "specification {}",
            row["id"]
        );
    }
}
