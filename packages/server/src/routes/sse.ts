/**
 * Server-sent events for the console follow (`GET /instances/{id}/logs?follow=true`). Each
 * console line is one event whose `data` is the line as a JSON string, as hypeman frames it:
 * its SDK `JSON.parse`s every event, and a line holding `\r` or `\n` can never split an event.
 */

const encoder = new TextEncoder();

/** One line as an event: `data: "<line as JSON>"` and the blank line that ends the event. */
export function sseEvent(line: string): string {
  return `data: ${JSON.stringify(line)}\n\n`;
}

/**
 * A byte stream of events, one per line `lines` yields, pulled as fast as the client reads
 * (a slow client slows the reader instead of growing a buffer). It ends when `lines` ends.
 * When the client goes away, `onCancel` runs so the producer of `lines` can stop.
 */
export function sseStream(
  lines: AsyncIterator<string>,
  onCancel: () => void,
): ReadableStream<Uint8Array> {
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      // A cancelled stream accepts nothing more; the line read meanwhile is nobody's.
      if (cancelled) return;
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(sseEvent(next.value)));
    },
    cancel() {
      cancelled = true;
      onCancel();
    },
  });
}
