// @ts-check
'use strict';
/**
 * The skill's tools: plain async functions with a JSON Schema each. Arguments are checked
 * against the schema (ajv) before a tool runs; a ToolError is shown to the model as is.
 */
const fs = require('node:fs/promises');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const Ajv = require('ajv').default;

/** The model sees a ToolError's message as the tool's error. */
class ToolError extends Error {}

const skill = {
  name: 'typescript-example',
  version: '0.1.0',
  instructions:
    'Text and file statistics. `text_stats` counts lines, words and characters of a text; ' +
    '`file_stats` does the same for a file in the workspace; `count_slowly` counts with ' +
    'progress (a demonstration of a long call).',
};

/**
 * @typedef {{read_only: boolean, destructive: boolean, idempotent: boolean, open_world: boolean}} Annotations
 * @typedef {{
 *   signal: AbortSignal,
 *   workspace: string,
 *   progress: (done: number, total: number, message: string) => void,
 *   log: (level: string, message: string) => void,
 * }} CallContext
 * @typedef {{
 *   name: string,
 *   description: string,
 *   inputSchema: object,
 *   annotations: Annotations,
 *   validate: import('ajv').ValidateFunction,
 *   run: (args: any, ctx: CallContext) => Promise<string | object>,
 * }} Tool
 */

const READ_ONLY = { read_only: true, destructive: false, idempotent: true, open_world: false };
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });

/** @param {string} text */
function stats(text) {
  return {
    lines: text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0),
    words: (text.match(/\S+/g) || []).length,
    characters: [...text].length,
  };
}

/**
 * A path inside the workspace, or a ToolError: no absolute paths, no `..` out of it, no
 * symlink that leads out of it.
 * @param {string} workspace @param {string} relative
 */
async function inside(workspace, relative) {
  if (path.isAbsolute(relative)) throw new ToolError(`path must be relative to the workspace: ${relative}`);
  const root = await fs.realpath(workspace);
  const target = path.resolve(root, relative);
  let real;
  try {
    real = await fs.realpath(target);
  } catch {
    throw new ToolError(`no such file in the workspace: ${relative}`);
  }
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw new ToolError(`path leaves the workspace: ${relative}`);
  }
  return real;
}

/** @type {Omit<Tool, 'validate'>[]} */
const definitions = [
  {
    name: 'text_stats',
    description: 'Count the lines, words and characters of a text.',
    inputSchema: {
      type: 'object',
      properties: { text: { type: 'string', maxLength: 1000000, description: 'The text.' } },
      required: ['text'],
      additionalProperties: false,
    },
    annotations: READ_ONLY,
    run: async ({ text }) => stats(text),
  },
  {
    name: 'file_stats',
    description: 'Count the lines, words and characters of a file in the workspace.',
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', minLength: 1, description: 'File path, relative to the workspace.' },
      },
      required: ['path'],
      additionalProperties: false,
    },
    annotations: READ_ONLY,
    run: async ({ path: relative }, ctx) => {
      const file = await inside(ctx.workspace, relative);
      const info = await fs.stat(file);
      if (!info.isFile()) throw new ToolError(`not a file: ${relative}`);
      if (info.size > 10_000_000) throw new ToolError(`file is larger than 10 MB: ${relative}`);
      return { path: relative, bytes: info.size, ...stats(await fs.readFile(file, 'utf8')) };
    },
  },
  {
    name: 'count_slowly',
    description:
      'Count from 1 to `to`, waiting `interval_ms` between numbers and reporting progress. ' +
      'A demonstration of a long call that can be cancelled.',
    inputSchema: {
      type: 'object',
      properties: {
        to: { type: 'integer', minimum: 1, maximum: 100, description: 'Last number.' },
        interval_ms: {
          type: 'integer',
          minimum: 0,
          maximum: 2000,
          default: 100,
          description: 'Pause between numbers, in milliseconds.',
        },
      },
      required: ['to'],
      additionalProperties: false,
    },
    annotations: READ_ONLY,
    run: async ({ to, interval_ms: interval }, ctx) => {
      for (let i = 1; i <= to; i += 1) {
        await sleep(interval, undefined, { signal: ctx.signal }); // rejects when aborted
        ctx.progress(i, to, `counted ${i}`);
      }
      return `counted to ${to}`;
    },
  },
];

/** @type {Tool[]} */
const tools = definitions.map((t) => ({ ...t, validate: ajv.compile(t.inputSchema) }));

module.exports = { skill, tools, ToolError, stats };
