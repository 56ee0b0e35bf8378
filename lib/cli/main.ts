/** argv → a command; errors are formatted here, once. */
import { readFileSync } from 'node:fs';
import { StrataError, UsageError } from '../errors/index.js';
import { formatError, styleFor, writeErr, writeOut } from '../ui/index.js';
import { buildCommand, buildUsage } from './build.js';
import { cacheCommand, cacheUsage } from './cache.js';
import { checkCommand, checkUsage } from './check.js';
import { devCommand, devUsage } from './dev.js';
import { hashCommand, hashUsage } from './hash.js';
import { historyCommand, historyUsage, imageCommand, imageUsage } from './image.js';
import { loginCommand, loginUsage, logoutCommand } from './login.js';
import { planCommand, planUsage } from './plan.js';
import type { Session } from './session.js';

type Command = { run: (argv: string[], session: Session) => number | Promise<number>; usage: string; summary: string };

const COMMANDS: Record<string, Command> = {
  build: { run: buildCommand, usage: buildUsage, summary: 'build an image from a Dockerfile and a context' },
  dev: { run: devCommand, usage: devUsage, summary: 'build, and with --watch rebuild on every edit; --run runs the image' },
  plan: { run: planCommand, usage: planUsage, summary: 'show the stages, steps and build order of a Dockerfile' },
  check: { run: checkCommand, usage: checkUsage, summary: 'lint a Dockerfile, with a concrete fix for each finding' },
  hash: { run: hashCommand, usage: hashUsage, summary: 'digest a build context (and each COPY source); --bench to measure hashing' },
  image: { run: imageCommand, usage: imageUsage, summary: 'import, list, remove, save, pull and push images' },
  history: { run: historyCommand, usage: historyUsage, summary: 'show the layers and history of an image' },
  login: { run: loginCommand, usage: loginUsage, summary: 'keep credentials for a registry (checked first)' },
  logout: { run: logoutCommand, usage: loginUsage, summary: 'forget the credentials for a registry' },
  cache: { run: cacheCommand, usage: cacheUsage, summary: 'list or empty the cache mounts of RUN --mount=type=cache' },
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

export async function main(argv: string[]): Promise<number> {
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
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`, { hint: `commands are: ${Object.keys(COMMANDS).join(', ')}` });
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
