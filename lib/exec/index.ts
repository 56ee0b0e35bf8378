/** lib/exec: running RUN steps in a sandbox. */
export { runInSandbox, sandboxAvailable, type RunSpec, type RunResult } from './sandbox.js';
