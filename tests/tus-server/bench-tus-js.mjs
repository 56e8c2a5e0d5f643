#!/usr/bin/env node
// Uploads one file with tus-js-client, the reference JavaScript tus client, for the
// benchmark in scripts/bench-tus.sh. An fs.ReadStream with a path makes the client read
// each chunk from disk instead of buffering the file.
//
// usage: node tests/tus-server/bench-tus-js.mjs FILE ENDPOINT [CHUNK_BYTES]
// stdout on success, one JSON line: {"bytes":N,"seconds":S,"url":"..."}

import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';

import { Upload } from 'tus-js-client';

const [file, endpoint, chunkArg] = process.argv.slice(2);
if (!file || !endpoint) {
  console.error('usage: node tests/tus-server/bench-tus-js.mjs FILE ENDPOINT [CHUNK_BYTES]');
  process.exit(2);
}
const chunkSize = chunkArg ? Number(chunkArg) : 8 * 1024 * 1024;
const size = statSync(file).size;
const started = process.hrtime.bigint();

const upload = new Upload(createReadStream(file), {
  endpoint,
  chunkSize,
  metadata: { filename: path.basename(file) },
  // A benchmark measures one clean pass: no retries, no resume bookkeeping on disk.
  retryDelays: null,
  storeFingerprintForResuming: false,
  onError(error) {
    console.error(`tus-js-client upload failed: ${error.message ?? error}`);
    process.exit(1);
  },
  onSuccess() {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    process.stdout.write(`${JSON.stringify({ bytes: size, seconds, url: upload.url })}\n`);
  },
});
upload.start();
