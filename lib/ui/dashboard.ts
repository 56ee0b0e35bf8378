/**
 * The `strata dev` dashboard (blessed), on a terminal: a header (context,
 * files, the context digest, build number, state, whether it watches), a
 * box per stage with its steps (CACHED, RUNNING with a spinner and its
 * time, DONE with its time, ERROR), the last rebuild's cause, and a log
 * pane (the running step's output, or the app's with --run). Keys: q quit,
 * r rebuild, c rebuild with --no-cache, p pause/resume watching, l toggle
 * the log pane. It follows the terminal's size. blessed is loaded only
 * here, when a dashboard is wanted.
 */
import { createRequire } from 'node:module';
import type { Widgets } from 'blessed';
import type { DevController, DevEvent } from '../watch/index.js';
import { trimmedText } from './build-progress.js';
import { formatError } from './errors.js';
import { trackSteps, type StepState } from './step-states.js';
import { formatCount } from './progress.js';

export interface Dashboard {
  readonly report: (event: DevEvent) => void;
  /** Gives the terminal back as it was. */
  destroy(): void;
}

export interface DashboardOptions {
  readonly controller: DevController;
  readonly running: boolean;
  readonly onQuit: () => void;
  /** Streams the screen draws on and reads keys from (the terminal, or a test's pty). */
  readonly input?: NodeJS.ReadStream;
  readonly output?: NodeJS.WriteStream;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const LOG_LINES = 500;

export function openDashboard(options: DashboardOptions): Dashboard {
  const blessed = createRequire(import.meta.url)('blessed') as typeof import('blessed');
  const screen = blessed.screen({ smartCSR: true, title: 'strata dev', input: options.input, output: options.output, fullUnicode: true, warnings: false });
  const header = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: 3, border: { type: 'line' }, tags: true, style: { border: { fg: 'cyan' } } });
  const cause = blessed.box({ parent: screen, top: 3, left: 0, width: '100%', height: 4, border: { type: 'line' }, label: ' last change ', tags: false });
  const stagesArea = blessed.box({ parent: screen, top: 7, left: 0, width: '100%', height: 10 });
  const log = blessed.log({ parent: screen, bottom: 1, left: 0, width: '100%', height: 10, border: { type: 'line' }, label: options.running ? ' app ' : ' output ', scrollback: LOG_LINES, scrollbar: { ch: ' ' }, tags: false });
  const footer = blessed.box({ parent: screen, bottom: 0, left: 0, width: '100%', height: 1, tags: true, content: ' {bold}q{/} quit  {bold}r{/} rebuild  {bold}c{/} rebuild --no-cache  {bold}p{/} pause/resume watching  {bold}l{/} log pane' });

  let context = '';
  let files = 0;
  let digest = '';
  let buildNumber = 0;
  let state = 'starting';
  let paused = false;
  let showLog = true;
  let tick = 0;
  let stageOrder: string[] = [];
  const stages = new Map<string, Widgets.BoxElement>();
  const tracker = trackSteps(0);
  let causeLines: string[] = [];
  let hashing: { filesDone: number; filesTotal: number | undefined } | undefined;

  const seconds = (row: StepState) => `${(((row.end ?? Date.now()) - row.start) / 1000).toFixed(1)}s`;
  const stageBox = (name: string) => {
    if (!stages.has(name)) {
      stages.set(name, blessed.box({ parent: stagesArea, top: 0, height: '100%', border: { type: 'line' }, label: ` ${name} `, tags: true }));
      stageOrder.push(name);
    }
  };
  const clearStages = () => {
    for (const box of stages.values()) box.detach();
    stages.clear();
    stageOrder = [];
    tracker.clear();
  };

  const render = () => {
    tick++;
    const watching = paused ? '{yellow-fg}paused{/}' : 'watching';
    if (hashing) {
      // A large context takes a while the first time: a bar, not a frozen screen.
      const width = 30;
      const found = formatCount(hashing.filesDone);
      if (hashing.filesTotal === undefined) {
        header.setContent(` {bold}strata dev{/}  reading the context  ${found} files`);
      } else {
        const done = Math.round((hashing.filesDone / Math.max(1, hashing.filesTotal)) * width);
        header.setContent(` {bold}strata dev{/}  reading the context  [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${found}/${formatCount(hashing.filesTotal)} files`);
      }
    } else {
      // What changes most, first: a narrow terminal cuts the right end.
      header.setContent(` {bold}strata dev{/}  ${watching}  build #${buildNumber}  ${state}  ${formatCount(files)} files  context ${digest.slice(0, 12)}  ${context}`);
    }
    cause.setContent(causeLines.join('\n'));
    const width = Math.floor(100 / Math.max(1, stageOrder.length));
    stageOrder.forEach((name, i) => {
      const box = stages.get(name)!;
      box.left = `${i * width}%`;
      box.width = i === stageOrder.length - 1 ? `${100 - i * width}%` : `${width}%`;
      box.setContent(tracker.steps.filter((row) => row.stage === name).map((row) => {
        switch (row.state) {
          case 'cached': return `{green-fg}CACHED{/}  ${row.text}`;
          case 'running': return `{cyan-fg}${SPINNER[tick % SPINNER.length]} RUNNING ${seconds(row)}{/}  ${row.text}`;
          case 'done': return `{green-fg}DONE ${seconds(row)}{/}  ${row.text}`;
          case 'error': return `{red-fg}ERROR ${seconds(row)}{/}  ${row.text}`;
        }
      }).join('\n'));
    });
    // Sizes in rows, from the terminal's own: the log takes a third when shown, the stages the rest.
    const rows = Number(screen.height);
    const logRows = showLog ? Math.max(4, Math.floor(rows / 3)) : 0;
    log.height = logRows;
    stagesArea.height = Math.max(3, rows - 7 - logRows - 1);
    if (showLog) log.show();
    else log.hide();
    footer.setFront();
    screen.render();
  };
  const timer = setInterval(render, 100);
  timer.unref();

  screen.key(['q', 'C-c'], () => options.onQuit());
  screen.key('r', () => options.controller.rebuild?.(false));
  screen.key('c', () => options.controller.rebuild?.(true));
  screen.key('p', () => {
    paused = options.controller.togglePause?.() ?? paused;
  });
  screen.key('l', () => {
    showLog = !showLog;
    render();
  });
  screen.on('resize', render);

  const plainError = (error: unknown) => formatError(error, { color: false }).split('\n');

  const report = (e: DevEvent) => {
    if (e.type === 'build-start') clearStages();
    tracker.apply(e);
    switch (e.type) {
      case 'hashing':
        hashing = { filesDone: e.filesDone, filesTotal: e.filesTotal };
        break;
      case 'dev-start':
        hashing = undefined;
        context = e.context;
        files = e.files;
        digest = e.digest;
        break;
      case 'change':
        causeLines = [`changed: ${[e.dockerfile ? 'the Dockerfile' : '', e.ignoreFile ? 'the ignore file' : '', e.paths.join(', ') + (e.count > e.paths.length ? ` and ${e.count - e.paths.length} more` : '')].filter(Boolean).join(', ')}`];
        break;
      case 'change-skipped':
        causeLines = [`nothing to build: ${e.reason === 'unchanged' ? 'the content is the same' : 'no step reads'} ${e.paths.join(', ')}`];
        break;
      case 'rebuild':
        hashing = undefined;
        buildNumber = e.number;
        state = '{cyan-fg}building{/}';
        if (e.cause === 'manual') causeLines = ['rebuild asked for'];
        break;
      case 'context':
        files = e.files;
        break;
      case 'step-start':
        stageBox(e.stage);
        break;
      case 'step-explain':
        causeLines = [...causeLines.slice(0, 1), `${tracker.get(e.id)?.text ?? ''}: ${e.text}`];
        break;
      case 'step-log':
        if (!options.running) log.log(e.line);
        break;
      case 'build-done':
        state = `{green-fg}done in ${e.seconds.toFixed(2)}s{/} (${e.executed} ran, ${e.cached} cached)`;
        break;
      case 'build-cancelled':
        state = '{yellow-fg}cancelled{/}';
        break;
      case 'build-failed':
        state = '{red-fg}failed{/}';
        for (const line of plainError(e.error)) log.log(line);
        break;
      case 'watch-paused':
        paused = e.paused;
        break;
      case 'app-log':
        if (options.running) log.log(e.line);
        break;
      case 'app-start':
        log.log(`-- app started: ${e.argv.join(' ')}`);
        break;
      case 'app-exit':
        log.log(e.stopped ? `-- app stopped (exit status ${e.code})` : `-- app exited with status ${e.code}`);
        break;
      case 'app-error':
        for (const line of plainError(e.error)) log.log(line);
        break;
      case 'cache-trimmed':
      case 'cache-trim-failed':
        log.log(`-- ${trimmedText(e)}`);
        break;
      default:
        break;
    }
  };

  render();
  return {
    report,
    destroy() {
      clearInterval(timer);
      screen.destroy();
    },
  };
}
