/**
 * `GET /instances/{id}/logs`: the guest's serial console. Without `follow` the last `tail`
 * lines as plain text; with `follow=true` an event stream of those lines and then of every new
 * line, until the client disconnects (the request's signal) or the instance is deleted.
 */
import type { Responses } from '@vmkeep/api';
import type { InstanceService } from '../domain/instances/service.js';
import { sseStream } from './sse.js';

/** What the route passes on from the validated request. */
export interface LogsRequest {
  ref: string;
  tail: number;
  follow: boolean;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/** The response for a logs request; see the module doc. */
export async function logsResponse(
  instances: InstanceService,
  req: LogsRequest,
): Promise<Responses['getInstanceLogs']> {
  if (!req.follow) {
    const lines = await instances.tailLogs(req.ref, req.tail);
    return {
      status: 200,
      contentType: 'text/plain',
      body: lines.map((line) => `${line}\n`).join(''),
    };
  }

  // The stream's errors can no longer change the status, so a missing instance is a 404 now.
  instances.get(req.ref);
  const stop = new AbortController();
  req.signal.addEventListener('abort', () => stop.abort(req.signal.reason), { once: true });
  const lines = instances.followLogs(req.ref, { tail: req.tail, signal: stop.signal });
  return {
    status: 200,
    contentType: 'text/event-stream',
    // Proxies must pass events on as they come, not buffer or cache the stream.
    headers: { 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' },
    body: sseStream(lines, () => stop.abort(new Error('the client closed the log stream'))),
  };
}
