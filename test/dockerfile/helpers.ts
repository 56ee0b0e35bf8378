import assert from 'node:assert/strict';
import { DockerfileParseError } from '../../lib/errors/index.js';
import { loadDockerfile, planBuild, type Plan, type PlanOptions } from '../../lib/dockerfile/index.js';

export function plan(text: string, options: PlanOptions = {}): Plan {
  return planBuild(loadDockerfile(text, { file: 'Dockerfile' }), { buildPlatform: { os: 'linux', architecture: 'amd64' }, ...options });
}

/** The DockerfileParseError planning `text` throws. */
export function planError(text: string, options: PlanOptions = {}): DockerfileParseError {
  try {
    plan(text, options);
  } catch (e) {
    assert.ok(e instanceof DockerfileParseError, `expected DockerfileParseError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a DockerfileParseError');
}

/** Step args of stage `stage`, one array per step. */
export function stepArgs(p: Plan, stage = p.stages.length - 1): (readonly string[])[] {
  return p.stages[stage]!.steps.map((s) => s.args);
}
