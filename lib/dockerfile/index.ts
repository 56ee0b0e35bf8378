/** lib/dockerfile: the Dockerfile frontend. Pure: text and values in, values out. */
import type { ParseOptions } from './parser.js';
import { parseDockerfile } from './parser.js';
import { toInstructions, type TypedDockerfile } from './instructions.js';

export type { Directives, Heredoc, InstructionNode, ParsedDockerfile, ParseWarning, Position } from './ast.js';
export { heredocBody } from './ast.js';
export { parseDockerfile, decodeDockerfile, MAX_DOCKERFILE_BYTES, type ParseOptions } from './parser.js';
export { dumpDockerfile, dumpNode } from './dump.js';
export { expandWord, envFrom, emptyEnv, type EnvLookup, type Expansion, type ExpansionResult, type LexOptions } from './shell-lexer.js';
export {
  toInstructions, parseGoDuration, FLAG_SPECS, KEYWORDS,
  type Instruction, type Keyword, type CommandLine, type Flags, type FlagValue, type TypedDockerfile, type HealthcheckOptions,
} from './instructions.js';
export { parseByteSize, parseMount, type Mount, type MountType } from './mounts.js';
export {
  planBuild, hostPlatform, formatPlatform, PROXY_ARGS, DEFAULT_PATH, envFromList, exposedPortsOf, stageOfRef,
  type BaseImageFacts, type Plan, type PlanOptions, type PlannedStage, type PlannedStep, type PlannedHeredoc, type Platform, type StageBase,
} from './plan.js';
export { planToJSON } from './plan-json.js';
export { imagesRead, type ImageUse } from './images-read.js';
export { lintDockerfile, type Finding, type Severity, type ContextFacts } from './lint.js';

/** Parse and validate in one call: what every consumer of a Dockerfile wants. */
export function loadDockerfile(source: string | Uint8Array, options: ParseOptions = {}): TypedDockerfile {
  return toInstructions(parseDockerfile(source, options));
}
