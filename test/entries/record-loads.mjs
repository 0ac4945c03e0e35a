// `node --import ./test/entries/record-loads.mjs`: installs load-hooks.mjs in the process.
import { register } from 'node:module';

register('./load-hooks.mjs', import.meta.url);
