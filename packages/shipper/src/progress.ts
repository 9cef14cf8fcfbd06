/** A one-line progress bar for a TTY: bytes read of total, events per second. */
import { formatBytes } from '@logship/common';

export interface ProgressSource {
  bytesRead: number;
  bytesTotal: number;
  published: number;
}

export function renderProgress(p: ProgressSource, eventsPerSecond: number, width = 30): string {
  const ratio = p.bytesTotal > 0 ? Math.min(1, p.bytesRead / p.bytesTotal) : 1;
  const filled = Math.round(ratio * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  return `[${bar}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(p.bytesRead)}/${formatBytes(p.bytesTotal)} ${Math.round(eventsPerSecond)} events/s`;
}

/** Redraws the bar on `out` every `everyMs` until stopped; clears the line at the end. */
export function startProgress(source: () => ProgressSource, out: NodeJS.WriteStream, everyMs = 250): () => void {
  let lastPublished = source().published;
  let lastAt = Date.now();
  let rate = 0;
  const timer = setInterval(() => {
    const p = source();
    const now = Date.now();
    const dt = (now - lastAt) / 1000;
    if (dt > 0) rate = rate * 0.5 + ((p.published - lastPublished) / dt) * 0.5;
    lastPublished = p.published;
    lastAt = now;
    out.write(`\r${renderProgress(p, rate)}\x1b[K`);
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    out.write('\r\x1b[K');
  };
}
