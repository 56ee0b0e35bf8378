/**
 * Remote image references with Docker's defaults: `busybox` is
 * `docker.io/library/busybox:latest`; a first component with a dot or a
 * port, or `localhost`, names the registry; `@sha256:...` pins a digest.
 */
import { ImageError } from '../../errors/index.js';

export interface RemoteRef {
  /** Host (and port) as written, `docker.io` by default. */
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

export function parseRemoteRef(ref: string): RemoteRef {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new ImageError(`invalid digest in ${ref}`, ref, { hint: 'a digest looks like sha256:<64 hex digits>' });
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) registry = parts.shift()!;
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (!parts.every((p) => COMPONENT.test(p))) throw new ImageError(`invalid image reference "${ref}"`, ref, { hint: 'write [REGISTRY/]NAME[:TAG|@DIGEST], lowercase' });
  if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) throw new ImageError(`invalid tag in "${ref}"`, ref, { hint: 'tags are letters, digits, _ . and -' });
  return { registry, repository: parts.join('/'), tag: tag ?? (digest ? undefined : 'latest'), digest };
}

export function formatRemoteRef(r: RemoteRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Whether the registry is spoken to over plain HTTP: loopback hosts always, others when named insecure. */
export function isInsecure(registry: string, insecure: readonly string[]): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || insecure.includes(registry) || insecure.includes(host);
}
