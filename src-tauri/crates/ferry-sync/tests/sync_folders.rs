//! The stored list of watched folders: what can be added, and that it persists.

use ferry_sync::WatchedFolders;

#[test]
fn folders_are_added_paused_and_removed_and_the_list_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let music = tmp.path().join("music");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&music).unwrap();
    let config = tmp.path().join("config");

    let mut folders = WatchedFolders::open(&config).unwrap();
    let a = folders.add(&photos, None).unwrap();
    let b = folders.add(&music, Some("d-studio".into())).unwrap();
    assert_ne!(a.id, b.id);
    folders.set_paused(&a.id, true).unwrap();

    let reopened = WatchedFolders::open(&config).unwrap();
    let listed: Vec<_> = reopened
        .list()
        .iter()
        .map(|f| (f.path.clone(), f.destination_id.clone(), f.paused))
        .collect();
    let canonical = |p: &std::path::Path| {
        std::fs::canonicalize(p)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(
        listed,
        vec![
            (canonical(&photos), None, true),
            (canonical(&music), Some("d-studio".to_owned()), false),
        ]
    );

    let mut folders = reopened;
    folders.remove(&a.id).unwrap();
    assert_eq!(WatchedFolders::open(&config).unwrap().list().len(), 1);
}

#[test]
fn a_folder_watched_already_inside_one_a_file_or_a_missing_one_is_refused_with_why() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("inner")).unwrap();
    std::fs::write(root.join("file.txt"), b"x").unwrap();
    let mut folders = WatchedFolders::open(&tmp.path().join("config")).unwrap();
    folders.add(&root, None).unwrap();

    let refused = |path: &std::path::Path| {
        let mut folders = WatchedFolders::open(&tmp.path().join("config")).unwrap();
        folders.add(path, None).unwrap_err().to_string()
    };
    assert!(refused(&root).contains("watched already"));
    assert!(refused(&root.join("inner")).contains("inside or around"));
    assert!(refused(&root.join("file.txt")).contains("is a file"));
    assert!(refused(&tmp.path().join("nowhere")).contains("choose an existing folder"));
    assert!(folders
        .remove("w99")
        .unwrap_err()
        .to_string()
        .contains("no watched folder"));
}
