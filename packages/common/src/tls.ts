/** TLS material for amqps:// and https:// from PEM files named by options. */
import fs from 'node:fs';
import { ErrorCodes, LogshipError, errorMessage } from './errors.js';

export interface TlsFiles {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
}

function read(option: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new LogshipError(ErrorCodes.CONFIG_INVALID, `cannot read ${option} ${file}: ${errorMessage(err)}`);
  }
}

/** Reads the CA, certificate and key files; undefined when none is set. */
export function readTls(prefix: 'amqp' | 'es', files: { ca: string; cert: string; key: string }): TlsFiles | undefined {
  if (!files.ca && !files.cert && !files.key) return undefined;
  if (Boolean(files.cert) !== Boolean(files.key)) {
    throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--${prefix}-cert and --${prefix}-key go together: set both or neither`);
  }
  const out: TlsFiles = {};
  if (files.ca) out.ca = [read(`--${prefix}-ca`, files.ca)];
  if (files.cert) out.cert = read(`--${prefix}-cert`, files.cert);
  if (files.key) out.key = read(`--${prefix}-key`, files.key);
  return out;
}
