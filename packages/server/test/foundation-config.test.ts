import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('server configuration from the environment', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      version: '0.1.0',
      dataDir: resolve('./data'),
      cacheDir: join(homedir(), '.cache', 'vmkeep'),
      host: '127.0.0.1',
      port: 8080,
      minScheduleInterval: '1m0s',
      minScheduleIntervalMs: 60_000,
      mockHypervisor: false,
      maxConcurrentCaptures: 2,
      jwtSecret: undefined,
      logLevel: 'info',
      onExit: 'keep',
      captureTimeoutMs: 600_000,
      scheduleJitter: true,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      VMKEEP_DATA_DIR: '/tmp/d',
      XDG_CACHE_HOME: '/tmp/xdg',
      VMKEEP_HOST: '0.0.0.0',
      VMKEEP_PORT: '0',
      VMKEEP_MIN_SCHEDULE_INTERVAL: '90s',
      VMKEEP_MOCK_HYPERVISOR: '1',
      VMKEEP_MAX_CONCURRENT_CAPTURES: '4',
      JWT_SECRET: 's',
      VMKEEP_LOG_LEVEL: 'debug',
      VMKEEP_ON_EXIT: 'shutdown',
      VMKEEP_CAPTURE_TIMEOUT: '90s',
      VMKEEP_SCHEDULE_JITTER: '0',
    });
    expect(config).toMatchObject({
      dataDir: '/tmp/d',
      cacheDir: '/tmp/xdg/vmkeep',
      host: '0.0.0.0',
      port: 0,
      minScheduleInterval: '1m30s',
      onExit: 'shutdown',
      captureTimeoutMs: 90_000,
      scheduleJitter: false,
      minScheduleIntervalMs: 90_000,
      mockHypervisor: true,
      maxConcurrentCaptures: 4,
      jwtSecret: 's',
      logLevel: 'debug',
    });
    expect(loadConfig({ VMKEEP_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/c');
  });

  it.each([
    ['VMKEEP_PORT', '80a'],
    ['VMKEEP_PORT', '70000'],
    ['VMKEEP_MIN_SCHEDULE_INTERVAL', '1d'],
    ['VMKEEP_MIN_SCHEDULE_INTERVAL', '500ms'],
    ['VMKEEP_MAX_CONCURRENT_CAPTURES', '0'],
    ['VMKEEP_MOCK_HYPERVISOR', 'maybe'],
    ['VMKEEP_LOG_LEVEL', 'loud'],
    ['VMKEEP_ON_EXIT', 'pause'],
    ['VMKEEP_CAPTURE_TIMEOUT', '0s'],
    ['VMKEEP_CAPTURE_TIMEOUT', '7d'],
    ['VMKEEP_SCHEDULE_JITTER', 'sometimes'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}=`));
  });
});
