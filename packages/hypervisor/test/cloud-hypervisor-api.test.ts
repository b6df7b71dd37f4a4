import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ChVmConfig, CloudHypervisorApi } from '../src/cloud-hypervisor/api-client.js';
import {
  CloudHypervisorApiError,
  CloudHypervisorTimeoutError,
} from '../src/cloud-hypervisor/errors.js';
import { type LaunchedVmm, launchVmm } from '../src/cloud-hypervisor/launch.js';
import { silentLogger } from '../src/logger.js';
import { type ChTestBed, createTestBed } from './fake-ch/harness.js';

describe('CloudHypervisorApi against the fake CH', () => {
  let bed: ChTestBed;
  let launched: LaunchedVmm;

  beforeEach(async () => {
    bed = await createTestBed();
    launched = await launchVmm({
      binary: bed.fake.binPath,
      runDir: join(bed.dir, 'run'),
      logger: silentLogger,
      startTimeoutMs: 5000,
      requestTimeoutMs: 300,
    });
  });
  afterEach(async () => {
    expect(bed.fake.violations).toEqual([]);
    await launched.api.close();
    await launched.vmm.kill();
    await bed.cleanup();
  });

  it('turns 404 for a VM not yet created into a typed error with CH’s messages', async () => {
    const error = await launched.api.info().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CloudHypervisorApiError);
    expect(error).toMatchObject({
      operation: 'GET /vm.info',
      status: 404,
      messages: ['Error from API', 'VM info failed', 'VM is not created'],
    });
    expect((error as Error).message).toBe(
      'cloud-hypervisor GET /vm.info failed with HTTP 404: Error from API: VM info failed: VM is not created',
    );
  });

  it('turns 500 for a wrong-state call into a typed error with CH’s messages', async () => {
    const { api } = launched;
    await api.create({ payload: { kernel: bed.spec.kernel }, memory: { size: 64 << 20 } });
    await api.boot();
    const error = await api.snapshot(`file://${bed.dir}`).catch((err: unknown) => err);
    expect(error).toMatchObject({
      operation: 'PUT /vm.snapshot',
      status: 500,
      messages: ['Error from API', 'VM snapshot failed', 'Trying to snapshot while VM is running'],
    });
  });

  it('gives up on a request the VMM never answers', async () => {
    bed.fake.fault('PUT /vm.pause', { hang: true }, 1);
    const error = await launched.api.pause().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CloudHypervisorTimeoutError);
    expect((error as Error).message).toBe(
      'cloud-hypervisor PUT /vm.pause got no answer within 300 ms',
    );
  });

  it('rejects a field the spec does not declare, as the fake’s closed schemas demand', async () => {
    // The misspelled field is the point: cast past the compile-time check to reach the fake.
    const config = { payload: { kernel: bed.spec.kernel }, memroy: { size: 1 } } as ChVmConfig;
    const error = await launched.api.create(config).catch((err: unknown) => err);
    expect(error).toMatchObject({
      status: 400,
      messages: ['(body) must NOT have additional properties (memroy)'],
    });
    expect(bed.fake.violations).toEqual([
      'PUT /vm.create: (body) must NOT have additional properties (memroy)',
    ]);
    bed.fake.violations.length = 0;
  });
});

describe('CloudHypervisorApi framing', () => {
  interface Seen {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    bytes: number;
  }
  let dir: string;
  let server: Server;
  let api: CloudHypervisorApi;
  const seen: Seen[] = [];
  let answer: { status: number; body?: string; type?: string } = { status: 204 };

  beforeEach(async () => {
    dir = await mkdtemp('/tmp/vmkeep-ch-raw-');
    await mkdir(dir, { recursive: true });
    seen.length = 0;
    answer = { status: 204 };
    server = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, bytes });
        res.writeHead(answer.status, answer.type ? { 'content-type': answer.type } : {});
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(join(dir, 'api.sock'), resolve));
    api = new CloudHypervisorApi(join(dir, 'api.sock'));
  });
  afterEach(async () => {
    await api.close();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('sends Content-Length on every PUT, with or without a body, and never chunks', async () => {
    const bigCmdline = 'x'.repeat(200_000);
    await api.create({ payload: { kernel: '/k', cmdline: bigCmdline } });
    await api.pause();
    await api.snapshot('file:///tmp/s');
    await api.restore({ source_url: 'file:///tmp/s', prefault: false, resume: true });
    await api.powerButton();
    await api.shutdownVmm();

    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'PUT /api/v1/vm.create',
      'PUT /api/v1/vm.pause',
      'PUT /api/v1/vm.snapshot',
      'PUT /api/v1/vm.restore',
      'PUT /api/v1/vm.power-button',
      'PUT /api/v1/vmm.shutdown',
    ]);
    for (const request of seen) {
      expect(request.headers['transfer-encoding']).toBeUndefined();
      expect(request.headers['content-length']).toBe(String(request.bytes));
    }
    expect(seen[0]!.bytes).toBeGreaterThan(200_000);
    expect(seen[1]!.bytes).toBe(0);
  });

  it('sends GETs without a body', async () => {
    answer = { status: 200, type: 'application/json', body: '{"version":"53.0.0"}' };
    expect(await api.ping()).toEqual({ version: '53.0.0' });
    expect(seen).toMatchObject([{ method: 'GET', url: '/api/v1/vmm.ping', bytes: 0 }]);
    expect(seen[0]!.headers['transfer-encoding']).toBeUndefined();
  });

  it('keeps a non-JSON error body as one message', async () => {
    answer = { status: 503, type: 'text/plain', body: 'overloaded' };
    await expect(api.pause()).rejects.toMatchObject({ status: 503, messages: ['overloaded'] });
  });

  it('reports an error without a body with no messages', async () => {
    answer = { status: 500 };
    await expect(api.boot()).rejects.toMatchObject({ status: 500, messages: [] });
  });
});
