/**
 * What of the build context a plan reads: the sources of every COPY/ADD
 * (not --from, not a URL, not a heredoc) in the stages the target needs,
 * as selectors the context engine can digest, and whether some step reads
 * the context whole (a RUN bind mount of it), when any change matters.
 */
import type { SourceSelector } from '../context/index.js';
import type { Plan } from '../dockerfile/index.js';
import { isRemoteSource } from './remote.js';

export interface ContextRead {
  readonly line: number;
  readonly instruction: string;
  readonly selector: SourceSelector;
}

export function contextReads(plan: Plan): ContextRead[] {
  const out: ContextRead[] = [];
  for (const stage of plan.stages) {
    if (!stage.needed) continue;
    for (const step of stage.steps) {
      if (step.instruction === 'RUN') {
        for (const m of step.mounts) {
          if (m.type === 'bind' && !m.from) out.push({ line: step.line, instruction: 'RUN', selector: { sources: [(m.source ?? '/').replace(/^\/+/, '') || '.'] } });
        }
        continue;
      }
      if ((step.instruction !== 'COPY' && step.instruction !== 'ADD') || step.flags.from !== undefined) continue;
      const heredocs = new Set(step.heredocs.map((h) => h.name));
      const sources = step.args.slice(0, -1).filter((s) => !isRemoteSource(s) && !heredocs.has(s.replace(/^\d*<<-?/, '').replace(/["']/g, '')));
      if (sources.length === 0) continue;
      out.push({ line: step.line, instruction: step.instruction, selector: { sources, exclude: Array.isArray(step.flags.exclude) ? step.flags.exclude : [], parents: step.flags.parents === true } });
    }
  }
  return out;
}
