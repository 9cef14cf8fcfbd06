/** Memory and CPU time of a running process, sampled from /proc (Linux; zeros elsewhere). */
import fs from 'node:fs';

export interface ProcessUsage {
  /** the peak resident set size the kernel recorded (VmHWM), bytes */
  peakRss: number;
  /** the largest resident set size sampled (VmRSS), bytes */
  maxRss: number;
  /** user + system CPU time when last sampled, seconds */
  cpuSeconds: number;
}

export interface UsageSampler {
  /** the values sampled so far */
  current(): ProcessUsage;
  /** stops sampling and returns the last values */
  stop(): ProcessUsage;
}

const VM_HWM = /VmHWM:\s+(\d+)/;
const VM_RSS = /VmRSS:\s+(\d+)/;
const bytes = (status: string, field: RegExp) => Number(field.exec(status)?.[1] ?? 0) * 1024;

/** Samples the process every `everyMs` (first after `everyMs`) until stop(); a process that has exited keeps its last values. */
export function sampleUsage(pid: number | undefined, everyMs = 50): UsageSampler {
  const usage: ProcessUsage = { peakRss: 0, maxRss: 0, cpuSeconds: 0 };
  const timer = setInterval(() => {
    if (pid === undefined) return;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      usage.peakRss = Math.max(usage.peakRss, bytes(status, VM_HWM));
      usage.maxRss = Math.max(usage.maxRss, bytes(status, VM_RSS));
      // utime and stime, in clock ticks (100 per second on Linux)
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      usage.cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
    } catch {
      /* exited, or not Linux */
    }
  }, everyMs);
  return {
    current: () => ({ ...usage }),
    stop: () => {
      clearInterval(timer);
      return { ...usage };
    },
  };
}
