// Summarise a V8 .cpuprofile (from BENCH_CPU_PROF or `node --cpu-prof`): self time by function and by package,
// as shares of the profile's sampled time. Usage: node tools/bench/profile-summary.mjs <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';

const [file, topArgument] = process.argv.slice(2);
if (!file) {
  console.error('usage: node tools/bench/profile-summary.mjs <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topArgument ?? 40);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const selfTicks = new Map();
for (const id of profile.samples) selfTicks.set(id, (selfTicks.get(id) ?? 0) + 1);
const total = profile.samples.length;

// A service bundle is one file in which esbuild marks where each module starts (`// node_modules/<package>/…`
// or `// services/<name>/dist/…`): a function is attributed to the module whose marker precedes its line.
const bundleMarkers = new Map();
function modulesOf(url) {
  if (!bundleMarkers.has(url)) {
    const markers = [];
    try {
      readFileSync(new URL(url), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          const match =
            /^\/\/ ((?:\.\.\/)*(?:node_modules\/((?:@[^/]+\/)?[^/]+)|services\/[^/]+\/dist\/\S+))/.exec(line);
          if (match) markers.push([index, match[2] ?? match[1].replace(/^(\.\.\/)+/, '')]);
        });
    } catch {
      // Not a readable file: attribute by URL only.
    }
    bundleMarkers.set(url, markers);
  }
  return bundleMarkers.get(url);
}
// V8 reports (idle), (program) and (garbage collector) as pseudo-functions without a URL.
function where(frame) {
  const url = frame.url ?? '';
  if (!url) return frame.functionName || '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1];
  const markers = url.startsWith('file:') ? modulesOf(url) : [];
  let module;
  for (const [line, name] of markers) {
    if (line > frame.lineNumber) break;
    module = name;
  }
  return module ?? url.replace(/^.*\/services\//, 'services/');
}
const byFunction = new Map();
const byPlace = new Map();
for (const [id, ticks] of selfTicks) {
  const frame = nodes.get(id).callFrame;
  const name = `${frame.functionName || '(anonymous)'} ${where(frame)}:${frame.lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + ticks);
  byPlace.set(where(frame), (byPlace.get(where(frame)) ?? 0) + ticks);
}
const share = (ticks) => `${((ticks / total) * 100).toFixed(1).padStart(5)} %`;
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [name, ticks] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${share(ticks)}  ${name}`);
};
console.log(`${file}: ${total} samples`);
print('self time by place', byPlace);
print('self time by function', byFunction);

// Inclusive time: the share of samples with the function anywhere on the stack (counted once per sample).
const parents = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
const inclusive = new Map();
for (const [id, ticks] of selfTicks) {
  const seen = new Set();
  for (let at = id; at !== undefined; at = parents.get(at)) {
    const frame = nodes.get(at).callFrame;
    const name = `${frame.functionName || '(anonymous)'} ${where(frame)}:${frame.lineNumber + 1}`;
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + ticks);
  }
}
print('inclusive time by function', inclusive);
