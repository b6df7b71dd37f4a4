import { Script } from 'node:vm';
import { specYaml } from '@vmkeep/api/spec';
import { createClient } from '@vmkeep/sdk';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError } from '../src/domain/errors.js';
import { closeTestApps, testApp } from './foundation-app.js';

afterEach(closeTestApps);

describe('meta endpoints through the SDK', () => {
  it('answers /health without a token', async () => {
    const { app } = await testApp();
    const client = createClient({ baseUrl: 'http://vmkeep.test', fetch: (r) => app.fetch(r) });
    const { data, error, response } = await client.GET('/health');
    expect(error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(data).toEqual({ status: 'ok' });
  });

  it('serves the spec as YAML byte for byte and as the same document in JSON', async () => {
    const { app } = await testApp();
    const client = createClient({ baseUrl: 'http://vmkeep.test', fetch: (r) => app.fetch(r) });
    const yaml = await client.GET('/spec.yaml', { parseAs: 'text' });
    expect(yaml.response.headers.get('content-type')).toBe('application/yaml');
    expect(yaml.data).toBe(specYaml);
    const json = await client.GET('/spec.json');
    expect(json.data).toMatchObject({ openapi: '3.1.0', info: { title: 'vmkeep API' } });
    expect(Object.keys((json.data as { paths: object }).paths)).toContain(
      '/instances/{id}/snapshot-schedule',
    );
  });

  it('serves an offline docs page whose script and stylesheet come from this server', async () => {
    const { app } = await testApp();
    const client = createClient({ baseUrl: 'http://vmkeep.test', fetch: (r) => app.fetch(r) });
    const page = await client.GET('/docs', { parseAs: 'text' });
    expect(page.response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = page.data as string;
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs).toEqual(['docs/swagger-ui.css', 'docs/swagger-ui-bundle.js']);
    expect(html).toContain("fetch('spec.json')");
    // The inline start-up script must at least be valid JavaScript (a regex once broke it).
    const inline = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    expect(() => new Script(inline)).not.toThrow();

    const js = await client.GET('/docs/{asset}', {
      params: { path: { asset: 'swagger-ui-bundle.js' } },
      parseAs: 'text',
    });
    expect(js.response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.data).toContain('SwaggerUIBundle');
    const css = await client.GET('/docs/{asset}', {
      params: { path: { asset: 'swagger-ui.css' } },
      parseAs: 'text',
    });
    expect(css.response.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.data).toContain('.swagger-ui');
  });

  it('reports version, hypervisor probes and the minimum schedule interval', async () => {
    const { app, token } = await testApp();
    const client = createClient({
      baseUrl: 'http://vmkeep.test',
      token,
      fetch: (r) => app.fetch(r),
    });
    const { data, error } = await client.GET('/capabilities');
    expect(error).toBeUndefined();
    expect(data).toEqual({
      version: '0.1.0',
      hypervisors: [
        {
          name: 'qemu',
          available: true,
          reason: null,
          version: '7.2.0',
          accel: 'tcg',
          features: ['snapshots', 'standby', 'fork', 'pause'],
        },
      ],
      min_schedule_interval: '1s',
      features: ['images', 'instances', 'snapshots', 'snapshot-schedule', 'logs'],
    });
  });
});

describe('routing and error rendering', () => {
  it('answers an unknown path with a JSON 404', async () => {
    const { app, auth } = await testApp();
    const res = await app.request('/no/such/thing', { headers: auth });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ code: 'not_found' });
  });

  it('answers the resource operations from the real services', async () => {
    const { app, auth } = await testApp();
    const res = await app.request('/images', { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject([{ name: 'default' }]);
  });

  it('keeps encoded path parameters inside their route, decoded once', async () => {
    const seen: string[] = [];
    const { app, auth } = await testApp({
      handlers: {
        getInstanceSnapshotSchedule: ({ path }) => {
          seen.push(path.id);
          throw new DomainError('not_found', `instance ${path.id} not found`);
        },
      },
    });
    for (const raw of ['a%2Fb', '%E2%82%AC', '%E2%82', '%25', 'a%20b']) {
      const res = await app.request(`/instances/${raw}/snapshot-schedule`, { headers: auth });
      expect(res.status, raw).toBe(404);
      expect(await res.json(), raw).toMatchObject({ code: 'not_found' });
    }
    expect(seen).toEqual(['a/b', '€', '%E2%82', '%', 'a b']);
  });

  it('maps a domain error to its status with code, message and details', async () => {
    const { app, auth } = await testApp({
      handlers: {
        getSnapshot: () => {
          throw new DomainError('invalid_state', 'snapshot s1 is still creating', { id: 's1' });
        },
      },
    });
    const res = await app.request('/snapshots/s1', { headers: auth });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      code: 'invalid_state',
      message: 'snapshot s1 is still creating',
      details: { id: 's1' },
    });
  });

  it('answers any other exception with a bare 500 and logs it once', async () => {
    const logged: string[] = [];
    const { app, auth } = await testApp({
      handlers: {
        getSnapshot: () => {
          throw new Error('disk exploded at /secret/path');
        },
      },
      deps: { logger: pino({ level: 'error' }, { write: (line: string) => logged.push(line) }) },
    });
    const res = await app.request('/snapshots/s1', { headers: auth });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ code: 'internal_error', message: 'internal error' });
    expect(text).not.toContain('secret');
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] ?? '{}')).toMatchObject({
      msg: 'unhandled error',
      path: '/snapshots/s1',
    });
  });
});
