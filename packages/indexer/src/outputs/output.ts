/** What an output (Elasticsearch, stdout, file) answers for each document of a batch. */
import type { Document } from '../decode/decode.js';

export type ItemOutcome =
  | { kind: 'ok' }
  | { kind: 'duplicate' }
  | { kind: 'retry'; status: number | undefined; reason: string }
  | { kind: 'reject'; status: number; type: string; reason: string };

export interface Output {
  readonly name: string;
  /**
   * One outcome per document, in order; throws only for programming errors.
   * `bytes`: the sum of bulkItemBytes over `docs`, when the caller measured it.
   */
  write(docs: readonly Document[], bytes?: number): Promise<ItemOutcome[]>;
  /** whether the output answered its last request (for /health) */
  readonly reachable: boolean;
  /** Elasticsearch only: its nodes, masked, and whether the client sends them requests (/health) */
  nodes?(): Array<{ node: string; alive: boolean }>;
  close(): Promise<void>;
}
