// @ts-check
'use strict';
// The skill through a real gRPC server on a real Unix socket: `npm test` (node --test).
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const here = path.join(__dirname, '..');
const proto = [path.join(here, 'skill.proto'), path.join(here, '..', '..', 'protos', 'skill.proto')]
  .find((p) => fs.existsSync(p));

/** Start server.js on a fresh socket; resolves once Describe answers. */
async function start() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skill-'));
  const socket = path.join(dir, 'skill.sock');
  const child = spawn(process.execPath, [path.join(here, 'server.js')], {
    env: { ...process.env, PODIUM_SKILL_SOCKET: socket, PODIUM_WORKSPACE: dir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const def = protoLoader.loadSync(/** @type {string} */ (proto), { keepCase: true, enums: String, defaults: true, oneofs: true });
  const pkg = /** @type {any} */ (grpc.loadPackageDefinition(def));
  const client = new pkg.podium.skill.v1.Skill(`unix:${socket}`, grpc.credentials.createInsecure());
  await new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + 10000, (/** @type {Error|undefined} */ err) => (err ? reject(err) : resolve(undefined))));
  return { dir, child, client };
}

/** @param {any} client @param {string} tool @param {object} args */
function invoke(client, tool, args) {
  return new Promise((resolve, reject) => {
    /** @type {any[]} */
    const events = [];
    const call = client.Invoke({ call_id: 't', tool, arguments_json: JSON.stringify(args) });
    call.on('data', (/** @type {any} */ e) => events.push(e));
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

test('describe, invoke with progress, errors, SIGTERM', async () => {
  const { dir, child, client } = await start();
  try {
    const description = await new Promise((resolve, reject) =>
      client.Describe({}, (/** @type {Error|null} */ err, /** @type {any} */ d) => (err ? reject(err) : resolve(d))));
    assert.ok(description.tools.length >= 1);
    for (const tool of description.tools) {
      assert.equal(JSON.parse(tool.input_schema_json).type, 'object');
    }
    const counted = /** @type {any[]} */ (await invoke(client, 'count_slowly', { to: 3, interval_ms: 1 }));
    assert.equal(counted.filter((e) => e.progress).length, 3);
    assert.equal(counted.at(-1).result.text, 'counted to 3');
    fs.writeFileSync(path.join(dir, 'a.txt'), 'one two\nthree\n');
    const stats = /** @type {any[]} */ (await invoke(client, 'file_stats', { path: 'a.txt' }));
    assert.deepEqual(JSON.parse(stats[0].result.structured_json), { path: 'a.txt', bytes: 14, lines: 2, words: 3, characters: 14 });
    const escape = /** @type {any[]} */ (await invoke(client, 'file_stats', { path: '../../etc/passwd' }));
    assert.equal(escape[0].result.error_kind, 'TOOL');
    const unknown = /** @type {any[]} */ (await invoke(client, 'nope', {}));
    assert.equal(unknown[0].result.error_kind, 'UNKNOWN_TOOL');
  } finally {
    client.close();
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
