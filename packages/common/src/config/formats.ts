/** Custom convict formats shared by the schema. */
import convict from 'convict';
import { parseBytes, parseDuration } from '../units.js';

let registered = false;

export function registerFormats(): void {
  if (registered) return;
  registered = true;
  convict.addFormat({
    name: 'bytes',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
        throw new Error('must be a size such as 512kb, 5mb or a number of bytes (at least 1)');
      }
    },
    coerce: (value: unknown) => parseBytes(value),
  });
  convict.addFormat({
    name: 'duration',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new Error('must be a duration such as 250ms, 1s, 5m or a number of milliseconds');
      }
    },
    coerce: (value: unknown) => parseDuration(value),
  });
  convict.addFormat({
    name: 'positive-int',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        throw new Error('must be a whole number of at least 1');
      }
    },
    coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
  });
  convict.addFormat({
    name: 'port-or-null',
    validate(value: unknown) {
      if (value === null) return;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
        throw new Error('must be a TCP port between 0 and 65535 (0 picks any free port)');
      }
    },
    coerce: (value: unknown) => {
      if (value === '' || value === 'off' || value === 'null') return null;
      return typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    },
  });
  convict.addFormat({
    name: 'amqp-url',
    validate(value: unknown) {
      if (typeof value !== 'string' || !/^amqps?:\/\/[^/]/.test(value)) {
        throw new Error('must be an amqp:// or amqps:// URL such as amqp://user:pass@host:5672/%2f');
      }
      new URL(value);
    },
  });
  convict.addFormat({
    name: 'http-url',
    validate(value: unknown) {
      if (typeof value !== 'string' || !/^https?:\/\/[^/]/.test(value)) {
        throw new Error('must be an http:// or https:// URL such as http://127.0.0.1:9200');
      }
      new URL(value);
    },
  });
  convict.addFormat({
    name: 'output',
    validate(value: unknown) {
      if (value === 'elasticsearch' || value === 'stdout') return;
      if (typeof value === 'string' && value.startsWith('file:') && value.length > 5) return;
      throw new Error('must be elasticsearch, stdout or file:PATH');
    },
  });
  convict.addFormat({
    name: 'regex-or-empty',
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a regular expression');
      if (value !== '') new RegExp(value);
    },
  });
  convict.addFormat({
    name: 'name',
    validate(value: unknown) {
      if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
        throw new Error('must be a non-empty name of at most 255 characters');
      }
    },
  });
}
