/** lib/exec: running RUN steps in a sandbox. */
export { runInSandbox, sandboxAvailable, SANDBOX_MOUNT_POINTS, RUN_NETWORKS, type RunNetwork, type RunSpec, type RunResult, type SandboxMount } from './sandbox.js';
