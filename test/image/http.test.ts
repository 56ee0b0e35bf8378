/** The registry client's HTTP: redirects as fetch follows them, bodies that free their connection, errors with the socket's code. */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpRequest } from '../../lib/image/registry/http.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: string;
}

async function listen(handle: (req: IncomingMessage, body: string) => { status: number; headers?: Record<string, string>; body?: string }, seen: Seen[]): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
      const answer = handle(req, body);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('registry HTTP', () => {
  const seenHere: Seen[] = [];
  const seenThere: Seen[] = [];
  let here: { server: Server; base: string };
  let there: { server: Server; base: string };
  before(async () => {
    there = await listen(() => ({ status: 200, body: 'blob bytes' }), seenThere);
    here = await listen((req) => {
      if (req.url === '/away') return { status: 307, headers: { location: `${there.base}/blob` } };
      if (req.url === '/again') return { status: 308, headers: { location: '/landed' } };
      if (req.url === '/posted') return { status: 303, headers: { location: '/result' } };
      if (req.url === '/big') return { status: 200, body: 'x'.repeat(200_000) };
      return { status: 201, body: 'ok' };
    }, seenHere);
  });
  after(() => {
    here.server.close();
    there.server.close();
  });

  it('follows a redirect to another origin without the authorization header, and keeps it on the same origin', async () => {
    const away = await httpRequest(`${here.base}/away`, { headers: { authorization: 'Bearer secret' } });
    assert.equal(away.status, 200);
    assert.equal(await away.text(), 'blob bytes');
    assert.equal(seenThere.at(-1)!.authorization, undefined);
    const again = await httpRequest(`${here.base}/again`, { method: 'PUT', headers: { authorization: 'Bearer secret' }, body: Buffer.from('payload') });
    assert.equal(again.status, 201);
    assert.deepEqual(seenHere.at(-1), { method: 'PUT', url: '/landed', authorization: 'Bearer secret', body: 'payload' });
  });

  it('turns a POST answered with 303 into a GET without a body', async () => {
    const r = await httpRequest(`${here.base}/posted`, { method: 'POST', body: Buffer.from('form') });
    assert.equal(r.status, 201);
    assert.deepEqual(seenHere.at(-1), { method: 'GET', url: '/result', authorization: undefined, body: '' });
  });

  it('streams a Blob body', async () => {
    const r = await httpRequest(`${here.base}/upload`, { method: 'PUT', body: new Blob(['from a blob']) });
    assert.equal(r.status, 201);
    assert.equal(seenHere.at(-1)!.body, 'from a blob');
  });

  it('drains a body nobody takes, and says so when it is asked for too late', async () => {
    const r = await httpRequest(`${here.base}/big`);
    assert.equal(r.ok, true);
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(r.arrayBuffer(), /was read already, or not in the turn its answer came in/);
    // Its connection went back to the pool: the next request is answered.
    assert.equal(await (await httpRequest(`${here.base}/big`)).text(), 'x'.repeat(200_000));
  });

  it('rejects with the socket\'s code when nothing listens', async () => {
    const port = (here.server.address() as AddressInfo).port;
    const closed = await listen(() => ({ status: 200 }), []);
    const gone = closed.base;
    await new Promise((resolve) => closed.server.close(resolve));
    assert.notEqual(gone, `http://127.0.0.1:${port}`);
    await assert.rejects(httpRequest(`${gone}/v2/`), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });
});
