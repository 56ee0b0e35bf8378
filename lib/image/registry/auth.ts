/**
 * Registry credentials: `strata login` keeps them in strata's own file
 * ($XDG_CONFIG_HOME/strata/auth.json, or $STRATA_AUTH_FILE), in the shape
 * Docker's config uses ({ "auths": { host: { "auth": base64(user:pass) } } }),
 * and Docker's ~/.docker/config.json (or $DOCKER_CONFIG/config.json) is read
 * too, so a machine that ran `docker login` needs nothing more.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../cache/index.js';
import { homedir } from 'node:os';
import path from 'node:path';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

type AuthFile = { auths?: Record<string, { auth?: string }> };

export function strataAuthFile(): string {
  if (process.env.STRATA_AUTH_FILE) return process.env.STRATA_AUTH_FILE;
  const config = process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(config, 'strata', 'auth.json');
}

function dockerConfigFile(): string {
  return path.join(process.env.DOCKER_CONFIG ?? path.join(homedir(), '.docker'), 'config.json');
}

function readAuthFile(file: string): AuthFile {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as AuthFile;
  } catch {
    return {};
  }
}

/** The names a registry may be filed under (Docker Hub has a legacy one). */
function keysFor(registry: string): string[] {
  return registry === 'docker.io' ? ['docker.io', 'https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io'] : [registry, `https://${registry}`, `http://${registry}`];
}

export function credentialsFor(registry: string): Credentials | undefined {
  for (const file of [strataAuthFile(), dockerConfigFile()]) {
    const auths = readAuthFile(file).auths ?? {};
    for (const key of keysFor(registry)) {
      const encoded = auths[key]?.auth;
      if (!encoded) continue;
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

export function saveCredentials(registry: string, creds: Credentials): string {
  const file = strataAuthFile();
  const current = readAuthFile(file);
  const auths = { ...(current.auths ?? {}), [registry]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  writeFileAtomic(file, JSON.stringify({ ...current, auths }, null, 2) + '\n', { mode: 0o600, dirMode: 0o700 });
  return file;
}

export function removeCredentials(registry: string): boolean {
  const file = strataAuthFile();
  const current = readAuthFile(file);
  if (!current.auths?.[registry]) return false;
  const { [registry]: _gone, ...rest } = current.auths;
  writeFileAtomic(file, JSON.stringify({ ...current, auths: rest }, null, 2) + '\n', { mode: 0o600 });
  return true;
}
