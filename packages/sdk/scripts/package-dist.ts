/**
 * Makes `dist/` an installable package after `tsc` has compiled into it: a `package.json` whose
 * exports are the built JS and `.d.ts`, the SDK's README, and the package packed into
 * `dist/vmkeep-sdk-<version>.tgz`. The workspace's own manifest keeps pointing at `src/` so the
 * repository runs from source; npm does not apply `publishConfig` to `exports`, so the
 * installable manifest is written here instead.
 *
 *   npm run build -w @vmkeep/sdk   →   npm install /path/to/vmkeep-sdk-0.1.0.tgz
 *
 * The tarball, not the folder: npm installs a folder as a link, whose imports then resolve
 * through this repository's node_modules instead of the user's.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

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
  files: ['*.js', '*.d.ts', 'generated', 'README.md'],
  dependencies: source.dependencies,
};
await writeFile(new URL('dist/package.json', root), `${JSON.stringify(manifest, null, 2)}\n`);
await copyFile(new URL('README.md', root), new URL('dist/README.md', root));
const dist = fileURLToPath(new URL('dist/', root));
const { stdout } = await promisify(execFile)('npm', ['pack', '--pack-destination', dist], {
  cwd: dist,
});
process.stdout.write(`packed ${dist}${stdout.trim().split('\n').at(-1)}\n`);
