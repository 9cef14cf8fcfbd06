/**
 * File identity: device + inode plus a fingerprint of the first bytes, so a
 * new file that reuses a deleted file's inode is not mistaken for it, a
 * renamed file is recognised, and a file rewritten in place is a new file.
 *
 * The `fileId` used in event ids is chosen when a file (or a new generation
 * of it, after copytruncate or a rewrite) is first seen, and the state store
 * writes it to disk (write, fsync, rename) before the first event under it is
 * published: a restarted shipper finds it again and re-publishes the same ids.
 * It is unique on purpose (a random part) rather than derived from dev, inode
 * and fingerprint: two files that start alike on a reused inode (typically
 * both empty when first seen, as `create` rotation makes them) would otherwise
 * get the same id, and the second one's lines would be dropped as 409s.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { eventId } from '@logship/common';

export const FINGERPRINT_BYTES = 1024;

export interface Fingerprint {
  /** bytes hashed (less than FINGERPRINT_BYTES while the file is small) */
  length: number;
  hash: string;
}

function hashOf(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex').slice(0, 32);
}

async function readStart(handle: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

export async function fingerprint(handle: FileHandle, length = FINGERPRINT_BYTES): Promise<Fingerprint> {
  const start = await readStart(handle, length);
  return { length: start.length, hash: hashOf(start) };
}

/**
 * One read of the first FINGERPRINT_BYTES: null when the file no longer
 * starts with the fingerprinted bytes (rewritten or truncated), else its
 * fingerprint, longer than `fp` when the file has grown past a short one.
 */
export async function checkStart(handle: FileHandle, fp: Fingerprint): Promise<Fingerprint | null> {
  const start = await readStart(handle, Math.max(FINGERPRINT_BYTES, fp.length));
  if (start.length < fp.length || hashOf(start.subarray(0, fp.length)) !== fp.hash) return null;
  return start.length === fp.length ? fp : { length: start.length, hash: hashOf(start) };
}

/** A new, unique file id; see the module comment for why it is not derived. */
export function newFileId(host: string, dev: number, ino: number, fp: Fingerprint, generation: number): string {
  return eventId('file', host, dev, ino, fp.hash, fp.length, generation, randomUUID());
}
