//! A correct, in-memory tus 1.0 server (core, creation, creation-with-upload, termination,
//! checksum) to put behind a [`super::ScriptedServer`], so a test can alter one answer at a
//! time and leave the rest of the protocol right.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::Digest as _;

use super::{ScriptedRequest, ScriptedResponse};

/// The checksum algorithms announced in `Tus-Checksum-Algorithm`. `crc32` is the IEEE CRC-32
/// as 4 big-endian bytes, base64-encoded like the others.
pub const CHECKSUM_ALGORITHMS: &str = "sha1,md5,sha256,crc32";

const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// One upload held in memory.
#[derive(Debug, Clone)]
pub struct TusLikeUpload {
    pub id: String,
    pub length: u64,
    pub data: Vec<u8>,
    /// Decoded `Upload-Metadata`; a key without a value maps to `None`.
    pub metadata: BTreeMap<String, Option<String>>,
    /// The `Upload-Metadata` header as received, echoed by HEAD.
    pub raw_metadata: Option<String>,
}

impl TusLikeUpload {
    pub fn offset(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn filename(&self) -> Option<&str> {
        self.metadata.get("filename")?.as_deref()
    }

    pub fn is_complete(&self) -> bool {
        self.offset() == self.length
    }
}

#[derive(Default)]
struct Inner {
    uploads: BTreeMap<String, TusLikeUpload>,
    next_id: u64,
    max_size: Option<u64>,
    checksum_mismatches: usize,
}

/// A tus server's state; clones share it. Call [`Self::handle`] from a scripted handler.
#[derive(Clone, Default)]
pub struct TusLikeState {
    inner: Arc<Mutex<Inner>>,
}

impl TusLikeState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces `Tus-Max-Size` and refuses longer uploads with 413.
    pub fn with_max_size(self, bytes: u64) -> Self {
        self.lock().max_size = Some(bytes);
        self
    }

    /// Every upload, by id (ids are increasing numbers, so this is creation order).
    pub fn uploads(&self) -> Vec<TusLikeUpload> {
        self.lock().uploads.values().cloned().collect()
    }

    pub fn upload(&self, id: &str) -> Option<TusLikeUpload> {
        self.lock().uploads.get(id).cloned()
    }

    /// The most recent upload whose `filename` metadata is `filename`.
    pub fn upload_by_filename(&self, filename: &str) -> Option<TusLikeUpload> {
        self.lock()
            .uploads
            .values()
            .rev()
            .find(|u| u.filename() == Some(filename))
            .cloned()
    }

    /// PATCH or POST bodies refused with 460 so far.
    pub fn checksum_mismatches(&self) -> usize {
        self.lock().checksum_mismatches
    }

    /// Answers one request as a correct tus 1.0 server would.
    pub fn handle(&self, req: &ScriptedRequest) -> ScriptedResponse {
        if req.is("OPTIONS") {
            let mut response = tus(204)
                .header("Tus-Version", "1.0.0")
                .header("Tus-Extension", EXTENSIONS)
                .header("Tus-Checksum-Algorithm", CHECKSUM_ALGORITHMS);
            if let Some(max) = self.lock().max_size {
                response = response.header("Tus-Max-Size", max);
            }
            return response;
        }
        match req.header("tus-resumable") {
            Some("1.0.0") => {}
            Some(_) => {
                return tus(412)
                    .header("Tus-Version", "1.0.0")
                    .body("unsupported Tus-Resumable\n")
            }
            None => return tus(412).body("Tus-Resumable required\n"),
        }
        match req.method.as_str() {
            "POST" => self.create(req),
            "HEAD" => self.head(req),
            "PATCH" => self.patch(req),
            "DELETE" => self.delete(req),
            _ => tus(405).header("Allow", "OPTIONS, POST, HEAD, PATCH, DELETE"),
        }
    }

    fn create(&self, req: &ScriptedRequest) -> ScriptedResponse {
        if req.header("upload-defer-length").is_some() {
            return tus(400).body("creation-defer-length is not supported\n");
        }
        let Some(length) = req
            .header("upload-length")
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return tus(400).body("Upload-Length missing or invalid\n");
        };
        let raw_metadata = req.header("upload-metadata").map(str::to_owned);
        let metadata = match raw_metadata.as_deref().map(parse_metadata).transpose() {
            Ok(m) => m.unwrap_or_default(),
            Err(why) => return tus(400).body(format!("{why}\n")),
        };
        let mut inner = self.lock();
        if inner.max_size.is_some_and(|max| length > max) {
            return tus(413).body("Upload-Length exceeds Tus-Max-Size\n");
        }
        inner.next_id += 1;
        let id = format!("{:08}", inner.next_id);
        let mut upload = TusLikeUpload {
            id: id.clone(),
            length,
            data: Vec::new(),
            metadata,
            raw_metadata,
        };
        // creation-with-upload: the body is the first chunk, under the PATCH rules.
        if !req.body.is_empty() {
            if req.header("content-type") != Some(OFFSET_OCTET_STREAM) {
                return tus(415).body(format!(
                    "a body needs Content-Type: {OFFSET_OCTET_STREAM}\n"
                ));
            }
            if let Err(response) = append(&mut upload, req, &mut inner.checksum_mismatches) {
                return response;
            }
        }
        let offset = upload.offset();
        inner.uploads.insert(id.clone(), upload);
        let location = match req.header("host") {
            Some(host) => format!("http://{host}/files/{id}"),
            None => format!("/files/{id}"),
        };
        tus(201)
            .header("Location", location)
            .header("Upload-Offset", offset)
    }

    fn head(&self, req: &ScriptedRequest) -> ScriptedResponse {
        let inner = self.lock();
        let Some(upload) = inner.uploads.get(upload_id(req)) else {
            return tus(404).header("Cache-Control", "no-store");
        };
        let mut response = tus(200)
            .header("Cache-Control", "no-store")
            .header("Upload-Offset", upload.offset())
            .header("Upload-Length", upload.length);
        if let Some(meta) = &upload.raw_metadata {
            response = response.header("Upload-Metadata", meta);
        }
        response
    }

    fn patch(&self, req: &ScriptedRequest) -> ScriptedResponse {
        if req.header("content-type") != Some(OFFSET_OCTET_STREAM) {
            return tus(415).body(format!("Content-Type must be {OFFSET_OCTET_STREAM}\n"));
        }
        let Some(offset) = req
            .header("upload-offset")
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return tus(400).body("Upload-Offset missing or invalid\n");
        };
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(upload) = inner.uploads.get_mut(upload_id(req)) else {
            return tus(404).body("no such upload\n");
        };
        if offset != upload.offset() {
            return tus(409).body(format!(
                "Upload-Offset {offset} does not match the upload's offset {}\n",
                upload.offset()
            ));
        }
        if let Err(response) = append(upload, req, &mut inner.checksum_mismatches) {
            return response;
        }
        tus(204).header("Upload-Offset", upload.offset())
    }

    fn delete(&self, req: &ScriptedRequest) -> ScriptedResponse {
        match self.lock().uploads.remove(upload_id(req)) {
            Some(_) => tus(204),
            None => tus(404).body("no such upload\n"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("tus state")
    }
}

/// Appends the request body after checking length and checksum; on refusal the upload is
/// unchanged and the error response is returned.
fn append(
    upload: &mut TusLikeUpload,
    req: &ScriptedRequest,
    mismatches: &mut usize,
) -> Result<(), ScriptedResponse> {
    if upload.offset() + req.body.len() as u64 > upload.length {
        return Err(tus(413).body("the body goes past Upload-Length\n"));
    }
    if let Some(header) = req.header("upload-checksum") {
        let Some((algorithm, expected)) = header.split_once(' ') else {
            return Err(tus(400).body("Upload-Checksum must be '<algorithm> <base64>'\n"));
        };
        let Some(actual) = digest(algorithm, &req.body) else {
            return Err(tus(400).body(format!("unsupported checksum algorithm {algorithm}\n")));
        };
        let Ok(expected) = BASE64.decode(expected) else {
            return Err(tus(400).body("Upload-Checksum value is not base64\n"));
        };
        if expected != actual {
            *mismatches += 1;
            return Err(tus(460).body("Checksum Mismatch\n"));
        }
    }
    upload.data.extend_from_slice(&req.body);
    Ok(())
}

/// The `Upload-Checksum` header value for `bytes` with `algorithm` (one of
/// [`CHECKSUM_ALGORITHMS`]), for tests that send or expect one.
pub fn checksum_header(algorithm: &str, bytes: &[u8]) -> String {
    let digest = digest(algorithm, bytes)
        .unwrap_or_else(|| panic!("unsupported checksum algorithm {algorithm}"));
    format!("{algorithm} {}", BASE64.encode(digest))
}

fn digest(algorithm: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        "sha1" => sha1::Sha1::digest(bytes).to_vec(),
        "sha256" => sha2::Sha256::digest(bytes).to_vec(),
        "md5" => md5::Md5::digest(bytes).to_vec(),
        "crc32" => crc32fast::hash(bytes).to_be_bytes().to_vec(),
        _ => return None,
    })
}

/// `key base64,key2,key3 base64` as a map (values decoded as UTF-8).
fn parse_metadata(raw: &str) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut metadata = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = match parts.next() {
            Some(encoded) => {
                let bytes = BASE64
                    .decode(encoded)
                    .map_err(|_| format!("Upload-Metadata value of {key} is not base64"))?;
                Some(
                    String::from_utf8(bytes)
                        .map_err(|_| format!("Upload-Metadata value of {key} is not UTF-8"))?,
                )
            }
            None => None,
        };
        if parts.next().is_some() || metadata.insert(key.to_owned(), value).is_some() {
            return Err(format!(
                "Upload-Metadata pair {pair:?} is malformed or repeated"
            ));
        }
    }
    Ok(metadata)
}

/// The last path segment: `/files/00000001` names upload `00000001`.
fn upload_id(req: &ScriptedRequest) -> &str {
    let path = req.path.split('?').next().unwrap_or_default();
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// A response carrying `Tus-Resumable`, as every tus answer except OPTIONS' must (OPTIONS
/// may; tusd and @tus/server send it there too).
fn tus(status: u16) -> ScriptedResponse {
    ScriptedResponse::new(status).header("Tus-Resumable", "1.0.0")
}
