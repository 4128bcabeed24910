/**
 * The command line of one cowpool command, read alike for every command. `--help` (or `-h`)
 * anywhere asks for the command's usage; an unknown option is named with the closest known one
 * (`--prot`: did you mean `--port`?); a word left over right after an option's value
 * (`--timeout 5 minutes`) is explained as a value with an unquoted space; and too many or too few
 * positionals say what the command takes. Every refusal is an {@link InvalidArgumentError}, which
 * main.ts prefixes with the command (`cowpool serve: …`) and ends with exit code 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { closestName } from '../options/validate.js';

/** The options of a command, as node:util `parseArgs` takes them. */
export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** The values `parseArgs` gives for `options` (typed per option: string, boolean, string[]). */
export type OptionValues<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; tokens: true }>
>['values'];

/** What a command accepts. */
export interface CommandSpec<O extends OptionsConfig> {
  /** The command as typed after `cowpool`: `serve`, `quickjs serve`. */
  readonly name: string;
  readonly options: O;
  /** What the positionals are, in words (`one module path`), for the messages. */
  readonly takes: string;
  /** How many positionals the command takes. */
  readonly positionals: { readonly min: number; readonly max: number };
  /** A correct invocation to show when positionals are wrong: `cowpool serve app.wasm`. */
  readonly example: string;
}

/** A command line read by {@link readCommandLine}: help asked for, or the values and positionals. */
export type CommandLine<O extends OptionsConfig> =
  { readonly help: true } | { readonly help: false; readonly values: OptionValues<O>; readonly positionals: string[] };

const HELP = { help: { type: 'boolean', short: 'h' } } as const satisfies OptionsConfig;

/** Reads `args` (what follows the command's name) against `spec`. */
export function readCommandLine<O extends OptionsConfig>(spec: CommandSpec<O>, args: string[]): CommandLine<O> {
  const options = { ...spec.options, ...HELP };
  // A lenient pass first: help wins over any mistake, and an unknown option is reported with its
  // closest known name instead of parseArgs' message.
  const { tokens: loose } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  if (loose.some((token) => token.kind === 'option' && token.name === 'help')) return { help: true };
  for (const token of loose) {
    if (token.kind !== 'option' || Object.hasOwn(options, token.name)) continue;
    const closest = closestName(token.name, Object.keys(spec.options));
    throw new InvalidArgumentError(
      `unknown option ${token.rawName}${closest ? `; did you mean --${closest}?` : ''} (cowpool ${spec.name} --help lists the options)`,
    );
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: spec.options, allowPositionals: true, tokens: true });
  } catch (err) {
    // parseArgs' own words for a missing value (`Option '--port <value>' argument missing`) are clear.
    throw new InvalidArgumentError(`${(err as Error).message} (cowpool ${spec.name} --help lists the options)`, { cause: err });
  }
  const { values, positionals, tokens } = parsed;
  if (positionals.length > spec.positionals.max) {
    const extra = tokens.filter((token) => token.kind === 'positional')[spec.positionals.max]!;
    const before = tokens.find((token) => token.kind === 'option' && token.value !== undefined && token.index === extra.index - 2);
    if (before?.kind === 'option' && !before.inlineValue) {
      const value = `${before.value} ${extra.value}`;
      throw new InvalidArgumentError(
        `unexpected "${extra.value}" after ${before.rawName} ${before.value}: a value with a space needs quotes ` +
          `(${before.rawName} '${value}') or no space (${before.rawName} ${value.replace(' ', '')})`,
      );
    }
    throw new InvalidArgumentError(`expected ${spec.takes}, got ${positionals.map((p) => `"${p}"`).join(' ')} (usage: ${spec.example})`);
  }
  if (positionals.length < spec.positionals.min) throw new InvalidArgumentError(`expected ${spec.takes} (usage: ${spec.example})`);
  return { help: false, values: values as OptionValues<O>, positionals };
}
