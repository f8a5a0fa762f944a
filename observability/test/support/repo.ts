import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(__dirname, '../../..');
export const observabilityDir = path.join(repoRoot, 'observability');

export function repoPath(...segments: string[]): string {
  return path.join(repoRoot, ...segments);
}

/** Files directly in `dir` whose name ends with one of `extensions`, sorted, as absolute paths. */
export function listFiles(dir: string, extensions: string[]): string[] {
  return readdirSync(dir)
    .filter((name) => extensions.some((ext) => name.endsWith(ext)))
    .sort()
    .map((name) => path.join(dir, name));
}

/** Every YAML document in a file, parsed; a syntax error fails loudly with the file's name. */
export function readYamlDocuments(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) {
      throw new Error(`${path.relative(repoRoot, file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    return doc.toJS();
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const execFileAsync = promisify(execFile);

/** Runs a real tool and returns its exit code and output instead of throwing, so tests can assert on both. */
export async function run(
  command: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      cwd: options.cwd ?? repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & {
      stdout?: string;
      stderr?: string;
      code?: number | string;
    };
    if (typeof failed.code !== 'number') {
      throw new Error(`cannot run ${command}: ${failed.message}`, { cause: error });
    }
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
