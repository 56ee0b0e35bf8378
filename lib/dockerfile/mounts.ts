/** `RUN --mount=...` specifications, parsed and validated as BuildKit does. */

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';

export interface Mount {
  readonly type: MountType;
  readonly target: string | undefined;
  readonly source: string | undefined;
  /** A stage name, stage index or image the mount reads from. */
  readonly from: string | undefined;
  readonly readOnly: boolean;
  /** cache: id; secret/ssh: id. */
  readonly id: string | undefined;
  readonly sharing: 'shared' | 'private' | 'locked';
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly sizeBytes: number | undefined;
  readonly required: boolean;
  /** secret: the environment variable to expose it as. */
  readonly env: string | undefined;
}

export class MountSyntaxError {
  constructor(readonly message: string, readonly hint: string) {}
}

function splitCSV(text: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      if (quoted && text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  if (quoted) throw new MountSyntaxError(`unterminated quote in --mount=${text}`, 'close the quote');
  fields.push(field);
  return fields;
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value.toLowerCase() === 'true') return true;
  if (value.toLowerCase() === 'false') return false;
  throw new MountSyntaxError(`invalid value for ${key}: ${value}`, `write ${key}=true or ${key}=false`);
}

function parseNumber(key: string, value: string | undefined, radix: number): number {
  const n = value !== undefined && (radix === 8 ? /^[0-7]+$/ : /^\d+$/).test(value) ? parseInt(value, radix) : NaN;
  if (Number.isNaN(n)) throw new MountSyntaxError(`invalid value for ${key}: ${value ?? ''}`, radix === 8 ? `write ${key}=0755` : `write ${key}=1000`);
  return n;
}

/** A size as Docker reads one (64m, 1g, 512MB, 2GiB: units of 1024), in bytes; undefined if it is not one. */
export function parseByteSize(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?$/i.exec(value);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase().replace(/i?b$/, '');
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Math.round(Number(m[1]) * (mult[unit] ?? 1));
}

function parseSize(value: string | undefined): number {
  const bytes = parseByteSize(value ?? '');
  if (bytes === undefined) throw new MountSyntaxError(`invalid size: ${value ?? ''}`, 'write size=64m or size=1g');
  return bytes;
}

/** Parses one --mount value (already expanded). */
export function parseMount(text: string): Mount {
  let type: MountType = 'bind';
  const seen: Record<string, string | undefined> = {};
  for (const field of splitCSV(text)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    seen[key] = value;
    if (key === 'type') {
      if (!['bind', 'cache', 'tmpfs', 'secret', 'ssh'].includes(value ?? '')) {
        throw new MountSyntaxError(`unsupported mount type "${value ?? ''}"`, 'use type=bind, cache, tmpfs, secret or ssh');
      }
      type = value as MountType;
    }
  }
  let readOnly = type === 'bind' || type === 'secret' || type === 'ssh';
  let target: string | undefined;
  let source: string | undefined;
  let from: string | undefined;
  let id: string | undefined;
  let sharing: Mount['sharing'] = 'shared';
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let sizeBytes: number | undefined;
  let required = false;
  let env: string | undefined;
  for (const [key, value] of Object.entries(seen)) {
    switch (key) {
      case 'type':
        break;
      case 'target': case 'dst': case 'destination':
        target = value;
        break;
      case 'source': case 'src':
        source = value;
        break;
      case 'from':
        from = value;
        break;
      case 'ro': case 'readonly':
        readOnly = parseBool(key, value);
        break;
      case 'rw': case 'readwrite':
        readOnly = !parseBool(key, value);
        break;
      case 'id':
        id = value;
        break;
      case 'sharing':
        if (value !== 'shared' && value !== 'private' && value !== 'locked') {
          throw new MountSyntaxError(`unsupported sharing value "${value ?? ''}"`, 'use sharing=shared, private or locked');
        }
        sharing = value;
        break;
      case 'mode':
        mode = parseNumber(key, value, 8);
        break;
      case 'uid':
        uid = parseNumber(key, value, 10);
        break;
      case 'gid':
        gid = parseNumber(key, value, 10);
        break;
      case 'size':
        sizeBytes = parseSize(value);
        break;
      case 'required':
        required = parseBool(key, value);
        break;
      case 'env':
        env = value;
        break;
      default:
        throw new MountSyntaxError(`unexpected key '${key}' in '${text}'`, 'mount keys are type, target, source, from, ro, rw, id, sharing, mode, uid, gid, size, required, env');
    }
  }
  if (type === 'secret' || type === 'ssh') {
    if (type === 'secret' && !id && !target && !env) {
      throw new MountSyntaxError('a secret mount needs id=, target= or env=', 'write --mount=type=secret,id=NAME');
    }
  } else if (!target) {
    throw new MountSyntaxError(`mount type=${type} requires a target`, `write --mount=type=${type},target=/PATH`);
  }
  if (type === 'tmpfs' && from) throw new MountSyntaxError('a tmpfs mount cannot have from=', 'remove from=');
  return { type, target, source, from, readOnly, id, sharing, mode, uid, gid, sizeBytes, required, env };
}
