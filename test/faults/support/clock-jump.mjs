// Preload (`NODE_OPTIONS=--import <this file>`): on SIGUSR2 (or after LOCKSTEP_FAULTS_JUMP_AFTER_MS, when set), the
// process's wall clock jumps by LOCKSTEP_FAULTS_JUMP_MS (negative: backwards). Date.now(), `new Date()` and performance.timeOrigin
// move; monotonic time (setTimeout, performance.now()) does not, as with a real clock step (NTP, a VM resumed).
const jump = Number(process.env.LOCKSTEP_FAULTS_JUMP_MS ?? 0);
const after = process.env.LOCKSTEP_FAULTS_JUMP_AFTER_MS;
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
let offset = 0;

class JumpedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(realNow() + offset);
    else super(...args);
  }
  static now() {
    return realNow() + offset;
  }
}
globalThis.Date = JumpedDate;
const origin = performance.timeOrigin;
Object.defineProperty(performance, 'timeOrigin', { get: () => origin + offset });

const step = () => {
  offset += jump;
  process.stderr.write(`${JSON.stringify({ level: 'info', message: 'clock jumped', jumpMs: jump, at: realNow() })}\n`);
};
// Once per process, however many times the preload is loaded.
if (!process.listeners('SIGUSR2').some((l) => l.name === 'step')) process.on('SIGUSR2', step);
if (after !== undefined) setTimeout(step, Number(after)).unref();
