/** `strata hash`: the digest of a build context, and of each COPY/ADD's sources. */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveStoreDir, statCachePath } from '../cache/index.js';
import { benchmarkHashing, closeHashPool, findIgnoreFile, hashContext, hashThreads, loadIgnoreFile, selectSources, type HashedContext } from '../context/index.js';
import type { Plan } from '../dockerfile/index.js';
import { InputError } from '../errors/index.js';
import { hashReportJSON, progressBar, renderBenchTable, renderHashText, writeOut, type SourceDigest } from '../ui/index.js';
import type { Session } from './session.js';
import { HASH_OPTIONS } from './early.js';

export const hashUsage = `usage: strata hash [-f FILE] [--ignore-file FILE] [--no-stat-cache] [--json] [--store DIR] [CONTEXT]
       strata hash --bench [--json] [CONTEXT]

Prints the digest of the build context after .dockerignore (XXH128 Merkle
tree), its files and bytes, stat-cache hits and the time. With a Dockerfile
(-f, or CONTEXT/Dockerfile) also the digest of each COPY/ADD's sources.
--bench measures every hashing mode against floors measured in the same run.`;


/** The build engine and the plan's inputs are loaded only when there is a Dockerfile: a bare `strata hash` starts faster. */
async function sourceDigests(ctx: HashedContext, plan: Plan): Promise<SourceDigest[]> {
  const { contextReads } = await import('../build/index.js');
  return contextReads(plan).filter((r) => r.instruction !== 'RUN').map(({ line, instruction, selector }) => {
    const selection = selectSources(ctx, selector);
    return { line, instruction, sources: selector.sources, digest: selection.digest, files: selection.files.length };
  });
}

export async function hashCommand(argv: string[], session: Session): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: HASH_OPTIONS,
  });
  const contextArg = positionals[0] ?? '.';
  const contextDir = path.resolve(contextArg);
  if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
    throw new InputError('build context is not a directory', contextArg, { hint: 'name the folder that holds your sources' });
  }
  const defaultDockerfile = path.join(contextDir, 'Dockerfile');
  const dockerfile = values.file ?? (existsSync(defaultDockerfile) ? defaultDockerfile : undefined);
  const ignoreFile = values['ignore-file'] ?? findIgnoreFile(contextDir, dockerfile === '-' || !dockerfile ? undefined : path.resolve(dockerfile));
  const ignorePatterns = ignoreFile ? loadIgnoreFile(ignoreFile) : [];
  try {
    if (values.bench) {
      const report = await benchmarkHashing(contextDir, { ignorePatterns });
      writeOut(values.json ? JSON.stringify(report, null, 2) : renderBenchTable(report, session.out));
      return 0;
    }
    const plan = dockerfile ? (await import('./inputs.js')).loadPlan(session, { context: contextArg, file: dockerfile, target: values.target, buildArgs: values['build-arg'] }).plan : undefined;
    const statCacheFile = values['no-stat-cache'] ? undefined : statCachePath(resolveStoreDir(values.store), contextDir);
    const bar = values.json ? undefined : progressBar('hashing');
    const start = process.hrtime.bigint();
    const ctx = await hashContext(contextDir, {
      ignorePatterns,
      statCacheFile,
      onProgress: bar && ((p) => bar.update(p.filesDone, p.filesTotal, p.bytesDone, p.bytesTotal)),
    });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    bar?.finish();
    const report = {
      context: ctx.root,
      digest: ctx.tree.digest.toString('hex'),
      stats: ctx.stats,
      seconds,
      threads: hashThreads(),
      ignoreFile: ignoreFile && path.relative(process.cwd(), ignoreFile),
      sources: plan ? await sourceDigests(ctx, plan) : [],
      warnings: ctx.warnings,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    writeOut(values.json ? JSON.stringify(hashReportJSON(report)) : renderHashText(report, session.out));
    return 0;
  } finally {
    await closeHashPool();
  }
}
