// Preloaded (`node -r`) into the children of __test__/helpers/child.ts: writes the process's
// peak resident set size (KiB) to the file named by LIVEN_MAXRSS_FILE when it exits. On Linux
// it is VmHWM of /proc/self/status: getrusage's maxRSS keeps the high-water mark of the
// process before exec, which for a child spawned by a test worker is the worker's own size.
const { readFileSync, writeFileSync } = require('node:fs');

function peakKiB() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]);
  } catch {
    // Not Linux.
  }
  return process.resourceUsage().maxRSS;
}

process.on('exit', () => writeFileSync(process.env.LIVEN_MAXRSS_FILE, String(peakKiB())));
