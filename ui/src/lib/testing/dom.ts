import { flushSync } from 'svelte';

/** Lets the mocked calls resolve and the page update. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  flushSync();
}

/** The element with data-testid `id`, or null when there is none. */
export function find<T extends Element = HTMLElement>(id: string, within: ParentNode = document): T | null {
  return within.querySelector<T>(`[data-testid="${id}"]`);
}

export function all<T extends Element = HTMLElement>(id: string, within: ParentNode = document): T[] {
  return [...within.querySelectorAll<T>(`[data-testid="${id}"]`)];
}

export function one<T extends Element = HTMLElement>(id: string, within: ParentNode = document): T {
  const found = find<T>(id, within);
  if (!found) throw new Error(`nothing with data-testid ${id}`);
  return found;
}

/** The text of `id`, with its white space folded as the page shows it. */
export function text(id: string, within: ParentNode = document): string {
  return one(id, within).textContent?.replace(/\s+/g, ' ').trim() ?? '';
}

/** The `rowId` element whose `labelId` inside reads exactly `label`: a list row found by what it shows. */
export function rowWith(rowId: string, labelId: string, label: string): HTMLElement {
  const found = all(rowId).find((row) => one(labelId, row).textContent === label);
  if (!found) throw new Error(`no ${rowId} for ${label}`);
  return found;
}

export function type(id: string, value: string): void {
  const input = one<HTMLInputElement>(id);
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  flushSync();
}

export function choose(id: string, value: string): void {
  const select = one<HTMLSelectElement>(id);
  select.value = value;
  select.dispatchEvent(new Event('change', { bubbles: true }));
  flushSync();
}

export function click(element: HTMLElement): void {
  element.click();
  flushSync();
}

export function escape(): void {
  window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
  flushSync();
}
