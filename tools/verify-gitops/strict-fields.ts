// Unknown fields. The kubernetes-models validators check types and required fields but, like the OpenAPI
// schemas they are generated from, accept any extra field, so a typo (`readinesProbe`, `stepz`) would pass
// while Kubernetes drops it (or the CRD's structural schema prunes it) and the feature silently goes missing.
// The same packages also ship TypeScript declarations of every kind; the TypeScript compiler's excess-property
// check against those declarations finds every field the schema does not define, with its path.
import { join } from 'node:path';
import ts from 'typescript';
import type { KubernetesObject, RenderedTree, Violation } from './model';
import { objectName } from './model';

/** Error codes of TypeScript's excess-property check ("may only specify known properties"). */
const EXCESS_PROPERTY_CODES = new Set([2353, 2561]);

interface Entry {
  tree: RenderedTree;
  object: KubernetesObject;
  variable: string;
}

/** The JSON path (spec.strategy.canary.stepz) of the property the diagnostic points at. */
function propertyPath(node: ts.Node, position: number): string[] {
  let path: string[] = [];
  const visit = (current: ts.Node, prefix: string[]) => {
    if (position < current.getStart() || position >= current.getEnd()) return;
    let next = prefix;
    if (ts.isPropertyAssignment(current)) {
      const name = ts.isStringLiteral(current.name) ? current.name.text : current.name.getText();
      next = [...prefix, name];
      path = next;
    } else if (ts.isArrayLiteralExpression(current.parent) && ts.isExpression(current)) {
      next = [
        ...prefix.slice(0, -1),
        `${prefix[prefix.length - 1]}[${current.parent.elements.indexOf(current)}]`,
      ];
    }
    current.forEachChild((child) => visit(child, next));
  };
  visit(node, []);
  return path;
}

export function unknownFieldViolations(
  trees: RenderedTree[],
  specifiers: Map<KubernetesObject, string>,
): Violation[] {
  const entries: Entry[] = [];
  const lines: string[] = [];
  for (const tree of trees) {
    for (const object of tree.objects) {
      const specifier = specifiers.get(object);
      if (!specifier) continue;
      const variable = `object${entries.length}`;
      entries.push({ tree, object, variable });
      lines.push(
        `import type { I${object.kind} as T${entries.length - 1} } from ${JSON.stringify(`${specifier}/${object.kind}`)};`,
      );
      lines.push(`export const ${variable}: T${entries.length - 1} = ${JSON.stringify(object)};`);
    }
  }
  if (entries.length === 0) return [];
  // A virtual file beside this one, so that the model packages resolve from this repository's node_modules.
  const fileName = join(__dirname, '__rendered-objects__.ts');
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));
  host.fileExists = (
    (exists) => (name: string) =>
      name === fileName || exists(name)
  )(host.fileExists.bind(host));
  host.getSourceFile = (name, version, onError, create) =>
    name === fileName
      ? ts.createSourceFile(name, source, version, true)
      : getSourceFile(name, version, onError, create);
  const program = ts.createProgram([fileName], options, host);
  const sourceFile = program.getSourceFile(fileName) as ts.SourceFile;
  const byVariable = new Map(entries.map((entry) => [entry.variable, entry]));
  const violations: Violation[] = [];
  for (const diagnostic of program.getSemanticDiagnostics(sourceFile)) {
    if (!EXCESS_PROPERTY_CODES.has(diagnostic.code) || diagnostic.start === undefined) continue;
    const statement = sourceFile.statements.find(
      (s) =>
        diagnostic.start !== undefined && diagnostic.start >= s.getStart() && diagnostic.start < s.getEnd(),
    );
    if (!statement || !ts.isVariableStatement(statement)) continue;
    const declaration = statement.declarationList.declarations[0];
    const entry = byVariable.get(declaration.name.getText());
    if (!entry || !declaration.initializer) continue;
    const path = propertyPath(declaration.initializer, diagnostic.start).join('.');
    violations.push({
      rule: 'schema',
      where: `${entry.tree.source}: ${objectName(entry.object)}`,
      message: `unknown field ${path}: the ${entry.object.apiVersion} ${entry.object.kind} schema has no such field (a typo?); Kubernetes would drop it`,
    });
  }
  return violations;
}
