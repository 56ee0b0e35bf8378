/**
 * What of the build context a plan reads: the sources of every COPY/ADD
 * (not --from, not a URL, not a heredoc) in the stages the target needs,
 * as selectors the context engine can digest, and whether some step reads
 * the context whole (a RUN bind mount of it), when any change matters.
 */
import type { SourceSelector } from '../context/index.js';
import type { Plan, PlannedStep } from '../dockerfile/index.js';
import { METADATA, stageLabel } from './step-kinds.js';
import { isRemoteSource } from './remote.js';

export interface ContextRead {
  readonly line: number;
  readonly instruction: string;
  readonly selector: SourceSelector;
  /** The stage's label in progress events, and the step's place among its filesystem steps (1-based, as step-start's index). */
  readonly stage: string;
  readonly index: number;
}

/**
 * Whether a change at context path `rel` may change what `read` reads:
 * the path is a source, inside one, or above one; for a wildcard source,
 * anything under its fixed leading directories. Errs towards yes.
 */
export function mayRead(read: ContextRead, rel: string): boolean {
  return read.selector.sources.some((source) => {
    const clean = source.replace(/^\.?\/+/, '').replace(/\/+$/, '').replace(/^\.$/, '');
    const parts = clean.split('/');
    const wild = parts.findIndex((part) => /[*?[\\]/.test(part));
    const fixed = wild < 0 ? clean : parts.slice(0, wild).join('/');
    return fixed === '' || rel === fixed || rel.startsWith(`${fixed}/`) || fixed.startsWith(`${rel}/`);
  });
}

export function contextReads(plan: Plan): ContextRead[] {
  const out: ContextRead[] = [];
  for (const [stageIndex, stage] of plan.stages.entries()) {
    if (!stage.needed) continue;
    const where = (step: PlannedStep) => ({ line: step.line, stage: stageLabel(plan, stageIndex), index: stage.steps.filter((st) => !METADATA.has(st.instruction)).indexOf(step) + 1 });
    for (const step of stage.steps) {
      if (step.instruction === 'RUN') {
        for (const m of step.mounts) {
          if (m.type === 'bind' && !m.from) out.push({ ...where(step), instruction: 'RUN', selector: { sources: [(m.source ?? '/').replace(/^\/+/, '') || '.'] } });
        }
        continue;
      }
      if ((step.instruction !== 'COPY' && step.instruction !== 'ADD') || step.flags.from !== undefined) continue;
      const heredocs = new Set(step.heredocs.map((h) => h.name));
      const sources = step.args.slice(0, -1).filter((s) => !isRemoteSource(s) && !heredocs.has(s.replace(/^\d*<<-?/, '').replace(/["']/g, '')));
      if (sources.length === 0) continue;
      out.push({ ...where(step), instruction: step.instruction, selector: { sources, exclude: Array.isArray(step.flags.exclude) ? step.flags.exclude : [], parents: step.flags.parents === true } });
    }
  }
  return out;
}
