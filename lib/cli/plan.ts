/** `strata plan`: the stages, steps and build order a build would follow. */
import { parseArgs } from 'node:util';
import { planToJSON } from '../dockerfile/index.js';
import { renderPlanText, writeOut } from '../ui/index.js';
import { loadPlan, oneOf } from './inputs.js';
import type { Session } from './session.js';

export const planUsage = `usage: strata plan [-f FILE] [--target STAGE] [--build-arg K=V]... [--format text|json] [CONTEXT]

Shows the stages of the Dockerfile, every step with its arguments expanded,
which stages the target needs, and the order (levels) they build in.`;

export function planCommand(argv: string[], session: Session): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      target: { type: 'string' },
      'build-arg': { type: 'string', multiple: true },
      format: { type: 'string' },
    },
  });
  const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
  const { plan } = loadPlan(session, { context: positionals[0], file: values.file, target: values.target, buildArgs: values['build-arg'] });
  writeOut(format === 'json' ? JSON.stringify(planToJSON(plan), null, 2) : renderPlanText(plan, session.out));
  return 0;
}
