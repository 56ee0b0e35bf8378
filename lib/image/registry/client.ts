/**
 * Speaking the OCI Distribution API to one repository: plain HTTP for
 * loopback and --insecure-registry hosts, HTTPS otherwise; a 401's
 * WWW-Authenticate challenge answered with a bearer token (fetched from the
 * realm it names, with the user's credentials when there are any) or with
 * basic auth; the token kept for the requests after it.
 */
import { ImageError } from '../../errors/index.js';
import { credentialsFor, type Credentials } from './auth.js';
import { httpRequest, type HttpResponse } from './http.js';
import { formatRemoteRef, isInsecure, type RemoteRef } from './reference.js';

export interface Repository {
  readonly ref: RemoteRef;
  readonly base: string;
  readonly actions: 'pull' | 'pull,push';
  readonly credentials: Credentials | undefined;
  authorization: string | undefined;
}

export interface RegistryOptions {
  /** Registries (host or host:port) to reach over plain HTTP. */
  readonly insecure?: readonly string[];
}

export function openRepository(ref: RemoteRef, actions: 'pull' | 'pull,push', options: RegistryOptions = {}): Repository {
  const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
  const scheme = isInsecure(ref.registry, options.insecure ?? []) ? 'http' : 'https';
  return { ref, base: `${scheme}://${host}`, actions, credentials: credentialsFor(ref.registry), authorization: undefined };
}

/** `Bearer realm="...",service="...",scope="..."` as a map (scheme under `scheme`). */
function parseChallenge(header: string): Record<string, string> {
  const scheme = header.slice(0, header.indexOf(' ')).toLowerCase();
  const params: Record<string, string> = { scheme };
  for (const m of header.slice(header.indexOf(' ') + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return params;
}

const basic = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/** Errors made by `unreachable`, with the network's own word for what happened (ECONNREFUSED, UND_ERR_SOCKET, ...). */
const unreachableErrors = new WeakMap<Error, string>();

function unreachable(repo: Repository, e: unknown): ImageError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? (e as { code?: string }).code ?? cause?.message ?? (e as Error).message;
  const error = new ImageError(`cannot reach the registry ${repo.ref.registry}: ${reason}`, formatRemoteRef(repo.ref), {
    hint: repo.base.startsWith('https') ? 'is it up? For a registry without TLS, pass --insecure-registry HOST:PORT' : 'is it up, and on that port?',
  });
  unreachableErrors.set(error, reason);
  return error;
}

/** Why a request failed to get an answer at all (the registry down, the connection cut): worth another try. Undefined for any other error. */
export function connectionFailure(e: unknown): string | undefined {
  return e instanceof Error ? unreachableErrors.get(e) : undefined;
}

async function answerChallenge(repo: Repository, header: string): Promise<void> {
  const challenge = parseChallenge(header);
  const where = formatRemoteRef(repo.ref);
  if (challenge.scheme === 'basic') {
    if (!repo.credentials) throw new ImageError(`the registry ${repo.ref.registry} wants a user name and password`, where, { hint: `strata login ${repo.ref.registry}` });
    repo.authorization = basic(repo.credentials);
    return;
  }
  if (challenge.scheme !== 'bearer' || !challenge.realm) throw new ImageError(`the registry ${repo.ref.registry} asks for an authentication strata does not speak (${header})`, where, { hint: 'use a registry with bearer-token or basic auth' });
  const url = new URL(challenge.realm);
  if (challenge.service) url.searchParams.set('service', challenge.service);
  url.searchParams.set('scope', challenge.scope ?? `repository:${repo.ref.repository}:${repo.actions}`);
  let response: HttpResponse;
  try {
    response = await httpRequest(url, { headers: repo.credentials ? { authorization: basic(repo.credentials) } : {} });
  } catch (e) {
    throw unreachable(repo, e);
  }
  if (response.status === 401 || response.status === 403) {
    throw new ImageError(`the registry ${repo.ref.registry} refused the credentials${repo.credentials ? ` of ${repo.credentials.username}` : ''}`, where, { hint: `strata login ${repo.ref.registry}` });
  }
  if (!response.ok) throw new ImageError(`the token service of ${repo.ref.registry} answered ${response.status}`, where, { hint: 'try again later' });
  const body = (await response.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new ImageError(`the token service of ${repo.ref.registry} gave no token`, where, { hint: 'try again later' });
  repo.authorization = `Bearer ${token}`;
}

export interface RequestInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** Re-sent as it is if an auth challenge makes a second attempt necessary. */
  readonly body?: Buffer | Blob;
}

/** A request to the repository (`path` below /v2/NAME/, or an absolute URL a Location header gave). */
export async function request(repo: Repository, path: string, init: RequestInit = {}): Promise<HttpResponse> {
  const url = /^https?:/.test(path) ? path : `${repo.base}/v2/${repo.ref.repository}/${path}`;
  for (let attempt = 0; ; attempt++) {
    let response: HttpResponse;
    try {
      response = await httpRequest(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(repo.authorization ? { authorization: repo.authorization } : {}) },
        body: init.body,
      });
    } catch (e) {
      throw unreachable(repo, e);
    }
    const challenge = response.headers.get('www-authenticate');
    if (response.status === 401 && challenge && attempt === 0) {
      await response.arrayBuffer();
      await answerChallenge(repo, challenge);
      continue;
    }
    if (response.status === 401) {
      throw new ImageError(`the registry ${repo.ref.registry} refused ${repo.credentials ? `the credentials of ${repo.credentials.username}` : 'an anonymous request'}`, formatRemoteRef(repo.ref), { hint: `strata login ${repo.ref.registry}` });
    }
    return response;
  }
}

/** Whether the registry accepts these credentials (asked at /v2/, as `docker login` does); throws when it refuses them. */
export async function checkCredentials(registry: string, credentials: Credentials, options: RegistryOptions = {}): Promise<void> {
  const repo: Repository = { ...openRepository({ registry, repository: 'strata/login-check', tag: 'latest', digest: undefined }, 'pull', options), credentials };
  let response: HttpResponse;
  try {
    response = await httpRequest(`${repo.base}/v2/`);
  } catch (e) {
    throw unreachable(repo, e);
  }
  const challenge = response.headers.get('www-authenticate');
  if (response.status !== 401 || !challenge) return; // no authentication asked for
  const parsed = parseChallenge(challenge);
  if (parsed.scheme === 'bearer') {
    await answerChallenge(repo, challenge.replace(/,?\s*scope="[^"]*"/, ''));
    return;
  }
  const again = await httpRequest(`${repo.base}/v2/`, { headers: { authorization: basic(credentials) } }).catch((e: unknown) => {
    throw unreachable(repo, e);
  });
  if (again.status === 401) throw new ImageError(`the registry ${registry} refused the credentials of ${credentials.username}`, registry, { hint: 'check the user name and password' });
}
