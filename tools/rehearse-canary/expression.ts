// Argo Rollouts evaluates `successCondition` / `failureCondition` with the expr language
// (github.com/antonmedv/expr v1.15, utils/evaluate/evaluate.go): the condition is compiled against an
// environment whose `result` is the provider's value (a Prometheus vector becomes []float64, a scalar
// float64), type-checked as a whole, then run. Both a compile error and a run-time error turn the
// measurement into Error; a non-boolean outcome is an error too.
//
// This module reproduces that subset: numbers, `true`/`false`, `result`, indexing (negative indexes
// count from the end), `len`, `isNaN`, `isInf`, `abs`, `asInt`, `asFloat`, `isNil`, arithmetic,
// comparisons, `&&`/`and`, `||`/`or`, `!`/`not`, parentheses and the conditional `?:`. The type check
// runs over the whole expression before anything is evaluated, as expr's compiler does, so a type
// error hides nowhere behind a short-circuit. Anything outside the subset is refused with
// UnsupportedConditionError rather than guessed at: the rehearsal must never pass a template that
// Argo would treat differently.
import jsep from 'jsep';

/** What the Prometheus provider hands the evaluator: a vector's sample values, or a scalar. */
export type ConditionResult = number | readonly number[];

/** Argo would mark the measurement Error: the condition does not compile against this result. */
export class ConditionCompileError extends Error {
  override name = 'ConditionCompileError';
}

/** Argo would mark the measurement Error: the condition compiled but failed while running. */
export class ConditionRuntimeError extends Error {
  override name = 'ConditionRuntimeError';
}

/** The condition uses expr syntax this rehearsal does not reproduce; the rehearsal stops instead of guessing. */
export class UnsupportedConditionError extends Error {
  override name = 'UnsupportedConditionError';
}

// expr's operator table (parser/operator.go): `or` 10, `and` 15, every comparison 20, `+ -` 30,
// `* / %` 60, `** ^` 100 (right-associative). Equality and ordering share one level in expr, unlike
// JavaScript, and `^` is exponentiation, not XOR. jsep is configured once, here, to parse exactly that
// table; the operators expr lacks (`===`, bit operators, `??` on numbers) are removed so they fail to
// parse instead of being read with JavaScript's meaning.
jsep.removeAllBinaryOps();
jsep.removeAllUnaryOps();
for (const [operator, precedence] of [
  ['||', 1],
  ['or', 1],
  ['&&', 2],
  ['and', 2],
  ['==', 3],
  ['!=', 3],
  ['<', 3],
  ['>', 3],
  ['<=', 3],
  ['>=', 3],
  ['+', 4],
  ['-', 4],
  ['*', 5],
  ['/', 5],
  ['%', 5],
] as const) {
  jsep.addBinaryOp(operator, precedence);
}
jsep.addBinaryOp('**', 6, true);
jsep.addBinaryOp('^', 6, true);
for (const operator of ['!', 'not', '-', '+']) jsep.addUnaryOp(operator);

type ValueType = 'bool' | 'int' | 'float' | 'floatArray' | 'any';
type Value = boolean | number | readonly number[] | null;

const GO_TYPE_NAMES: Record<ValueType, string> = {
  bool: 'bool',
  int: 'int',
  float: 'float64',
  floatArray: '[]float64',
  any: 'interface {}',
};

function isNumeric(type: ValueType): boolean {
  return type === 'int' || type === 'float';
}

// expr builtins and Argo helpers this rehearsal does not reproduce: refusing them by name keeps a
// template that uses them from being reported as a plain "unknown name" compile error.
const KNOWN_BUT_UNSUPPORTED_FUNCTIONS = new Set([
  'default',
  'all',
  'any',
  'none',
  'one',
  'filter',
  'map',
  'count',
  'max',
  'min',
  'int',
  'float',
  'string',
  'first',
  'last',
  'sum',
  'mean',
  'median',
  'round',
  'ceil',
  'floor',
  'trim',
  'upper',
  'lower',
  'type',
  'toJSON',
  'fromJSON',
]);

interface FunctionSignature {
  readonly arity: number;
  check(args: ValueType[], name: string): ValueType;
}

function requireFloatArgument(args: ValueType[], name: string): ValueType {
  // expr converts an integer argument to the float64 parameter; anything else does not compile.
  if (!isNumeric(args[0]) && args[0] !== 'any') {
    throw new ConditionCompileError(
      `cannot use ${GO_TYPE_NAMES[args[0]]} as argument (type float64) to call ${name}`,
    );
  }
  return 'bool';
}

const FUNCTIONS: Record<string, FunctionSignature> = {
  len: {
    arity: 1,
    check(args) {
      if (args[0] !== 'floatArray' && args[0] !== 'any') {
        throw new ConditionCompileError(`invalid argument for len (type ${GO_TYPE_NAMES[args[0]]})`);
      }
      return 'int';
    },
  },
  isNaN: { arity: 1, check: requireFloatArgument },
  isInf: { arity: 1, check: requireFloatArgument },
  abs: {
    arity: 1,
    check(args) {
      if (!isNumeric(args[0]))
        throw new ConditionCompileError(`invalid argument for abs (type ${GO_TYPE_NAMES[args[0]]})`);
      return args[0];
    },
  },
  // Argo's helpers take interface{} and panic at run time on what they cannot convert.
  asInt: { arity: 1, check: () => 'int' },
  asFloat: { arity: 1, check: () => 'float' },
  isNil: { arity: 1, check: () => 'bool' },
};

function literalType(node: jsep.Literal): ValueType {
  if (typeof node.value === 'boolean') return 'bool';
  if (typeof node.value === 'number') {
    // expr reads `1` as int and `1.0` / `1e3` as float64: `%` takes ints only, `/` always yields a float.
    return /^[0-9_]+$|^0[xX][0-9a-fA-F_]+$/.test(node.raw) ? 'int' : 'float';
  }
  throw new UnsupportedConditionError(
    `literal ${node.raw} is outside the numeric/boolean subset the rehearsal evaluates`,
  );
}

class Checker {
  constructor(private readonly resultType: ValueType) {}

  check(node: jsep.Expression): ValueType {
    switch (node.type) {
      case 'Literal':
        return literalType(node as jsep.Literal);
      case 'Identifier': {
        const name = (node as jsep.Identifier).name;
        if (name === 'result') return this.resultType;
        if (name === 'nil')
          throw new UnsupportedConditionError('`nil` is outside the subset the rehearsal evaluates');
        if (name in FUNCTIONS || KNOWN_BUT_UNSUPPORTED_FUNCTIONS.has(name)) {
          throw new ConditionCompileError(`${name} is a function, not a value`);
        }
        throw new ConditionCompileError(`unknown name ${name}`);
      }
      case 'MemberExpression': {
        const member = node as jsep.MemberExpression;
        const objectType = this.check(member.object);
        if (!member.computed) {
          throw new ConditionCompileError(
            `type ${GO_TYPE_NAMES[objectType]} has no field ${(member.property as jsep.Identifier).name}`,
          );
        }
        const indexType = this.check(member.property);
        if (objectType === 'any') return 'any';
        if (objectType !== 'floatArray') {
          throw new ConditionCompileError(
            `type ${GO_TYPE_NAMES[objectType]}[${GO_TYPE_NAMES[indexType]}] is undefined`,
          );
        }
        if (indexType !== 'int' && indexType !== 'any') {
          throw new ConditionCompileError(
            `array elements can only be selected using an integer (got ${GO_TYPE_NAMES[indexType]})`,
          );
        }
        return 'float';
      }
      case 'CallExpression': {
        const call = node as jsep.CallExpression;
        if (call.callee.type !== 'Identifier')
          throw new UnsupportedConditionError('only named functions can be called');
        const name = (call.callee as jsep.Identifier).name;
        if (KNOWN_BUT_UNSUPPORTED_FUNCTIONS.has(name)) {
          throw new UnsupportedConditionError(
            `function ${name}() is valid in Argo Rollouts but not reproduced by the rehearsal evaluator`,
          );
        }
        const signature = FUNCTIONS[name];
        if (!signature) throw new ConditionCompileError(`unknown func ${name}`);
        const argTypes = call.arguments.map((argument) => this.check(argument));
        if (argTypes.length < signature.arity)
          throw new ConditionCompileError(`not enough arguments to call ${name}`);
        if (argTypes.length > signature.arity)
          throw new ConditionCompileError(`too many arguments to call ${name}`);
        return signature.check(argTypes, name);
      }
      case 'UnaryExpression': {
        const unary = node as jsep.UnaryExpression;
        const operandType = this.check(unary.argument);
        if (unary.operator === '!' || unary.operator === 'not') {
          if (operandType !== 'bool' && operandType !== 'any') {
            throw new ConditionCompileError(
              `invalid operation: ${unary.operator} (mismatched type ${GO_TYPE_NAMES[operandType]})`,
            );
          }
          return 'bool';
        }
        if (!isNumeric(operandType) && operandType !== 'any') {
          throw new ConditionCompileError(
            `invalid operation: ${unary.operator} (mismatched type ${GO_TYPE_NAMES[operandType]})`,
          );
        }
        return operandType;
      }
      case 'BinaryExpression': {
        const binary = node as jsep.BinaryExpression;
        return this.checkBinary(binary.operator, this.check(binary.left), this.check(binary.right));
      }
      case 'ConditionalExpression': {
        const conditional = node as jsep.ConditionalExpression;
        const testType = this.check(conditional.test);
        if (testType !== 'bool' && testType !== 'any') {
          throw new ConditionCompileError(
            `non-bool expression (type ${GO_TYPE_NAMES[testType]}) used as condition`,
          );
        }
        const whenTrue = this.check(conditional.consequent);
        const whenFalse = this.check(conditional.alternate);
        return whenTrue === whenFalse ? whenTrue : 'any';
      }
      default:
        throw new UnsupportedConditionError(`${node.type} is outside the subset the rehearsal evaluates`);
    }
  }

  private checkBinary(operator: string, left: ValueType, right: ValueType): ValueType {
    const mismatch = () =>
      new ConditionCompileError(
        `invalid operation: ${operator} (mismatched types ${GO_TYPE_NAMES[left]} and ${GO_TYPE_NAMES[right]})`,
      );
    const eitherAny = left === 'any' || right === 'any';
    switch (operator) {
      case '&&':
      case 'and':
      case '||':
      case 'or':
        if ((left === 'bool' || left === 'any') && (right === 'bool' || right === 'any')) return 'bool';
        throw mismatch();
      case '==':
      case '!=':
        if (eitherAny || left === right || (isNumeric(left) && isNumeric(right))) return 'bool';
        throw mismatch();
      case '<':
      case '>':
      case '<=':
      case '>=':
        if (eitherAny || (isNumeric(left) && isNumeric(right))) return 'bool';
        throw mismatch();
      case '+':
      case '-':
      case '*':
        if (eitherAny) return 'any';
        if (isNumeric(left) && isNumeric(right)) return left === 'int' && right === 'int' ? 'int' : 'float';
        throw mismatch();
      case '/':
      case '**':
      case '^':
        if (eitherAny || (isNumeric(left) && isNumeric(right))) return 'float';
        throw mismatch();
      case '%':
        if (eitherAny || (left === 'int' && right === 'int')) return 'int';
        throw mismatch();
      default:
        throw new UnsupportedConditionError(
          `operator ${operator} is outside the subset the rehearsal evaluates`,
        );
    }
  }
}

function goTypeOf(value: Value): string {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'float64';
  if (value === null) return '<nil>';
  return '[]float64';
}

function asNumber(value: Value, operator: string): number {
  if (typeof value !== 'number')
    throw new ConditionRuntimeError(`invalid operation: ${operator} on ${goTypeOf(value)}`);
  return value;
}

function valuesEqual(left: Value, right: Value): boolean {
  if (Array.isArray(left) && Array.isArray(right)) {
    // reflect.DeepEqual on []float64: element-wise ==, so a NaN element makes the slices unequal.
    return left.length === right.length && left.every((element, index) => element === right[index]);
  }
  return left === right;
}

class Evaluator {
  constructor(private readonly result: ConditionResult) {}

  evaluate(node: jsep.Expression): Value {
    switch (node.type) {
      case 'Literal':
        return (node as jsep.Literal).value as boolean | number;
      case 'Identifier':
        return this.result;
      case 'MemberExpression': {
        const member = node as jsep.MemberExpression;
        const array = this.evaluate(member.object);
        const index = asNumber(this.evaluate(member.property), '[]');
        if (!Array.isArray(array))
          throw new ConditionRuntimeError(`cannot fetch ${index} from ${goTypeOf(array)}`);
        const position = index < 0 ? array.length + index : index;
        if (!Number.isInteger(position) || position < 0 || position >= array.length) {
          throw new ConditionRuntimeError(`index out of range: ${index} (array length is ${array.length})`);
        }
        return array[position];
      }
      case 'CallExpression':
        return this.call(node as jsep.CallExpression);
      case 'UnaryExpression': {
        const unary = node as jsep.UnaryExpression;
        const operand = this.evaluate(unary.argument);
        if (unary.operator === '!' || unary.operator === 'not') return !operand;
        return unary.operator === '-' ? -asNumber(operand, '-') : asNumber(operand, '+');
      }
      case 'BinaryExpression':
        return this.binary(node as jsep.BinaryExpression);
      case 'ConditionalExpression': {
        const conditional = node as jsep.ConditionalExpression;
        return this.evaluate(conditional.test)
          ? this.evaluate(conditional.consequent)
          : this.evaluate(conditional.alternate);
      }
      default:
        throw new UnsupportedConditionError(`${node.type} is outside the subset the rehearsal evaluates`);
    }
  }

  private call(call: jsep.CallExpression): Value {
    const name = (call.callee as jsep.Identifier).name;
    const argument = this.evaluate(call.arguments[0]);
    switch (name) {
      case 'len':
        if (!Array.isArray(argument))
          throw new ConditionRuntimeError(`invalid argument for len (type ${goTypeOf(argument)})`);
        return argument.length;
      case 'isNaN':
        return Number.isNaN(asNumber(argument, name));
      case 'isInf':
        return Math.abs(asNumber(argument, name)) === Infinity;
      case 'abs':
        return Math.abs(asNumber(argument, name));
      case 'asInt':
        if (typeof argument !== 'number')
          throw new ConditionRuntimeError(
            `asInt() not supported on ${goTypeOf(argument)} ${String(argument)}`,
          );
        // Go's int64(float64) truncates toward zero.
        return Math.trunc(argument);
      case 'asFloat':
        if (typeof argument !== 'number')
          throw new ConditionRuntimeError(
            `asFloat() not supported on ${goTypeOf(argument)} ${String(argument)}`,
          );
        return argument;
      case 'isNil':
        // A Prometheus result is never nil: a vector with no sample is an empty, non-nil slice.
        return argument === null;
      default:
        throw new UnsupportedConditionError(
          `function ${name}() is not reproduced by the rehearsal evaluator`,
        );
    }
  }

  private binary(binary: jsep.BinaryExpression): Value {
    const { operator } = binary;
    // expr short-circuits `and`/`or`: `len(result) > 0 && result[0] < 1` never indexes an empty vector.
    if (operator === '&&' || operator === 'and')
      return Boolean(this.evaluate(binary.left)) && Boolean(this.evaluate(binary.right));
    if (operator === '||' || operator === 'or')
      return Boolean(this.evaluate(binary.left)) || Boolean(this.evaluate(binary.right));
    const left = this.evaluate(binary.left);
    const right = this.evaluate(binary.right);
    switch (operator) {
      case '==':
        return valuesEqual(left, right);
      case '!=':
        return !valuesEqual(left, right);
      // IEEE 754 as in Go: every ordering against NaN is false.
      case '<':
        return asNumber(left, operator) < asNumber(right, operator);
      case '>':
        return asNumber(left, operator) > asNumber(right, operator);
      case '<=':
        return asNumber(left, operator) <= asNumber(right, operator);
      case '>=':
        return asNumber(left, operator) >= asNumber(right, operator);
      case '+':
        return asNumber(left, operator) + asNumber(right, operator);
      case '-':
        return asNumber(left, operator) - asNumber(right, operator);
      case '*':
        return asNumber(left, operator) * asNumber(right, operator);
      case '/':
        // expr divides as float64: 1/0 is +Inf, 0/0 is NaN, never an error.
        return asNumber(left, operator) / asNumber(right, operator);
      case '%': {
        const divisor = asNumber(right, operator);
        if (divisor === 0) throw new ConditionRuntimeError('integer divide by zero');
        return asNumber(left, operator) % divisor;
      }
      case '**':
      case '^':
        return asNumber(left, operator) ** asNumber(right, operator);
      default:
        throw new UnsupportedConditionError(
          `operator ${operator} is outside the subset the rehearsal evaluates`,
        );
    }
  }
}

function parse(condition: string): jsep.Expression {
  let tree: jsep.Expression;
  try {
    tree = jsep(condition);
  } catch (error) {
    // Either a typo (expr would fail to compile it too) or expr syntax outside this subset (closures,
    // strings, `in`, pipes): the two cannot be told apart here, so the rehearsal refuses both.
    throw new UnsupportedConditionError(
      `cannot parse condition ${JSON.stringify(condition)}: ${(error as Error).message}`,
    );
  }
  if (tree.type === 'Compound' || tree.type === 'SequenceExpression') {
    throw new UnsupportedConditionError(
      `cannot parse condition ${JSON.stringify(condition)}: more than one expression`,
    );
  }
  return tree;
}

/**
 * Evaluates one condition against one provider result the way Argo Rollouts' EvalCondition does.
 * Throws ConditionCompileError / ConditionRuntimeError where Argo would return an error (the measurement
 * becomes Error), UnsupportedConditionError where the rehearsal cannot vouch for Argo's answer.
 */
export function evaluateCondition(condition: string, result: ConditionResult): boolean {
  const tree = parse(condition);
  new Checker(typeof result === 'number' ? 'float' : 'floatArray').check(tree);
  const output = new Evaluator(result).evaluate(tree);
  if (typeof output !== 'boolean')
    throw new ConditionRuntimeError(`expected bool, but got ${goTypeOf(output)}`);
  return output;
}

/** Parses and type-checks a condition for a vector result without evaluating it: catches template typos early. */
export function checkCondition(condition: string): void {
  new Checker('floatArray').check(parse(condition));
}
