//! The embedded default destination: a folder on this machine, so a fresh install does
//! its job with no server at all.
//!
//! A file is streamed into a hidden temporary name that carries the job id
//! (`.name.<id>.ferry-part`), fsynced, then given its final name without ever replacing
//! an existing file: the final name is claimed with a hard link (atomic and
//! no-replace), trying `name (1).ext`, `name (2).ext`, ... until one is free.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{
    Destination, DestinationPolicy, ExpectedContent, ProgressSink, UploadBody, UploadRequest,
    READ_SIZE,
};
use crate::error::{human_bytes, CoreError};

/// Suffix of the temporary files this destination writes; anything carrying it in the
/// destination folder is an unfinished upload.
const PART_SUFFIX: &str = "ferry-part";

/// How many numbered names (`name (n).ext`) to try before giving up.
const MAX_NUMBERED_NAMES: u32 = 10_000;

/// Copies files into a folder on this machine.
#[derive(Debug, Clone)]
pub struct LocalFolderDestination {
    root: PathBuf,
    label: String,
    policy: DestinationPolicy,
}

impl LocalFolderDestination {
    /// A destination writing into `root` (created on first upload), accepting any file.
    pub fn new(root: PathBuf) -> Self {
        let root = std::path::absolute(&root).unwrap_or(root);
        let label = format!("the local folder {}", root.display());
        Self {
            root,
            label,
            policy: DestinationPolicy::default(),
        }
    }

    /// Where uploads go when the user has not chosen a folder: "Ferry Uploads" in the
    /// home folder, a place people find without being told.
    pub fn default_root() -> PathBuf {
        dirs::home_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("Ferry Uploads")
    }

    /// Applies `policy` (size and type limits) to the files sent here, for folders that
    /// should only receive some kinds of files.
    #[must_use]
    pub fn with_policy(mut self, policy: DestinationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The folder files are copied into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temporary file of `request`'s upload: per job, so two jobs with the same name
    /// never share one, and found again after a restart.
    fn part_path(&self, request: &UploadRequest) -> PathBuf {
        let name: String = safe_name(&request.name).chars().take(180).collect();
        self.root
            .join(format!(".{name}.{}.{PART_SUFFIX}", request.job_id.0))
    }

    fn io_error(&self, doing: &str, path: &Path, source: std::io::Error) -> CoreError {
        CoreError::Destination {
            context: format!("{doing} {} in {} failed", path.display(), self.label),
            source,
        }
    }

    /// Streams the body into `part`, then fsyncs it.
    async fn write_part(
        &self,
        part: &Path,
        body: &mut UploadBody,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), CoreError> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(part)
            .await
            .map_err(|e| self.io_error("creating", part, e))?;
        let mut written = 0u64;
        while let Some(chunk) = body.next_chunk().await? {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(CoreError::Interrupted),
                result = file.write_all(chunk) => {
                    result.map_err(|e| self.io_error("writing", part, e))?;
                }
            }
            written += chunk.len() as u64;
            progress.report(written);
        }
        file.flush()
            .await
            .map_err(|e| self.io_error("writing", part, e))?;
        file.sync_all()
            .await
            .map_err(|e| self.io_error("syncing", part, e))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Destination for LocalFolderDestination {
    fn name(&self) -> &str {
        &self.label
    }

    fn policy(&self) -> DestinationPolicy {
        self.policy.clone()
    }

    async fn upload(
        &self,
        request: &UploadRequest,
        body: &mut UploadBody,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<String, CoreError> {
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(|e| self.io_error("creating the folder", &self.root, e))?;
        let part = self.part_path(request);
        if let Err(err) = self.write_part(&part, body, progress, cancel).await {
            remove_if_present(&part).await;
            return Err(err);
        }
        let root = self.root.clone();
        let name = safe_name(&request.name);
        let part_for_claim = part.clone();
        let claimed = tokio::task::spawn_blocking(move || {
            let path = claim_final_name(&part_for_claim, &root, &name)?;
            sync_dir(&root);
            Ok::<_, std::io::Error>(path)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("naming the copy stopped: {e}")))?;
        match claimed {
            Ok(path) => Ok(path.to_string_lossy().into_owned()),
            Err(e) => {
                remove_if_present(&part).await;
                Err(self.io_error("naming the copy of", Path::new(&request.name), e))
            }
        }
    }

    async fn verify(
        &self,
        remote: &str,
        expected: &ExpectedContent,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), CoreError> {
        let path = Path::new(remote);
        let mismatch = |detail: String| CoreError::VerifyMismatch {
            remote: remote.to_owned(),
            detail,
        };
        let meta = match tokio::fs::metadata(path).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(mismatch("the copy is missing".into()))
            }
            Err(e) => return Err(self.io_error("reading", path, e)),
        };
        if meta.len() != expected.size {
            return Err(mismatch(format!(
                "it holds {} instead of {}",
                human_bytes(meta.len()),
                human_bytes(expected.size)
            )));
        }
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| self.io_error("opening", path, e))?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; READ_SIZE];
        let mut checked = 0u64;
        loop {
            let n = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(CoreError::Interrupted),
                read = file.read(&mut buf) => read.map_err(|e| self.io_error("reading", path, e))?,
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            checked += n as u64;
            if checked > expected.size {
                return Err(mismatch("it grew while being checked".into()));
            }
            progress.report(checked);
        }
        if checked != expected.size {
            return Err(mismatch(format!(
                "only {} could be read back out of {}",
                human_bytes(checked),
                human_bytes(expected.size)
            )));
        }
        if hasher.finalize().to_hex().as_str() != expected.blake3 {
            return Err(mismatch("its BLAKE3 hash differs".into()));
        }
        Ok(())
    }

    async fn discard(&self, request: &UploadRequest) -> Result<(), CoreError> {
        let part = self.part_path(request);
        match tokio::fs::remove_file(&part).await {
            Ok(()) => {
                tracing::debug!(part = %part.display(), "removed a partial upload");
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error("removing", &part, e)),
        }
    }

    async fn remove(&self, remote: &str) -> Result<(), CoreError> {
        let path = Path::new(remote);
        if path.parent() != Some(self.root.as_path()) {
            return Err(CoreError::Remote(format!(
                "refusing to remove {remote}: it is not a file of {}",
                self.label
            )));
        }
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error("removing", path, e)),
        }
    }
}

/// A file name that stays inside the destination folder: no separators, no NUL, not
/// empty, not `.` or `..`.
fn safe_name(name: &str) -> String {
    let bad =
        |c: char| c == '/' || c == '\\' || c == '\0' || (cfg!(windows) && ":*?\"<>|".contains(c));
    let cleaned: String = name.chars().map(|c| if bad(c) { '_' } else { c }).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `name` for `n == 0`, else `stem (n).ext`.
fn numbered_name(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    let path = Path::new(name);
    let stem = path
        .file_stem()
        .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
    match path.extension() {
        Some(ext) => format!("{stem} ({n}).{}", ext.to_string_lossy()),
        None => format!("{stem} ({n})"),
    }
}

/// Gives `part` the first free name among `name`, `name (1)`, ... without replacing any
/// existing file, even against another upload claiming names at the same moment.
fn claim_final_name(part: &Path, root: &Path, name: &str) -> std::io::Result<PathBuf> {
    for n in 0..MAX_NUMBERED_NAMES {
        let candidate = root.join(numbered_name(name, n));
        match std::fs::hard_link(part, &candidate) {
            Ok(()) => {
                std::fs::remove_file(part)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(link_error) => {
                // Some file systems have no hard links: reserve the name with an
                // exclusive create, then move the data over the reservation.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&candidate)
                {
                    Ok(_) => {
                        std::fs::rename(part, &candidate)?;
                        return Ok(candidate);
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(_) => return Err(link_error),
                }
            }
        }
    }
    Err(std::io::Error::new(
        ErrorKind::AlreadyExists,
        format!("{MAX_NUMBERED_NAMES} files named like {name} already exist"),
    ))
}

/// Makes the new directory entry durable (Unix only; elsewhere the rename is enough).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not sync the destination folder");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

async fn remove_if_present(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        if e.kind() != ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a partial upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered_name("photo.jpg", 0), "photo.jpg");
        assert_eq!(numbered_name("photo.jpg", 1), "photo (1).jpg");
        assert_eq!(numbered_name("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered_name("README", 3), "README (3)");
        assert_eq!(numbered_name(".bashrc", 1), ".bashrc (1)");
    }

    #[test]
    fn unsafe_names_are_made_safe() {
        assert_eq!(safe_name("../etc/passwd"), ".._etc_passwd");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("  "), "file");
        assert_eq!(safe_name("ok.txt"), "ok.txt");
    }
}
