// Supervision-tree parsing: defaults, formats, nesting, and one test per
// validation error. Errors are matched on `code`, `details.line` and
// `details.path` (the stable parts), plus the one-line shape of the message.
//
// Runs against the compiled output, like every other suite: build first with
// `npx tsc -p tsconfig.json`.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTreeFile, parseTreeText } from '../../dist/runtime/config/tree.js';
import type { SupervisorChildSpec, SupervisorSpec, WorkerChildSpec } from '../../dist/runtime/config/tree.js';
import { SpecError } from '../../dist/runtime/errors.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'beamline-tree-'));
  mkdirSync(join(dir, 'workers'));
  for (const script of ['worker.js', 'workers/db.js', 'workers/cache.js']) {
    writeFileSync(join(dir, script), 'export default async function (ctx) { return 1; }\n');
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Write a tree file into the temp dir and return its path. */
function tree(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function parse(name: string, text: string): SupervisorSpec {
  return parseTreeFile(tree(name, text));
}

/** The SpecError `fn` throws; fails the test when it throws nothing or something else. */
function specError(fn: () => unknown): SpecError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a SpecError, but parsing succeeded').toBeInstanceOf(SpecError);
  const err = thrown as SpecError;
  expect(err.code).toBe('BL_SPEC_INVALID');
  expect(err.message).not.toContain('\n');
  return err;
}

/** Parse `text` as file `name`, expect a SpecError at `line` and `path`, return it. */
function rejects(name: string, text: string, line: number, path: string): SpecError {
  const file = tree(name, text);
  const err = specError(() => parseTreeFile(file));
  expect(err.details).toMatchObject({ file, line, path });
  // The documented one-line shape: <file>:<line>: <path>: <problem> (got <value>); <fix>
  expect(err.message.startsWith(`${file}:${line}: ${path === '' ? '(top level)' : path}: `)).toBe(true);
  expect(err.message).toMatch(/ \(got .+\); \S/);
  return err;
}

const worker = (spec: SupervisorSpec, i: number) => spec.children[i] as WorkerChildSpec;
const nested = (spec: SupervisorSpec, i: number) => spec.children[i] as SupervisorChildSpec;

describe('defaults', () => {
  it('fills OTP defaults for the supervisor and a worker', () => {
    const file = tree('minimal.yaml', 'children:\n  - id: a\n    script: ./worker.js\n');
    const spec = parseTreeFile(file);
    expect(spec).toEqual({
      strategy: 'one_for_one',
      intensity: 1,
      periodMs: 5000,
      autoShutdown: 'never',
      file,
      children: [
        {
          kind: 'worker',
          id: 'a',
          script: join(dir, 'worker.js'),
          args: [],
          restart: 'permanent',
          shutdown: { kind: 'timeout', ms: 5000 },
          significant: false,
          line: 2,
        },
      ],
    });
    expect('name' in spec.children[0]!).toBe(false);
    expect('id' in spec).toBe(false);
  });

  it('gives a supervisor child infinity to shut down, and its spec the same defaults', () => {
    const spec = parse('sup-default.yaml', 'children:\n  - id: s\n    supervisor:\n      children: []\n');
    const child = nested(spec, 0);
    expect(child.kind).toBe('supervisor');
    expect(child.shutdown).toEqual({ kind: 'infinity' });
    expect(child.restart).toBe('permanent');
    expect(child.significant).toBe(false);
    expect(child.spec).toMatchObject({ strategy: 'one_for_one', intensity: 1, periodMs: 5000, autoShutdown: 'never', children: [] });
  });

  it('accepts an empty children list and an id on the root', () => {
    const spec = parse('empty.yaml', 'id: root\nchildren: []\n');
    expect(spec.children).toEqual([]);
    expect(spec.id).toBe('root');
  });

  it('returns deeply frozen specs', () => {
    const spec = parse(
      'frozen.yaml',
      'children:\n  - id: a\n    script: worker.js\n    args: [{deep: [1]}]\n  - id: s\n    supervisor: {children: [{id: b, script: worker.js}]}\n',
    );
    const a = worker(spec, 0);
    const s = nested(spec, 1);
    for (const value of [spec, spec.children, a, a.args, a.args[0], (a.args[0] as { deep: unknown }).deep, a.shutdown, s, s.spec, s.spec.children[0]]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
    // ESM test files are strict mode: writing to a frozen object throws.
    expect(() => (spec.children as unknown[]).push(1)).toThrow(TypeError);
    expect(() => ((a.args[0] as { deep: unknown[] }).deep.push(2))).toThrow(TypeError);
  });
});

// The same tree in both formats, so the JSON path is held to the YAML one.
const FULL_YAML = `# the whole vocabulary in one file
id: shop
strategy: rest_for_one
intensity: 3
period: 1h30m
auto_shutdown: any_significant
children:
  - id: inventory
    script: ./worker.js
    args: [42, {region: eu}, null, "7"]
    restart: permanent
    shutdown: 2s
    name: inventory
  - id: janitor
    script: workers/cache.js
    restart: temporary
    shutdown: brutal_kill
    significant: true
  - id: payments
    restart: transient
    shutdown: 10000
    name: payments_sup
    supervisor:
      strategy: simple_one_for_one
      intensity: 0
      period: 250ms
      children:
        - id: payment
          script: workers/db.js
          restart: transient
          shutdown: infinity
`;

const FULL_JSON = `{
  "id": "shop",
  "strategy": "rest_for_one",
  "intensity": 3,
  "period": "1h30m",
  "auto_shutdown": "any_significant",
  "children": [
    {"id": "inventory", "script": "./worker.js", "args": [42, {"region": "eu"}, null, "7"],
     "restart": "permanent", "shutdown": "2s", "name": "inventory"},
    {"id": "janitor", "script": "workers/cache.js", "restart": "temporary",
     "shutdown": "brutal_kill", "significant": true},
    {"id": "payments", "restart": "transient", "shutdown": 10000, "name": "payments_sup",
     "supervisor": {
       "strategy": "simple_one_for_one", "intensity": 0, "period": "250ms",
       "children": [{"id": "payment", "script": "workers/db.js", "restart": "transient", "shutdown": "infinity"}]
     }}
  ]
}
`;

/** A spec without what legitimately differs between two files: their names and lines. */
function withoutLocation(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLocation);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => k !== 'line' && k !== 'file')
      .map(([k, v]) => [k, withoutLocation(v)]),
  );
}

describe('a full tree', () => {
  it('parses every field from YAML', () => {
    const file = tree('full.yaml', FULL_YAML);
    const spec = parseTreeFile(file);
    expect(spec).toMatchObject({ id: 'shop', strategy: 'rest_for_one', intensity: 3, periodMs: 5_400_000, autoShutdown: 'any_significant', file });
    expect(worker(spec, 0)).toEqual({
      kind: 'worker',
      id: 'inventory',
      script: join(dir, 'worker.js'),
      args: [42, { region: 'eu' }, null, '7'],
      restart: 'permanent',
      shutdown: { kind: 'timeout', ms: 2000 },
      name: 'inventory',
      significant: false,
      line: 8,
    });
    expect(worker(spec, 1)).toMatchObject({
      id: 'janitor',
      script: join(dir, 'workers', 'cache.js'),
      restart: 'temporary',
      shutdown: { kind: 'brutal_kill' },
      significant: true,
      line: 14,
    });
    const payments = nested(spec, 2);
    expect(payments).toMatchObject({ kind: 'supervisor', id: 'payments', restart: 'transient', shutdown: { kind: 'timeout', ms: 10_000 }, name: 'payments_sup', line: 19 });
    expect(payments.spec).toMatchObject({ strategy: 'simple_one_for_one', intensity: 0, periodMs: 250, autoShutdown: 'never', file });
    expect(payments.spec.children[0]).toMatchObject({ kind: 'worker', id: 'payment', restart: 'transient', shutdown: { kind: 'infinity' }, line: 28 });
  });

  it('parses the same tree from JSON to the same spec', () => {
    const fromYaml = parseTreeFile(tree('same.yaml', FULL_YAML));
    const fromJson = parseTreeFile(tree('same.json', FULL_JSON));
    expect(fromJson.file).toBe(join(dir, 'same.json'));
    expect(worker(fromJson, 1).line).toBe(10); // JSON gets real lines too
    expect(withoutLocation(fromJson)).toEqual(withoutLocation(fromYaml));
  });

  it('parseTreeText resolves scripts against the directory of the named file', () => {
    const spec = parseTreeText('children: [{id: a, script: db.js}]', join(dir, 'workers', 'virtual.yml'));
    expect(worker(spec, 0).script).toBe(join(dir, 'workers', 'db.js'));
    expect(spec.file).toBe(join(dir, 'workers', 'virtual.yml'));
  });

  it('shares values through YAML anchors and aliases', () => {
    const spec = parse(
      'alias.yaml',
      'children:\n  - {id: a, script: worker.js, args: &shared [1, 2]}\n  - {id: b, script: worker.js, args: *shared}\n',
    );
    expect(worker(spec, 1).args).toEqual([1, 2]);
  });
});

describe('nested supervisors', () => {
  const NESTED = `children:
  - id: top
    supervisor:
      strategy: one_for_all
      children:
        - id: middle
          supervisor:
            strategy: rest_for_one
            children:
              - id: leaf
                script: workers/db.js
                name: leaf
`;

  it('parses three levels, resolving every script against the tree file', () => {
    const spec = parse('nested.yaml', NESTED);
    const top = nested(spec, 0);
    const middle = nested(top.spec, 0);
    const leaf = worker(middle.spec, 0);
    expect(top.spec.strategy).toBe('one_for_all');
    expect(middle.spec.strategy).toBe('rest_for_one');
    expect(leaf).toMatchObject({ id: 'leaf', name: 'leaf', script: join(dir, 'workers', 'db.js'), line: 10 });
  });

  it('names the full path of an error deep inside', () => {
    const err = rejects('nested-bad.yaml', NESTED.replace('name: leaf', 'shutdown: soon'), 12, 'children[0].supervisor.children[0].supervisor.children[0].shutdown');
    expect(err.details.value).toBe('soon');
  });

  it('rejects an alias that makes the tree contain itself', () => {
    rejects(
      'cycle.yaml',
      'children:\n  - id: s\n    supervisor: &s\n      children:\n        - id: again\n          supervisor: *s\n',
      6,
      'children[0].supervisor.children[0].supervisor',
    );
  });
});

describe('supervisor flag errors', () => {
  it('rejects an unknown strategy, listing the valid ones', () => {
    const err = rejects('strategy.yaml', 'strategy: one_for_none\nchildren: []\n', 1, 'strategy');
    expect(err.details.value).toBe('one_for_none');
    expect(err.message).toContain('one_for_one, one_for_all, rest_for_one, simple_one_for_one');
  });

  it.each([
    ['negative', '-1'],
    ['fractional', '1.5'],
    ['a string', '"3"'],
    ['a list', '[3]'],
  ])('rejects intensity that is %s', (_, value) => {
    rejects('intensity.yaml', `strategy: one_for_one\nintensity: ${value}\nchildren: []\n`, 2, 'intensity');
  });

  it('rejects a bad period duration and keeps the duration error as cause', () => {
    const err = rejects('period.yaml', 'children: []\nperiod: fast\n', 2, 'period');
    expect(err.details.value).toBe('fast');
    expect((err.cause as { code?: string }).code).toBe('BL_ARG_INVALID');
  });

  it('rejects a zero period, as OTP does', () => {
    rejects('period0.yaml', 'period: 0\nchildren: []\n', 1, 'period');
  });

  it('rejects an unknown auto_shutdown and auto_shutdown on simple_one_for_one', () => {
    rejects('auto.yaml', 'auto_shutdown: sometimes\nchildren: []\n', 1, 'auto_shutdown');
    rejects(
      'auto-sofo.yaml',
      'strategy: simple_one_for_one\nauto_shutdown: any_significant\nchildren: [{id: t, script: worker.js, restart: temporary}]\n',
      2,
      'auto_shutdown',
    );
  });

  it('requires children, as a list', () => {
    rejects('no-children.yaml', 'strategy: one_for_all\n', 1, 'children');
    rejects('children-map.yaml', 'children:\n  id: a\n', 2, 'children');
  });

  it('rejects a document that is not a mapping', () => {
    rejects('list.yaml', '- id: a\n', 1, '');
    rejects('empty-doc.yaml', '', 1, '');
  });
});

describe('unknown keys', () => {
  it('names a misspelt child key, suggests the near one and lists the allowed keys', () => {
    const err = rejects('typo.yaml', 'children:\n  - id: a\n    scirpt: worker.js\n', 3, 'children[0].scirpt');
    expect(err.details.value).toBe('scirpt');
    expect(err.message).toContain('maybe you meant script');
    expect(err.message).toContain('allowed keys: id, script, args, supervisor, restart, shutdown, name, significant');
  });

  it('gives the OTP-to-beamline fix for a top-level key', () => {
    const err = rejects('max-restarts.yaml', 'max_restarts: 3\nchildren: []\n', 1, 'max_restarts');
    expect(err.message).toContain('use intensity');
  });

  it('rejects keys inside a nested supervisor block, including name and id', () => {
    rejects('nested-name.yaml', 'children:\n  - id: s\n    supervisor:\n      name: x\n      children: []\n', 4, 'children[0].supervisor.name');
    rejects('nested-id.yaml', 'children:\n  - id: s\n    supervisor: {id: x, children: []}\n', 3, 'children[0].supervisor.id');
  });

  it('is not fooled by keys that exist on Object.prototype', () => {
    const err = rejects('proto.yaml', 'constructor: 1\nchildren: []\n', 1, 'constructor');
    expect(err.message).toContain('(got "constructor"); allowed keys: id, strategy,');
  });
});

describe('child errors', () => {
  it('rejects a missing script, naming the resolved file', () => {
    const err = rejects('missing-script.yaml', 'children:\n  - id: a\n    script: ./nope.js\n', 3, 'children[0].script');
    expect(err.message).toContain(join(dir, 'nope.js'));
    expect(err.details.value).toBe('./nope.js');
  });

  it('rejects a script that is a directory', () => {
    rejects('dir-script.yaml', 'children:\n  - id: a\n    script: workers\n', 3, 'children[0].script');
  });

  it('rejects a duplicate id among siblings, at the second one', () => {
    const err = rejects('dup-id.yaml', 'children:\n  - id: a\n    script: worker.js\n  - id: a\n    script: worker.js\n', 4, 'children[1].id');
    expect(err.message).toContain('children[0] (line 2)');
  });

  it('allows the same id under different supervisors', () => {
    const spec = parse('same-id.yaml', 'children:\n  - {id: a, script: worker.js}\n  - {id: s, supervisor: {children: [{id: a, script: worker.js}]}}\n');
    expect(nested(spec, 1).spec.children[0]!.id).toBe('a');
  });

  it('rejects a missing or non-string id', () => {
    rejects('no-id.yaml', 'children:\n  - script: worker.js\n', 2, 'children[0].id');
    rejects('num-id.yaml', 'children:\n  - id: 7\n    script: worker.js\n', 2, 'children[0].id');
  });

  it('rejects a bad shutdown duration', () => {
    const err = rejects('shutdown.yaml', 'children:\n  - id: a\n    script: worker.js\n    shutdown: 5 seconds\n', 4, 'children[0].shutdown');
    expect(err.message).toContain('brutal_kill, infinity');
  });

  it('rejects an unknown restart type', () => {
    rejects('restart.yaml', 'children:\n  - id: a\n    script: worker.js\n    restart: always\n', 4, 'children[0].restart');
  });

  it('rejects significant on a permanent child', () => {
    rejects(
      'sig-permanent.yaml',
      'auto_shutdown: any_significant\nchildren:\n  - id: a\n    script: worker.js\n    significant: true\n',
      5,
      'children[0].significant',
    );
  });

  it('rejects significant under auto_shutdown never', () => {
    const err = rejects('sig-never.yaml', 'children:\n  - id: a\n    script: worker.js\n    restart: transient\n    significant: true\n', 5, 'children[0].significant');
    expect(err.message).toContain('auto_shutdown');
  });

  it('rejects a non-boolean significant', () => {
    rejects('sig-yes.yaml', 'auto_shutdown: all_significant\nchildren:\n  - {id: a, script: worker.js, restart: temporary, significant: yes}\n', 3, 'children[0].significant');
  });

  it('rejects a child with both script and supervisor', () => {
    rejects('both.yaml', 'children:\n  - id: a\n    script: worker.js\n    supervisor:\n      children: []\n', 5, 'children[0].supervisor');
  });

  it('rejects a child with neither script nor supervisor', () => {
    rejects('neither.yaml', 'children:\n  - id: a\n    restart: temporary\n', 2, 'children[0]');
  });

  it('rejects args on a supervisor child and args that are not a list', () => {
    rejects('sup-args.yaml', 'children:\n  - id: s\n    args: [1]\n    supervisor: {children: []}\n', 3, 'children[0].args');
    rejects('args-map.yaml', 'children:\n  - id: a\n    script: worker.js\n    args: {x: 1}\n', 4, 'children[0].args');
  });

  it('rejects a duplicate registered name anywhere in the tree', () => {
    const err = rejects(
      'dup-name.yaml',
      'children:\n  - {id: a, script: worker.js, name: db}\n  - id: s\n    supervisor:\n      children:\n        - {id: b, script: worker.js, name: db}\n',
      6,
      'children[1].supervisor.children[0].name',
    );
    expect(err.message).toContain('children[0] (line 2)');
  });

  it('rejects a name with spaces', () => {
    rejects('name-space.yaml', 'children:\n  - {id: a, script: worker.js, name: "my db"}\n', 2, 'children[0].name');
  });
});

describe('simple_one_for_one', () => {
  it('accepts one template child, permanent included', () => {
    const spec = parse('sofo.yaml', 'strategy: simple_one_for_one\nchildren:\n  - {id: t, script: worker.js, args: [1]}\n');
    expect(worker(spec, 0)).toMatchObject({ id: 't', restart: 'permanent', args: [1] });
  });

  it('rejects two children, at the second', () => {
    const err = rejects('sofo-two.yaml', 'strategy: simple_one_for_one\nchildren:\n  - {id: a, script: worker.js}\n  - {id: b, script: worker.js}\n', 4, 'children[1]');
    expect(err.message).toContain('2 children');
  });

  it('rejects zero children', () => {
    rejects('sofo-none.yaml', 'strategy: simple_one_for_one\nchildren: []\n', 2, 'children');
  });

  it('rejects a registered name on the template', () => {
    rejects('sofo-name.yaml', 'strategy: simple_one_for_one\nchildren:\n  - id: t\n    script: worker.js\n    name: t\n', 5, 'children[0].name');
  });
});

describe('files and syntax', () => {
  it('rejects an extension that is not .yaml, .yml or .json', () => {
    const file = tree('tree.toml', 'children = []\n');
    for (const run of [() => parseTreeFile(file), () => parseTreeText('children: []', file)]) {
      const err = specError(run);
      expect(err.details.file).toBe(file);
      expect(err.details.line).toBeUndefined();
      expect(err.message).toContain('.yaml, .yml or .json');
    }
  });

  it('rejects a missing file, naming it', () => {
    const file = join(dir, 'absent.yaml');
    const err = specError(() => parseTreeFile(file));
    expect(err.details.file).toBe(file);
    expect(err.message.startsWith(`${file}: `)).toBe(true);
    expect(err.message).toContain('ENOENT');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('rejects a path that cannot be read as a file', () => {
    const file = join(dir, 'a-directory.yaml');
    mkdirSync(file);
    const err = specError(() => parseTreeFile(file));
    expect(err.details.file).toBe(file);
    expect(err.message).toContain('EISDIR');
  });

  it('reports a YAML syntax error with its line', () => {
    const file = tree('syntax.yaml', 'strategy: one_for_one\nintensity: 3\nperiod: 5s: 10\nchildren: []\n');
    const err = specError(() => parseTreeFile(file));
    expect(err.details).toMatchObject({ file, line: 3 });
    expect(err.message.startsWith(`${file}:3: invalid YAML: `)).toBe(true);
  });

  it('treats a YAML warning (an unknown tag) as an error with its line', () => {
    const err = specError(() => parse('tag.yaml', 'strategy: one_for_one\nchildren: !custom []\n'));
    expect(err.details.line).toBe(2);
    expect(err.message).toContain('invalid YAML');
  });

  it('reports a duplicate YAML key with its line', () => {
    const err = specError(() => parse('dup-key.yaml', 'strategy: one_for_one\nchildren: []\nstrategy: one_for_all\n'));
    expect(err.details.line).toBe(3);
  });

  it('reports a JSON syntax error (trailing comma) with its line', () => {
    const file = tree('trailing.json', '{\n  "children": [\n    {"id": "a", "script": "worker.js"},\n  ]\n}\n');
    const err = specError(() => parseTreeFile(file));
    expect(err.details).toMatchObject({ file, line: 4 });
    expect(err.message.startsWith(`${file}:4: invalid JSON: `)).toBe(true);
  });

  it('holds .json files to JSON, not YAML', () => {
    const err = specError(() => parse('yamlish.json', 'children: []\n'));
    expect(err.details.line).toBe(1);
    expect(err.message).toContain('invalid JSON');
  });

  it('reports a JSON validation error at the line of the value', () => {
    rejects('bad-value.json', '{\n  "children": [\n    {"id": "a",\n     "script": "worker.js",\n     "restart": "forever"}\n  ]\n}\n', 5, 'children[0].restart');
  });
});
