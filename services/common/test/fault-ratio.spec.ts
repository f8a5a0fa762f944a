import { faultHits } from '../src/fault-ratio';

function hitsOf(ratio: number, events: number): boolean[] {
  const hit = faultHits(ratio);
  return Array.from({ length: events }, () => hit());
}

describe('an injected fault', () => {
  it.each([0, 0.05, 0.1, 0.2, 1 / 3, 0.5, 0.9, 1])('hits exactly %p of the events', (ratio) => {
    const hits = hitsOf(ratio, 1000).filter(Boolean).length;
    expect(hits).toBe(Math.floor(1000 * ratio));
  });

  it('spreads its hits evenly: every window of ten events at 0.2 holds two', () => {
    const hits = hitsOf(0.2, 200);
    for (let start = 0; start + 10 <= hits.length; start += 1)
      expect(hits.slice(start, start + 10).filter(Boolean)).toHaveLength(2);
  });

  it('never hits at 0 and always at 1', () => {
    expect(hitsOf(0, 50).some(Boolean)).toBe(false);
    expect(hitsOf(1, 50).every(Boolean)).toBe(true);
  });
});
