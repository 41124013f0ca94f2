// @ts-check
'use strict';
/**
 * A Podium skill sidecar written in JavaScript and type-checked by TypeScript (`npm run
 * typecheck`: tsc --checkJs, no build step). It implements the launch contract in
 * protos/README.md and nothing else: no Podium code runs here. This file is generic: the
 * skill's name and tools are in tools.js (`podium skill new --lang typescript` writes both).
 *
 * - serves podium.skill.v1.Skill (protos/skill.proto, loaded at start-up) and
 *   grpc.health.v1.Health on the Unix socket $PODIUM_SKILL_SOCKET;
 * - only the run's agent is answered: a call without this skill's call token
 *   ($PODIUM_CALL_TOKEN, sent as `podium-call-token` metadata) is refused UNAUTHENTICATED;
 * - every Invoke ends with exactly one result; a client cancel or the call's deadline aborts
 *   the tool (its AbortSignal);
 * - SIGTERM: health NOT_SERVING, in-flight calls get a grace period, then are aborted; the
 *   socket is removed and the process exits 0.
 *
 *     PODIUM_SKILL_SOCKET=/tmp/ts.sock node server.js
 *     podium skill check --socket /tmp/ts.sock
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { HealthImplementation } = require('grpc-health-check');
const { skill: SKILL, tools, ToolError } = require('./tools');

const STOP_GRACE_MS = Number(process.env.PODIUM_STOP_GRACE_MS || 5000);
const SERVICE = 'podium.skill.v1.Skill';

/** skill.proto next to this file (as the image ships it), else the repository's copy. */
function protoPath() {
  const candidates = [
    process.env.PODIUM_SKILL_PROTO,
    path.join(__dirname, 'skill.proto'),
    path.join(__dirname, '..', '..', 'protos', 'skill.proto'),
  ];
  const found = candidates.find((p) => p && fs.existsSync(p));
  if (!found) throw new Error(`skill.proto not found (looked in: ${candidates.join(', ')})`);
  return found;
}

/** @param {string} level @param {string} message */
function log(level, message) {
  process.stderr.write(`${new Date().toISOString()} ${level} ${SKILL.name}: ${message}\n`);
}

/**
 * @typedef {'NONE'|'TOOL'|'INVALID_ARGUMENTS'|'UNKNOWN_TOOL'|'TIMEOUT'|'CANCELLED'|'INTERNAL'} ErrorKind
 * @typedef {{text: string, structured_json?: string, is_error?: boolean, error_kind?: ErrorKind, artifacts?: string[]}} ToolResult
 */

/** @param {ErrorKind} kind @param {string} text @returns {ToolResult} */
function failure(kind, text) {
  return { text, is_error: true, error_kind: kind };
}

/**
 * This process's secrets (protos/README.md): the JSON object on the pipe $PODIUM_SECRETS_FD
 * (locally; read once), else the environment (in a container). Both are dropped from the
 * environment, so the tools' child processes never inherit them.
 * @returns {Record<string, string>}
 */
function takeSecrets() {
  /** @type {Record<string, string>} */
  const found = {};
  const fd = process.env.PODIUM_SECRETS_FD;
  delete process.env.PODIUM_SECRETS_FD;
  if (fd) {
    const text = fs.readFileSync(Number(fd), 'utf8');
    fs.closeSync(Number(fd));
    Object.assign(found, JSON.parse(text || '{}'));
  }
  for (const name of ['PODIUM_CALL_TOKEN', 'PODIUM_APPROVAL_KEY']) {
    const value = process.env[name];
    delete process.env[name];
    if (value && !(name in found)) found[name] = value;
  }
  return found;
}

// This skill's call token. Unset (the sidecar run by hand): every caller is answered.
const CALL_TOKEN = new TextEncoder().encode(takeSecrets().PODIUM_CALL_TOKEN || '');
const TOKEN_HEADER = 'podium-call-token';

/** @param {import('@grpc/grpc-js').Metadata} metadata */
function authorised(metadata) {
  if (CALL_TOKEN.length === 0) return true;
  const given = new TextEncoder().encode(String(metadata.get(TOKEN_HEADER)[0] ?? ''));
  return given.length === CALL_TOKEN.length && crypto.timingSafeEqual(given, CALL_TOKEN);
}

const REFUSED = {
  code: grpc.status.UNAUTHENTICATED,
  details: 'this skill answers only its run\'s agent',
};

/** @type {Map<string, import('./tools').Tool>} */
const byName = new Map(tools.map((t) => [t.name, t]));
/** Calls in flight, so a shutdown past its grace can abort them. */
const inFlight = new Set();

function describe() {
  return {
    ...SKILL,
    dynamic_tools: false,
    warnings: [],
    tools: tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema_json: JSON.stringify(t.inputSchema),
      annotations: t.annotations,
    })),
  };
}

/**
 * Run one call to its single result. Never throws.
 * @param {any} request @param {AbortController} abort
 * @param {(event: object) => void} emit
 * @returns {Promise<ToolResult>}
 */
async function run(request, abort, emit) {
  const tool = byName.get(request.tool);
  if (!tool) {
    const known = [...byName.keys()].sort().join(', ');
    return failure('UNKNOWN_TOOL', `unknown tool '${request.tool}'; this skill has: ${known}`);
  }
  /** @type {unknown} */
  let args;
  try {
    args = JSON.parse(request.arguments_json || '{}');
  } catch (err) {
    return failure('INVALID_ARGUMENTS', `arguments are not valid JSON: ${String(err)}`);
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    return failure('INVALID_ARGUMENTS', 'arguments must be a JSON object');
  }
  if (!tool.validate(args)) {
    const problems = (tool.validate.errors || [])
      .map((e) => `${e.instancePath || 'arguments'}: ${e.message}`)
      .join('; ');
    return failure('INVALID_ARGUMENTS', `invalid arguments: ${problems}`);
  }
  const started = Date.now();
  try {
    const value = await tool.run(args, {
      signal: abort.signal,
      workspace: process.env.PODIUM_WORKSPACE || '/workspace',
      progress: (done, total, message) =>
        emit({ progress: { progress: done, total, message } }),
      log: (level, message) => emit({ log: { level, message } }),
    });
    if (typeof value === 'string') return { text: value };
    const json = JSON.stringify(value);
    return { text: json, structured_json: json };
  } catch (err) {
    if (abort.signal.aborted) {
      const reason = abort.signal.reason;
      if (reason instanceof Error && reason.name === 'TimeoutError') {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        return failure('TIMEOUT', `${tool.name} timed out after ${seconds}s`);
      }
      return failure('CANCELLED', `${tool.name} was cancelled`);
    }
    if (err instanceof ToolError) return failure('TOOL', err.message);
    const id = crypto.randomBytes(4).toString('hex');
    log('ERROR', `tool ${tool.name} failed (error id ${id}, call ${request.call_id}): ${err instanceof Error ? err.stack : String(err)}`);
    return failure('INTERNAL', `internal error in skill '${SKILL.name}' (error id ${id}; details are in the skill's log)`);
  }
}

/** @param {import('@grpc/grpc-js').ServerWritableStream<any, any>} call */
function invoke(call) {
  if (!authorised(call.metadata)) {
    log('WARN', 'refused a call without this skill\'s call token');
    call.emit('error', REFUSED);
    return;
  }
  const abort = new AbortController();
  inFlight.add(abort);
  let done = false;
  const emit = (/** @type {object} */ event) => {
    if (!done && !call.cancelled) call.write(event);
  };
  call.on('cancelled', () => abort.abort(new Error('cancelled by the client')));
  const deadline = Number(call.request.deadline_unix_ms || 0);
  const timer = deadline
    ? setTimeout(
        () => abort.abort(new DOMException('deadline passed', 'TimeoutError')),
        Math.max(0, deadline - Date.now()),
      )
    : undefined;
  run(call.request, abort, emit).then((result) => {
    clearTimeout(timer);
    inFlight.delete(abort);
    done = true;
    if (call.cancelled) return; // the client is gone: nothing to tell it
    call.write({ result });
    call.end();
  });
}

function main() {
  const socket = process.env.PODIUM_SKILL_SOCKET;
  if (!socket) {
    process.stderr.write('PODIUM_SKILL_SOCKET is not set: the socket path to serve on\n');
    process.exit(2);
  }
  const definition = protoLoader.loadSync(protoPath(), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const proto = /** @type {any} */ (grpc.loadPackageDefinition(definition));
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  server.addService(proto.podium.skill.v1.Skill.service, {
    Describe: (/** @type {any} */ call, /** @type {grpc.sendUnaryData<any>} */ callback) => {
      if (!authorised(call.metadata)) {
        log('WARN', 'refused a call without this skill\'s call token');
        return callback(REFUSED);
      }
      return callback(null, describe());
    },
    Invoke: invoke,
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);

  fs.mkdirSync(path.dirname(socket), { recursive: true });
  fs.rmSync(socket, { force: true });
  server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      log('ERROR', `cannot serve on ${socket}: ${err.message}`);
      process.exit(1);
    }
    health.setStatus('', 'SERVING');
    health.setStatus(SERVICE, 'SERVING');
    log('INFO', `serving on ${socket} (${tools.length} tools)`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    health.setStatus('', 'NOT_SERVING');
    health.setStatus(SERVICE, 'NOT_SERVING');
    const finish = () => {
      fs.rmSync(socket, { force: true });
      log('INFO', 'stopped');
      process.exit(0);
    };
    const force = setTimeout(() => {
      for (const abort of inFlight) abort.abort(new Error('the skill is stopping'));
      server.forceShutdown();
      setImmediate(finish);
    }, STOP_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      finish();
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { describe, run, SKILL };
