/** `strata check`: lint a Dockerfile with concrete fixes. */
import { parseArgs } from 'node:util';
import { summarizeContext } from '../context/index.js';
import { lintDockerfile } from '../dockerfile/index.js';
import { renderFindings, writeOut } from '../ui/index.js';
import { loadPlan, oneOf } from './inputs.js';
import type { Session } from './session.js';

export const checkUsage = `usage: strata check [-f FILE] [--build-arg K=V]... [--format text|json] [CONTEXT]

Lints the Dockerfile: rules that cost cache hits or correctness, each with its
line and the lines to write instead. Exits 1 when a rule fires at error level.`;

export function checkCommand(argv: string[], session: Session): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      'build-arg': { type: 'string', multiple: true },
      format: { type: 'string' },
    },
  });
  const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
  const { input, typed, plan } = loadPlan(session, { context: positionals[0], file: values.file, buildArgs: values['build-arg'] });
  const summary = summarizeContext(input.contextDir, input.path);
  const findings = lintDockerfile(typed, plan, { hasIgnoreFile: summary.ignoreFile !== undefined, topLevelNames: summary.topLevelNames });
  if (format === 'json') {
    writeOut(JSON.stringify({ file: input.displayName, findings }, null, 2));
  } else {
    writeOut(renderFindings(input.displayName, findings, session.out));
  }
  return findings.some((f) => f.severity === 'error') ? 1 : 0;
}
