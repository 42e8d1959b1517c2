#!/usr/bin/env node
// Encryption peer for tests/test_ece_interop.py: node web-push's encrypt().
//
// One process for many cases (node start-up is slow). Reads a JSON array of
// jobs on stdin: [{"ua_public": b64url, "auth": b64url, "payload": base64,
// "encoding": "aes128gcm" | "aesgcm"}, ...]
// Writes a JSON array, one result per job, in order:
// {"body": base64, "salt": b64url, "as_public": base64} or {"error": message}.
'use strict';

const webpush = require('web-push');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function run(job) {
  try {
    const result = webpush.encrypt(
      job.ua_public, job.auth, Buffer.from(job.payload, 'base64'), job.encoding);
    return {
      body: Buffer.from(result.cipherText).toString('base64'),
      salt: result.salt,
      as_public: Buffer.from(result.localPublicKey).toString('base64'),
    };
  } catch (err) {
    return { error: String(err.message || err) };
  }
}

readStdin().then((text) => {
  const jobs = JSON.parse(text);
  process.stdout.write(JSON.stringify(jobs.map(run)));
}).catch((err) => {
  process.stderr.write(String(err.stack || err) + '\n');
  process.exit(1);
});
