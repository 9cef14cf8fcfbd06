/**
 * The resolved configuration's type, derived from the one schema (schema.ts):
 * a new option is typed where it is declared.
 */
import type { OPTIONS, OptionKey } from './schema.js';

/** The value type each convict format gives (formats.ts coerces to these). */
interface FormatTypes {
  'amqp-url': string;
  bool: boolean;
  bytes: number;
  'data-stream-or-empty': string;
  duration: number;
  'http-url': string;
  'http-url-list': string;
  'http-url-or-empty': string;
  'ilm-policy-or-empty': string;
  'index-pattern': string;
  name: string;
  nat: number;
  output: string;
  'port-or-null': number | null;
  'positive-int': number;
  prefetch: number;
  'regex-or-empty': string;
  retention: number;
}

type ValueOf<F> = F extends readonly (infer V)[] ? V : F extends StringConstructor ? string : F extends keyof FormatTypes ? FormatTypes[F] : never;

/** Resolved, typed configuration: derived from OPTIONS, so a new option is typed where it is declared. */
export type Config = { -readonly [K in OptionKey]: ValueOf<(typeof OPTIONS)[K]['format']> };

/** An option whose format has no entry in FormatTypes would be typed `never`: this line then names it. */
type UntypedOption = { [K in OptionKey]: [Config[K]] extends [never] ? K : never }[OptionKey];
export const EVERY_OPTION_TYPED: [UntypedOption] extends [never] ? true : UntypedOption = true;
