import { describe, expect, it } from 'vitest';
import { withBenchTable } from '../bench/readme-table.js';

const report = '# vmkeep benchmarks\n\nrun on x\n\n## Restore time\n\n| a |\n| - |\n| 1 |\n';

describe('the README bench table', () => {
  it('fills a lone marker and closes it, keeping what follows', () => {
    const readme = '## Performance\n\nintro\n\n<!-- bench-table -->\n\n## Layout\n';
    expect(withBenchTable(readme, report)).toBe(
      '## Performance\n\nintro\n\n<!-- bench-table -->\n\nrun on x\n\n### Restore time\n\n' +
        '| a |\n| - |\n| 1 |\n\n<!-- /bench-table -->\n\n## Layout\n',
    );
  });

  it('replaces an earlier table instead of adding a second one', () => {
    const readme = 'x\n<!-- bench-table -->\nold numbers\n<!-- /bench-table -->\ny\n';
    const once = withBenchTable(readme, report);
    expect(withBenchTable(once, report)).toBe(once);
    expect(once).not.toContain('old numbers');
    expect(once.endsWith('<!-- /bench-table -->\ny\n')).toBe(true);
  });

  it('refuses a README without the marker rather than guess where the table goes', () => {
    expect(() => withBenchTable('# no marker\n', report)).toThrow(/no <!-- bench-table -->/);
  });
});
