/** Routes of the `meta` tag: health, the spec, the docs page and host capabilities. */
import type { MetaHandlers } from '@vmkeep/api';
import { spec, specYaml } from '@vmkeep/api/spec';
import type { ServerDeps } from '../deps.js';
import { DOCS_ASSETS, docsAsset, docsPage } from './docs-page.js';

/** API surfaces this server offers, reported by `GET /capabilities`. */
const FEATURES = ['images', 'instances', 'snapshots', 'snapshot-schedule', 'logs'];

export function metaRoutes(deps: ServerDeps): MetaHandlers {
  const page = docsPage(`${spec.info.title} ${spec.info.version}`);
  return {
    getHealth: () => ({ status: 200, body: { status: 'ok' } }),

    getSpecYaml: () => ({ status: 200, contentType: 'application/yaml', body: specYaml }),

    getSpecJson: () => ({ status: 200, body: spec }),

    getDocs: () => ({ status: 200, body: page }),

    getDocsAsset: async ({ path }) => ({
      status: 200,
      contentType: DOCS_ASSETS[path.asset],
      body: await docsAsset(path.asset),
      headers: { 'Cache-Control': 'public, max-age=86400' },
    }),

    getCapabilities: async () => ({
      status: 200,
      body: {
        version: deps.config.version,
        hypervisors: await deps.capabilities(),
        min_schedule_interval: deps.config.minScheduleInterval,
        features: FEATURES,
      },
    }),
  };
}
