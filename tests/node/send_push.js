#!/usr/bin/env node
// Test peer: one push built by node web-push (an independent implementation),
// sent over plain HTTP (web-push's sendNotification only speaks https, so the
// request comes from generateRequestDetails and goes out with fetch).
//
// Usage: node send_push.js < INPUT.json
// INPUT.json: {
//   "subscription": {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}},
//   "payload_b64": base64 of the message (omit or null for a push without payload),
//   "vapid": {"subject": "mailto:...", "publicKey": b64url, "privateKey": b64url} or null,
//   "contentEncoding": "aes128gcm" | "aesgcm", "ttl": 60,
//   "urgency": optional, "topic": optional
// }
// Prints one JSON line: {"status", "body", "headers": {...}, "request_headers": {...}}.
'use strict';

const webpush = require('web-push');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', c => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const input = JSON.parse(await readStdin());
  const options = {
    TTL: input.ttl === undefined ? 60 : input.ttl,
    contentEncoding: input.contentEncoding || 'aes128gcm',
  };
  if (input.vapid) {
    options.vapidDetails = input.vapid;
  }
  if (input.urgency) {
    options.urgency = input.urgency;
  }
  if (input.topic) {
    options.topic = input.topic;
  }
  const payload = input.payload_b64 ? Buffer.from(input.payload_b64, 'base64') : null;
  const details = webpush.generateRequestDetails(input.subscription, payload, options);
  const headers = {};
  for (const [name, value] of Object.entries(details.headers)) {
    if (value !== undefined && name.toLowerCase() !== 'content-length') {
      headers[name] = String(value);
    }
  }
  const response = await fetch(details.endpoint, {
    method: details.method,
    headers,
    body: details.body || undefined,
  });
  const responseHeaders = {};
  response.headers.forEach((value, name) => {
    responseHeaders[name] = value;
  });
  process.stdout.write(JSON.stringify({
    status: response.status,
    body: await response.text(),
    headers: responseHeaders,
    request_headers: headers,
  }) + '\n');
}

main().catch(err => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
