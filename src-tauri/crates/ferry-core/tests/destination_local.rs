//! The local folder destination on its own: byte-identical copies, numbered names that
//! never overwrite, cancellation that leaves nothing, and verification that catches a
//! bad copy.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{names_in, pattern, write_file};
use ferry_core::{
    CoreError, Destination, ExpectedContent, JobId, LocalFolderDestination, UploadBody,
    UploadRequest,
};
use tokio_util::sync::CancellationToken;

fn request(id: i64, source: &Path, bytes: &[u8]) -> UploadRequest {
    UploadRequest {
        job_id: JobId(id),
        source: source.to_path_buf(),
        name: source.file_name().unwrap().to_string_lossy().into_owned(),
        size: bytes.len() as u64,
        mime: "application/octet-stream".into(),
        blake3: blake3::hash(bytes).to_hex().to_string(),
        hashing: None,
    }
}

fn expected(bytes: &[u8]) -> ExpectedContent {
    ExpectedContent {
        size: bytes.len() as u64,
        blake3: blake3::hash(bytes).to_hex().to_string(),
    }
}

async fn upload(
    destination: &LocalFolderDestination,
    request: &UploadRequest,
    limit: Option<u64>,
    cancel: &CancellationToken,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<String, CoreError> {
    let mut body = UploadBody::open(&request.source, request.size, cancel.clone())
        .await?
        .with_bandwidth_limit(limit)
        .with_expected_hash(request.blake3.clone());
    destination
        .upload(request, &mut body, &progress, cancel)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_is_identical_and_progress_counts_every_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(1024 * 1024 + 7, 20);
    let source = write_file(tmp.path(), "src/data.bin", &bytes);
    let destination = LocalFolderDestination::new(tmp.path().join("out"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = Arc::clone(&seen);
        move |n: u64| seen.lock().unwrap().push(n)
    };
    let cancel = CancellationToken::new();
    let req = request(1, &source, &bytes);
    let remote = upload(&destination, &req, None, &cancel, &record)
        .await
        .expect("upload");
    assert_eq!(Path::new(&remote), tmp.path().join("out/data.bin"));
    assert!(std::fs::read(&remote).unwrap() == bytes);
    let written = seen.lock().unwrap().clone();
    assert!(written.windows(2).all(|w| w[0] < w[1]), "{written:?}");
    assert_eq!(written.last(), Some(&(bytes.len() as u64)));

    let verified = Arc::new(Mutex::new(0u64));
    let note = {
        let verified = Arc::clone(&verified);
        move |n: u64| *verified.lock().unwrap() = n
    };
    destination
        .verify(&remote, &expected(&bytes), &note, &cancel)
        .await
        .expect("verify");
    assert_eq!(*verified.lock().unwrap(), bytes.len() as u64);
    assert_eq!(names_in(destination.root()), ["data.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_names_get_numbered_even_when_uploaded_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let destination = Arc::new(LocalFolderDestination::new(tmp.path().join("out")));
    let sources: Vec<_> = (0..8)
        .map(|i| {
            let bytes = pattern(300_000, 30 + i);
            let path = write_file(tmp.path(), &format!("src/{i}/photo.jpg"), &bytes);
            (path, bytes)
        })
        .collect();
    let tasks: Vec<_> = sources
        .iter()
        .zip(1..)
        .map(|((path, bytes), id)| {
            let destination = Arc::clone(&destination);
            let req = request(id, path, bytes);
            tokio::spawn(async move {
                let cancel = CancellationToken::new();
                upload(&destination, &req, None, &cancel, &|_| {}).await
            })
        })
        .collect();
    let mut remotes = Vec::new();
    for task in tasks {
        remotes.push(task.await.unwrap().expect("upload"));
    }
    let mut names = names_in(destination.root());
    names.sort();
    let mut expected_names: Vec<String> = (1..8).map(|n| format!("photo ({n}).jpg")).collect();
    expected_names.push("photo.jpg".into());
    expected_names.sort();
    assert_eq!(names, expected_names);
    // Every upload landed whole, in the name it reported.
    for ((_, bytes), remote) in sources.iter().zip(&remotes) {
        assert!(
            std::fs::read(remote).unwrap() == *bytes,
            "{remote} was clobbered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_mid_copy_stops_and_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(1024 * 1024, 40);
    let source = write_file(tmp.path(), "src/slow.bin", &bytes);
    let destination = LocalFolderDestination::new(tmp.path().join("out"));
    let cancel = CancellationToken::new();
    let written = Arc::new(Mutex::new(0u64));
    let on_progress = {
        let cancel = cancel.clone();
        let written = Arc::clone(&written);
        move |n: u64| {
            *written.lock().unwrap() = n;
            // Cancel as soon as the first bytes are on disk.
            cancel.cancel();
        }
    };
    let req = request(7, &source, &bytes);
    let result = upload(&destination, &req, Some(64 * 1024), &cancel, &on_progress).await;
    assert!(matches!(result, Err(CoreError::Interrupted)), "{result:?}");
    let written = *written.lock().unwrap();
    assert!(written > 0 && written < bytes.len() as u64, "{written}");
    assert!(
        names_in(destination.root()).is_empty(),
        "{:?}",
        names_in(destination.root())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_catches_a_changed_or_missing_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(100_000, 50);
    let source = write_file(tmp.path(), "src/doc.pdf", &bytes);
    let destination = LocalFolderDestination::new(tmp.path().join("out"));
    let cancel = CancellationToken::new();
    let remote = upload(
        &destination,
        &request(1, &source, &bytes),
        None,
        &cancel,
        &|_| {},
    )
    .await
    .unwrap();

    // Same length, one byte different.
    let mut tampered = bytes.clone();
    tampered[50_000] ^= 0xFF;
    std::fs::write(&remote, &tampered).unwrap();
    let err = destination
        .verify(&remote, &expected(&bytes), &|_| {}, &cancel)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("BLAKE3"), "{err}");

    // Shorter.
    std::fs::write(&remote, &bytes[..10]).unwrap();
    let err = destination
        .verify(&remote, &expected(&bytes), &|_| {}, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::VerifyMismatch { .. }), "{err}");

    // Gone.
    destination.remove(&remote).await.unwrap();
    destination
        .remove(&remote)
        .await
        .expect("removing twice is fine");
    let err = destination
        .verify(&remote, &expected(&bytes), &|_| {}, &cancel)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_discarded_and_nothing_outside_the_folder_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(10_000, 60);
    let source = write_file(tmp.path(), "src/left.bin", &bytes);
    let destination = LocalFolderDestination::new(tmp.path().join("out"));
    // What a killed process would leave: the job's partial file.
    let part = write_file(destination.root(), ".left.bin.9.ferry-part", b"partial");
    let req = request(9, &source, &bytes);
    destination.discard(&req).await.unwrap();
    assert!(!part.exists());
    destination
        .discard(&req)
        .await
        .expect("nothing to discard is fine");

    let outsider = write_file(tmp.path(), "precious.txt", b"keep me");
    let err = destination
        .remove(&outsider.to_string_lossy())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    assert!(outsider.exists());
}

#[test]
fn the_default_folder_is_in_the_home_folder() {
    let root = LocalFolderDestination::default_root();
    assert!(root.ends_with("Ferry Uploads"));
    if let Some(home) = dirs::home_dir() {
        assert_eq!(root, home.join("Ferry Uploads"));
    }
}
