import { describe, expect, it } from 'vitest';
import { rowWindow } from './virtual-list';

describe('rowWindow', () => {
  it('covers the rows in view and the overscan on each side, within the list', () => {
    expect(rowWindow(1000, 10, 500, 100, 3)).toEqual({ start: 47, end: 63 });
    expect(rowWindow(1000, 10, 505, 100, 3)).toEqual({ start: 47, end: 64 });
    expect(rowWindow(1000, 10, 0, 100, 3)).toEqual({ start: 0, end: 13 });
    expect(rowWindow(1000, 10, 9950, 100, 3)).toEqual({ start: 992, end: 1000 });
  });

  it('draws the first rows of a list that starts below the top of the viewport', () => {
    expect(rowWindow(1000, 10, -40, 100, 3)).toEqual({ start: 0, end: 9 });
    // Entirely below it: only the overscan, ready for the scroll that brings it in.
    expect(rowWindow(1000, 10, -400, 100, 3)).toEqual({ start: 0, end: 3 });
  });

  it('draws nothing of an empty list or one scrolled past', () => {
    expect(rowWindow(0, 10, 0, 100)).toEqual({ start: 0, end: 0 });
    expect(rowWindow(10, 10, 500, 100, 3)).toEqual({ start: 10, end: 10 });
  });
});
