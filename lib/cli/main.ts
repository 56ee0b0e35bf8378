/** argv → a command; errors are formatted here, once. */
import { readFileSync } from 'node:fs';
import { StrataError, UsageError } from '../errors/index.js';
import { formatError, styleFor, writeErr, writeOut } from '../ui/index.js';
import type { QuickOutcome } from './quick.js';
import type { Session } from './session.js';

interface LoadedCommand {
  readonly run: (argv: string[], session: Session) => number | Promise<number>;
  readonly usage: string;
}

/** Each command's module is loaded when it runs: `strata hash` does not pay for the build engine, nor `build` for the dashboard. */
type Command = { load: () => Promise<LoadedCommand>; summary: string };

const COMMANDS: Record<string, Command> = {
  build: { load: async () => { const m = await import('./build.js'); return { run: m.buildCommand, usage: m.buildUsage }; }, summary: 'build an image from a Dockerfile and a context' },
  dev: { load: async () => { const m = await import('./dev.js'); return { run: m.devCommand, usage: m.devUsage }; }, summary: 'build, and with --watch rebuild on every edit; --run runs the image' },
  plan: { load: async () => { const m = await import('./plan.js'); return { run: m.planCommand, usage: m.planUsage }; }, summary: 'show the stages, steps and build order of a Dockerfile' },
  check: { load: async () => { const m = await import('./check.js'); return { run: m.checkCommand, usage: m.checkUsage }; }, summary: 'lint a Dockerfile, with a concrete fix for each finding' },
  hash: { load: async () => { const m = await import('./hash.js'); return { run: m.hashCommand, usage: m.hashUsage }; }, summary: 'digest a build context (and each COPY source); --bench to measure hashing' },
  image: { load: async () => { const m = await import('./image.js'); return { run: m.imageCommand, usage: m.imageUsage }; }, summary: 'import, list, remove, save, pull and push images' },
  history: { load: async () => { const m = await import('./image.js'); return { run: m.historyCommand, usage: m.historyUsage }; }, summary: 'show the layers and history of an image' },
  login: { load: async () => { const m = await import('./login.js'); return { run: m.loginCommand, usage: m.loginUsage }; }, summary: 'keep credentials for a registry (checked first)' },
  logout: { load: async () => { const m = await import('./login.js'); return { run: m.logoutCommand, usage: m.loginUsage }; }, summary: 'forget the credentials for a registry' },
  cache: { load: async () => { const m = await import('./cache.js'); return { run: m.cacheCommand, usage: m.cacheUsageText }; }, summary: 'show, list or empty the build cache and the cache mounts of RUN --mount=type=cache' },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function mainUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: strata COMMAND [OPTIONS]',
    '',
    'strata builds OCI images from Dockerfiles, daemonless, with Docker\'s layer cache.',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run strata COMMAND --help for its options.',
  ].join('\n');
}

/**
 * quick: the executable already asked quick.ts whether a build is up to
 * date; it was not, and this is what that found.
 */
export async function main(argv: string[], options: { quick?: QuickOutcome } = {}): Promise<number> {
  const session: Session = { out: styleFor(process.stdout), err: styleFor(process.stderr), sourceLines: undefined };
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    writeOut(mainUsage());
    return name === undefined ? 2 : 0;
  }
  if (name === 'version' || name === '--version') {
    writeOut(`strata ${version()}`);
    return 0;
  }
  let command: LoadedCommand | undefined;
  try {
    const entry = COMMANDS[name];
    if (!entry) throw new UsageError(`unknown command "${name}"`, { hint: `commands are: ${Object.keys(COMMANDS).join(', ')}` });
    const quick = name === 'build' ? (options.quick ?? (await (await import('./quick.js')).quickBuild(rest, session))) : undefined;
    if (quick?.code !== undefined) return quick.code;
    // Their first slow step (a big context's stat check) runs while their modules load.
    if (name === 'build' || name === 'hash') (await import('./early.js')).startEarly(name, rest, quick?.contextCheck);
    command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      writeOut(command.usage);
      return 0;
    }
    return await command.run(rest, session);
  } catch (err) {
    const usage = err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS');
    if (usage) {
      writeErr(formatError(new UsageError(err.message, { hint: command ? command.usage : undefined }), session.err));
      return 2;
    }
    writeErr(formatError(err, session.err, session.sourceLines));
    return err instanceof StrataError ? err.exitCode : 70;
  }
}
