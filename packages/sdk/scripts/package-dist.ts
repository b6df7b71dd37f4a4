/**
 * Makes `dist/` an installable package after `tsc` has compiled into it: a `package.json` whose
 * exports are the built JS and `.d.ts`, and the SDK's README. The workspace's own manifest keeps
 * pointing at `src/` so the repository runs from source; npm does not apply `publishConfig` to
 * `exports`, so the installable manifest is written here instead.
 *
 *   npm run build -w @vmkeep/sdk   →   npm install /path/to/vmkeep/packages/sdk/dist
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';

const root = new URL('../', import.meta.url);
const source = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as {
  name: string;
  version: string;
  description: string;
  license?: string;
  dependencies: Record<string, string>;
};

const manifest = {
  name: source.name,
  version: source.version,
  description: source.description,
  license: source.license ?? 'Apache-2.0',
  type: 'module',
  exports: { '.': { types: './index.d.ts', import: './index.js' } },
  types: './index.d.ts',
  engines: { node: '>=20' },
  dependencies: source.dependencies,
};
await writeFile(new URL('dist/package.json', root), `${JSON.stringify(manifest, null, 2)}\n`);
await copyFile(new URL('README.md', root), new URL('dist/README.md', root));
