// The entry point of a worker thread that lays out one DOT graph with its own Graphviz instance, so that a
// long or failing layout never blocks (or corrupts the WebAssembly of) the process that asked for it.
import { parentPort } from 'node:worker_threads';
import { layoutDot } from './graph-svg.js';

parentPort?.once('message', (dot: string) => {
  layoutDot(dot, 'svg').then(
    (svg) => parentPort?.postMessage({ svg }),
    (error: unknown) => parentPort?.postMessage({ error: (error as Error).message }),
  );
});
