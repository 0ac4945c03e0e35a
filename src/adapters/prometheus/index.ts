/** Prometheus metrics (the only prom-client importer). */

export type { CachedReadOptions } from './cached-read.js';
export { cachedRead } from './cached-read.js';
export type { PrometheusMetrics, PrometheusMetricsOptions } from './prometheus-metrics.js';
export { createPrometheusMetrics } from './prometheus-metrics.js';
