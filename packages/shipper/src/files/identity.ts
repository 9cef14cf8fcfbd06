/**
 * File identity: device + inode plus a fingerprint of the first bytes, so a
 * new file that reuses a deleted file's inode is not mistaken for it, and a
 * renamed file is recognised. The `fileId` used in event ids is fixed when a
 * file is first seen and changes only with a new generation (copytruncate).
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { eventId } from '@logship/common';

export const FINGERPRINT_BYTES = 1024;

export interface Fingerprint {
  /** bytes hashed (less than FINGERPRINT_BYTES while the file is small) */
  length: number;
  hash: string;
}

export async function fingerprint(handle: FileHandle, length = FINGERPRINT_BYTES): Promise<Fingerprint> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { length: got, hash: createHash('sha256').update(buf.subarray(0, got)).digest('hex').slice(0, 32) };
}

/** True when the file still starts with the bytes that were fingerprinted. */
export async function sameStart(handle: FileHandle, fp: Fingerprint): Promise<boolean> {
  const now = await fingerprint(handle, fp.length);
  return now.length === fp.length && now.hash === fp.hash;
}

export function newFileId(host: string, dev: number, ino: number, fp: Fingerprint, generation: number): string {
  return eventId('file', host, dev, ino, fp.hash, fp.length, generation, Date.now(), Math.random());
}
