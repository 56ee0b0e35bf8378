/**
 * USER and --chown resolved as Docker resolves them: names through the
 * image's own /etc/passwd and /etc/group, numbers as they are (a uid with
 * no passwd entry runs with gid 0), supplementary groups from /etc/group.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors/index.js';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface RunUser extends Owner {
  readonly groups: readonly number[];
  readonly home: string;
}

function table(rootfs: string, file: 'passwd' | 'group'): string[][] {
  try {
    return readFileSync(path.join(rootfs, 'etc', file), 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

const NUMBER = /^\d+$/;

function groupId(rootfs: string, group: string, where: { file: string; line: number }): number {
  if (NUMBER.test(group)) return Number(group);
  const entry = table(rootfs, 'group').find((g) => g[0] === group);
  if (!entry) throw new BuildError(`unable to find group ${group}: no matching entries in group file`, where, { hint: 'create the group in an earlier RUN, or give a numeric id' });
  return Number(entry[2]);
}

/** `user[:group]` for RUN: ids, supplementary groups and home directory. */
export function resolveUser(rootfs: string, spec: string, where: { file: string; line: number }): RunUser {
  const [user, group] = spec.split(':') as [string, string | undefined];
  const passwd = table(rootfs, 'passwd');
  const entry = NUMBER.test(user) ? passwd.find((p) => p[2] === user) : passwd.find((p) => p[0] === user);
  if (!entry && !NUMBER.test(user)) {
    throw new BuildError(`unable to find user ${user}: no matching entries in passwd file`, where, { hint: 'create the user in an earlier RUN (adduser), or give a numeric id' });
  }
  const uid = Number(entry ? entry[2] : user);
  const gid = group !== undefined ? groupId(rootfs, group, where) : entry ? Number(entry[3]) : 0;
  const name = entry?.[0];
  const groups = group !== undefined || !name
    ? [gid]
    : [...new Set([gid, ...table(rootfs, 'group').filter((g) => (g[3] ?? '').split(',').includes(name)).map((g) => Number(g[2]))])];
  return { uid, gid, groups, home: entry?.[5] || '/' };
}

/** `--chown=user[:group]` (names or numbers) as ids; root when absent. */
export function resolveOwner(rootfs: string, spec: string | undefined, where: { file: string; line: number }): Owner {
  if (!spec) return { uid: 0, gid: 0 };
  const { uid, gid } = resolveUser(rootfs, spec, where);
  return { uid, gid };
}
