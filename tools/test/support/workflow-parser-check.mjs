// GitHub's own workflow parser (@actions/workflow-parser) over the workflow files named in argv, printing
// {file: [errors]} as JSON. A separate process because the package is an ES module that imports JSON without
// import attributes: run it with tsx, whose loader accepts that (plain node refuses).
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { readFileSync } from 'node:fs';

const errorsByFile = {};
for (const file of process.argv.slice(2)) {
  const parsed = parseWorkflow(
    { name: file, content: readFileSync(file, 'utf8') },
    new NoOperationTraceWriter(),
  );
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  const messages = [
    ...parsed.context.errors.getErrors().map((error) => error.message),
    ...(template.errors ?? []).map((error) => error.Message),
  ];
  errorsByFile[file] = [...new Set(messages)];
}
process.stdout.write(JSON.stringify(errorsByFile));
