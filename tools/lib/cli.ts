// How the delivery tools talk to a shell: `--help` prints usage and exits 0, a mistake in the
// arguments prints one line and exits 2, anything else that goes wrong prints one line and exits 1.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in what the user asked for: the CLI prints the message alone and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags that take a value (`--tag <sha>`), for `parseOptions`: most of the tools' flags are these. */
export function valueFlags<const Names extends readonly string[]>(...names: Names) {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }])) as {
    [Name in Names[number]]: { type: 'string' };
  };
}

/** Flags that are on or off (`--dry-run`), for `parseOptions`. */
export function switchFlags<const Names extends readonly string[]>(...names: Names) {
  return Object.fromEntries(names.map((name) => [name, { type: 'boolean' }])) as {
    [Name in Names[number]]: { type: 'boolean' };
  };
}

export function parseOptions<T extends Options>(argv: string[], options: T) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    // node's messages name the offending flag; keep them, but as a usage error.
    throw new UsageError((error as Error).message);
  }
}

export async function runCli(
  name: string,
  usage: string,
  main: (argv: string[]) => Promise<void> | void,
): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage.endsWith('\n') ? usage : `${usage}\n`);
    return;
  }
  try {
    await main(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${name}: ${error.message}\nRun "npm run ${name} -- --help" for usage.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
