//! Local storage: atomic puts, appends readable meanwhile, deletes, and keys that try
//! to leave the root.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_storage::{LocalStorage, Storage, StorageError};

#[tokio::test]
async fn objects_are_stored_appended_read_and_deleted() {
    let root = tempfile::tempdir().expect("root");
    let storage = LocalStorage::new(root.path());
    storage.put("lockfile/k.yml", b"{}").await.expect("put");
    assert_eq!(storage.get("lockfile/k.yml").await.expect("get"), b"{}");
    storage
        .put("lockfile/k.yml", b"{\"version\": 1}")
        .await
        .expect("replace");
    assert_eq!(
        storage.get("lockfile/k.yml").await.expect("get"),
        b"{\"version\": 1}"
    );

    storage
        .append("logs/k.log", b"first line\n")
        .await
        .expect("append");
    assert_eq!(
        storage.get("logs/k.log").await.expect("read while growing"),
        b"first line\n"
    );
    storage
        .append("logs/k.log", b"second line\n")
        .await
        .expect("append");
    assert_eq!(
        storage.get("logs/k.log").await.expect("get"),
        b"first line\nsecond line\n"
    );
    // A growing log is followed from where the reader got to.
    assert_eq!(
        storage.read_from("logs/k.log", 11).await.expect("tail"),
        b"second line\n"
    );
    assert!(
        storage
            .read_from("logs/k.log", 100)
            .await
            .expect("past the end")
            .is_empty()
    );
    assert!(matches!(
        storage.read_from("logs/missing.log", 0).await,
        Err(StorageError::NotFound(_))
    ));

    let source = root.path().join("archive.tar.gz");
    std::fs::write(&source, b"archive bytes").expect("write");
    storage
        .put_file("archive/k.tar.gz", &source)
        .await
        .expect("put file");
    assert!(storage.exists("archive/k.tar.gz").await.expect("exists"));

    storage.delete("archive/k.tar.gz").await.expect("delete");
    storage
        .delete("archive/k.tar.gz")
        .await
        .expect("delete again");
    assert!(!storage.exists("archive/k.tar.gz").await.expect("exists"));
    assert!(matches!(
        storage.get("archive/k.tar.gz").await,
        Err(StorageError::NotFound(_))
    ));
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(root.path().join("lockfile"))
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("k.yml")]);
}

#[tokio::test]
async fn keys_cannot_leave_the_root() {
    let root = tempfile::tempdir().expect("root");
    let storage = LocalStorage::new(root.path().join("storage"));
    for key in [
        "",
        "../escape",
        "/etc/passwd",
        "logs/../../escape",
        "./logs",
    ] {
        assert!(
            matches!(
                storage.put(key, b"x").await,
                Err(StorageError::InvalidKey(_))
            ),
            "{key}"
        );
    }
}
