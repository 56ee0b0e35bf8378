/** `strata image import|ls|rm|save` and `strata history`. */
import { parseArgs } from 'node:util';
import { resolveStoreDir } from '../cache/index.js';
import { UsageError } from '../errors/index.js';
import { importImage, listImages, normalizeRef, pullImage, pushImage, readConfig, readManifest, requireImage, saveImage, untagImage, STDOUT } from '../image/index.js';
import { formatBytes, renderHistory, renderImageList, writeErr, writeOut, type HistoryRow } from '../ui/index.js';
import { oneOf, sourceDateEpoch } from './inputs.js';
import type { Session } from './session.js';

export const imageUsage = `usage: strata image import SRC --tag NAME[:TAG] [--from-name NAME] [--store DIR]
       strata image ls [--format text|json] [--store DIR]
       strata image rm NAME... [--store DIR]
       strata image save NAME -o FILE|DIR|- [--format oci|docker] [--compression gzip|uncompressed] [--store DIR]
       strata image pull REF [--platform OS/ARCH] [--insecure-registry HOST[:PORT]]... [--store DIR]
       strata image push NAME [REF] [--insecure-registry HOST[:PORT]]... [--store DIR]

import: SRC is a root filesystem (directory, or tar, gzip or not), an OCI
image layout (directory or tar) or a docker save archive. save: an OCI
layout (a directory, or FILE.tar) or a docker save archive (FILE.tar);
-o - writes either tar to standard output. The layers a build made go as
the store keeps them, plain tars, as docker save writes them;
--compression gzip sends them gzip-compressed, in a manifest of its own.
pull: REF is [REGISTRY/]NAME[:TAG|@DIGEST] (busybox is
docker.io/library/busybox:latest); it is named as written. push: the local
image NAME to REF (default NAME), uploading only the blobs the registry
lacks. Credentials come from strata login or ~/.docker/config.json;
loopback registries and --insecure-registry ones are spoken to over HTTP.`;

export const historyUsage = `usage: strata history NAME [--store DIR]

The image's history, newest first: layer, created, created by, size.`;

export async function imageCommand(argv: string[], _session: Session): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      tag: { type: 'string', short: 't' },
      'from-name': { type: 'string' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      compression: { type: 'string' },
      store: { type: 'string' },
      platform: { type: 'string' },
      'insecure-registry': { type: 'string', multiple: true },
    },
  });
  const store = resolveStoreDir(values.store);
  const insecure = values['insecure-registry'] ?? [];
  switch (sub) {
    case 'pull': {
      const [ref] = positionals;
      if (!ref) throw new UsageError('image pull needs a REF', { hint: 'strata image pull localhost:5000/app:1' });
      const name = localNameOf(ref);
      const manifest = await pullImage(store, ref, name, { platform: values.platform, insecure, onBlob: (p) => p.state === 'done' && writeErr(`  ${p.digest.slice(7, 19)} ${formatBytes(p.bytes)} pulled`) });
      writeOut(`pulled ${name} ${manifest.digest}`);
      return 0;
    }
    case 'push': {
      const [name, dest] = positionals;
      if (!name) throw new UsageError('image push needs a NAME', { hint: 'strata image push app:1 localhost:5000/app:1' });
      const digest = await pushImage(store, name, dest ?? name, { insecure, onBlob: (p) => p.state !== 'started' && p.state !== 'progress' && writeErr(`  ${p.digest.slice(7, 19)} ${formatBytes(p.bytes)} ${p.state === 'exists' ? 'already there' : p.state === 'mounted' ? 'mounted from another repository' : 'pushed'}`) });
      writeOut(`pushed ${dest ?? name} ${digest}`);
      return 0;
    }
    case 'import': {
      const [src] = positionals;
      if (!src || !values.tag) throw new UsageError('image import needs SRC and --tag NAME', { hint: 'strata image import ./rootfs --tag busybox:local' });
      const result = await importImage(store, src, values.tag, { fromName: values['from-name'], created: sourceDateEpoch() });
      writeOut(`imported ${result.name} (${result.source}) ${result.manifest.digest}`);
      return 0;
    }
    case 'ls': {
      const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
      const rows = listImages(store).map((image) => {
        const manifest = readManifest(store, image.manifest);
        const config = readConfig(store, manifest);
        return { name: image.name, id: manifest.config.digest, created: config.created, size: manifest.layers.reduce((n, l) => n + l.size, 0), layers: manifest.layers.length };
      });
      writeOut(format === 'json' ? JSON.stringify(rows, null, 2) : renderImageList(rows));
      return 0;
    }
    case 'rm': {
      if (positionals.length === 0) throw new UsageError('image rm needs at least one NAME', { hint: 'strata image rm busybox:local' });
      let missing = 0;
      for (const name of positionals) {
        if (await untagImage(store, name)) writeOut(`removed ${name}`);
        else {
          missing++;
          writeOut(`no such image: ${name}`);
        }
      }
      return missing ? 1 : 0;
    }
    case 'save': {
      const [name] = positionals;
      if (!name || !values.output) throw new UsageError('image save needs NAME and -o FILE', { hint: 'strata image save busybox:local -o busybox.tar --format docker' });
      const format = oneOf('--format', values.format, ['oci', 'docker'] as const, 'oci');
      const compression = oneOf('--compression', values.compression, ['gzip', 'uncompressed'] as const, 'uncompressed');
      await saveImage(store, name, values.output, format, compression);
      // (With -o -, standard output is the archive itself.)
      if (values.output !== STDOUT) writeOut(`saved ${name} to ${values.output} (${format})`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown image command "${sub}"` : 'image needs a command', { hint: 'strata image import|ls|rm|save|pull|push' });
  }
}

/** The store name of a pulled reference: as written, with :latest added (a digest pull is named by its digest). */
export function localNameOf(ref: string): string {
  const at = ref.indexOf('@');
  return at < 0 ? normalizeRef(ref) : normalizeRef(`${ref.slice(0, at).replace(/:[\w][\w.-]*$/, '')}:${ref.slice(at + 1).replace(':', '-').slice(0, 19)}`);
}

export async function historyCommand(argv: string[], _session: Session): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { store: { type: 'string' } } });
  const [name] = positionals;
  if (!name) throw new UsageError('history needs an image NAME', { hint: 'strata history busybox:local' });
  const store = resolveStoreDir(values.store);
  const manifest = readManifest(store, requireImage(store, name).manifest);
  const config = readConfig(store, manifest);
  let layer = 0;
  const rows: HistoryRow[] = (config.history ?? []).map((entry) => {
    if (entry.empty_layer) return { entry, layer: undefined, size: undefined };
    const l = manifest.layers[layer++];
    return { entry, layer: l?.digest, size: l?.size };
  });
  writeOut(renderHistory(rows));
  return 0;
}
