/**
 * One thread that writes layer tars (workers/layer-tar.ts), started at the
 * first job and kept for the life of the process (strata dev sends it one
 * per edit). A big COPY's tar is written there while the steps after it
 * run: reading and hashing 20 MB is some 50 ms of the main thread's time,
 * which a RUN waiting to start would otherwise wait for. The thread does
 * not keep the process alive while it has nothing to do.
 */
import { Worker } from 'node:worker_threads';
import { SnapshotError } from '../errors/index.js';
import type { TarJob, TarWritten } from './layer-tar.js';

/** The thread's code: from the CLI's bundle (scripts/bundle.mjs), the one bundled beside it; else the module tsc wrote. */
const WORKER = import.meta.url.endsWith('.cjs') ? new URL('layer-tar.cjs', import.meta.url) : new URL('../../workers/layer-tar.js', import.meta.url);

/** An error as it crosses from the thread: enough to rebuild what the caller would have seen inline. */
export interface ThreadError {
  readonly message: string;
  readonly subject?: string;
  readonly hint?: string;
  readonly code?: string;
}

export type ThreadReply = { readonly id: number; readonly written: TarWritten } | { readonly id: number; readonly error: ThreadError };

let thread: Worker | undefined;
const waiting = new Map<number, { resolve: (w: TarWritten) => void; reject: (e: Error) => void }>();
let nextId = 0;

function rebuilt(e: ThreadError): Error {
  if (e.subject !== undefined) return new SnapshotError(e.message, e.subject, { hint: e.hint });
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}

function failAll(error: Error): void {
  for (const { reject } of waiting.values()) reject(error);
  waiting.clear();
}

function tarThread(): Worker {
  if (thread) return thread;
  // (None of this process's Node options: one that only a main thread takes would stop it.)
  const started = new Worker(WORKER, { execArgv: [] });
  started.on('message', (reply: ThreadReply) => {
    const job = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (!waiting.size) started.unref();
    if ('error' in reply) job?.reject(rebuilt(reply.error));
    else job?.resolve(reply.written);
  });
  const gone = (e: Error) => {
    if (thread === started) thread = undefined;
    failAll(new SnapshotError(`the thread writing layer tars stopped: ${e.message}`, 'tar thread', { hint: 'build again; if it happens again, please report it' }));
  };
  started.on('error', gone);
  started.on('exit', (code) => gone(new Error(`exit code ${code}`)));
  // Held only while a job is out (after the listeners: adding one for 'message' holds the thread again).
  started.unref();
  thread = started;
  return started;
}

/**
 * Starts the thread, if it is not running, for jobs to come: a process
 * that builds again and again (strata dev) starts it at once, so that its
 * start (the thread's own, and 10-15 ms to load its bundled code) is not
 * paid by the first big layer.
 */
export function startTarThread(): void {
  tarThread();
}

export function tarThreadRunning(): boolean {
  return thread !== undefined;
}

/** Writes a layer's tar on the tar thread (see writeTar). */
export function writeTarInThread(job: TarJob): Promise<TarWritten> {
  const worker = tarThread();
  worker.ref();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, job });
  });
}
