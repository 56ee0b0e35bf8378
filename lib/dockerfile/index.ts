export type { Directives, Heredoc, InstructionNode, ParsedDockerfile, ParseWarning, Position } from './ast.js';
export { heredocBody } from './ast.js';
export { parseDockerfile, decodeDockerfile, MAX_DOCKERFILE_BYTES } from './parser.js';
export { dumpDockerfile, dumpNode } from './dump.js';
export { expandWord, envFrom, emptyEnv, type EnvLookup, type Expansion, type ExpansionResult, type LexOptions } from './shell-lexer.js';
