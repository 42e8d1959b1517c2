#!/usr/bin/env node
// Test helper: node web-push as an independent VAPID peer.
//   node keys.js generate [N]
//       -> JSON list of N generateVAPIDKeys() results ({publicKey, privateKey})
//   node keys.js headers <audience> <subject> <publicKey> <privateKey> <aes128gcm|aesgcm>
//       -> JSON of getVapidHeaders(...) (node signs a token with that key)
'use strict';

const webpush = require('web-push');

const [command, ...args] = process.argv.slice(2);

if (command === 'generate') {
  const n = Number(args[0] || 1);
  const keys = [];
  for (let i = 0; i < n; i += 1) {
    keys.push(webpush.generateVAPIDKeys());
  }
  process.stdout.write(JSON.stringify(keys));
} else if (command === 'headers') {
  const [audience, subject, publicKey, privateKey, encoding] = args;
  const headers = webpush.getVapidHeaders(audience, subject, publicKey, privateKey, encoding);
  process.stdout.write(JSON.stringify(headers));
} else {
  process.stderr.write('usage: keys.js generate [N] | headers <aud> <sub> <pub> <priv> <encoding>\n');
  process.exit(2);
}
