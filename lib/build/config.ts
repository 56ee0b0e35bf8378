/**
 * The image config a stage builds up, instruction by instruction, as
 * `docker build` (BuildKit) records it: Env, User, WorkingDir, Cmd,
 * Entrypoint, Labels, ExposedPorts, Volumes, StopSignal, Healthcheck,
 * OnBuild, Shell, and one history entry per instruction.
 */
import { DEFAULT_PATH, envFromList, exposedPortsOf, type PlannedStep } from '../dockerfile/index.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image/index.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** A mutable working copy of a config while a stage is built. */
export interface StageConfig {
  architecture: string;
  os: string;
  variant: string | undefined;
  env: Map<string, string>;
  user: string;
  workdir: string;
  cmd: string[] | null;
  entrypoint: string[] | null;
  labels: Record<string, string>;
  exposed: Record<string, Record<string, never>>;
  volumes: Record<string, Record<string, never>>;
  stopSignal: string | undefined;
  healthcheck: ContainerConfig['Healthcheck'];
  onBuild: string[];
  shell: string[] | undefined;
  author: string | undefined;
  history: HistoryEntry[];
  /** CMD was set in this stage (an ENTRYPOINT then keeps it). */
  cmdSetHere: boolean;
  /** Config.ArgsEscaped: BuildKit sets it on every CMD, and an image keeps its base's. */
  argsEscaped: boolean;
}

export function stageConfigFrom(image: ImageConfig | undefined, platform: { architecture: string; os: string; variant?: string }): StageConfig {
  const c = image?.config ?? {};
  const env = envFromList(c.Env ?? []);
  const os = image?.os ?? platform.os;
  // As the plan does (planBuild): a base without PATH (scratch, an imported root filesystem) gets the
  // default one, as BuildKit gives it, so the image's config says what RUN used.
  if (!env.has('PATH') && os !== 'windows') env.set('PATH', DEFAULT_PATH);
  return {
    architecture: image?.architecture ?? platform.architecture,
    os,
    variant: image?.variant ?? platform.variant,
    env,
    user: c.User ?? '',
    workdir: c.WorkingDir ?? '',
    cmd: c.Cmd ?? null,
    entrypoint: c.Entrypoint ?? null,
    labels: { ...(c.Labels ?? {}) },
    exposed: { ...(c.ExposedPorts ?? {}) },
    volumes: { ...(c.Volumes ?? {}) },
    stopSignal: c.StopSignal,
    healthcheck: c.Healthcheck,
    onBuild: [],
    shell: c.Shell,
    author: image?.author,
    history: [...(image?.history ?? [])],
    cmdSetHere: false,
    argsEscaped: c.ArgsEscaped === true,
  };
}

export function cloneStageConfig(c: StageConfig): StageConfig {
  return { ...c, env: new Map(c.env), labels: { ...c.labels }, exposed: { ...c.exposed }, volumes: { ...c.volumes }, onBuild: [...c.onBuild], history: [...c.history] };
}

export function shellOf(c: StageConfig): string[] {
  return c.shell ?? DEFAULT_SHELL;
}

/** The container path a relative path means under the current WORKDIR. */
export function resolveInContainer(c: StageConfig, p: string): string {
  const base = c.workdir || '/';
  const joined = p.startsWith('/') ? p : `${base.replace(/\/$/, '')}/${p}`;
  const parts: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

/** The argv of a CMD, ENTRYPOINT or RUN: its exec form, or its shell form under SHELL. */
export function commandOf(c: StageConfig, step: PlannedStep): string[] {
  return step.json ? [...step.args] : [...shellOf(c), step.args[0] ?? ''];
}

function keyValues(args: readonly string[]): [string, string][] {
  return args.map((kv) => {
    const eq = kv.indexOf('=');
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

/** Applies a metadata instruction; returns false for instructions that are not metadata. */
export function applyMetadata(c: StageConfig, step: PlannedStep): boolean {
  const instr = step.instr;
  switch (instr.kind) {
    case 'ENV':
      for (const [k, v] of keyValues(step.args)) c.env.set(k, v);
      return true;
    case 'LABEL':
      for (const [k, v] of keyValues(step.args)) c.labels[k] = v;
      return true;
    case 'ARG':
      return true;
    case 'USER':
      c.user = step.args[0] ?? '';
      return true;
    case 'EXPOSE':
      for (const port of exposedPorts(step.args)) c.exposed[port] = {};
      return true;
    case 'VOLUME':
      for (const v of step.args) c.volumes[v] = {};
      return true;
    case 'CMD':
      c.cmd = commandOf(c, step);
      c.cmdSetHere = true;
      c.argsEscaped = true;
      return true;
    case 'ENTRYPOINT':
      c.entrypoint = commandOf(c, step);
      if (!c.cmdSetHere) c.cmd = null;
      return true;
    case 'STOPSIGNAL':
      c.stopSignal = step.args[0];
      return true;
    case 'SHELL':
      c.shell = [...step.args];
      return true;
    case 'MAINTAINER':
      c.author = step.args[0];
      return true;
    case 'ONBUILD':
      c.onBuild.push(step.args[0] ?? '');
      return true;
    case 'HEALTHCHECK': {
      if (instr.test === 'NONE') c.healthcheck = { Test: ['NONE'] };
      else {
        const test = instr.test.form === 'exec' ? ['CMD', ...instr.test.args] : ['CMD-SHELL', instr.test.script];
        const ns = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 1e6));
        c.healthcheck = {
          Test: test,
          ...(instr.options.intervalMs !== undefined && { Interval: ns(instr.options.intervalMs) }),
          ...(instr.options.timeoutMs !== undefined && { Timeout: ns(instr.options.timeoutMs) }),
          ...(instr.options.startPeriodMs !== undefined && { StartPeriod: ns(instr.options.startPeriodMs) }),
          ...(instr.options.startIntervalMs !== undefined && { StartInterval: ns(instr.options.startIntervalMs) }),
          ...(instr.options.retries !== undefined && { Retries: instr.options.retries }),
        };
      }
      return true;
    }
    default:
      return false;
  }
}

/** The ports EXPOSE words expose (the plan checked each is a port). */
export function exposedPorts(words: readonly string[]): string[] {
  return words.flatMap((w) => exposedPortsOf(w) ?? []);
}

export function toImageConfig(c: StageConfig, diffIds: readonly string[], created: string): ImageConfig {
  const config: ContainerConfig = {
    ...(c.user && { User: c.user }),
    ...(Object.keys(c.exposed).length && { ExposedPorts: c.exposed }),
    Env: [...c.env].map(([k, v]) => `${k}=${v}`),
    ...(c.entrypoint && { Entrypoint: c.entrypoint }),
    ...(c.cmd && { Cmd: c.cmd }),
    ...(c.argsEscaped && { ArgsEscaped: true }),
    ...(Object.keys(c.volumes).length && { Volumes: c.volumes }),
    ...(c.workdir && { WorkingDir: c.workdir }),
    ...(Object.keys(c.labels).length && { Labels: c.labels }),
    ...(c.stopSignal && { StopSignal: c.stopSignal }),
    ...(c.onBuild.length && { OnBuild: c.onBuild }),
    ...(c.shell && { Shell: c.shell }),
    ...(c.healthcheck && { Healthcheck: c.healthcheck }),
  };
  return {
    created,
    ...(c.author && { author: c.author }),
    architecture: c.architecture,
    os: c.os,
    ...(c.variant && { variant: c.variant }),
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: datedHistory(c.history),
  };
}

/**
 * The history with a date on every entry, as BuildKit's image exporter
 * dates it: a step that made a layer keeps that layer's time; the metadata
 * steps, recorded undated, take the time of the first layer made after the
 * first of them (so an ENV right after FROM is not dated like the base
 * image), and after that the time of the entry before them. A rebuild from
 * the cache keeps every layer's time, so it dates the history identically.
 */
export function datedHistory(history: readonly HistoryEntry[]): HistoryEntry[] {
  let created: string | undefined;
  let gap = false;
  for (const h of history) {
    if (h.created === undefined) {
      gap = true;
    } else {
      created = h.created;
      if (gap) break;
    }
  }
  gap = false;
  return history.map((h) => {
    if (h.created === undefined) {
      gap = true;
      return created === undefined ? h : { created, ...h };
    }
    if (gap) created = h.created;
    return h;
  });
}
