/**
 * Commands that call the API through the SDK: `instances list`, `snapshots list`,
 * `schedule get`. Each prints the JSON the server answered, or the error and exits 1.
 */
import { createClient, toVmkeepError, type VmkeepClient } from '@vmkeep/sdk';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

interface ApiOptions {
  url: string;
  token?: string;
}

type Result = { data?: unknown; error?: unknown; response: Response };

function clientFor(command: Command, io: CliIo): VmkeepClient {
  const options = command.optsWithGlobals<ApiOptions>();
  const token = options.token ?? io.env.VMKEEP_TOKEN;
  return createClient({
    baseUrl: options.url,
    ...(token ? { token } : {}),
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });
}

/** Prints a result; a failed call sets the exit code and names the server's error code. */
function print(io: CliIo, result: Result): void {
  if (result.error !== undefined || !result.response.ok) {
    const error = toVmkeepError(result.error, result.response);
    io.stderr(`error: ${error.code}: ${error.message}\n`);
    process.exitCode = 1;
    return;
  }
  io.stdout(`${JSON.stringify(result.data, null, 2)}\n`);
}

/**
 * The id of the instance `ref` names, or the failed lookup. The snapshot filter matches ids
 * only, and a name there would silently list nothing; a ref no instance answers to (one since
 * deleted, whose snapshots remain) is taken as the id it is.
 */
async function instanceId(client: VmkeepClient, ref: string): Promise<string | Result> {
  const found = await client.GET('/instances/{id}', { params: { path: { id: ref } } });
  if (found.data) return found.data.id;
  return found.response.status === 404 ? ref : found;
}

export function registerApiCommands(program: Command, io: CliIo): void {
  const instances = program.command('instances').description('instances');
  instances
    .command('list')
    .description('list instances')
    .option('--state <state>', 'only instances in this state')
    .action(async (options: { state?: string }, command: Command) => {
      const query = options.state ? { state: options.state as never } : {};
      print(io, await clientFor(command, io).GET('/instances', { params: { query } }));
    });

  const snapshots = program.command('snapshots').description('snapshots');
  snapshots
    .command('list')
    .description('list snapshots')
    .option('--instance <ref>', 'only snapshots of this instance (id, name or id prefix)')
    .action(async (options: { instance?: string }, command: Command) => {
      const client = clientFor(command, io);
      const id = options.instance ? await instanceId(client, options.instance) : undefined;
      if (typeof id === 'object') return print(io, id);
      const query = id ? { source_instance_id: id } : {};
      print(io, await client.GET('/snapshots', { params: { query } }));
    });

  const schedule = program.command('schedule').description('snapshot schedules');
  schedule
    .command('get <instance>')
    .description("show an instance's snapshot schedule")
    .action(async (instance: string, _options: unknown, command: Command) => {
      const client = clientFor(command, io);
      print(
        io,
        await client.GET('/instances/{id}/snapshot-schedule', {
          params: { path: { id: instance } },
        }),
      );
    });
}
