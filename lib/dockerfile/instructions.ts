/**
 * Syntax nodes → typed instructions, validated as BuildKit's instruction
 * layer validates them: known keywords (with a "did you mean"), argument
 * counts, known flags with well-formed values, stage names, ONBUILD triggers.
 * Values are still unexpanded here; stages.ts expands them in scope.
 */
import type { Heredoc, InstructionNode, ParsedDockerfile } from './ast.js';
import { errorAt, errorContext, type ErrorContext } from './source-errors.js';
import { closest } from './text.js';

export type FlagKind = 'string' | 'bool' | 'list';
export type FlagValue = string | boolean | string[];
export type Flags = Readonly<Record<string, FlagValue>>;

const DURATION_FLAGS = ['interval', 'timeout', 'start-period', 'start-interval'] as const;

/** Every flag each instruction accepts (BuildKit's, labs included). */
export const FLAG_SPECS: Readonly<Record<string, Readonly<Record<string, FlagKind>>>> = {
  from: { platform: 'string' },
  run: { mount: 'list', network: 'string', security: 'string', device: 'list' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  add: {
    chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list',
    checksum: 'string', 'keep-git-dir': 'bool', unpack: 'bool',
  },
  healthcheck: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

export const KEYWORDS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;
export type Keyword = (typeof KEYWORDS)[number];

/** A command as written: exec form (array) or shell form (one string). */
export type CommandLine = { readonly form: 'exec'; readonly args: readonly string[] } | { readonly form: 'shell'; readonly script: string };

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

interface Base<K extends Keyword> {
  readonly kind: K;
  readonly node: InstructionNode;
  readonly flags: Flags;
}

export type Instruction =
  | (Base<'FROM'> & { readonly image: string; readonly stageName: string | undefined })
  | (Base<'RUN'> & { readonly command: CommandLine; readonly heredocs: readonly Heredoc[] })
  | (Base<'COPY' | 'ADD'> & { readonly sources: readonly string[]; readonly dest: string; readonly heredocs: readonly Heredoc[] })
  | (Base<'ENV' | 'LABEL'> & { readonly pairs: readonly KeyValue[] })
  | (Base<'ARG'> & { readonly args: readonly { readonly name: string; readonly value: string | undefined }[] })
  | (Base<'CMD' | 'ENTRYPOINT'> & { readonly command: CommandLine })
  | (Base<'SHELL'> & { readonly shell: readonly string[] })
  | (Base<'WORKDIR' | 'USER' | 'STOPSIGNAL' | 'MAINTAINER'> & { readonly value: string })
  | (Base<'EXPOSE' | 'VOLUME'> & { readonly values: readonly string[] })
  | (Base<'HEALTHCHECK'> & { readonly test: 'NONE' | CommandLine; readonly options: HealthcheckOptions })
  | (Base<'ONBUILD'> & { readonly trigger: Instruction });

export interface HealthcheckOptions {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly startPeriodMs?: number;
  readonly startIntervalMs?: number;
  readonly retries?: number;
}

const STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;

/** Parses a Go duration ("1m30s", "500ms", "0"); undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}

function parseFlags(ctx: ErrorContext, node: InstructionNode): Flags {
  const spec = FLAG_SPECS[node.command] ?? {};
  const out: Record<string, FlagValue> = {};
  for (const raw of node.flags) {
    const body = raw.startsWith('--') ? raw.slice(2) : raw;
    const eq = body.indexOf('=');
    const name = (eq < 0 ? body : body.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = spec[name];
    const keyword = node.keyword.toUpperCase();
    if (!kind) {
      const known = Object.keys(spec);
      const guess = closest(name, known);
      throw errorAt(ctx, node, `unknown flag: --${name}${guess ? ` (did you mean --${guess}?)` : ''}`, {
        near: raw,
        hint: known.length
          ? `${keyword} accepts ${known.map((k) => '--' + k).join(', ')}`
          : `${keyword} takes no flags; remove ${raw}`,
      });
    }
    if (kind === 'bool') {
      if (name in out) throw errorAt(ctx, node, `duplicate flag specified: --${name}`, { near: raw, hint: `give --${name} once` });
      if (value === undefined || value.toLowerCase() === 'true') out[name] = true;
      else if (value.toLowerCase() === 'false') out[name] = false;
      else throw errorAt(ctx, node, `expecting boolean value for flag ${name}, not: ${value}`, { near: raw, hint: `write --${name} or --${name}=false` });
      continue;
    }
    if (value === undefined) {
      throw errorAt(ctx, node, `missing a value on flag: --${name}`, { near: raw, hint: `write --${name}=VALUE` });
    }
    if (kind === 'list') {
      const list = (out[name] as string[] | undefined) ?? [];
      list.push(value);
      out[name] = list;
      continue;
    }
    if (name in out) throw errorAt(ctx, node, `duplicate flag specified: --${name}`, { near: raw, hint: `give --${name} once` });
    out[name] = value;
  }
  validateFlagValues(ctx, node, out);
  return out;
}

function validateFlagValues(ctx: ErrorContext, node: InstructionNode, flags: Record<string, FlagValue>): void {
  const bad = (flag: string, message: string, hint: string): never => {
    throw errorAt(ctx, node, message, { near: `--${flag}`, hint });
  };
  const literal = (v: unknown): v is string => typeof v === 'string' && !v.includes('$');
  if (node.command === 'run') {
    if (literal(flags.network) && !['default', 'none', 'host'].includes(flags.network)) {
      bad('network', `invalid --network value: ${flags.network}`, 'use --network=default, none or host');
    }
    if (literal(flags.security) && !['sandbox', 'insecure'].includes(flags.security)) {
      bad('security', `invalid --security value: ${flags.security}`, 'use --security=sandbox or insecure');
    }
  }
  if ((node.command === 'copy' || node.command === 'add') && literal(flags.chmod) && !/^[0-7]{3,4}$/.test(flags.chmod)) {
    bad('chmod', `invalid --chmod value: ${flags.chmod}`, 'give octal permission bits, e.g. --chmod=0755');
  }
  if (node.command === 'add' && literal(flags.checksum) && !/^sha(256|384|512):[0-9a-f]+$/.test(flags.checksum)) {
    bad('checksum', `invalid --checksum value: ${flags.checksum}`, 'give a digest, e.g. --checksum=sha256:<64 hex digits>');
  }
  if (node.command === 'healthcheck') {
    for (const name of DURATION_FLAGS) {
      const v = flags[name];
      if (typeof v !== 'string') continue;
      const ms = parseGoDuration(v);
      if (ms === undefined) bad(name, `invalid --${name} duration: ${v}`, `give a duration such as --${name}=30s or 1m30s`);
      else if (ms !== 0 && ms < 1) bad(name, `--${name} cannot be less than 1ms`, `give at least 1ms, or 0 for the default`);
    }
    if (typeof flags.retries === 'string' && !/^\d+$/.test(flags.retries)) {
      bad('retries', `invalid --retries value: ${flags.retries}`, 'give a whole number, e.g. --retries=3');
    }
  }
}

function commandLine(node: InstructionNode): CommandLine {
  return node.json ? { form: 'exec', args: node.args } : { form: 'shell', script: node.args[0] ?? '' };
}

function requireArgs(ctx: ErrorContext, node: InstructionNode, min: number, usage: string): void {
  if (node.args.length < min && node.heredocs.length === 0) {
    const keyword = node.keyword.toUpperCase();
    const what = min === 1 ? 'at least one argument' : `at least ${min} arguments`;
    throw errorAt(ctx, node, `${keyword} requires ${what}`, { hint: `usage: ${usage}` });
  }
}

function exactlyOne(ctx: ErrorContext, node: InstructionNode, usage: string): string {
  const keyword = node.keyword.toUpperCase();
  if (node.args.length !== 1 || node.args[0] === '') {
    throw errorAt(ctx, node, `${keyword} requires exactly one argument`, { hint: `usage: ${usage}` });
  }
  return node.args[0]!;
}

function pairs(node: InstructionNode): KeyValue[] {
  const out: KeyValue[] = [];
  for (let i = 0; i + 1 < node.args.length; i += 3) out.push({ key: node.args[i]!, value: node.args[i + 1]! });
  return out;
}

function toInstruction(ctx: ErrorContext, node: InstructionNode, insideOnbuild: boolean): Instruction {
  const keyword = node.command.toUpperCase();
  if (!(KEYWORDS as readonly string[]).includes(keyword)) {
    const guess = closest(node.keyword.toUpperCase(), KEYWORDS);
    throw errorAt(ctx, node, `unknown instruction: ${node.keyword}${guess ? ` (did you mean ${guess}?)` : ''}`, {
      near: node.keyword,
      hint: guess ? `replace ${node.keyword} with ${guess}` : `instructions are ${KEYWORDS.join(', ')}`,
    });
  }
  const flags = parseFlags(ctx, node);
  const kind = keyword as Keyword;
  switch (kind) {
    case 'FROM': {
      const args = node.args;
      if (args.length === 3 && args[1]!.toLowerCase() !== 'as') {
        throw errorAt(ctx, node, `FROM expects "AS" before the stage name, found "${args[1]}"`, { near: args[1], hint: 'usage: FROM [--platform=P] IMAGE [AS NAME]' });
      }
      if (args.length !== 1 && args.length !== 3) {
        throw errorAt(ctx, node, 'FROM requires either one or three arguments', { hint: 'usage: FROM [--platform=P] IMAGE [AS NAME]' });
      }
      let stageName: string | undefined;
      if (args.length === 3) {
        stageName = args[2]!.toLowerCase();
        if (!STAGE_NAME.test(stageName)) {
          throw errorAt(ctx, node, `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`, {
            near: args[2],
            hint: 'use letters, digits, "-", "_" and ".", starting with a letter',
          });
        }
      }
      return { kind, node, flags, image: args[0]!, stageName };
    }
    case 'RUN':
      requireArgs(ctx, node, 1, 'RUN COMMAND or RUN ["EXECUTABLE", "ARG"...]');
      return { kind, node, flags, command: commandLine(node), heredocs: node.heredocs };
    case 'CMD':
    case 'ENTRYPOINT':
      if (!node.json) requireArgs(ctx, node, 1, `${kind} ["EXECUTABLE", "ARG"...]`);
      return { kind, node, flags, command: commandLine(node) };
    case 'SHELL':
      if (!node.json) {
        throw errorAt(ctx, node, 'SHELL requires the arguments to be in JSON form', { hint: 'write SHELL ["/bin/sh", "-c"]' });
      }
      requireArgs(ctx, node, 1, 'SHELL ["EXECUTABLE", "PARAMETERS"...]');
      return { kind, node, flags, shell: node.args };
    case 'COPY':
    case 'ADD': {
      if (node.args.length < 2) {
        const only = node.args.length === 0 ? 'none was' : 'only one was';
        throw errorAt(ctx, node, `${kind} requires at least two arguments, but ${only} provided. Destination could not be determined.`, {
          hint: `usage: ${kind} SOURCE... DEST`,
        });
      }
      return { kind, node, flags, sources: node.args.slice(0, -1), dest: node.args[node.args.length - 1]!, heredocs: node.heredocs };
    }
    case 'ENV':
    case 'LABEL':
      requireArgs(ctx, node, 1, `${kind} NAME=VALUE...`);
      return { kind, node, flags, pairs: pairs(node) };
    case 'ARG': {
      requireArgs(ctx, node, 1, 'ARG NAME[=DEFAULT]...');
      const args = node.args.map((word) => {
        const eq = word.indexOf('=');
        const name = eq < 0 ? word : word.slice(0, eq);
        if (name === '') throw errorAt(ctx, node, `ARG requires a name before "=" in "${word}"`, { near: word, hint: 'write ARG NAME=DEFAULT' });
        return { name, value: eq < 0 ? undefined : word.slice(eq + 1) };
      });
      return { kind, node, flags, args };
    }
    case 'WORKDIR':
      return { kind, node, flags, value: exactlyOne(ctx, node, 'WORKDIR PATH') };
    case 'USER':
      return { kind, node, flags, value: exactlyOne(ctx, node, 'USER USER[:GROUP]') };
    case 'STOPSIGNAL':
      return { kind, node, flags, value: exactlyOne(ctx, node, 'STOPSIGNAL SIGNAL') };
    case 'MAINTAINER':
      return { kind, node, flags, value: exactlyOne(ctx, node, 'MAINTAINER NAME (deprecated: use LABEL maintainer=NAME)') };
    case 'EXPOSE':
      requireArgs(ctx, node, 1, 'EXPOSE PORT[/PROTOCOL]...');
      return { kind, node, flags, values: node.args };
    case 'VOLUME':
      requireArgs(ctx, node, 1, 'VOLUME PATH... or VOLUME ["PATH"...]');
      if (node.args.some((v) => v.trim() === '')) {
        throw errorAt(ctx, node, 'VOLUME specified can not be an empty string', { hint: 'remove the empty path' });
      }
      return { kind, node, flags, values: node.args };
    case 'HEALTHCHECK': {
      requireArgs(ctx, node, 1, 'HEALTHCHECK [OPTIONS] CMD COMMAND, or HEALTHCHECK NONE');
      const type = node.args[0]!.toUpperCase();
      const options: HealthcheckOptions = {
        ...(typeof flags.interval === 'string' && { intervalMs: parseGoDuration(flags.interval) }),
        ...(typeof flags.timeout === 'string' && { timeoutMs: parseGoDuration(flags.timeout) }),
        ...(typeof flags['start-period'] === 'string' && { startPeriodMs: parseGoDuration(flags['start-period']) }),
        ...(typeof flags['start-interval'] === 'string' && { startIntervalMs: parseGoDuration(flags['start-interval']) }),
        ...(typeof flags.retries === 'string' && { retries: Number(flags.retries) }),
      };
      if (type === 'NONE') {
        if (node.args.length > 1 || Object.keys(flags).length > 0) {
          throw errorAt(ctx, node, 'HEALTHCHECK NONE takes no other arguments', { hint: 'write HEALTHCHECK NONE alone' });
        }
        return { kind, node, flags, test: 'NONE', options };
      }
      if (type !== 'CMD') {
        throw errorAt(ctx, node, `Unknown type "${node.args[0]}" in HEALTHCHECK (try CMD)`, { near: node.args[0], hint: 'usage: HEALTHCHECK [OPTIONS] CMD COMMAND' });
      }
      if (node.args.length < 2) {
        throw errorAt(ctx, node, 'Missing command after HEALTHCHECK CMD', { hint: 'usage: HEALTHCHECK CMD COMMAND' });
      }
      const test: CommandLine = node.json ? { form: 'exec', args: node.args.slice(1) } : { form: 'shell', script: node.args[1]! };
      return { kind, node, flags, test, options };
    }
    case 'ONBUILD': {
      if (insideOnbuild) throw errorAt(ctx, node, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', { hint: 'give one ONBUILD per trigger' });
      if (!node.trigger) throw errorAt(ctx, node, 'ONBUILD requires at least one argument', { hint: 'usage: ONBUILD INSTRUCTION' });
      const innerKeyword = node.trigger.command.toUpperCase();
      if (innerKeyword === 'FROM' || innerKeyword === 'MAINTAINER' || innerKeyword === 'ONBUILD') {
        throw errorAt(ctx, node, `${innerKeyword} isn't allowed as an ONBUILD trigger`, { near: node.trigger.keyword, hint: 'ONBUILD may wrap any instruction but FROM, MAINTAINER and ONBUILD' });
      }
      const inner = { ...node.trigger, startLine: node.startLine, startColumn: node.startColumn, endLine: node.endLine, endColumn: node.endColumn, heredocs: node.heredocs };
      return { kind, node, flags, trigger: toInstruction(ctx, inner, true) };
    }
  }
}

export interface TypedDockerfile {
  readonly parsed: ParsedDockerfile;
  readonly instructions: readonly Instruction[];
}

/** Validates every node; the first problem is thrown as a DockerfileParseError. */
export function toInstructions(parsed: ParsedDockerfile): TypedDockerfile {
  const ctx = errorContext(parsed);
  return { parsed, instructions: parsed.nodes.map((node) => toInstruction(ctx, node, false)) };
}
