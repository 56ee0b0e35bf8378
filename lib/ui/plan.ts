/** Human-readable renderings of a plan and of check findings. */
import type { Finding, Plan } from '../dockerfile/index.js';
import { paint, type Style } from './terminal.js';

function stageLabel(plan: Plan, index: number): string {
  const s = plan.stages[index]!;
  return s.name ? `${s.name} (#${index})` : `#${index}`;
}

export function renderPlanText(plan: Plan, style: Style): string {
  const out: string[] = [];
  const target = stageLabel(plan, plan.targetIndex);
  out.push(`${paint(style, 'bold', plan.file)}: ${plan.stages.length} stage${plan.stages.length === 1 ? '' : 's'}, target ${target}`);
  for (const s of plan.stages) {
    const base = typeof s.base === 'string' ? s.base : `stage ${stageLabel(plan, s.base.stage)}`;
    const deps = s.dependsOn.length ? `, needs ${s.dependsOn.map((d) => stageLabel(plan, d)).join(', ')}` : '';
    const status = s.needed ? '' : paint(style, 'dim', '  (not needed for the target: skipped)');
    out.push('');
    out.push(`${paint(style, 'cyan', 'stage ' + stageLabel(plan, s.index))} from ${base}${s.platform ? ` [${s.platform}]` : ''}${deps}${status}`);
    for (const step of s.steps) {
      const shown = step.instruction === 'RUN' || step.instruction === 'CMD' || step.instruction === 'ENTRYPOINT' || step.instruction === 'SHELL' || step.instruction === 'HEALTHCHECK'
        ? step.original
        : `${step.instruction} ${formatFlags(step.flags)}${step.args.join(' ')}`;
      const trigger = step.fromTrigger ? paint(style, 'dim', ' (ONBUILD trigger)') : '';
      out.push(`  ${paint(style, 'dim', String(step.line).padStart(4))}  ${shown}${trigger}`);
    }
  }
  out.push('');
  out.push('build order (stages on one line may build at the same time):');
  plan.levels.forEach((level, i) => out.push(`  ${i + 1}. ${level.map((s) => stageLabel(plan, s)).join(', ')}`));
  if (plan.unusedBuildArgs.length) {
    out.push('');
    out.push(`${paint(style, 'yellow', 'warning')}: build args not consumed by any ARG: ${plan.unusedBuildArgs.join(', ')}`);
  }
  return out.join('\n');
}

function formatFlags(flags: Plan['stages'][number]['steps'][number]['flags']): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(flags)) {
    if (Array.isArray(v)) for (const item of v) parts.push(`--${k}=${item}`);
    else parts.push(v === true ? `--${k}` : `--${k}=${String(v)}`);
  }
  return parts.length ? parts.join(' ') + ' ' : '';
}

export function renderFindings(file: string, findings: readonly Finding[], style: Style): string {
  if (findings.length === 0) return `${file}: no problems found`;
  const out: string[] = [];
  const color = { error: 'red', warning: 'yellow', info: 'cyan' } as const;
  for (const f of findings) {
    out.push(`${file}:${f.line}:${f.column}: ${paint(style, color[f.severity], f.severity)} [${f.rule}] ${f.message}`);
    out.push(`  ${paint(style, 'green', 'fix')}:`);
    for (const line of f.fix.split('\n')) out.push(`    ${line}`);
  }
  const count = (s: Finding['severity']) => findings.filter((f) => f.severity === s).length;
  out.push('');
  out.push(`${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)`);
  return out.join('\n');
}
