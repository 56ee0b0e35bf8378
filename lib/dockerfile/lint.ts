/**
 * `strata check`: rules that catch what costs Docker users cache hits or
 * correctness, each with the line and a concrete fix. Pure: facts about the
 * build context are passed in by the caller.
 */
import type { Instruction, TypedDockerfile } from './instructions.js';
import type { Plan, PlannedStage, PlannedStep } from './plan.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  readonly rule: string;
  readonly severity: Severity;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** What to write instead: replacement lines, or a concrete action. */
  readonly fix: string;
}

export interface ContextFacts {
  /** Whether a .dockerignore (or <Dockerfile>.dockerignore) applies. */
  readonly hasIgnoreFile: boolean;
  /** Names at the top of the build context. */
  readonly topLevelNames: ReadonlySet<string>;
}

interface Installer {
  readonly pattern: RegExp;
  /** Manifest files, in order of preference; the first group always, the rest if present. */
  readonly required: readonly string[];
  readonly optional: readonly string[];
}

const INSTALLERS: readonly Installer[] = [
  { pattern: /\bnpm\s+(ci|install|i)\b/, required: ['package.json'], optional: ['package-lock.json', 'npm-shrinkwrap.json'] },
  { pattern: /\byarn(\s+install)?(\s|$|&|;)/, required: ['package.json'], optional: ['yarn.lock', '.yarnrc.yml'] },
  { pattern: /\bpnpm\s+(install|i)\b/, required: ['package.json'], optional: ['pnpm-lock.yaml'] },
  { pattern: /\bpip3?\s+install\b[^&|;]*\s-r\s*\S+/, required: [], optional: [] },
  { pattern: /\bpoetry\s+install\b/, required: ['pyproject.toml'], optional: ['poetry.lock'] },
  { pattern: /\bbundle\s+install\b/, required: ['Gemfile'], optional: ['Gemfile.lock'] },
  { pattern: /\bgo\s+mod\s+download\b/, required: ['go.mod'], optional: ['go.sum'] },
  { pattern: /\bcargo\s+fetch\b/, required: ['Cargo.toml'], optional: ['Cargo.lock'] },
  { pattern: /\bcomposer\s+install\b/, required: ['composer.json'], optional: ['composer.lock'] },
];

const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$/i;
const REMOTE = /^(https?:\/\/|git@|git:\/\/)/i;

function script(step: PlannedStep): string {
  return step.json ? step.args.join(' ') : (step.args[0] ?? '');
}

function isWholeContext(step: PlannedStep): boolean {
  if ((step.instruction !== 'COPY' && step.instruction !== 'ADD') || step.flags.from !== undefined) return false;
  return step.args.slice(0, -1).some((src) => src === '.' || src === './' || src === '/' || src === './*' || src === '*');
}

function destDir(dest: string): string {
  return dest.endsWith('/') ? dest : dest + '/';
}

function manifestsFor(installer: Installer, command: string, facts: ContextFacts | undefined): string[] {
  if (installer.required.length === 0) {
    const m = /\s-r\s*(\S+)/.exec(command);
    return m ? [m[1]!] : ['requirements.txt'];
  }
  const present = installer.optional.filter((f) => facts?.topLevelNames.has(f));
  const optional = facts ? present : installer.optional.slice(0, 1);
  return [...installer.required, ...optional];
}

function copyBeforeInstall(stage: PlannedStage, facts: ContextFacts | undefined): Finding[] {
  const findings: Finding[] = [];
  const steps = stage.steps;
  steps.forEach((copy, i) => {
    if (!isWholeContext(copy)) return;
    for (const run of steps.slice(i + 1)) {
      if (run.instruction !== 'RUN') continue;
      const command = script(run);
      const installer = INSTALLERS.find((inst) => inst.pattern.test(command));
      if (!installer) continue;
      const dest = copy.args[copy.args.length - 1]!;
      const manifests = manifestsFor(installer, command, facts);
      const keyword = copy.instruction === 'ADD' ? 'COPY' : copy.instruction;
      findings.push({
        rule: 'copy-before-install',
        severity: 'warning',
        line: copy.line,
        column: copy.column,
        message: `${copy.original} copies the whole context before \`${run.original}\` (line ${run.line}): every source edit invalidates the dependency install`,
        fix: [`${keyword} ${manifests.join(' ')} ${destDir(dest)}`, run.original, copy.original].join('\n'),
      });
      return;
    }
  });
  return findings;
}

function aptUpdateAlone(stage: PlannedStage): Finding[] {
  return stage.steps
    .filter((s) => s.instruction === 'RUN' && /\bapt(-get)?\s+update\b/.test(script(s)) && !/\bapt(-get)?\s+(-\S+\s+)*install\b/.test(script(s)))
    .map((s) => ({
      rule: 'apt-get-update-alone',
      severity: 'warning' as const,
      line: s.line,
      column: s.column,
      message: '`apt-get update` in a RUN of its own is cached on its own: a later `apt-get install` then installs from stale package lists',
      fix: 'RUN apt-get update && apt-get install -y --no-install-recommends PACKAGES && rm -rf /var/lib/apt/lists/*',
    }));
}

function addInsteadOfCopy(stage: PlannedStage): Finding[] {
  return stage.steps
    .filter((s) => s.instruction === 'ADD' && s.heredocs.length === 0)
    .filter((s) => s.args.slice(0, -1).every((src) => !REMOTE.test(src) && !ARCHIVE.test(src)))
    .map((s) => ({
      rule: 'add-instead-of-copy',
      severity: 'warning' as const,
      line: s.line,
      column: s.column,
      message: 'ADD copies local files here; COPY does the same without ADD\'s archive extraction and URL download surprises',
      fix: s.original.replace(/^add\b/i, 'COPY'),
    }));
}

function execFormFix(keyword: string, command: string): string {
  const simple = /^[\w./:=@%+,-]+(\s+[\w./:=@%+,-]+)*$/.test(command.trim());
  const parts = simple ? command.trim().split(/\s+/) : ['/bin/sh', '-c', command];
  return `${keyword} ${JSON.stringify(parts).replace(/","/g, '", "')}`;
}

function shellFormCommand(stage: PlannedStage): Finding[] {
  return stage.steps
    .filter((s) => (s.instruction === 'CMD' || s.instruction === 'ENTRYPOINT') && !s.json)
    .map((s) => ({
      rule: 'shell-form-command',
      severity: 'warning' as const,
      line: s.line,
      column: s.column,
      message: `${s.instruction} in shell form runs under /bin/sh -c, which does not forward SIGTERM: the container is killed after the stop timeout instead of shutting down`,
      fix: execFormFix(s.instruction, s.args[0] ?? ''),
    }));
}

/** Names a RUN command reads from its environment that are neither ENV nor ARG in scope. */
function runtimeUnset(step: PlannedStep): string[] {
  if (step.instruction !== 'RUN') return [];
  const names = [...script(step).matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
  return names.filter((n) => !(n in step.env) && !(n in step.argsInScope));
}

function argsDeclaredLater(stage: PlannedStage): Finding[] {
  const findings: Finding[] = [];
  stage.steps.forEach((step, i) => {
    for (const name of new Set([...step.unsetVariables, ...runtimeUnset(step)])) {
      const later = stage.steps.slice(i + 1).find((s) => s.instr.kind === 'ARG' && s.instr.args.some((a) => a.name === name));
      if (!later) continue;
      findings.push({
        rule: 'arg-before-declaration',
        severity: 'warning',
        line: step.line,
        column: step.column,
        message: `$${name} is used here but declared by ARG on line ${later.line}, so here it expands to an empty string`,
        fix: `move \`${later.original}\` above line ${step.line}`,
      });
    }
  });
  return findings;
}

function undefinedInFrom(stage: PlannedStage, typed: TypedDockerfile): Finding[] {
  if (stage.fromUnset.length === 0) return [];
  const from = typed.instructions.find((i): i is Extract<Instruction, { kind: 'FROM' }> => i.kind === 'FROM' && i.node.startLine === stage.line);
  return stage.fromUnset.map((name) => ({
    rule: 'undefined-var-in-from',
    severity: 'error' as const,
    line: stage.line,
    column: from?.node.startColumn ?? 1,
    message: `FROM uses $${name}, which no ARG before the first FROM defines: it expands to an empty string`,
    fix: `add \`ARG ${name}=<default>\` before the first FROM (or pass --build-arg ${name}=...)`,
  }));
}

function maintainer(stage: PlannedStage): Finding[] {
  return stage.steps
    .filter((s) => s.instruction === 'MAINTAINER')
    .map((s) => ({
      rule: 'maintainer-deprecated',
      severity: 'info' as const,
      line: s.line,
      column: s.column,
      message: 'MAINTAINER is deprecated',
      fix: `LABEL org.opencontainers.image.authors=${JSON.stringify(s.args[0] ?? '')}`,
    }));
}

function missingIgnoreFile(facts: ContextFacts | undefined): Finding[] {
  if (!facts || facts.hasIgnoreFile) return [];
  const heavy = ['node_modules', '.git'].filter((n) => facts.topLevelNames.has(n));
  if (heavy.length === 0) return [];
  return [{
    rule: 'missing-dockerignore',
    severity: 'warning',
    line: 1,
    column: 1,
    message: `the context holds ${heavy.join(' and ')} but has no .dockerignore: every build hashes and sends ${heavy.length > 1 ? 'them' : 'it'}, and any change there invalidates COPY . steps`,
    fix: `create .dockerignore containing:\n${heavy.join('\n')}`,
  }];
}

/** Runs every rule over the plan; findings are ordered by line. */
export function lintDockerfile(typed: TypedDockerfile, plan: Plan, facts?: ContextFacts): Finding[] {
  const findings: Finding[] = [...missingIgnoreFile(facts)];
  for (const stage of plan.stages) {
    findings.push(
      ...undefinedInFrom(stage, typed),
      ...copyBeforeInstall(stage, facts),
      ...aptUpdateAlone(stage),
      ...addInsteadOfCopy(stage),
      ...shellFormCommand(stage),
      ...argsDeclaredLater(stage),
      ...maintainer(stage),
    );
  }
  const order: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  return findings.sort((a, b) => a.line - b.line || order[a.severity] - order[b.severity]);
}
