/**
 * stdin as a byte stream. When it is a regular file (`logship ship < app.log`)
 * it is read in 1 MiB chunks from where its offset stands: process.stdin reads
 * a file 64 KiB at a time through the thread pool and would spend a third of
 * the run waiting for reads. Pipes and terminals use process.stdin.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';

const FILE_CHUNK_BYTES = 1024 * 1024;

export function openStdin(): Readable {
  let isFile = false;
  try {
    isFile = fs.fstatSync(0).isFile();
  } catch {
    // closed or unusual stdin: let process.stdin report it
  }
  if (!isFile) return process.stdin;
  // with fd set the path is not used; autoClose false leaves fd 0 open
  return fs.createReadStream('/dev/stdin', { fd: 0, highWaterMark: FILE_CHUNK_BYTES, autoClose: false });
}
