#!/usr/bin/env node
// A real tus 1.0 server for Ferry's tests and benchmark: the official Node implementation
// (@tus/server) storing uploads on disk with @tus/file-store.
//
// It prints exactly one JSON line to stdout once it accepts connections, so the process
// that started it can read the port, and nothing else to stdout afterwards. Logs go to
// stderr. See README.md next to this file for the options.

import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

const usage = `usage: node tests/tus-server/server.mjs --dir DIR [--port N] [--token T]
       [--max-size BYTES] [--expiration-ms MS] [--cleanup-interval-ms MS]
       [--tls-cert PEM --tls-key PEM] [--verbose]`;

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      dir: { type: 'string' },
      port: { type: 'string', default: '0' },
      token: { type: 'string' },
      'max-size': { type: 'string' },
      'expiration-ms': { type: 'string' },
      'cleanup-interval-ms': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  console.error(`${error.message}\n${usage}`);
  process.exit(2);
}
if (args.help) {
  console.error(usage);
  process.exit(0);
}
if (!args.dir) {
  console.error(`--dir is required\n${usage}`);
  process.exit(2);
}
if ((args['tls-cert'] === undefined) !== (args['tls-key'] === undefined)) {
  console.error(`--tls-cert and --tls-key go together\n${usage}`);
  process.exit(2);
}

/** A non-negative integer option, or exit with a message naming it. */
function integer(name) {
  const raw = args[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const port = integer('port');
const maxSize = integer('max-size');
const expirationMs = integer('expiration-ms');
const cleanupIntervalMs = integer('cleanup-interval-ms');
const directory = path.resolve(args.dir);
// The store creates its folder asynchronously in its constructor; create it first so a
// request arriving right after the ready line cannot race it.
mkdirSync(directory, { recursive: true });

/** The certificate chain and key to serve HTTPS with, or undefined for plain HTTP. */
function tlsOptions() {
  if (args['tls-cert'] === undefined) return undefined;
  try {
    return { cert: readFileSync(args['tls-cert']), key: readFileSync(args['tls-key']) };
  } catch (error) {
    console.error(`cannot read the TLS certificate or key: ${error.message}`);
    process.exit(2);
  }
}
const tls = tlsOptions();
const scheme = tls ? 'https' : 'http';

/** Throws the tus library's error shape, which it turns into a response. */
function reject(status_code, body) {
  throw { status_code, body: `${body}\n` };
}

const tus = new Server({
  path: '/files',
  datastore: new FileStore({ directory, expirationPeriodInMilliseconds: expirationMs }),
  maxSize: maxSize || undefined,
  // The library builds Location from the Host header and always says http unless it
  // trusts forwarded headers; over TLS the upload URLs must stay on https.
  generateUrl: tls ? (_req, { host, path, id }) => `https://${host}${path}/${id}` : undefined,
  // The library runs this hook for POST, HEAD, PATCH, DELETE and GET; OPTIONS stays open,
  // as a CORS preflight must.
  onIncomingRequest: args.token
    ? async (req) => {
        const header = req.headers.get('authorization');
        if (header === null) reject(401, 'missing Authorization header (expected a Bearer token)');
        if (!header.startsWith('Bearer ')) reject(401, 'Authorization is not a Bearer token');
        if (header.slice('Bearer '.length) !== args.token) reject(401, 'wrong bearer token');
      }
    : undefined,
});

/** One concise stderr line per request: method, url, status and both Upload-Offsets. */
function logged(handler) {
  if (!args.verbose) return handler;
  return (req, res) => {
    let status = 0;
    let responseOffset;
    // The library hands its headers to writeHead directly, so getHeader() would not see them.
    const writeHead = res.writeHead;
    res.writeHead = function (code, ...rest) {
      status = code;
      const headers = rest.find((r) => r && typeof r === 'object');
      if (headers) {
        const entries = Array.isArray(headers) ? pairs(headers) : Object.entries(headers);
        responseOffset = entries.find(([k]) => k.toLowerCase() === 'upload-offset')?.[1];
      }
      return writeHead.call(this, code, ...rest);
    };
    res.on('close', () => {
      const requestOffset = req.headers['upload-offset'];
      const offsets = [
        requestOffset === undefined ? '' : ` req-offset=${requestOffset}`,
        responseOffset === undefined ? '' : ` offset=${responseOffset}`,
      ].join('');
      const state = res.writableFinished ? '' : ' (connection closed before the response ended)';
      console.error(`${req.method} ${req.url} ${status || res.statusCode}${offsets}${state}`);
    });
    return handler(req, res);
  };
}

/** Flat [k, v, k, v] or [[k, v]] header arrays as entries. */
function pairs(list) {
  if (list.length > 0 && Array.isArray(list[0])) return list;
  const out = [];
  for (let i = 0; i + 1 < list.length; i += 2) out.push([list[i], list[i + 1]]);
  return out;
}

const server = (tls ? createTlsServer : createServer)(
  // A single PATCH of a whole large file (the benchmark's curl row) can take minutes on
  // a slow disk; Node's default five-minute request timeout would cut it.
  { requestTimeout: 0, ...tls },
  logged((req, res) => tus.handle(req, res)),
);
if (tls && args.verbose) {
  // A client that rejects the certificate never sends a request, so the request log
  // alone would not show that it tried; log each failed handshake as one line too.
  server.on('tlsClientError', (error) => {
    console.error(`TLS handshake failed: ${error.code ?? ''} ${error.message}`.trim());
  });
}

let cleanupTimer;
server.on('error', (error) => {
  // EADDRINUSE after a restart on a fixed port is the common case; the caller may retry.
  console.error(`tus server: ${error.code ?? ''} ${error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  const { port: bound } = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: bound, endpoint: `${scheme}://127.0.0.1:${bound}/files/` })}\n`,
  );
  if (expirationMs && cleanupIntervalMs) {
    cleanupTimer = setInterval(() => {
      tus.cleanUpExpiredUploads().then(
        (n) => n > 0 && args.verbose && console.error(`expired uploads removed: ${n}`),
        (error) => console.error(`expired-upload cleanup failed: ${error.message ?? error}`),
      );
    }, cleanupIntervalMs);
  }
});

function shutdown(signal) {
  clearInterval(cleanupTimer);
  if (args.verbose) console.error(`tus server: ${signal}, stopping`);
  // Close idle keep-alive sockets and in-flight uploads too: a test that stops the server
  // wants it gone now, and a client must be able to resume from the stored offset.
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
