// Installs what the test suite needs beyond npm packages, so `npm test` works on a fresh machine:
// Debian's chromium for the browser tests (never a downloaded browser build), promtool (Debian's prometheus)
// that checks the /metrics output, and java + mvn for the Kafka broker assembled from Maven Central jars.
// Skips whatever is already there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const missing = [];
if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
if (!has('promtool')) missing.push('prometheus');
if (!has('java') && !process.env.KAFKA_BROKERS) missing.push('openjdk-17-jre-headless');
if (!has('mvn') && !process.env.KAFKA_BROKERS) missing.push('maven');

if (missing.length > 0) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has('apt-get')) {
    console.error(
      `lockstep tests need: ${missing.join(', ')}. Install them (Debian: apt-get install -y ${missing.join(' ')}), or set KAFKA_BROKERS to use an existing broker.`,
    );
    process.exit(1);
  }
  console.log(`[ensure-test-deps] installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const quiet = (args) => {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) {
      console.error(`apt-get ${args.join(' ')} failed:\n${(r.stdout ?? '').slice(-4000)}${(r.stderr ?? '').slice(-4000)}`);
      process.exit(1);
    }
  };
  quiet(['update', '-qq']);
  quiet(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
}
