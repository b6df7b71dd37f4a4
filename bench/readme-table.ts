/**
 * Puts a bench report into README.md between `<!-- bench-table -->` and `<!-- /bench-table -->`,
 * so the README's numbers always come from a whole `npm run bench -- --readme` run and never
 * from hand edits.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const OPEN = '<!-- bench-table -->';
const CLOSE = '<!-- /bench-table -->';

/** Replaces what stands between the markers (or follows a lone opening marker) with `report`. */
export function withBenchTable(readme: string, report: string): string {
  const start = readme.indexOf(OPEN);
  if (start < 0) throw new Error(`README.md has no ${OPEN} marker to put the report under`);
  const end = readme.indexOf(CLOSE, start);
  const after = end < 0 ? readme.slice(start + OPEN.length) : readme.slice(end + CLOSE.length);
  // The report's own H1 goes; its sections move down a level to sit under "## Performance".
  const body = report
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith('# '))
    .map((line) => (/^#{2,5} /.test(line) ? `#${line}` : line))
    .join('\n')
    .trim();
  return `${readme.slice(0, start)}${OPEN}\n\n${body}\n\n${CLOSE}${after}`;
}

/** Writes the report into the README, then lets Biome lay its tables out as `npm test` checks. */
export async function writeBenchTable(readmeUrl: URL, report: string): Promise<void> {
  const readme = await readFile(readmeUrl, 'utf8');
  await writeFile(readmeUrl, withBenchTable(readme, report));
  await promisify(execFile)('npx', ['biome', 'format', '--write', fileURLToPath(readmeUrl)]);
}
