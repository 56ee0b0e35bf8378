/**
 * Typed instructions → the build plan: stages with their base, the steps
 * with every word expanded in its scope (global ARGs, stage ARGs, ENV,
 * --build-arg), the stage DAG, which stages the target needs, and levels of
 * stages that may build at the same time. Pure: no I/O.
 */
import { constants } from 'node:os';
import { DockerfileParseError } from '../errors/index.js';
import { heredocBody, type InstructionNode } from './ast.js';
import { toInstructions, type Flags, type FlagValue, type Instruction, type Keyword, type TypedDockerfile } from './instructions.js';
import { parseDockerfile } from './parser.js';
import { MountSyntaxError, parseMount, type Mount } from './mounts.js';
import { expandWord, type EnvLookup, type LexOptions } from './shell-lexer.js';
import { errorAt, errorContext, type ErrorContext } from './source-errors.js';
import { closest } from './text.js';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface PlanOptions {
  readonly target?: string | undefined;
  /**
   * What the plan needs of a base image's config: its ENV, which the
   * stage's words expand with (`ENV PATH=/app:$PATH`, `WORKDIR $HOME`), and
   * its ONBUILD triggers, which fire at the start of a stage built FROM it.
   * The caller looks images up; this folder does no I/O. Without it, or for
   * an image the caller does not have, an image base is planned as having
   * neither (the builder refuses a plan that assumed wrong).
   */
  readonly baseImage?: (image: string) => BaseImageFacts | undefined;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly buildPlatform?: Platform;
  readonly targetPlatform?: Platform;
}

/** The parts of a base image's config that planning reads. */
export interface BaseImageFacts {
  /** Config.Env, `KEY=value` each. */
  readonly env: readonly string[];
  /** Config.OnBuild. */
  readonly onBuild: readonly string[];
}

/** The PATH BuildKit gives a stage whose base sets none (scratch, an imported root filesystem). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** An image config's Env (`KEY=value` each; a bare `KEY` is set to nothing), as a map. */
export function envFromList(list: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of list) {
    const eq = kv.indexOf('=');
    env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  }
  return env;
}

/**
 * A signal as Docker's ParseSignal takes it: a number other than 0, or a
 * Linux signal's name in any case, with or without SIG (RTMIN+n, RTMAX-n).
 */
function isSignal(text: string): boolean {
  if (/^\d+$/.test(text)) return Number(text) > 0 && Number(text) <= 64;
  const name = `SIG${text.toUpperCase().replace(/^SIG/, '')}`;
  if (name in constants.signals || name === 'SIGCLD' || name === 'SIGPOLL') return true;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  return rt !== null && (rt[2] === undefined || (rt[2] === (rt[1] === 'MIN' ? '+' : '-') && Number(rt[3]) >= 1 && Number(rt[3]) <= 15));
}

const PORT_SPEC = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i;

/**
 * The ports an EXPOSE word exposes, as the image config keys them
 * (`8000-8001/udp` is 8000/udp and 8001/udp; no protocol is tcp), or
 * undefined if it is not a port. As Docker's port specs, a published form
 * (`[IP:]HOST:PORT`) exposes its container port.
 */
export function exposedPortsOf(word: string): string[] | undefined {
  const m = PORT_SPEC.exec(word.slice(word.lastIndexOf(':') + 1));
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (last > 65535 || last < first) return undefined;
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: last - first + 1 }, (_, i) => `${first + i}/${proto}`);
}

/** Proxy arguments: usable without an ARG, passed to RUN, never in a cache key. */
export const PROXY_ARGS = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
] as const;

export interface PlannedHeredoc {
  readonly name: string;
  /** Body after `<<-` tab stripping, and for COPY/ADD after expansion when the delimiter was unquoted. */
  readonly content: string;
  readonly expand: boolean;
  readonly fileDescriptor: number;
}

export interface PlannedStep {
  readonly line: number;
  readonly endLine: number;
  readonly column: number;
  readonly instruction: Keyword;
  readonly original: string;
  /** Arguments after expansion; for RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK as written. */
  readonly args: readonly string[];
  readonly flags: Flags;
  /** Exec (JSON) form. */
  readonly json: boolean;
  readonly heredocs: readonly PlannedHeredoc[];
  /** RUN: parsed --mount specifications. */
  readonly mounts: readonly Mount[];
  /** ARG values in scope, as RUN sees them in its environment (ENV wins over ARG). */
  readonly argsInScope: Readonly<Record<string, string>>;
  /** RUN: the stage's ARGs so far, in order, as `NAME=value` (ENV's value if it set one; empty if unset), as BuildKit lists them in the step's history. */
  readonly runArgs: readonly string[];
  /** ENV in scope: the base image's (as baseImage gave it, with PATH defaulted) and what this Dockerfile set. */
  readonly env: Readonly<Record<string, string>>;
  /** Proxy --build-args RUN receives; never part of a cache key. */
  readonly proxy: Readonly<Record<string, string>>;
  /** Came from an ONBUILD trigger of the base stage. */
  readonly fromTrigger: boolean;
  /** Variable names this step referenced that were unset. */
  readonly unsetVariables: readonly string[];
  /** Stage indexes this step reads from (COPY --from, RUN --mount from=). */
  readonly stageRefs: readonly number[];
  /** Image references this step reads from (COPY --from=image). */
  readonly imageRefs: readonly string[];
  readonly instr: Instruction;
}

export type StageBase = string | { readonly stage: number };

export interface PlannedStage {
  readonly index: number;
  readonly name: string | null;
  readonly base: StageBase;
  readonly platform: string | undefined;
  readonly line: number;
  needed: boolean;
  readonly dependsOn: number[];
  readonly steps: PlannedStep[];
  /** ONBUILD triggers this stage declares (they fire in stages built on it). */
  readonly triggers: Instruction[];
  /** The base image's ONBUILD triggers this plan fired at the stage's start (as the image config gives them). */
  readonly imageTriggers: readonly string[];
  /** The base image's ENV this plan expanded the stage's words with (as the image config gives it). */
  readonly imageEnv: readonly string[];
  /** Names referenced in FROM that were unset. */
  readonly fromUnset: readonly string[];
}

export interface Plan {
  readonly file: string;
  readonly target: string | null;
  readonly targetIndex: number;
  readonly stages: readonly PlannedStage[];
  readonly levels: readonly (readonly number[])[];
  /** Global ARGs (before the first FROM) with their values. */
  readonly metaArgs: Readonly<Record<string, string>>;
  /** --build-arg names that no ARG consumed. */
  readonly unusedBuildArgs: readonly string[];
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  return architecture === 'arm' ? { os: 'linux', architecture, variant: 'v7' } : { os: 'linux', architecture };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function platformArgs(build: Platform, target: Platform): Record<string, string> {
  return {
    BUILDPLATFORM: formatPlatform(build), BUILDOS: build.os, BUILDARCH: build.architecture, BUILDVARIANT: build.variant ?? '',
    TARGETPLATFORM: formatPlatform(target), TARGETOS: target.os, TARGETARCH: target.architecture, TARGETVARIANT: target.variant ?? '',
  };
}

/** Variables in scope for expansion: ENV shadows ARG. */
class Scope {
  readonly args = new Map<string, string | undefined>();
  readonly env = new Map<string, string>();

  lookup: EnvLookup = (name) => (this.env.has(name) ? this.env.get(name) : this.args.get(name));

  argValues(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.args) if (v !== undefined && !this.env.has(k)) out[k] = v;
    return out;
  }
}

interface Expander {
  word(text: string, node: InstructionNode, unset: Set<string>, options?: LexOptions): string;
}

function makeExpander(ctx: ErrorContext, escapeToken: string, scope: () => EnvLookup): Expander {
  return {
    word(text, node, unset, options = {}) {
      const result = expandWord(text, scope(), { escapeToken, ...options });
      if (!result.ok) {
        const hint = /quote/.test(result.error) ? `close the quote, or escape a literal quote as ${escapeToken}"` : `check the \${...} syntax, or escape a literal $ as ${escapeToken}$`;
        throw errorAt(ctx, node, result.error, { near: text, hint });
      }
      for (const name of result.expansion.unset) unset.add(name);
      return result.expansion.value;
    },
  };
}

/**
 * A base image's ONBUILD trigger as an instruction of this Dockerfile,
 * placed at the FROM line that fires it (errors in it point there).
 */
function imageTrigger(ctx: ErrorContext, text: string, fromNode: InstructionNode): Instruction {
  const refuse = (why: string) => errorAt(ctx, fromNode, `the base image's ONBUILD trigger ${JSON.stringify(text)} ${why}`, {
    hint: 'rebuild the base image with a valid trigger, or build FROM another image',
  });
  let instructions: readonly Instruction[];
  try {
    instructions = toInstructions(parseDockerfile(text, { file: ctx.file })).instructions;
  } catch (e) {
    if (e instanceof DockerfileParseError) throw refuse(`is not a valid instruction: ${e.message}`);
    throw e;
  }
  const instr = instructions[0];
  if (!instr || instructions.length !== 1) throw refuse('is not one instruction');
  if (instr.kind === 'FROM' || instr.kind === 'ONBUILD' || instr.kind === 'MAINTAINER') throw refuse(`is a ${instr.kind}, which a trigger may not be`);
  const at = { startLine: fromNode.startLine, endLine: fromNode.endLine, startColumn: fromNode.startColumn, endColumn: fromNode.endColumn };
  return { ...instr, node: { ...instr.node, ...at } } as Instruction;
}

/** The stage a planned step's `--from` (or mount `from=`) names, or undefined for an image. */
export function stageOfRef(plan: Plan, ref: string): number | undefined {
  const index = stageIndexFor(ref, new Map(plan.stages.flatMap((s, i) => (s.name ? [[s.name.toLowerCase(), i] as [string, number]] : []))), plan.stages.length);
  return index === -1 ? undefined : index;
}

function stageIndexFor(
  ref: string,
  byName: ReadonlyMap<string, number>,
  stageCount: number,
): number | undefined {
  const named = byName.get(ref.toLowerCase());
  if (named !== undefined) return named;
  if (/^\d+$/.test(ref)) {
    const n = Number(ref);
    return n < stageCount ? n : -1;
  }
  return undefined;
}

/** Builds the plan. Throws DockerfileParseError for anything that cannot be planned. */
export function planBuild(typed: TypedDockerfile, options: PlanOptions = {}): Plan {
  const { parsed, instructions } = typed;
  const ctx = errorContext(parsed);
  const buildArgs = options.buildArgs ?? {};
  const build = options.buildPlatform ?? hostPlatform();
  const target = options.targetPlatform ?? build;
  const predefined = platformArgs(build, target);
  const consumed = new Set<string>();

  // Global scope: ARGs before the first FROM.
  const global = new Scope();
  for (const [k, v] of Object.entries(predefined)) global.args.set(k, v);
  const metaArgs: Record<string, string> = {};
  const declaredGlobal = new Set<string>();
  let scope = global;
  const expander = makeExpander(ctx, parsed.escapeToken, () => scope.lookup);

  let i = 0;
  for (; i < instructions.length; i++) {
    const instr = instructions[i]!;
    if (instr.kind === 'FROM') break;
    if (instr.kind !== 'ARG') {
      throw errorAt(ctx, instr.node, `${instr.node.keyword.toUpperCase()} cannot come before the first FROM; only ARG can`, {
        hint: 'start the Dockerfile with FROM (ARGs used in FROM may precede it)',
      });
    }
    for (const arg of instr.args) {
      const name = arg.name;
      consumed.add(name);
      declaredGlobal.add(name);
      const value = name in buildArgs ? buildArgs[name] : arg.value === undefined ? undefined : expander.word(arg.value, instr.node, new Set());
      global.args.set(name, value);
      if (value !== undefined) metaArgs[name] = value;
    }
  }
  if (i >= instructions.length) {
    const at = instructions[instructions.length - 1]?.node;
    throw errorAt(ctx, at ?? parsed.nodes[0]!, 'no FROM instruction: a Dockerfile needs at least one build stage', {
      hint: 'add FROM IMAGE (or FROM scratch) after the global ARGs',
    });
  }

  // Split the rest into stages.
  type RawStage = { from: Extract<Instruction, { kind: 'FROM' }>; body: Instruction[] };
  const raw: RawStage[] = [];
  for (; i < instructions.length; i++) {
    const instr = instructions[i]!;
    if (instr.kind === 'FROM') raw.push({ from: instr, body: [] });
    else raw[raw.length - 1]!.body.push(instr);
  }

  const byName = new Map<string, number>();
  raw.forEach((s, index) => {
    const name = s.from.stageName;
    if (!name) return;
    const prior = byName.get(name);
    if (prior !== undefined) {
      throw errorAt(ctx, s.from.node, `duplicate stage name "${name}" (first defined on line ${raw[prior]!.from.node.startLine})`, {
        near: s.from.node.args[2],
        hint: 'give every stage its own name',
      });
    }
    byName.set(name, index);
  });

  const stages: PlannedStage[] = [];
  /** Each stage's ENV at its end: a stage built on it starts from it. */
  const finalEnvOf: Record<string, string>[] = [];
  for (const [index, rawStage] of raw.entries()) {
    const fromNode = rawStage.from.node;
    scope = global;
    const fromUnset = new Set<string>();
    const image = expander.word(rawStage.from.image, fromNode, fromUnset);
    const platformFlag = rawStage.from.flags.platform;
    const platform = typeof platformFlag === 'string' ? expander.word(platformFlag, fromNode, fromUnset) : undefined;
    if (image === '') {
      throw errorAt(ctx, fromNode, `base name (${rawStage.from.image}) should not be blank`, {
        near: rawStage.from.image,
        hint: fromUnset.size ? `declare ${[...fromUnset].map((n) => `ARG ${n}=...`).join(', ')} before the first FROM, or pass --build-arg` : 'name an image, a stage, or scratch',
      });
    }
    const baseIndex = byName.get(image.toLowerCase());
    const base: StageBase = baseIndex !== undefined && baseIndex < index ? { stage: baseIndex } : image;

    const facts = typeof base === 'string' && base !== 'scratch' ? options.baseImage?.(base) : undefined;
    const stageScope = new Scope();
    if (typeof base === 'object') {
      for (const [k, v] of Object.entries(finalEnvOf[base.stage]!)) stageScope.env.set(k, v);
    } else {
      for (const [k, v] of envFromList(facts?.env ?? [])) stageScope.env.set(k, v);
      // As BuildKit does when a stage starts (not for Windows, whose PATH the OS sets).
      if (!stageScope.env.has('PATH') && !platform?.toLowerCase().startsWith('windows')) stageScope.env.set('PATH', DEFAULT_PATH);
    }
    scope = stageScope;

    const stage: PlannedStage = {
      index,
      name: rawStage.from.stageName ?? null,
      base,
      platform,
      line: fromNode.startLine,
      needed: false,
      dependsOn: typeof base === 'object' ? [base.stage] : [],
      steps: [],
      triggers: [],
      imageTriggers: [...(facts?.onBuild ?? [])],
      imageEnv: [...(facts?.env ?? [])],
      fromUnset: [...fromUnset],
    };

    const body: { instr: Instruction; fromTrigger: boolean }[] = [
      ...(typeof base === 'object' ? stages[base.stage]!.triggers.map((instr) => ({ instr, fromTrigger: true })) : []),
      ...stage.imageTriggers.map((text) => ({ instr: imageTrigger(ctx, text, fromNode), fromTrigger: true })),
      ...rawStage.body.map((instr) => ({ instr, fromTrigger: false })),
    ];
    for (const { instr, fromTrigger } of body) {
      const step = planStep(instr, fromTrigger);
      if (step) {
        stage.steps.push(step);
        for (const ref of step.stageRefs) if (!stage.dependsOn.includes(ref)) stage.dependsOn.push(ref);
      }
    }
    stages.push(stage);
    finalEnvOf.push(Object.fromEntries(stageScope.env));

    function planStep(instr: Instruction, fromTrigger: boolean): PlannedStep | undefined {
      const node = instr.node;
      const unset = new Set<string>();
      const x = (text: string, opts?: LexOptions) => expander.word(text, node, unset, opts);
      let args: string[] = [...node.args];
      const flags: Record<string, FlagValue> = { ...instr.flags };
      const stageRefs: number[] = [];
      const imageRefs: string[] = [];
      let mounts: Mount[] = [];
      let heredocs: PlannedHeredoc[] = node.heredocs.map((h) => ({ name: h.name, content: heredocBody(h), expand: h.expand, fileDescriptor: h.fileDescriptor }));

      const refStage = (ref: string, near: string): void => {
        const target = stageIndexFor(ref, byName, raw.length);
        if (target === -1) {
          throw errorAt(ctx, node, `--from=${ref} refers to stage ${ref}, but the Dockerfile has only ${raw.length} stage${raw.length === 1 ? '' : 's'}`, {
            near,
            hint: 'stage indexes count from 0; use a stage name instead',
          });
        }
        if (target === undefined) {
          imageRefs.push(ref);
          return;
        }
        if (/^\d+$/.test(ref) && target >= index) {
          throw errorAt(ctx, node, `--from=${ref} refers to stage ${target}, which is not before this stage (${index})`, {
            near,
            hint: 'a --from index must name an earlier stage; use a stage name to refer to a later one',
          });
        }
        if (target === index) {
          throw errorAt(ctx, node, `stage ${stage.name ?? index} cannot copy from itself`, { near, hint: 'name another stage in --from' });
        }
        stageRefs.push(target);
      };

      switch (instr.kind) {
        case 'ARG':
          args = [];
          for (const arg of instr.args) {
            consumed.add(arg.name);
            let value: string | undefined;
            if (arg.name in buildArgs) value = buildArgs[arg.name];
            else if (arg.value !== undefined) value = x(arg.value);
            else if (declaredGlobal.has(arg.name)) value = global.args.get(arg.name);
            else if (arg.name in predefined) value = predefined[arg.name];
            stageScope.args.set(arg.name, value);
            args.push(value === undefined ? arg.name : `${arg.name}=${value}`);
          }
          break;
        case 'ENV':
        case 'LABEL':
          args = [];
          for (const pair of instr.pairs) {
            const key = x(pair.key);
            const value = x(pair.value);
            args.push(`${key}=${value}`);
            if (instr.kind === 'ENV') stageScope.env.set(key, value);
          }
          break;
        case 'COPY':
        case 'ADD': {
          args = node.args.map((a) => (isHeredocWord(a, node) ? a : x(a)));
          for (const name of ['from', 'chown', 'chmod', 'checksum'] as const) {
            const v = flags[name];
            if (typeof v === 'string') flags[name] = x(v);
          }
          if (Array.isArray(flags.exclude)) flags.exclude = flags.exclude.map((e) => x(e));
          if (typeof flags.from === 'string') refStage(flags.from, `--from=`);
          if (typeof flags.chmod === 'string' && !/^[0-7]{3,4}$/.test(flags.chmod)) {
            throw errorAt(ctx, node, `invalid --chmod value: ${flags.chmod}`, { near: '--chmod', hint: 'give octal permission bits, e.g. --chmod=0755' });
          }
          heredocs = heredocs.map((h) => (h.expand ? { ...h, content: x(h.content, { skipProcessQuotes: true }) } : h));
          break;
        }
        case 'RUN': {
          if (Array.isArray(flags.mount)) {
            flags.mount = flags.mount.map((m) => x(m));
            mounts = flags.mount.map((text) => {
              try {
                return parseMount(text);
              } catch (e) {
                if (e instanceof MountSyntaxError) throw errorAt(ctx, node, e.message, { near: '--mount', hint: e.hint });
                throw e;
              }
            });
            for (const m of mounts) if (m.from) refStage(m.from, '--mount');
          }
          for (const name of ['network', 'security'] as const) {
            const v = flags[name];
            if (typeof v === 'string') flags[name] = x(v);
          }
          break;
        }
        case 'WORKDIR':
        case 'USER':
        case 'VOLUME':
          args = node.args.map((a) => x(a));
          break;
        case 'STOPSIGNAL':
          args = node.args.map((a) => x(a));
          if (!isSignal(args[0] ?? '')) {
            throw errorAt(ctx, node, `invalid signal "${args[0]}" in STOPSIGNAL`, { near: args[0], hint: 'name a signal, such as SIGTERM or SIGQUIT, or give its number' });
          }
          break;
        case 'EXPOSE':
          args = node.args.map((a) => x(a));
          for (const port of args) {
            if (!exposedPortsOf(port)) {
              throw errorAt(ctx, node, `invalid port "${port}" in EXPOSE`, { near: port, hint: 'write PORT, PORT/PROTOCOL or FIRST-LAST/PROTOCOL (tcp, udp or sctp), e.g. EXPOSE 8080 53/udp' });
            }
          }
          break;
        case 'ONBUILD':
          stage.triggers.push(instr.trigger);
          args = [node.original.replace(/^\s*onbuild\s+/i, '').trim()];
          break;
        default:
          break;
      }
      const env = Object.fromEntries(stageScope.env);
      const proxy: Record<string, string> = {};
      for (const name of PROXY_ARGS) if (name in buildArgs) proxy[name] = buildArgs[name]!;
      return {
        line: node.startLine,
        endLine: node.endLine,
        column: node.startColumn,
        instruction: instr.kind,
        original: node.original.trim(),
        args,
        flags,
        json: node.json,
        heredocs,
        mounts,
        argsInScope: stageScope.argValues(),
        runArgs: instr.kind === 'RUN' ? [...stageScope.args].map(([k, v]) => `${k}=${stageScope.env.get(k) ?? v ?? ''}`) : [],
        env,
        proxy,
        fromTrigger,
        unsetVariables: [...unset],
        stageRefs,
        imageRefs,
        instr,
      };
    }
  }

  const targetIndex = resolveTarget(ctx, stages, raw.map((r) => r.from.node), options.target);
  detectCycles(ctx, stages, raw.map((r) => r.from.node));
  markNeeded(stages, targetIndex);

  for (const name of PROXY_ARGS) consumed.add(name);
  const unusedBuildArgs = Object.keys(buildArgs).filter((k) => !consumed.has(k)).sort();
  return {
    file: parsed.file,
    target: options.target ? stages[targetIndex]!.name : null,
    targetIndex,
    stages,
    levels: levelsOf(stages),
    metaArgs,
    unusedBuildArgs,
  };
}

function isHeredocWord(word: string, node: InstructionNode): boolean {
  return node.heredocs.some((h) => word.replace(/^\d*<<-?/, '').replace(/["']/g, '') === h.name && /^\d*<</.test(word));
}

function resolveTarget(ctx: ErrorContext, stages: readonly PlannedStage[], fromNodes: readonly InstructionNode[], target: string | undefined): number {
  if (target === undefined) return stages.length - 1;
  const index = stages.findIndex((s) => s.name === target.toLowerCase());
  if (index >= 0) return index;
  const names = stages.map((s) => s.name).filter((n): n is string => n !== null);
  const guess = closest(target, names);
  const err: DockerfileParseError = errorAt(ctx, fromNodes[0]!, `target stage "${target}" could not be found${guess ? ` (did you mean "${guess}"?)` : ''}`, {
    hint: names.length ? `stages are: ${names.join(', ')}` : 'name a stage with FROM IMAGE AS NAME',
  });
  throw err;
}

function detectCycles(ctx: ErrorContext, stages: readonly PlannedStage[], fromNodes: readonly InstructionNode[]): void {
  const state = new Array<0 | 1 | 2>(stages.length).fill(0);
  const path: number[] = [];
  const visit = (i: number): void => {
    if (state[i] === 2) return;
    if (state[i] === 1) {
      const cycle = [...path.slice(path.indexOf(i)), i];
      const describe = cycle.map((s) => `${stages[s]!.name ?? s} (line ${stages[s]!.line})`).join(' → ');
      throw errorAt(ctx, fromNodes[i]!, `circular dependency between stages: ${describe}`, {
        hint: 'a stage cannot depend, directly or through others, on itself',
      });
    }
    state[i] = 1;
    path.push(i);
    for (const d of stages[i]!.dependsOn) visit(d);
    path.pop();
    state[i] = 2;
  };
  for (let i = 0; i < stages.length; i++) visit(i);
}

function markNeeded(stages: readonly PlannedStage[], target: number): void {
  const stack = [target];
  while (stack.length) {
    const s = stages[stack.pop()!]!;
    if (s.needed) continue;
    s.needed = true;
    stack.push(...s.dependsOn);
  }
}

/** Needed stages grouped so that every stage's dependencies are in earlier groups. */
function levelsOf(stages: readonly PlannedStage[]): number[][] {
  const level = new Map<number, number>();
  const depth = (i: number): number => {
    const known = level.get(i);
    if (known !== undefined) return known;
    const d = Math.max(-1, ...stages[i]!.dependsOn.map(depth)) + 1;
    level.set(i, d);
    return d;
  };
  const levels: number[][] = [];
  for (const s of stages) {
    if (!s.needed) continue;
    const d = depth(s.index);
    (levels[d] ??= []).push(s.index);
  }
  return levels.filter((l) => l.length > 0);
}
