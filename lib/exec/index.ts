/** lib/exec: running RUN steps in a sandbox. */
export { runInSandbox, sandboxAvailable, SANDBOX_MOUNT_POINTS, type RunSpec, type RunResult, type SandboxMount } from './sandbox.js';
