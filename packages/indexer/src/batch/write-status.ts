/** What /health says about writing: the last accepted bulk, and the current problem with when it happened. */
export class WriteStatus {
  /** epoch ms of the last bulk that the output accepted (written, duplicate or rejected items) */
  lastSuccessAt: number | null = null;
  /** the current problem; cleared once writes and dead letters go through again */
  lastError: string | null = null;
  /** epoch ms of the last error, kept after it cleared */
  lastErrorAt: number | null = null;

  failed(reason: string): void {
    this.lastError = reason;
    this.lastErrorAt = Date.now();
  }

  succeeded(): void {
    this.lastSuccessAt = Date.now();
  }

  /** nothing waits for a retry any more: the last error is history (its time is kept) */
  recovered(): void {
    this.lastError = null;
  }
}
