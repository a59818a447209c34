//! Build keys computed by us equal those the Python conda-store 2025.2.2 wrote into the
//! peer database: every LOGS artifact key of every build (key versions 1, 2 and 3) and
//! every v3 `build.hash`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_core::build_key::{BuildKeyParts, ParsedBuildKey, artifact_key, parse_build_key};
use conda_store_core::domain::BuildArtifactType;
use serde_json::Value;
use std::path::Path;

fn rows() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/peer-db/conda-store-2025.2.2.rows.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("peer rows")).expect("json")
}

fn by_id<'a>(rows: &'a Value, table: &str, id: &Value) -> &'a Value {
    rows[table]
        .as_array()
        .expect("table")
        .iter()
        .find(|row| &row["id"] == id)
        .unwrap_or_else(|| panic!("{table} {id}"))
}

#[test]
fn keys_match_every_build_of_the_python_database() {
    let rows = rows();
    let mut checked = 0;
    for build in rows["build"].as_array().expect("builds") {
        let specification = by_id(&rows, "specification", &build["specification_id"]);
        let environment = by_id(&rows, "environment", &build["environment_id"]);
        let namespace = by_id(&rows, "namespace", &environment["namespace_id"]);
        let scheduled_on = chrono::NaiveDateTime::parse_from_str(
            build["scheduled_on"].as_str().expect("scheduled_on"),
            "%Y-%m-%dT%H:%M:%S%.f",
        )
        .expect("timestamp");
        let parts = BuildKeyParts {
            version: build["build_key_version"].as_i64().expect("version") as i32,
            build_id: build["id"].as_i64().expect("id"),
            specification_sha256: specification["sha256"].as_str().expect("sha256"),
            specification_name: specification["name"].as_str().expect("name"),
            namespace: namespace["name"].as_str().expect("namespace"),
            scheduled_on,
        };
        let key = parts.key().expect("key");
        if let Some(hash) = build["hash"].as_str() {
            assert_eq!(key, hash, "v3 hash of build {}", build["id"]);
            assert_eq!(
                parse_build_key(&key),
                Some(ParsedBuildKey::Hash(key.clone()))
            );
            checked += 1;
        } else if parts.version != 3 {
            assert_eq!(
                parse_build_key(&key),
                Some(ParsedBuildKey::Id(parts.build_id))
            );
        }
        let logs = rows["build_artifact"]
            .as_array()
            .expect("artifacts")
            .iter()
            .filter(|artifact| {
                artifact["build_id"] == build["id"] && artifact["artifact_type"] == "LOGS"
            });
        for artifact in logs {
            assert_eq!(
                artifact["key"].as_str(),
                artifact_key(BuildArtifactType::Logs, &key).as_deref(),
                "LOGS key of build {}",
                build["id"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "checked {checked} keys");
}
