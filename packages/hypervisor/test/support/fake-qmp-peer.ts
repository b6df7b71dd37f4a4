/**
 * A scripted QMP server on a unix socket, for testing the client without QEMU. The test decides
 * what happens on each command (reply, error, events first, silence, hang-up) through `onCommand`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ReceivedCommand {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

export interface PeerConnection {
  send(message: Record<string, unknown>): void;
  reply(command: ReceivedCommand, value?: unknown): void;
  fail(command: ReceivedCommand, errorClass: string, desc: string): void;
  event(name: string, data?: Record<string, unknown>): void;
  hangUp(): void;
}

export const GREETING = {
  QMP: {
    version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'fake' },
    capabilities: ['oob'],
  },
};

export class FakeQmpPeer {
  readonly received: ReceivedCommand[] = [];
  /** Called for every command after `qmp_capabilities`; default: reply `{}`. */
  onCommand: (command: ReceivedCommand, peer: PeerConnection) => void = (c, p) => p.reply(c, {});
  /** Sent on connect; `undefined` sends nothing (a monitor busy with another client). */
  greeting: Record<string, unknown> | undefined = GREETING;

  private constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
  ) {}

  static async listen(): Promise<FakeQmpPeer> {
    const dir = await mkdtemp(join(tmpdir(), 'fake-qmp-'));
    const path = join(dir, 'qmp.sock');
    const sockets = new Set<Socket>();
    let peer: FakeQmpPeer | undefined;
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      peer?.serve(socket);
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    peer = new FakeQmpPeer(path, dir, server, sockets);
    return peer;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private serve(socket: Socket): void {
    const connection: PeerConnection = {
      send: (message) => socket.write(`${JSON.stringify(message)}\r\n`),
      reply: (command, value = {}) => connection.send({ return: value, id: command.id }),
      fail: (command, errorClass, desc) =>
        connection.send({ error: { class: errorClass, desc }, id: command.id }),
      event: (name, data) =>
        connection.send({
          event: name,
          ...(data ? { data } : {}),
          timestamp: { seconds: Math.floor(Date.now() / 1000), microseconds: 0 },
        }),
      hangUp: () => socket.destroy(),
    };
    if (this.greeting) connection.send(this.greeting);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const command = JSON.parse(buffer.slice(0, i)) as ReceivedCommand;
        buffer = buffer.slice(i + 1);
        this.received.push(command);
        if (command.execute === 'qmp_capabilities') connection.reply(command);
        else this.onCommand(command, connection);
      }
    });
  }
}
