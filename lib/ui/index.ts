/** lib/ui: everything strata shows a person or a tool. */
export { formatError } from './errors.js';
export { renderPlanText, renderFindings } from './plan.js';
export { styleFor, paint, writeOut, writeErr, type Style } from './terminal.js';
export { progressBar, formatBytes, type ProgressBar } from './progress.js';
export { renderHashText, hashReportJSON, renderBenchTable, type HashReport, type SourceDigest } from './hash.js';
export { renderImageList, renderHistory, renderCacheMounts, renderStoreUsage, type ImageRow, type HistoryRow, type CacheMountRow, type StoreUsage } from './images.js';
export { plainReporter, jsonReporter, type Reporter } from './build-progress.js';
export { ttyReporter, type TtyReporter, type TtyTarget } from './build-tty.js';
export { devJsonReporter, devPlainReporter } from './dev-progress.js';
export { openDashboard, type Dashboard } from './dashboard.js';
