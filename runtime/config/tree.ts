// Supervision-tree files (YAML or JSON) parsed into frozen, defaulted specs.
//
// Read top to bottom like OTP's supervisor.erl: the types, the defaults, the
// API, then the supervisor flags, the child specs, and one small validator per
// field followed by the checks that combine fields. Where DESIGN.md is silent
// the rules are OTP's (check_flags/1 and check_childspec/2 in supervisor.erl).
//
// Everything is checked here, at the boundary, so the supervisor never sees a
// half-valid spec: it can trust every field and carries no validation of its
// own. Every failure is a SpecError whose message is one line,
//
//   <file>:<line>: <path>: <problem> (got <value>); <fix>
//
// and whose details carry {file, line, path, value} for callers that format
// errors themselves. Lines come from the YAML AST (JSON is parsed as YAML for
// the same reason), so a mistake deep in a nested supervisor still names the
// line to edit.

import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { SpecError } from '../errors.js';
import { parseDuration } from './duration.js';
import { locateJsonError } from './json-syntax.js';

// ---------------------------------------------------------------------------
// Types (a contract: the supervisor and the CLI import these names)
// ---------------------------------------------------------------------------

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Shutdown = { kind: 'brutal_kill' } | { kind: 'timeout'; ms: number } | { kind: 'infinity' };
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';

export interface WorkerChildSpec {
  readonly kind: 'worker';
  readonly id: string;
  /** Absolute path, resolved against the tree file's directory. */
  readonly script: string;
  readonly args: readonly unknown[];
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  /** Registered name, unique in the whole tree. */
  readonly name?: string;
  readonly significant: boolean;
  /** Line of the child entry in the tree file, for later runtime errors. */
  readonly line?: number;
}

export interface SupervisorChildSpec {
  readonly kind: 'supervisor';
  readonly id: string;
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly name?: string;
  readonly significant: boolean;
  readonly spec: SupervisorSpec;
  readonly line?: number;
}

export type ChildSpec = WorkerChildSpec | SupervisorChildSpec;

export interface SupervisorSpec {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly periodMs: number;
  readonly autoShutdown: AutoShutdown;
  readonly children: readonly ChildSpec[];
  /** Absolute path of the tree file, so a journaled tree does not depend on the cwd. */
  readonly file: string;
  /** The root's optional `id` (only the root has one; a nested supervisor's id is its child entry's). */
  readonly id?: string;
}

// ---------------------------------------------------------------------------
// Defaults (OTP's, except period: OTP counts seconds, we count milliseconds)
// ---------------------------------------------------------------------------

const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'];
const RESTART_TYPES: readonly RestartType[] = ['permanent', 'transient', 'temporary'];
const AUTO_SHUTDOWNS: readonly AutoShutdown[] = ['never', 'any_significant', 'all_significant'];

const DEFAULT_STRATEGY: Strategy = 'one_for_one';
const DEFAULT_INTENSITY = 1;
const DEFAULT_PERIOD_MS = 5_000;
const DEFAULT_AUTO_SHUTDOWN: AutoShutdown = 'never';
const DEFAULT_RESTART: RestartType = 'permanent';
// OTP gives a worker 5 s to stop, and a supervisor all the time its own
// children need (infinity), so a subtree is never cut short halfway down.
const WORKER_SHUTDOWN: Shutdown = Object.freeze({ kind: 'timeout', ms: 5_000 });
const SUPERVISOR_SHUTDOWN: Shutdown = Object.freeze({ kind: 'infinity' });
const BRUTAL_KILL: Shutdown = Object.freeze({ kind: 'brutal_kill' });

const SUPERVISOR_KEYS = ['strategy', 'intensity', 'period', 'auto_shutdown', 'children'] as const;
const ROOT_KEYS = ['id', ...SUPERVISOR_KEYS] as const;
const CHILD_KEYS = ['id', 'script', 'args', 'supervisor', 'restart', 'shutdown', 'name', 'significant'] as const;

// Keys people carry over from OTP, Elixir or other tools. An unknown-key error
// for one of these says what to write instead rather than only listing keys.
const KEY_HINTS: Readonly<Record<string, string>> = {
  max_restarts: 'use intensity (the most restarts allowed within period)',
  max_seconds: 'use period (a duration such as 5s)',
  period_ms: 'use period (a duration such as 5s or 5000)',
  autoShutdown: 'use auto_shutdown',
  auto_shutdown: 'auto_shutdown is a supervisor flag; set it on the enclosing supervisor',
  type: 'the child type follows from the keys: script for a worker, supervisor for a nested supervisor',
  start: 'use script (a path to the module) and args',
  modules: 'not needed: script names the module',
  '<<': 'YAML merge keys are not supported; write the keys out or use an alias for the whole value',
  id: 'a nested supervisor takes its id from its child entry; move id there',
  name: 'registered names belong on child entries',
  args: 'args applies only to workers (children with script)',
};

// ---------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------

/** Read and parse a tree file. A missing or unreadable file is a SpecError naming it. */
export function parseTreeFile(path: string): SupervisorSpec {
  formatOf(path); // a wrong extension is reported before touching the disk
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw fileError(
      path,
      `cannot read tree file (${code})`,
      resolve(path),
      'check the path and its permissions',
      err,
    );
  }
  return parseTreeText(text, path);
}

/**
 * Parse tree text. `file` names the file in messages, its extension picks the
 * format and its directory is where relative script paths resolve.
 */
export function parseTreeText(text: string, file: string): SupervisorSpec {
  const format = formatOf(file);
  // A byte-order mark is legal in YAML but not for JSON.parse; it carries nothing.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (format === 'json') checkJson(source, file);

  const lines = new LineCounter();
  // prettyErrors off: its multi-line excerpts would break the one-line rule.
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  // Warnings (an unknown tag, say) are errors here: a value YAML could not
  // resolve would otherwise reach the supervisor as a silent string.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const line = lines.linePos(problem.pos[0]).line;
    // The text of the line stands in for "the value": the parser has no node to show.
    const text = problem.pos[0] < source.length ? source.split('\n')[line - 1]!.trim() : undefined;
    const got = text === undefined ? 'end of file' : show(text);
    throw new SpecError(`${file}:${line}: invalid YAML: ${oneLine(problem.message)} (got ${got}); fix the syntax at that line`, {
      file,
      line,
      value: text,
      cause: problem,
    });
  }

  const absFile = resolve(file);
  const ctx: Ctx = { file, absFile, dir: dirname(absFile), doc, lines, names: new Map(), open: new Set() };
  const root = doc.contents;
  const at: At = { line: root === null ? 1 : lineOf(ctx, root, 1), path: '' };
  return supervisorSpec(ctx, root, at, ROOT_KEYS);
}

// ---------------------------------------------------------------------------
// Supervisor flags
// ---------------------------------------------------------------------------

function supervisorSpec(ctx: Ctx, node: YamlNode | null, at: At, keys: readonly string[]): SupervisorSpec {
  return enter(ctx, node, () => supervisorFlags(ctx, node, at, keys));
}

function supervisorFlags(ctx: Ctx, node: YamlNode | null, at: At, keys: readonly string[]): SupervisorSpec {
  const f = fieldsOf(ctx, node, at, keys, 'supervisor settings (strategy, intensity, period, auto_shutdown, children)');
  const id = f.has('id') ? idValue(ctx, f.get('id')!) : undefined;
  const strategy = oneOf(ctx, f.get('strategy'), STRATEGIES, 'strategy', DEFAULT_STRATEGY);
  const intensity = intensityOf(ctx, f.get('intensity'));
  const periodMs = periodOf(ctx, f.get('period'));
  const autoShutdown = oneOf(ctx, f.get('auto_shutdown'), AUTO_SHUTDOWNS, 'auto_shutdown', DEFAULT_AUTO_SHUTDOWN);
  // OTP rejects this pair: a dynamic child set has no fixed membership for
  // "any/all significant children ended" to be judged against.
  if (strategy === 'simple_one_for_one' && autoShutdown !== 'never') {
    fail(ctx, f.get('auto_shutdown')!, `simple_one_for_one does not support auto_shutdown ${autoShutdown}`, autoShutdown,
      'use auto_shutdown: never or another strategy');
  }
  const childrenField = f.get('children') ?? missing(ctx, at, 'children', 'add children: [] or a list of child specs');
  const children = childrenOf(ctx, childrenField, strategy, autoShutdown);

  const spec: SupervisorSpec = { strategy, intensity, periodMs, autoShutdown, children, file: ctx.absFile };
  return Object.freeze(id === undefined ? spec : { ...spec, id });
}

function intensityOf(ctx: Ctx, f: Field | undefined): number {
  if (f === undefined) return DEFAULT_INTENSITY;
  const v = valueOf(ctx, f);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  return fail(ctx, f, 'intensity must be a non-negative integer', v,
    'write the most restarts allowed within period, e.g. intensity: 3 (0: the first failure shuts the supervisor down)');
}

function periodOf(ctx: Ctx, f: Field | undefined): number {
  if (f === undefined) return DEFAULT_PERIOD_MS;
  const ms = durationOf(ctx, f);
  // OTP requires Period > 0: a zero window would make intensity meaningless.
  if (ms > 0) return ms;
  return fail(ctx, f, 'period must be longer than 0 ms', valueOf(ctx, f), 'write a positive duration, e.g. period: 5s');
}

function childrenOf(ctx: Ctx, f: Field, strategy: Strategy, autoShutdown: AutoShutdown): readonly ChildSpec[] {
  const node = f.node;
  if (!isSeq(node)) {
    return fail(ctx, f, 'children must be a list of child specs', valueOf(ctx, f),
      'write children: [] or a list of "- id: ..." entries');
  }
  const items = node.items as readonly (YamlNode | null)[];
  // simple_one_for_one holds one template; real children are added at run
  // time with their own args, so a second static child has no meaning.
  if (strategy === 'simple_one_for_one' && items.length !== 1) {
    const extra = items[1] ?? null;
    const where = extra === null ? f : { line: lineOf(ctx, extra, f.line), path: `${f.path}[1]` };
    fail(ctx, where, 'simple_one_for_one takes exactly one child, the template for dynamic children',
      new Noun(`${items.length} children`), 'keep one child here and put static children under another supervisor');
  }
  return enter(ctx, node, () => {
    const ids = new Map<string, At>();
    const children = items.map((item, i) => {
      const at: At = { line: lineOf(ctx, item, f.line), path: `${f.path}[${i}]` };
      return childSpec(ctx, deref(ctx, item, at), at, ids, strategy, autoShutdown);
    });
    return Object.freeze(children);
  });
}

// ---------------------------------------------------------------------------
// Child specs
// ---------------------------------------------------------------------------

function childSpec(
  ctx: Ctx,
  node: YamlNode | null,
  at: At,
  siblingIds: Map<string, At>,
  strategy: Strategy,
  autoShutdown: AutoShutdown,
): ChildSpec {
  return enter(ctx, node, () => {
    const f = fieldsOf(ctx, node, at, CHILD_KEYS, 'child settings (id, script or supervisor, ...)');

    // The kind follows from the keys, as OTP's `type` would; both or neither is ambiguous.
    const script = f.get('script');
    const nested = f.get('supervisor');
    if (script !== undefined && nested !== undefined) {
      fail(ctx, nested, 'a child is a worker (script) or a supervisor (supervisor), not both', new Noun('script and supervisor'),
        'keep one of the two keys');
    }
    if (script === undefined && nested === undefined) {
      fail(ctx, at, 'a child needs script (a worker) or supervisor (a nested supervisor)', undefined,
        'add script: ./worker.js or supervisor: { children: [...] }');
    }
    const args = f.get('args');
    if (nested !== undefined && args !== undefined) {
      fail(ctx, args, 'args applies only to workers', valueOf(ctx, args), 'move args to the workers of the nested supervisor');
    }

    const id = idOf(ctx, f.get('id') ?? missing(ctx, at, 'id', 'give every child an id, e.g. id: inventory'), at, siblingIds);
    const restart = oneOf(ctx, f.get('restart'), RESTART_TYPES, 'restart type', DEFAULT_RESTART);
    const significant = significantOf(ctx, f.get('significant'), restart, autoShutdown);
    const shutdown = shutdownOf(ctx, f.get('shutdown'), script !== undefined ? WORKER_SHUTDOWN : SUPERVISOR_SHUTDOWN);
    const name = nameOf(ctx, f.get('name'), at, strategy);
    const tail = { restart, shutdown, ...(name === undefined ? {} : { name }), significant, line: at.line };

    if (script !== undefined) {
      const worker: WorkerChildSpec = { kind: 'worker', id, script: scriptOf(ctx, script), args: argsOf(ctx, args), ...tail };
      return Object.freeze(worker);
    }
    const spec = supervisorSpec(ctx, nested!.node, nested!, SUPERVISOR_KEYS);
    const supervisor: SupervisorChildSpec = { kind: 'supervisor', id, ...tail, spec };
    return Object.freeze(supervisor);
  });
}

function idOf(ctx: Ctx, f: Field, child: At, siblingIds: Map<string, At>): string {
  const id = idValue(ctx, f);
  const first = siblingIds.get(id);
  // OTP's duplicate_child_name: restarts and `runtime ps` address children by id.
  if (first !== undefined) {
    fail(ctx, f, `duplicate id, already used by ${first.path} (line ${first.line})`, id,
      'ids must be unique among the children of one supervisor');
  }
  siblingIds.set(id, child);
  return id;
}

function idValue(ctx: Ctx, f: Field): string {
  const v = valueOf(ctx, f);
  if (typeof v === 'string' && v.trim() !== '') return v;
  return fail(ctx, f, 'id must be a non-empty string', v, 'write e.g. id: inventory (quote numbers: id: "1")');
}

function nameOf(ctx: Ctx, f: Field | undefined, child: At, strategy: Strategy): string | undefined {
  if (f === undefined) return undefined;
  const v = valueOf(ctx, f);
  // Every dynamic child is started from the template: one name cannot belong to all of them.
  if (strategy === 'simple_one_for_one') {
    fail(ctx, f, 'the simple_one_for_one template cannot have a registered name', v,
      'remove name; dynamic children can register themselves with ctx.register');
  }
  // Whitespace would make the name unusable in `runtime send <name>` and /call/<name>.
  if (typeof v !== 'string' || v === '' || /\s/.test(v)) {
    fail(ctx, f, 'name must be a non-empty string without spaces', v, 'write e.g. name: inventory');
  }
  const first = ctx.names.get(v);
  // Names are node-wide, so uniqueness is tree-wide, not per supervisor.
  if (first !== undefined) {
    fail(ctx, f, `registered name already used by ${first.path} (line ${first.line})`, v,
      'registered names must be unique in the whole tree');
  }
  ctx.names.set(v, child);
  return v;
}

function significantOf(ctx: Ctx, f: Field | undefined, restart: RestartType, autoShutdown: AutoShutdown): boolean {
  if (f === undefined) return false;
  const v = valueOf(ctx, f);
  if (typeof v !== 'boolean') return fail(ctx, f, 'significant must be true or false', v, 'write significant: true or leave it out');
  // OTP's bad_combination rules. Significant means "its exit for good may
  // shut the supervisor down": a permanent child is always restarted, so it
  // never exits for good, and auto_shutdown: never ignores significance.
  if (v && restart === 'permanent') {
    fail(ctx, f, 'a permanent child cannot be significant', v, 'set restart to transient or temporary, or drop significant');
  }
  if (v && autoShutdown === 'never') {
    fail(ctx, f, 'significant children need auto_shutdown on the enclosing supervisor', v,
      'set auto_shutdown: any_significant or all_significant on that supervisor, or drop significant');
  }
  return v;
}

function shutdownOf(ctx: Ctx, f: Field | undefined, fallback: Shutdown): Shutdown {
  if (f === undefined) return fallback;
  const v = valueOf(ctx, f);
  if (v === 'brutal_kill') return BRUTAL_KILL;
  if (v === 'infinity') return SUPERVISOR_SHUTDOWN;
  // OTP accepts 0 (stop at once but still send the shutdown signal), so do we.
  return Object.freeze({ kind: 'timeout', ms: durationOf(ctx, f, 'brutal_kill, infinity, ') });
}

function scriptOf(ctx: Ctx, f: Field): string {
  const v = valueOf(ctx, f);
  if (typeof v !== 'string' || v.trim() === '') {
    return fail(ctx, f, 'script must be a non-empty path', v, 'write e.g. script: ./worker.js (relative to the tree file)');
  }
  const abs = resolve(ctx.dir, v);
  // Checked now rather than at first start: a typo should stop `runtime start`,
  // not surface as a crash loop that exhausts the supervisor's intensity.
  let stat;
  try {
    stat = statSync(abs, { throwIfNoEntry: false });
  } catch (err) {
    return fail(ctx, f, `cannot read script ${abs} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, v,
      'check the permissions of the path', err);
  }
  if (stat === undefined) {
    return fail(ctx, f, `script not found: ${abs}`, v, `fix the path; relative paths resolve against ${ctx.dir}`);
  }
  if (!stat.isFile()) return fail(ctx, f, `script is not a file: ${abs}`, v, 'point script at a .js module');
  return abs;
}

function argsOf(ctx: Ctx, f: Field | undefined): readonly unknown[] {
  if (f === undefined) return EMPTY_ARGS;
  if (!isSeq(f.node)) return fail(ctx, f, 'args must be a list', valueOf(ctx, f), 'write e.g. args: [42, "eu"]');
  const args = valueOf(ctx, f);
  if (args instanceof Noun) return fail(ctx, f, 'args cannot be expanded', args, 'write the values out instead of nesting aliases');
  if (!Array.isArray(args)) return fail(ctx, f, 'args must be a list', args, 'write e.g. args: [42, "eu"]');
  // An alias can make a list contain itself; the journal and msgpack cannot
  // hold a cycle, so reject it here with a line rather than hang later.
  if (hasCycle(args, new Set())) {
    return fail(ctx, f, 'args refer to themselves through a YAML alias', new Noun('a cyclic list'), 'expand the alias into plain values');
  }
  return deepFreeze(args);
}

const EMPTY_ARGS: readonly unknown[] = Object.freeze([]);

// ---------------------------------------------------------------------------
// Shared validators
// ---------------------------------------------------------------------------

function oneOf<T extends string>(ctx: Ctx, f: Field | undefined, allowed: readonly T[], what: string, fallback: T): T {
  if (f === undefined) return fallback;
  const v = valueOf(ctx, f);
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  return fail(ctx, f, typeof v === 'string' ? `unknown ${what}` : `${what} must be a string`, v, `use one of ${allowed.join(', ')}`);
}

function durationOf(ctx: Ctx, f: Field, alternatives = ''): number {
  const v = valueOf(ctx, f);
  try {
    return parseDuration(v, f.path);
  } catch (err) {
    // parseDuration knows the grammar but not the file or line; rethrow with both.
    return fail(ctx, f, 'not a duration', v, `use ${alternatives}milliseconds (5000) or a string like '250ms', '5s', '1h30m'`, err);
  }
}

// ---------------------------------------------------------------------------
// Walking the YAML AST
// ---------------------------------------------------------------------------

interface Ctx {
  readonly file: string; // as the caller wrote it, for messages
  readonly absFile: string;
  readonly dir: string; // where relative script paths resolve
  readonly doc: Document;
  readonly lines: LineCounter;
  readonly names: Map<string, At>; // registered name -> first child using it
  readonly open: Set<YamlNode>; // collections being walked, to catch alias cycles
}

/** Where a value sits: the line to edit and the path to name. */
interface At {
  readonly line: number;
  readonly path: string;
}

/** One key of a mapping, its value node resolved through aliases. */
interface Field extends At {
  readonly node: YamlNode | null;
}

/** Check `node` is a mapping whose keys are all in `allowed`; return its fields by key. */
function fieldsOf(ctx: Ctx, node: YamlNode | null, at: At, allowed: readonly string[], what: string): Map<string, Field> {
  if (!isMap(node)) return fail(ctx, at, `expected a mapping of ${what}`, jsOf(ctx, node), 'write key: value lines');
  const fields = new Map<string, Field>();
  for (const pair of node.items) {
    const keyNode = pair.key as YamlNode | null;
    const keyLine = lineOf(ctx, keyNode, at.line);
    if (!isScalar(keyNode)) {
      fail(ctx, { line: keyLine, path: at.path }, 'keys must be plain names', jsOf(ctx, keyNode), `use one of ${allowed.join(', ')}`);
    }
    const raw = keyNode.value;
    const key = typeof raw === 'symbol' ? (raw.description ?? String(raw)) : String(raw);
    const path = join(at.path, key);
    if (!allowed.includes(key)) {
      // hasOwn, not a plain lookup: a key such as "constructor" must not find Object's.
      const hint = Object.hasOwn(KEY_HINTS, key) ? KEY_HINTS[key] : suggest(key, allowed);
      fail(ctx, { line: keyLine, path }, 'unknown key', key, `${hint === undefined ? '' : `${hint}; `}allowed keys: ${allowed.join(', ')}`);
    }
    const valueNode = (pair.value as YamlNode | null) ?? null;
    const fieldAt: At = { line: lineOf(ctx, valueNode, keyLine), path };
    fields.set(key, { ...fieldAt, node: deref(ctx, valueNode, fieldAt) });
  }
  return fields;
}

/** Follow an alias to its anchor, refusing one that points at an enclosing collection. */
function deref(ctx: Ctx, node: YamlNode | null, at: At): YamlNode | null {
  if (!isAlias(node)) return node;
  const target = node.resolve(ctx.doc) ?? null;
  if (target !== null && ctx.open.has(target)) {
    fail(ctx, at, `alias *${node.source} refers to an enclosing entry, making the tree infinite`, `*${node.source}`,
      'point the alias at a sibling or separate anchor');
  }
  return target;
}

/** Run `fn` with `node` marked as being walked, so aliases back to it are caught. */
function enter<T>(ctx: Ctx, node: YamlNode | null, fn: () => T): T {
  if (node === null) return fn();
  ctx.open.add(node);
  try {
    return fn();
  } finally {
    ctx.open.delete(node);
  }
}

function valueOf(ctx: Ctx, f: Field): unknown {
  return jsOf(ctx, f.node);
}

function jsOf(ctx: Ctx, node: YamlNode | null): unknown {
  if (node === null) return null;
  if (isScalar(node)) return node.value;
  try {
    return node.toJS(ctx.doc);
  } catch {
    // yaml refuses to expand aliases past maxAliasCount (the "billion laughs"
    // guard); that is a bad value to report, not a crash.
    return new Noun('a collection whose aliases expand too far');
  }
}

function lineOf(ctx: Ctx, node: YamlNode | null, fallback: number): number {
  const start = node?.range?.[0];
  return start === undefined ? fallback : ctx.lines.linePos(start).line;
}

function missing(ctx: Ctx, at: At, key: string, fix: string): never {
  return fail(ctx, { line: at.line, path: join(at.path, key) }, `missing required key ${key}`, undefined, fix);
}

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

function formatOf(file: string): 'yaml' | 'json' {
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.json') return 'json';
  throw fileError(file, `unsupported tree file extension ${JSON.stringify(ext)}`, file, 'name the file .yaml, .yml or .json');
}

// YAML accepts JSON and much more (comments, trailing commas, bare words), so a
// .json file is held to JSON itself: JSON.parse decides, and since its
// messages carry no line (and sometimes no position) a small scanner finds the
// offending character.
function checkJson(text: string, file: string): void {
  try {
    JSON.parse(text);
    return;
  } catch (err) {
    const { at, problem } = locateJsonError(text) ?? { at: 0, problem: oneLine((err as Error).message) };
    const line = lineAt(text, at);
    const got = at < text.length ? JSON.stringify(text[at]) : 'end of file';
    throw new SpecError(`${file}:${line}: invalid JSON: ${problem} (got ${got}); fix the syntax at that line, or name the file .yaml to use YAML`, {
      file,
      line,
      value: text[at],
      cause: err,
    });
  }
}

// ---------------------------------------------------------------------------
// Errors and small helpers
// ---------------------------------------------------------------------------

function fail(ctx: Ctx, at: At, problem: string, value: unknown, fix: string, cause?: unknown): never {
  const where = at.path === '' ? '(top level)' : at.path;
  const message = `${ctx.file}:${at.line}: ${where}: ${problem} (got ${show(value)}); ${fix}`;
  throw new SpecError(message, {
    file: ctx.file,
    line: at.line,
    path: at.path,
    value: value instanceof Noun ? value.text : value,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** What was found, when it is a description ("2 children") rather than a value to quote. */
class Noun {
  constructor(readonly text: string) {}
}

/** An error about the file as a whole: no line or path to give. */
function fileError(file: string, problem: string, value: unknown, fix: string, cause?: unknown): SpecError {
  return new SpecError(`${file}: ${problem} (got ${show(value)}); ${fix}`, {
    file,
    value,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A value as it appears after "got": JSON-like, one line, short. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value instanceof Noun) return value.text;
  let text: string;
  try {
    text = typeof value === 'object' && value !== null ? JSON.stringify(value) : typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/** The allowed key closest to a typo (edit distance at most 2), as a hint. */
function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = editDistance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best === undefined ? undefined : `maybe you meant ${best}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

function hasCycle(value: unknown, stack: Set<object>): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (stack.has(value)) return true;
  stack.add(value);
  const cyclic = Object.values(value).some((v) => hasCycle(v, stack));
  stack.delete(value);
  return cyclic;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
