/**
 * HTTP for the registry client, on node:http and node:https with their
 * keep-alive agents. Node's fetch would do, but its first request loads
 * undici: 30-45 ms of a CI build that imports its cache from a registry
 * (measured here: a first request on loopback takes 40-55 ms with fetch,
 * 9-12 ms with node:http; each one after 6-8 ms against 2-3.5 ms).
 * Answers look like fetch's Response for what the client reads of them.
 * node:http and node:https are loaded by the first request: loading them
 * took 3 ms of every build's start, registry or not.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

export interface HttpInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** A Blob is streamed (a file to upload, from fs.openAsBlob); either may be sent again after a redirect. */
  readonly body?: Buffer | Blob | undefined;
}

/**
 * A registry's answer: status, headers, and the body read once, whole or as
 * a stream. A body nobody takes in the turn the answer arrives in (a HEAD,
 * a 201, an error status that is thrown) is drained then, so that its
 * connection goes back to the pool instead of keeping the process alive;
 * asking for it later is a programming error, and says so.
 */
export class HttpResponse {
  private taken = false;
  constructor(private readonly message: IncomingMessage, readonly url: string) {
    setImmediate(() => {
      if (this.taken) return;
      this.taken = true;
      message.resume();
    });
  }
  private take(): IncomingMessage {
    if (this.taken) throw new Error(`the body of ${this.url} was read already, or not in the turn its answer came in`);
    this.taken = true;
    return this.message;
  }
  get status(): number {
    return this.message.statusCode ?? 0;
  }
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
  readonly headers = {
    get: (name: string): string | null => {
      const value = this.message.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
  /** The body as a stream (to be read once). */
  get body(): Readable {
    return this.take();
  }
  async arrayBuffer(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.take()) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  async text(): Promise<string> {
    return (await this.arrayBuffer()).toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

const load = createRequire(import.meta.url);

/** node:http or node:https (Node keeps each loaded once). */
function transportFor(protocol: string): { request: typeof import('node:http').request } {
  return load(protocol === 'https:' ? 'node:https' : 'node:http') as typeof import('node:http');
}

function once(url: URL, init: HttpInit): Promise<IncomingMessage> {
  const transport = transportFor(url.protocol);
  const body = init.body;
  const headers: Record<string, string> = { ...init.headers };
  if (body !== undefined) headers['content-length'] = String(Buffer.isBuffer(body) ? body.length : body.size);
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method: init.method ?? 'GET', headers }, resolve);
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else Readable.fromWeb(body.stream() as import('node:stream/web').ReadableStream).on('error', (e) => req.destroy(e)).pipe(req);
  });
}

/**
 * One request, redirects followed as fetch follows them: a 303 (or a 301
 * or 302 to a POST) becomes a GET without a body, and the authorization
 * header is not carried to another origin (a registry's blob store).
 * A connection that fails rejects with the socket's error (its `code`).
 */
export async function httpRequest(target: string | URL, init: HttpInit = {}): Promise<HttpResponse> {
  let url = new URL(target);
  let current = init;
  for (let hops = 0; ; hops++) {
    const message = await once(url, current);
    const location = message.headers.location;
    if (!REDIRECTS.has(message.statusCode ?? 0) || !location || hops >= MAX_REDIRECTS) return new HttpResponse(message, url.toString());
    message.resume();
    const next = new URL(location, url);
    const status = message.statusCode!;
    const method = current.method ?? 'GET';
    const toGet = status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST';
    const headers = { ...current.headers };
    if (next.origin !== url.origin) delete headers.authorization;
    if (toGet) delete headers['content-type'];
    current = { method: toGet ? 'GET' : method, headers, body: toGet ? undefined : current.body };
    url = next;
  }
}
