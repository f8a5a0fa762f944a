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
//
// The language is one table per kind of node: OPERATORS (binary: precedence, type rule, evaluation),
// UNARY_OPERATORS and FUNCTIONS (type rule, evaluation). The parser, the checker and the evaluator all read
// the same entries, so an operator is defined once.
import { readFileSync } from 'node:fs';
import { runInThisContext } from 'node:vm';
import type jsepModule from 'jsep';

type Jsep = typeof jsepModule;
type Expression = jsepModule.Expression;

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

function isBoolean(type: ValueType): boolean {
  return type === 'bool' || type === 'any';
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

interface BinaryOperator {
  /** expr's precedence, renumbered for jsep (parser/operator.go: or 10, and 15, comparisons 20, ...). */
  precedence: number;
  rightAssociative?: boolean;
  /** The result type, or undefined when the operand types do not compile together. */
  type(left: ValueType, right: ValueType): ValueType | undefined;
  /** Operands are thunks: `and` and `or` short-circuit as in expr. */
  evaluate(left: () => Value, right: () => Value, operator: string): Value;
}

function logical(precedence: number, isOr: boolean): BinaryOperator {
  return {
    precedence,
    type: (left, right) => (isBoolean(left) && isBoolean(right) ? 'bool' : undefined),
    // expr short-circuits `and`/`or`: `len(result) > 0 && result[0] < 1` never indexes an empty vector.
    evaluate: (left, right) =>
      isOr ? Boolean(left()) || Boolean(right()) : Boolean(left()) && Boolean(right()),
  };
}

function equality(negated: boolean): BinaryOperator {
  return {
    precedence: 3,
    type: (left, right) =>
      left === 'any' || right === 'any' || left === right || (isNumeric(left) && isNumeric(right))
        ? 'bool'
        : undefined,
    evaluate: (left, right) => valuesEqual(left(), right()) !== negated,
  };
}

function numeric(
  precedence: number,
  resultType: (left: ValueType, right: ValueType) => ValueType,
  apply: (left: number, right: number) => Value,
  options: { operands?: 'int'; rightAssociative?: boolean } = {},
): BinaryOperator {
  const accepts = options.operands === 'int' ? (type: ValueType) => type === 'int' : isNumeric;
  return {
    precedence,
    rightAssociative: options.rightAssociative,
    type: (left, right) => {
      if (left === 'any' || right === 'any') return resultType('any', 'any');
      return accepts(left) && accepts(right) ? resultType(left, right) : undefined;
    },
    evaluate: (left, right, operator) => apply(asNumber(left(), operator), asNumber(right(), operator)),
  };
}

const always = (type: ValueType) => (): ValueType => type;
const arithmetic = (left: ValueType, right: ValueType): ValueType =>
  left === 'any' || right === 'any' ? 'any' : left === 'int' && right === 'int' ? 'int' : 'float';

// expr's binary operators. Equality and ordering share one level in expr, unlike JavaScript, and `^` is
// exponentiation, not XOR. The operators expr lacks (`===`, bit operators, `??` on numbers) are absent, so
// they fail to parse instead of being read with JavaScript's meaning.
const OPERATORS: Record<string, BinaryOperator> = {
  '||': logical(1, true),
  or: logical(1, true),
  '&&': logical(2, false),
  and: logical(2, false),
  '==': equality(false),
  '!=': equality(true),
  // IEEE 754 as in Go: every ordering against NaN is false.
  '<': numeric(3, always('bool'), (left, right) => left < right),
  '>': numeric(3, always('bool'), (left, right) => left > right),
  '<=': numeric(3, always('bool'), (left, right) => left <= right),
  '>=': numeric(3, always('bool'), (left, right) => left >= right),
  '+': numeric(4, arithmetic, (left, right) => left + right),
  '-': numeric(4, arithmetic, (left, right) => left - right),
  '*': numeric(5, arithmetic, (left, right) => left * right),
  // expr divides as float64: 1/0 is +Inf, 0/0 is NaN, never an error.
  '/': numeric(5, always('float'), (left, right) => left / right),
  '%': numeric(
    5,
    always('int'),
    (left, right) => {
      if (right === 0) throw new ConditionRuntimeError('integer divide by zero');
      return left % right;
    },
    { operands: 'int' },
  ),
  '**': numeric(6, always('float'), (left, right) => left ** right, { rightAssociative: true }),
  '^': numeric(6, always('float'), (left, right) => left ** right, { rightAssociative: true }),
};

interface UnaryOperator {
  type(operand: ValueType): ValueType | undefined;
  evaluate(operand: Value, operator: string): Value;
}

const negation: UnaryOperator = {
  type: (operand) => (isBoolean(operand) ? 'bool' : undefined),
  evaluate: (operand) => !operand,
};

const sign = (factor: 1 | -1): UnaryOperator => ({
  type: (operand) => (isNumeric(operand) || operand === 'any' ? operand : undefined),
  evaluate: (operand, operator) => factor * asNumber(operand, operator),
});

const UNARY_OPERATORS: Record<string, UnaryOperator> = {
  '!': negation,
  not: negation,
  '-': sign(-1),
  '+': sign(1),
};

interface BuiltinFunction {
  readonly arity: number;
  /** The result type; throws ConditionCompileError with expr's message for an argument it rejects. */
  type(args: ValueType[], name: string): ValueType;
  evaluate(argument: Value, name: string): Value;
}

function floatPredicate(test: (value: number) => boolean): BuiltinFunction {
  return {
    arity: 1,
    type(args, name) {
      // expr converts an integer argument to the float64 parameter; anything else does not compile.
      if (!isNumeric(args[0]) && args[0] !== 'any') {
        throw new ConditionCompileError(
          `cannot use ${GO_TYPE_NAMES[args[0]]} as argument (type float64) to call ${name}`,
        );
      }
      return 'bool';
    },
    evaluate: (argument, name) => test(asNumber(argument, name)),
  };
}

// Argo's helpers asInt/asFloat take interface{} and fail at run time on what they cannot convert.
function conversion(type: ValueType, convert: (value: number) => number): BuiltinFunction {
  return {
    arity: 1,
    type: always(type),
    evaluate(argument, name) {
      if (typeof argument !== 'number')
        throw new ConditionRuntimeError(
          `${name}() not supported on ${goTypeOf(argument)} ${String(argument)}`,
        );
      return convert(argument);
    },
  };
}

const FUNCTIONS: Record<string, BuiltinFunction> = {
  len: {
    arity: 1,
    type(args) {
      if (args[0] !== 'floatArray' && args[0] !== 'any') {
        throw new ConditionCompileError(`invalid argument for len (type ${GO_TYPE_NAMES[args[0]]})`);
      }
      return 'int';
    },
    evaluate(argument) {
      if (!Array.isArray(argument))
        throw new ConditionRuntimeError(`invalid argument for len (type ${goTypeOf(argument)})`);
      return argument.length;
    },
  },
  isNaN: floatPredicate(Number.isNaN),
  isInf: floatPredicate((value) => Math.abs(value) === Infinity),
  abs: {
    arity: 1,
    type(args) {
      if (!isNumeric(args[0]))
        throw new ConditionCompileError(`invalid argument for abs (type ${GO_TYPE_NAMES[args[0]]})`);
      return args[0];
    },
    evaluate: (argument, name) => Math.abs(asNumber(argument, name)),
  },
  // Go's int64(float64) truncates toward zero.
  asInt: conversion('int', Math.trunc),
  asFloat: conversion('float', (value) => value),
  isNil: {
    arity: 1,
    type: always('bool'),
    // A Prometheus result is never nil: a vector with no sample is an empty, non-nil slice.
    evaluate: (argument) => argument === null,
  },
};

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

/**
 * A jsep of our own: jsep keeps its operator table in static fields of one class, so configuring the
 * shared module would change how every other importer parses. Its CommonJS build is self-contained; running
 * it once more gives a second class with its own table, configured from OPERATORS and UNARY_OPERATORS.
 */
function privateJsep(): Jsep {
  const path = require.resolve('jsep');
  const module = { exports: {} as Jsep };
  const load = runInThisContext(`(function (exports, module) {${readFileSync(path, 'utf8')}\n})`, {
    filename: path,
  }) as (exports: unknown, module: { exports: Jsep }) => void;
  load(module.exports, module);
  const parser = module.exports;
  parser.removeAllBinaryOps();
  parser.removeAllUnaryOps();
  for (const [operator, { precedence, rightAssociative }] of Object.entries(OPERATORS))
    parser.addBinaryOp(operator, precedence, rightAssociative ?? false);
  for (const operator of Object.keys(UNARY_OPERATORS)) parser.addUnaryOp(operator);
  return parser;
}

let parser: Jsep | undefined;

function literalType(node: jsepModule.Literal): ValueType {
  if (typeof node.value === 'boolean') return 'bool';
  if (typeof node.value === 'number') {
    // expr reads `1` as int and `1.0` / `1e3` as float64: `%` takes ints only, `/` always yields a float.
    return /^[0-9_]+$|^0[xX][0-9a-fA-F_]+$/.test(node.raw) ? 'int' : 'float';
  }
  throw new UnsupportedConditionError(
    `literal ${node.raw} is outside the numeric/boolean subset the rehearsal evaluates`,
  );
}

function unsupportedNode(node: Expression): UnsupportedConditionError {
  return new UnsupportedConditionError(`${node.type} is outside the subset the rehearsal evaluates`);
}

/** expr's compile step: the type of every node, over the whole expression, before anything runs. */
function typeOf(node: Expression, resultType: ValueType): ValueType {
  const check = (child: Expression) => typeOf(child, resultType);
  switch (node.type) {
    case 'Literal':
      return literalType(node as jsepModule.Literal);
    case 'Identifier': {
      const name = (node as jsepModule.Identifier).name;
      if (name === 'result') return resultType;
      if (name === 'nil')
        throw new UnsupportedConditionError('`nil` is outside the subset the rehearsal evaluates');
      if (name in FUNCTIONS || KNOWN_BUT_UNSUPPORTED_FUNCTIONS.has(name)) {
        throw new ConditionCompileError(`${name} is a function, not a value`);
      }
      throw new ConditionCompileError(`unknown name ${name}`);
    }
    case 'MemberExpression': {
      const member = node as jsepModule.MemberExpression;
      const objectType = check(member.object);
      if (!member.computed) {
        throw new ConditionCompileError(
          `type ${GO_TYPE_NAMES[objectType]} has no field ${(member.property as jsepModule.Identifier).name}`,
        );
      }
      const indexType = check(member.property);
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
      const call = node as jsepModule.CallExpression;
      if (call.callee.type !== 'Identifier')
        throw new UnsupportedConditionError('only named functions can be called');
      const name = (call.callee as jsepModule.Identifier).name;
      if (KNOWN_BUT_UNSUPPORTED_FUNCTIONS.has(name)) {
        throw new UnsupportedConditionError(
          `function ${name}() is valid in Argo Rollouts but not reproduced by the rehearsal evaluator`,
        );
      }
      const builtin = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
      if (!builtin) throw new ConditionCompileError(`unknown func ${name}`);
      const argTypes = call.arguments.map(check);
      if (argTypes.length < builtin.arity)
        throw new ConditionCompileError(`not enough arguments to call ${name}`);
      if (argTypes.length > builtin.arity)
        throw new ConditionCompileError(`too many arguments to call ${name}`);
      return builtin.type(argTypes, name);
    }
    case 'UnaryExpression': {
      const unary = node as jsepModule.UnaryExpression;
      const operandType = check(unary.argument);
      const type = UNARY_OPERATORS[unary.operator].type(operandType);
      if (type === undefined) {
        throw new ConditionCompileError(
          `invalid operation: ${unary.operator} (mismatched type ${GO_TYPE_NAMES[operandType]})`,
        );
      }
      return type;
    }
    case 'BinaryExpression': {
      const binary = node as jsepModule.BinaryExpression;
      const left = check(binary.left);
      const right = check(binary.right);
      const type = OPERATORS[binary.operator].type(left, right);
      if (type === undefined) {
        throw new ConditionCompileError(
          `invalid operation: ${binary.operator} (mismatched types ${GO_TYPE_NAMES[left]} and ${GO_TYPE_NAMES[right]})`,
        );
      }
      return type;
    }
    case 'ConditionalExpression': {
      const conditional = node as jsepModule.ConditionalExpression;
      const testType = check(conditional.test);
      if (!isBoolean(testType)) {
        throw new ConditionCompileError(
          `non-bool expression (type ${GO_TYPE_NAMES[testType]}) used as condition`,
        );
      }
      const whenTrue = check(conditional.consequent);
      const whenFalse = check(conditional.alternate);
      return whenTrue === whenFalse ? whenTrue : 'any';
    }
    default:
      throw unsupportedNode(node);
  }
}

/** expr's run step, on a tree typeOf accepted. */
function evaluate(node: Expression, result: ConditionResult): Value {
  const run = (child: Expression) => evaluate(child, result);
  switch (node.type) {
    case 'Literal':
      return (node as jsepModule.Literal).value as boolean | number;
    case 'Identifier':
      return result;
    case 'MemberExpression': {
      const member = node as jsepModule.MemberExpression;
      const array = run(member.object);
      const index = asNumber(run(member.property), '[]');
      if (!Array.isArray(array))
        throw new ConditionRuntimeError(`cannot fetch ${index} from ${goTypeOf(array)}`);
      const position = index < 0 ? array.length + index : index;
      if (!Number.isInteger(position) || position < 0 || position >= array.length) {
        throw new ConditionRuntimeError(`index out of range: ${index} (array length is ${array.length})`);
      }
      return array[position];
    }
    case 'CallExpression': {
      const call = node as jsepModule.CallExpression;
      const name = (call.callee as jsepModule.Identifier).name;
      return FUNCTIONS[name].evaluate(run(call.arguments[0]), name);
    }
    case 'UnaryExpression': {
      const unary = node as jsepModule.UnaryExpression;
      return UNARY_OPERATORS[unary.operator].evaluate(run(unary.argument), unary.operator);
    }
    case 'BinaryExpression': {
      const binary = node as jsepModule.BinaryExpression;
      return OPERATORS[binary.operator].evaluate(
        () => run(binary.left),
        () => run(binary.right),
        binary.operator,
      );
    }
    case 'ConditionalExpression': {
      const conditional = node as jsepModule.ConditionalExpression;
      return run(conditional.test) ? run(conditional.consequent) : run(conditional.alternate);
    }
    default:
      throw unsupportedNode(node);
  }
}

function parse(condition: string): Expression {
  parser ??= privateJsep();
  let tree: Expression;
  try {
    tree = parser(condition);
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
  typeOf(tree, typeof result === 'number' ? 'float' : 'floatArray');
  const output = evaluate(tree, result);
  if (typeof output !== 'boolean')
    throw new ConditionRuntimeError(`expected bool, but got ${goTypeOf(output)}`);
  return output;
}
