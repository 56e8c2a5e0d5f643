//! `enqueue` given folders: every regular file is found once, symbolic links to files
//! are followed, and links that loop back up the tree are refused.

mod common;

use std::os::unix::fs::symlink;

use common::{config, dirs, start, wait_all_settled, write_file};
use ferry_core::JobStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_folders_are_walked_once_and_a_symlink_loop_is_refused() {
    let dirs = dirs();
    let tree = dirs.src.join("tree");
    write_file(&tree, "a/one.txt", b"one");
    write_file(&tree, "a/b/two.txt", b"two two");
    write_file(&tree, "a/b/c/three.txt", b"three three three");
    write_file(&tree, "top.txt", b"top");
    // A loop: tree/a/b/up -> tree.
    symlink(&tree, tree.join("a/b/up")).unwrap();
    // A link to a file outside the tree is followed.
    let outside = write_file(&dirs.src, "outside/elsewhere.txt", b"from elsewhere");
    symlink(&outside, tree.join("link.txt")).unwrap();
    // A link to a file inside the tree is the same file: taken once, where the walk
    // (in name order) meets it first.
    symlink(tree.join("top.txt"), tree.join("a/top-again.txt")).unwrap();
    // A dangling link is reported.
    symlink(tree.join("nowhere"), tree.join("dangling")).unwrap();

    let engine = start(config(&dirs)).await;
    let mut rx = engine.subscribe();
    let report = engine.enqueue(vec![tree.clone()]).await.unwrap();

    let found: Vec<(String, u64)> = report
        .jobs
        .iter()
        .map(|id| {
            let job = engine.job(*id).unwrap();
            (
                job.path
                    .strip_prefix(&*tree.to_string_lossy())
                    .unwrap()
                    .to_owned(),
                job.size,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("/a/b/c/three.txt".to_owned(), 17),
            ("/a/b/two.txt".to_owned(), 7),
            ("/a/one.txt".to_owned(), 3),
            ("/a/top-again.txt".to_owned(), 3),
            ("/link.txt".to_owned(), 14),
        ],
        "skipped: {:?}",
        report.skipped
    );
    let reasons: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|s| {
            (
                s.path
                    .strip_prefix(&*tree.to_string_lossy())
                    .unwrap()
                    .to_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    let reason_for = |p: &str| {
        &reasons
            .iter()
            .find(|r| r.0 == p)
            .unwrap_or_else(|| panic!("{p} not skipped: {reasons:?}"))
            .1
    };
    assert!(reason_for("/a/b/up").contains("symbolic link loop"));
    assert!(reason_for("/top.txt").contains("the same file as"));
    assert!(reason_for("/top.txt").contains("top-again.txt"));
    assert!(reason_for("/dangling").contains("target does not exist"));

    for job in wait_all_settled(&mut rx, &report.jobs).await {
        assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    }
    let mut uploaded = common::names_in(&dirs.dest);
    uploaded.sort();
    assert_eq!(
        uploaded,
        [
            "link.txt",
            "one.txt",
            "three.txt",
            "top-again.txt",
            "two.txt"
        ]
    );
    assert_eq!(
        std::fs::read(dirs.dest.join("link.txt")).unwrap(),
        b"from elsewhere"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_folder_and_a_mix_of_paths_report_what_was_made_of_each() {
    let dirs = dirs();
    let empty = dirs.src.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let file = write_file(&dirs.src, "single.txt", b"single");
    let engine = start(config(&dirs)).await;
    let report = engine
        .enqueue(vec![empty, file.clone(), dirs.src.join("ghost")])
        .await
        .unwrap();
    assert_eq!(report.jobs.len(), 1);
    assert_eq!(
        engine.job(report.jobs[0]).unwrap().path,
        file.to_string_lossy()
    );
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].path.ends_with("ghost"));
    assert!(engine.enqueue(Vec::new()).await.unwrap().jobs.is_empty());
    engine.shutdown().await;
}
