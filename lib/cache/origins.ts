/**
 * Where a blob is known to live in registries (`registry/repository`, one
 * per line, by digest): what a push needs to ask for a cross-repository
 * mount instead of sending the bytes. Only a hint: a stale line just means
 * the registry will not mount and the blob is uploaded.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const originsFile = (store: string, digest: string) => path.join(store, 'cache', 'origins', digest.replace(/^sha256:/, ''));

export function blobOrigins(store: string, digest: string): string[] {
  try {
    return readFileSync(originsFile(store, digest), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

export function noteBlobOrigin(store: string, digest: string, where: string): void {
  if (blobOrigins(store, digest).includes(where)) return;
  mkdirSync(path.dirname(originsFile(store, digest)), { recursive: true });
  appendFileSync(originsFile(store, digest), `${where}\n`);
}
