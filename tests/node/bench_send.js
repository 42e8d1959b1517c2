#!/usr/bin/env node
// Benchmark peer for benchmarks/contenders.py: node web-push's sendNotification, N in flight.
//
// Usage: node bench_send.js INPUT.json
// INPUT.json: {
//   "subscriptions": [{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}, ...],
//   "vapid": {"subject": "mailto:...", "publicKey": b64url, "privateKey": b64url},
//   "payload_b64": base64 of the message, "in_flight": 32, "ttl": 0, "warmup": 32
// }
// Prints one JSON line: {"sent", "ok", "failed", "statuses", "seconds", "msgs_per_sec",
//   "cpu_user_s", "cpu_system_s", "first_error"}.
// The push service's CA comes from NODE_EXTRA_CA_CERTS (set by benchmarks/contenders.py).
'use strict';

const fs = require('fs');
const https = require('https');
const webpush = require('web-push');

async function sendAll(subscriptions, payload, options, inFlight) {
  const statuses = {};
  let ok = 0;
  let failed = 0;
  let firstError = null;
  let next = 0;

  // A fixed pool of workers each pulling the next subscription: at most
  // inFlight requests are outstanding, like a bounded fan-out loop would do.
  async function worker() {
    while (next < subscriptions.length) {
      const sub = subscriptions[next];
      next += 1;
      try {
        const res = await webpush.sendNotification(sub, payload, options);
        statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        ok += 1;
      } catch (err) {
        const code = err.statusCode || 'error';
        statuses[code] = (statuses[code] || 0) + 1;
        failed += 1;
        if (firstError === null) {
          firstError = String(err.message || err);
        }
      }
    }
  }

  const workers = [];
  for (let i = 0; i < Math.min(inFlight, subscriptions.length); i += 1) {
    workers.push(worker());
  }
  await Promise.all(workers);
  return { ok, failed, statuses, firstError };
}

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const inFlight = input.in_flight || 32;
  const payload = Buffer.from(input.payload_b64, 'base64');
  const subscriptions = input.subscriptions;
  // Keep-alive sockets sized to the concurrency: what a node user tuning for
  // fan-out would pass (node 20's global agent keeps alive too).
  const agent = new https.Agent({ keepAlive: true, maxSockets: inFlight });
  webpush.setVapidDetails(input.vapid.subject, input.vapid.publicKey, input.vapid.privateKey);
  const options = {
    TTL: input.ttl || 0,
    contentEncoding: 'aes128gcm',
    agent,
    timeout: 10000,
  };

  // Warm-up (untimed): opens the keep-alive connections and lets the JIT settle,
  // as the benchmark does for the Python contenders.
  const warmup = subscriptions.slice(0, input.warmup || 0);
  if (warmup.length > 0) {
    await sendAll(warmup, payload, options, inFlight);
  }

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const result = await sendAll(subscriptions, payload, options, inFlight);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();

  process.stdout.write(JSON.stringify({
    sent: subscriptions.length,
    ok: result.ok,
    failed: result.failed,
    statuses: result.statuses,
    seconds,
    msgs_per_sec: subscriptions.length / seconds,
    cpu_user_s: cpu.user / 1e6,
    cpu_system_s: cpu.system / 1e6,
    first_error: result.firstError,
  }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\n');
  process.exit(1);
});
