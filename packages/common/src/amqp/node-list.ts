/**
 * The nodes of one RabbitMQ cluster, from --amqp-url's comma-separated list,
 * and the order a process tries them in (shuffled per process by default, so
 * N indexers land on different nodes).
 */
import { maskUrl, splitUrlList } from '../logger.js';

/** The URLs of --amqp-url, trimmed, in the given order. */
export function amqpNodes(amqpUrl: string): string[] {
  return splitUrlList(amqpUrl)
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

/** Fisher-Yates; `random` for tests. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** How a node is named in logs, /health and metrics: its URL with the password masked. */
export function nodeName(url: string): string {
  return maskUrl(url);
}
