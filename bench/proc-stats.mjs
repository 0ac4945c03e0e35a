// CPU time and memory of processes from /proc (Linux), for the benches that run lockstep in several processes:
// which process used the machine's cores tells lockstep's own cost from the broker's.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on every Linux build that matters). */
const TICKS = 100;

/** User + system CPU seconds a process has used so far, or undefined once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses, which may hold spaces): utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return undefined;
  }
}

/** The machine's busy CPU seconds (all cores, all processes) so far, from /proc/stat. */
export function machineBusySeconds() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** Resident set size (VmRSS) of a process in bytes, or undefined once it is gone. */
export function rssBytes(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Inodes of the sockets listening on `port` (IPv4 and IPv6), from /proc/net/tcp*. */
function listeningInodes(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT; state 0A is LISTEN; the inode is the tenth field.
      if (f.length > 9 && f[1].endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9]);
    }
  }
  return inodes;
}

/**
 * Pids of the processes listening on the ports of `brokers` ("host:port,..."): the brokers this bench talks to,
 * when they run on this machine (their CPU also counts other clients' load).
 */
export function brokerPids(brokers) {
  const inodes = new Set();
  for (const b of String(brokers).split(',')) for (const i of listeningInodes(Number(b.split(':').pop()))) inodes.add(i);
  const pids = [];
  if (inodes.size === 0) return pids;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      for (const fd of readdirSync(`/proc/${name}/fd`)) {
        const link = readlinkSync(`/proc/${name}/fd/${fd}`);
        if (link.startsWith('socket:[') && inodes.has(link.slice(8, -1))) {
          pids.push(Number(name));
          break;
        }
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/**
 * Samples CPU seconds of named groups of pids, and of the whole machine. `stop()` gives each group's share of one
 * core over the interval (1 = a whole core) and the machine's, against the cores it has.
 */
export function cpuMeter(groups) {
  const read = () => {
    const out = new Map();
    for (const [name, pids] of Object.entries(groups))
      out.set(
        name,
        pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0),
      );
    return out;
  };
  const start = read();
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  return {
    stop() {
      const seconds = (performance.now() - t0) / 1000;
      const end = read();
      const cores = {};
      for (const [name, value] of end) cores[name] = (value - start.get(name)) / seconds;
      return { seconds, cores, machine: (machineBusySeconds() - machine0) / seconds, available: cpus().length };
    },
  };
}

/** "1.23 cores" per group, and the machine's busy cores of those it has. */
export function formatCpu({ cores, machine, available }) {
  const parts = Object.entries(cores).map(([name, c]) => `${name} ${c.toFixed(2)}`);
  return `CPU (cores busy): ${parts.join(', ')}; machine ${machine.toFixed(2)} of ${available}`;
}
