import { describe, expect, it } from 'vitest';
import { InvalidRequestError, InvalidStateError } from '../errors.js';
import {
  assertSnapshotSource,
  assertTransition,
  defaultSnapshotKind,
  INSTANCE_STATES,
  resolveTargetState,
} from './state.js';

describe('defaultSnapshotKind', () => {
  it.each([
    ['Running', 'Standby'],
    ['Paused', 'Standby'],
    ['Standby', 'Standby'],
    ['Stopped', 'Stopped'],
    ['Created', undefined],
    ['Shutdown', undefined],
    ['Unknown', undefined],
  ] as const)('picks %s → %s', (state, kind) => {
    expect(defaultSnapshotKind(state)).toBe(kind);
  });
});

describe('assertTransition', () => {
  it('names the current state and the states the verb needs', () => {
    expect(() => assertTransition('restore', { name: 'web', state: 'Running' })).toThrow(
      'cannot restore instance web in state Running; restore requires Standby',
    );
    expect(() => assertTransition('restore_snapshot', { name: 'web', state: 'Paused' })).toThrow(
      'cannot restore snapshot instance web in state Paused; restore_snapshot requires Stopped or Standby',
    );
  });

  it('lets nothing but delete touch an Unknown instance, and says so', () => {
    for (const verb of ['start', 'stop', 'pause', 'resume', 'standby', 'restore'] as const) {
      expect(() => assertTransition(verb, { name: 'x', state: 'Unknown' })).toThrow(
        /; its VMM cannot be reached: delete the instance$/,
      );
    }
  });

  it('points a start or resume of a Standby instance to restore', () => {
    for (const verb of ['start', 'resume'] as const) {
      expect(() => assertTransition(verb, { name: 'x', state: 'Standby' })).toThrow(
        /; a Standby instance comes back with restore \(POST \/instances\/\{id\}\/restore\)$/,
      );
    }
  });
});

describe('assertSnapshotSource', () => {
  it('uses hypeman message forms', () => {
    expect(() => assertSnapshotSource('Stopped', 'Running')).toThrow(
      'stopped snapshot requires source in Stopped, got Running',
    );
    for (const state of INSTANCE_STATES.filter(
      (s) => !['Running', 'Paused', 'Standby'].includes(s),
    )) {
      expect(() => assertSnapshotSource('Standby', state)).toThrow(InvalidStateError);
    }
  });
});

describe('resolveTargetState', () => {
  it('defaults by kind and refuses a target the kind cannot reach', () => {
    expect(resolveTargetState('Standby')).toBe('Running');
    expect(resolveTargetState('Stopped')).toBe('Stopped');
    expect(resolveTargetState('Standby', 'Stopped')).toBe('Stopped');
    expect(() => resolveTargetState('Stopped', 'Standby')).toThrow(InvalidRequestError);
    expect(() => resolveTargetState('Standby', 'Paused')).toThrow(InvalidRequestError);
  });
});
