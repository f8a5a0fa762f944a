// Validates the Kubernetes objects of a YAML stream on stdin against their schemas, with the same
// kubernetes-models check verify-gitops applies to the env overlays. The model packages are ES modules, so this
// runs under tsx as a child process of the spec. Prints a JSON array of problems; exit 0 either way.
import { parseAllDocuments } from 'yaml';
import { validateObject } from '../../../tools/verify-gitops/schema';

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const objects = parseAllDocuments(Buffer.concat(chunks).toString('utf8')).map((doc) => doc.toJS());
  const problems: string[] = [];
  for (const object of objects.filter(Boolean)) {
    // kustomize wraps a generated Secret's base64 at 70 columns. The API server's decoder (Go's encoding/base64)
    // skips newlines; the schema's `byte` format does not, so compare what the API server would decode.
    if (object.kind === 'Secret' && object.data) {
      for (const key of Object.keys(object.data))
        object.data[key] = String(object.data[key]).replace(/\n/g, '');
    }
    const problem = await validateObject(object);
    if (problem) problems.push(`${object.kind}/${object.metadata?.name}: ${problem}`);
  }
  process.stdout.write(JSON.stringify({ validated: objects.length, problems }));
}

void main();
