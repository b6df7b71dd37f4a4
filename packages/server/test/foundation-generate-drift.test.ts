import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const repoRoot = resolve(import.meta.dirname, '../../..');
const specPath = join(repoRoot, 'openapi.yaml');

/** Runs `scripts/generate.ts --check` against the committed tree with the given spec file. */
async function check(spec: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/generate.ts', '--check', '--spec', spec, '--out-root', repoRoot],
      { cwd: repoRoot },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('generated bindings drift check', () => {
  it('passes for an identical copy of the spec and fails once a response schema changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmkeep-drift-'));
    const same = join(dir, 'same.yaml');
    await writeFile(same, await readFile(specPath));
    const passing = await check(same);
    expect(passing, passing.output).toMatchObject({ code: 0 });

    // Change what GET /health answers: a new required field in its response schema.
    const doc = parse(await readFile(specPath, 'utf8'));
    doc.components.schemas.Health.properties.uptime_s = { type: 'integer' };
    doc.components.schemas.Health.required.push('uptime_s');
    const changed = join(dir, 'changed.yaml');
    await writeFile(changed, stringify(doc));
    const failing = await check(changed);
    expect(failing.code).toBe(1);
    expect(failing.output).toContain('packages/api/src/generated/schema.gen.ts');
    expect(failing.output).toContain('npm run generate');
  }, 120_000);

  it('fails when the spec does not parse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmkeep-drift-'));
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'openapi: 3.1.0\npaths: {\n  unclosed: [\n');
    const result = await check(broken);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/generate:/);
  }, 60_000);
});
