/**
 * Rows drawn beyond each edge of the viewport, so that a scroll of a few rows, or keyboard
 * focus moving to the next row, finds them already in the page.
 */
export const OVERSCAN_ROWS = 8;

/** The rows of a list to draw: from `start` up to, not including, `end`. */
export interface RowWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * The rows to draw of `count` rows of `rowHeight` pixels each, for a viewport showing
 * `height` pixels from `top`, measured from the top of the first row (negative while the
 * list starts below the top of the viewport): those it shows, and `overscan` more on
 * each side, within the list.
 */
export function rowWindow(count: number, rowHeight: number, top: number, height: number, overscan: number = OVERSCAN_ROWS): RowWindow {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const bottom = Math.max(0, top + Math.max(0, height));
  const first = Math.floor(Math.max(0, top) / rowHeight);
  const last = Math.ceil(bottom / rowHeight);
  const start = Math.min(count, Math.max(0, first - overscan));
  const end = Math.min(count, Math.max(start, last + overscan));
  return { start, end };
}

/**
 * The nearest ancestor of `element` that scrolls vertically, or null when none does and
 * the page itself scrolls: the list must follow whichever one moves it.
 */
export function scrollParent(element: Element): HTMLElement | null {
  for (let node = element.parentElement; node && node !== document.body && node !== document.documentElement; node = node.parentElement) {
    const { overflowY } = getComputedStyle(node);
    if (overflowY === 'auto' || overflowY === 'scroll' || overflowY === 'overlay') return node;
  }
  return null;
}

/**
 * What of `list` the viewport of `scroller` (the window when null) shows: `top` in pixels
 * from the inside of the list's top border, and the viewport's `height`.
 */
export function visiblePart(list: Element, scroller: Element | null): { top: number; height: number } {
  const rowsTop = list.getBoundingClientRect().top + list.clientTop;
  if (!scroller) return { top: -rowsTop, height: window.innerHeight };
  const viewTop = scroller.getBoundingClientRect().top + scroller.clientTop;
  return { top: viewTop - rowsTop, height: scroller.clientHeight };
}
