import {
  ConditionCompileError,
  ConditionRuntimeError,
  evaluateCondition,
  UnsupportedConditionError,
} from './expression';
import { measurementPhase } from './prometheus-provider';
import jsep from 'jsep';

// The guarded shape the rollouts/ templates use: an empty vector or a NaN is neither success nor failure.
const GUARDED_SUCCESS = 'len(result) == 1 && !isNaN(result[0]) && result[0] < 0.05';
const GUARDED_FAILURE = 'len(result) == 1 && !isNaN(result[0]) && result[0] >= 0.05';

describe('condition evaluator (expr subset used by Argo Rollouts)', () => {
  it('indexes a vector result and compares numbers, ints and floats alike', () => {
    expect(evaluateCondition('result[0] < 0.05', [0.01])).toBe(true);
    expect(evaluateCondition('result[0] >= 0.05', [0.2])).toBe(true);
    expect(evaluateCondition('result[0] == 1', [1])).toBe(true);
    expect(evaluateCondition('result[-1] > 1', [0, 2])).toBe(true);
    expect(evaluateCondition('len(result) == 2', [0, 2])).toBe(true);
  });

  it('reads a scalar result as a number', () => {
    expect(evaluateCondition('result < 0.5', 0.25)).toBe(true);
    expect(evaluateCondition('result >= 0.5', 0.25)).toBe(false);
  });

  it('follows expr precedence: and binds tighter than or, arithmetic tighter than comparison', () => {
    expect(evaluateCondition('true || false && false', [])).toBe(true);
    expect(evaluateCondition('(true || false) && false', [])).toBe(false);
    expect(evaluateCondition('result[0] * 100 > 4 + 1', [0.06])).toBe(true);
    expect(evaluateCondition('2 ^ 3 == 8', [])).toBe(true);
    expect(evaluateCondition('7 % 4 == 3', [])).toBe(true);
  });

  it('accepts the keyword operators and, or, not', () => {
    expect(evaluateCondition('len(result) > 0 and not isNaN(result[0])', [0.1])).toBe(true);
    expect(evaluateCondition('len(result) == 0 or result[0] < 1', [])).toBe(true);
  });

  it('short-circuits: the guard keeps an empty vector from being indexed', () => {
    expect(evaluateCondition('len(result) > 0 && result[0] < 0.05', [])).toBe(false);
    expect(evaluateCondition('len(result) == 0 || result[0] < 0.05', [])).toBe(true);
  });

  it('trap: indexing an empty vector is a run-time error (the measurement becomes Error, not Failed)', () => {
    expect(() => evaluateCondition('result[0] < 0.05', [])).toThrow(ConditionRuntimeError);
    expect(() => evaluateCondition('result[0] < 0.05', [])).toThrow(
      'index out of range: 0 (array length is 0)',
    );
  });

  it('trap: every comparison with NaN is false, so an unguarded success condition fails a NaN', () => {
    expect(evaluateCondition('result[0] < 0.05', [NaN])).toBe(false);
    expect(evaluateCondition('result[0] >= 0.05', [NaN])).toBe(false);
    expect(evaluateCondition('result[0] != result[0]', [NaN])).toBe(true);
    expect(evaluateCondition('isNaN(result[0])', [NaN])).toBe(true);
  });

  it('trap: +Inf compares above every threshold, and isInf sees it', () => {
    expect(evaluateCondition('result[0] >= 0.5', [Infinity])).toBe(true);
    expect(evaluateCondition('isInf(result[0])', [-Infinity])).toBe(true);
  });

  it('type-checks the whole expression before running it, as expr compiles first', () => {
    // The right side would never run, but it does not compile: Argo reports an Error, not false.
    expect(() => evaluateCondition('false && isNaN(result)', [1])).toThrow(ConditionCompileError);
    expect(() => evaluateCondition('result < 0.05', [0.01])).toThrow(
      'mismatched types []float64 and float64',
    );
    expect(() => evaluateCondition('result[0] < 1', 0.5)).toThrow(ConditionCompileError);
    expect(() => evaluateCondition('len(result) > 0', 0.5)).toThrow(
      'invalid argument for len (type float64)',
    );
    expect(() => evaluateCondition('result[0.5] > 0', [1])).toThrow(ConditionCompileError);
    expect(() => evaluateCondition('!result[0]', [1])).toThrow(ConditionCompileError);
    expect(() => evaluateCondition('reslt[0] > 0', [1])).toThrow('unknown name reslt');
    expect(() => evaluateCondition('isNaN()', [1])).toThrow('not enough arguments');
  });

  it('rejects a condition that is not boolean', () => {
    expect(() => evaluateCondition('result[0]', [1])).toThrow('expected bool, but got float64');
  });

  it('refuses what it cannot parse: a typo and expr syntax beyond the subset look the same to it', () => {
    expect(() => evaluateCondition('result[0] <', [1])).toThrow(UnsupportedConditionError);
    expect(() => evaluateCondition('result[0] === 1', [1])).toThrow(UnsupportedConditionError);
  });

  it('refuses expr features it does not reproduce instead of guessing', () => {
    expect(() => evaluateCondition('all(result, {# < 0.05})', [1])).toThrow(UnsupportedConditionError);
    expect(() => evaluateCondition('default(result, 0) < 1', [1])).toThrow(UnsupportedConditionError);
    expect(() => evaluateCondition('result[0] == "1"', [1])).toThrow(UnsupportedConditionError);
  });

  it('asInt truncates like Go and asFloat passes numbers through', () => {
    expect(evaluateCondition('asInt(result[0]) == 2', [2.9])).toBe(true);
    expect(evaluateCondition('asFloat(result[0]) == 2.5', [2.5])).toBe(true);
    expect(() => evaluateCondition('asInt(result) == 2', [2])).toThrow(ConditionRuntimeError);
  });
});

describe("the evaluator's parser", () => {
  it("is its own jsep: the shared module keeps JavaScript's operators for every other importer", () => {
    expect(evaluateCondition('2 ^ 3 == 8', [])).toBe(true);
    // JavaScript's XOR precedence, not expr's exponentiation.
    expect(jsep.binary_ops['^']).toBe(4);
    expect(jsep.binary_ops['===']).toBeDefined();
    expect(jsep.binary_ops.and).toBeUndefined();
  });
});

describe('measurement verdict (EvaluateResult)', () => {
  const both = { successCondition: GUARDED_SUCCESS, failureCondition: GUARDED_FAILURE };

  it('with both conditions: failure, success, or Inconclusive when neither holds', () => {
    expect(measurementPhase(both, [0.2])).toBe('Failed');
    expect(measurementPhase(both, [0.01])).toBe('Successful');
    expect(measurementPhase(both, [])).toBe('Inconclusive');
    expect(measurementPhase(both, [NaN])).toBe('Inconclusive');
  });

  it('trap: with a success condition alone, a NaN (no traffic) fails the measurement', () => {
    expect(measurementPhase({ successCondition: 'result[0] < 0.05' }, [NaN])).toBe('Failed');
  });

  it('trap: with a failure condition alone, a NaN passes the measurement', () => {
    expect(measurementPhase({ failureCondition: 'result[0] >= 0.05' }, [NaN])).toBe('Successful');
  });

  it('with no condition every measurement is Successful', () => {
    expect(measurementPhase({}, [42])).toBe('Successful');
  });

  it('failure wins when both conditions hold', () => {
    expect(measurementPhase({ successCondition: 'true', failureCondition: 'true' }, [])).toBe('Failed');
  });

  it('an unguarded condition on an empty vector throws (the provider records Error)', () => {
    expect(() => measurementPhase({ successCondition: 'result[0] < 0.05' }, [])).toThrow(
      ConditionRuntimeError,
    );
  });
});
