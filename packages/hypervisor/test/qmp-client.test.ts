import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpClient } from '../src/qmp/client.js';
import { QmpClosedError, QmpError, QmpProtocolError, QmpTimeoutError } from '../src/qmp/errors.js';
import { FakeQmpPeer, type ReceivedCommand } from './support/fake-qmp-peer.js';

function openSocket(path: string) {
  return new Promise<ReturnType<typeof connect>>((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('QmpClient', () => {
  let peer: FakeQmpPeer;
  let client: QmpClient | undefined;

  beforeEach(async () => {
    peer = await FakeQmpPeer.listen();
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await peer.close();
  });

  const open = async () => {
    client = await QmpClient.connect(await openSocket(peer.path), { defaultTimeoutMs: 2000 });
    return client;
  };

  it('reads the greeting and negotiates capabilities before anything else', async () => {
    const qmp = await open();

    expect(qmp.greeting.QMP.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(peer.received.map((c) => c.execute)).toEqual(['qmp_capabilities']);
  });

  it('matches replies to calls by id when QEMU answers out of order', async () => {
    const held: ReceivedCommand[] = [];
    peer.onCommand = (command, connection) => {
      held.push(command);
      if (held.length === 2) {
        connection.reply(held[1]!, { status: 'second' });
        connection.reply(held[0]!, { status: 'first' });
      }
    };
    const qmp = await open();

    const [a, b] = await Promise.all([qmp.execute('query-a'), qmp.execute('query-b')]);

    expect(a).toEqual({ status: 'first' });
    expect(b).toEqual({ status: 'second' });
  });

  it('finds an event that arrived before the reply of the command that caused it', async () => {
    peer.onCommand = (command, connection) => {
      connection.event('STOP');
      connection.reply(command);
    };
    const qmp = await open();

    const since = qmp.mark();
    await qmp.execute('stop');
    const stop = await qmp.waitForEvent('STOP', { since, timeoutMs: 200 });

    expect(stop.event).toBe('STOP');
    expect(stop.receivedAt).toBeGreaterThanOrEqual(since);
  });

  it('ignores events from before the mark and waits for a matching new one', async () => {
    peer.onCommand = (command, connection) => {
      connection.event('MIGRATION', { status: 'setup' });
      connection.reply(command);
      setTimeout(() => connection.event('MIGRATION', { status: 'completed' }), 20);
    };
    const qmp = await open();

    await qmp.execute('migrate');
    const since = qmp.mark();
    const done = await qmp.waitForEvent('MIGRATION', {
      since,
      match: (e) => e.data?.status === 'completed',
    });

    expect(done.data).toEqual({ status: 'completed' });
    expect(qmp.eventsSince(since).map((e) => e.data?.status)).toEqual(['completed']);
  });

  it('rejects with a QmpError carrying the class and description QEMU sent', async () => {
    peer.onCommand = (command, connection) =>
      connection.fail(command, 'CommandNotFound', 'The command nope has not been found');
    const qmp = await open();

    const error = await qmp.execute('nope').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(QmpError);
    expect(error).toMatchObject({
      command: 'nope',
      errorClass: 'CommandNotFound',
      desc: 'The command nope has not been found',
    });
  });

  it('fails every pending call and waiter when the socket closes, and later calls at once', async () => {
    peer.onCommand = (command, connection) => {
      if (command.execute === 'quit') connection.hangUp();
    };
    const qmp = await open();

    const pending = qmp.execute('query-status');
    const waiter = qmp.waitForEvent('SHUTDOWN', { timeoutMs: 5000 });
    void qmp.execute('quit').catch(() => {});

    await expect(pending).rejects.toBeInstanceOf(QmpClosedError);
    await expect(waiter).rejects.toBeInstanceOf(QmpClosedError);
    await qmp.closed;
    expect(qmp.isClosed).toBe(true);
    await expect(qmp.execute('query-status')).rejects.toBeInstanceOf(QmpClosedError);
  });

  it('times out a call that gets no answer and stays usable for the next one', async () => {
    peer.onCommand = (command, connection) => {
      if (command.execute === 'slow') setTimeout(() => connection.reply(command, 'late'), 100);
      else connection.reply(command, 'fast');
    };
    const qmp = await open();

    await expect(qmp.execute('slow', undefined, { timeoutMs: 30 })).rejects.toBeInstanceOf(
      QmpTimeoutError,
    );
    await new Promise((resolve) => setTimeout(resolve, 120));

    await expect(qmp.execute('other')).resolves.toBe('fast');
  });

  it('rejects with the abort reason when the signal fires during a call or a wait', async () => {
    peer.onCommand = () => {};
    const qmp = await open();
    const controller = new AbortController();
    const reason = new Error('user cancelled');

    const call = qmp.execute('hang', undefined, { signal: controller.signal });
    const wait = qmp.waitForEvent('NEVER', { signal: controller.signal });
    controller.abort(reason);

    await expect(call).rejects.toBe(reason);
    await expect(wait).rejects.toBe(reason);
    await expect(
      qmp.execute('hang', undefined, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });

  it('records the commands it sent with their arguments', async () => {
    const qmp = await open();

    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1 });
    await qmp.execute('cont');

    expect(qmp.sentCommands).toEqual([
      { execute: 'qmp_capabilities' },
      { execute: 'migrate-set-parameters', arguments: { 'max-bandwidth': 1 } },
      { execute: 'cont' },
    ]);
  });

  it('gives up on a monitor that never greets (another client holds it)', async () => {
    peer.greeting = undefined;
    const socket = await openSocket(peer.path);

    await expect(QmpClient.connect(socket, { timeoutMs: 50 })).rejects.toBeInstanceOf(
      QmpTimeoutError,
    );
    expect(socket.destroyed).toBe(true);
  });

  it('refuses a peer whose first line is not a QMP greeting', async () => {
    peer.greeting = { hello: 'world' };
    const socket = await openSocket(peer.path);

    await expect(QmpClient.connect(socket)).rejects.toBeInstanceOf(QmpProtocolError);
  });
});
