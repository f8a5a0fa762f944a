// Broken examples: each policy test shows its check catching a copy of the real file with one thing broken.

/**
 * `text` with `find` replaced by `replace`, for showing that a policy catches the mistake. A replacement that
 * changes nothing (the real file moved on) would show nothing about the check, so it fails the test instead.
 */
export function brokenCopy(text: string, find: string | RegExp, replace: string, what: string): string {
  const broken = text.replace(find, replace);
  if (broken === text) throw new Error(`the broken example for ${what} changed nothing: ${String(find)}`);
  return broken;
}
