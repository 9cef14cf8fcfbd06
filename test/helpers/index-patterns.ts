/** One check that an --index pattern is refused everywhere: validation, the namer, and the command line (exit 2 naming the option). */
import assert from 'node:assert/strict';
import { ErrorCodes, LogshipError, createIndexNamer, loadCommandLine, validateIndexPattern } from '@logship/common';

export function refusedAtStartup(pattern: string, mentions: RegExp): void {
  assert.match(validateIndexPattern(pattern) ?? 'accepted', mentions, pattern);
  assert.throws(
    () => createIndexNamer(pattern),
    (err: unknown) => err instanceof LogshipError && err.code === ErrorCodes.CONFIG_INVALID,
  );
  assert.throws(
    () => loadCommandLine('index', [`--index=${pattern}`], {}),
    (err: unknown) => {
      assert.ok(err instanceof LogshipError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /--index \(LOGSHIP_INDEX\)/);
      assert.match(err.message, mentions);
      return true;
    },
  );
}
