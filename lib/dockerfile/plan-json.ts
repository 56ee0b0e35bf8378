/** The public JSON shape of a plan (`strata plan --format json`): keep it stable, add fields only. */
import type { Plan } from './plan.js';

export function planToJSON(plan: Plan): unknown {
  return {
    target: plan.target,
    stages: plan.stages.map((s) => ({
      index: s.index,
      name: s.name,
      base: s.base,
      ...(s.platform !== undefined && { platform: s.platform }),
      needed: s.needed,
      dependsOn: s.dependsOn,
      steps: s.steps.map((st) => ({
        line: st.line,
        instruction: st.instruction,
        original: st.original,
        args: st.args,
        flags: st.flags,
        ...(st.fromTrigger && { fromTrigger: true }),
      })),
    })),
    levels: plan.levels,
    ...(plan.unusedBuildArgs.length > 0 && { unusedBuildArgs: plan.unusedBuildArgs }),
  };
}
