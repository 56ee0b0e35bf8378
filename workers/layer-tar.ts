/**
 * The tar thread (lib/snapshot/tar-thread.ts): writes the layer tars it is
 * sent, one at a time, and answers with each one's diffID and index.
 */
import { parentPort } from 'node:worker_threads';
import { SubjectError } from '../lib/errors/index.js';
import { writeTar, type TarJob } from '../lib/snapshot/layer-tar.js';
import type { ThreadError, ThreadReply } from '../lib/snapshot/tar-thread.js';

function asReply(e: unknown): ThreadError {
  const error = e as Error & { code?: string; hint?: string };
  if (e instanceof SubjectError) return { message: error.message, subject: e.subject, ...(e.hint !== undefined && { hint: e.hint }) };
  return { message: error.message, ...(error.code !== undefined && { code: error.code }) };
}

parentPort!.on('message', (message: { id: number; job: TarJob }) => {
  writeTar(message.job).then(
    (written) => parentPort!.postMessage({ id: message.id, written } satisfies ThreadReply),
    (e: unknown) => parentPort!.postMessage({ id: message.id, error: asReply(e) } satisfies ThreadReply),
  );
});
