export type ToastKind = 'error' | 'warning' | 'info' | 'success';

/** A button on a toast. Clicking it dismisses the toast, since what it announced is being dealt with. */
export interface ToastAction {
  readonly label: string;
  readonly run: () => void;
}

export interface Toast {
  readonly id: number;
  readonly kind: ToastKind;
  readonly title: string;
  readonly message: string;
  /** Extra lines, such as the paths a command skipped. */
  readonly details: readonly string[];
  /** Toasts with the same key replace each other instead of piling up. */
  readonly key: string | null;
  readonly actions: readonly ToastAction[];
}

export interface ToastInput {
  kind: ToastKind;
  title: string;
  message?: string;
  details?: readonly string[];
  key?: string;
  actions?: readonly ToastAction[];
}

/** How long a toast that is not an error stays up. */
export const TOAST_TIMEOUT_MS = 8_000;
/** Most toasts on screen; the oldest go first. */
export const MAX_TOASTS = 5;

/**
 * The toasts on screen. Errors stay until dismissed; the rest leave by themselves after
 * a few seconds.
 */
export class Toasts {
  items = $state.raw<readonly Toast[]>([]);
  private nextId = 0;
  // Bookkeeping for the auto-hide timers; nothing renders it, so it needs no reactivity.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly timeoutMs: number;

  constructor(timeoutMs = TOAST_TIMEOUT_MS) {
    this.timeoutMs = timeoutMs;
  }

  show(input: ToastInput): number {
    this.nextId += 1;
    const toast: Toast = {
      id: this.nextId,
      kind: input.kind,
      title: input.title,
      message: input.message ?? '',
      details: input.details ?? [],
      key: input.key ?? null,
      actions: input.actions ?? [],
    };
    let items = this.items;
    if (toast.key !== null) {
      for (const old of items) if (old.key === toast.key) this.clearTimer(old.id);
      items = items.filter((old) => old.key !== toast.key);
    }
    items = [...items, toast];
    while (items.length > MAX_TOASTS) {
      // Passing notices make room before errors do.
      const oldest = items.find((old) => old.kind !== 'error') ?? (items[0] as Toast);
      this.clearTimer(oldest.id);
      items = items.filter((old) => old !== oldest);
    }
    this.items = items;
    if (toast.kind !== 'error') {
      this.timers.set(
        toast.id,
        setTimeout(() => this.dismiss(toast.id), this.timeoutMs),
      );
    }
    return toast.id;
  }

  /** Keeps a toast up while the pointer rests on it. */
  hold(id: number): void {
    this.clearTimer(id);
  }

  /** Lets a held toast leave by itself again, after the usual delay. */
  release(id: number): void {
    const toast = this.items.find((item) => item.id === id);
    if (!toast || toast.kind === 'error' || this.timers.has(id)) return;
    this.timers.set(
      id,
      setTimeout(() => this.dismiss(id), this.timeoutMs),
    );
  }

  dismiss(id: number): void {
    this.clearTimer(id);
    this.items = this.items.filter((toast) => toast.id !== id);
  }

  /**
   * Dismisses the toast, then runs one of its actions: dismissing first leaves up any toast
   * the action itself raises under the same key.
   */
  runAction(id: number, action: ToastAction): void {
    this.dismiss(id);
    action.run();
  }

  /** The toast shown under `key`, if any. */
  byKey(key: string): Toast | undefined {
    return this.items.find((toast) => toast.key === key);
  }

  dismissKey(key: string): void {
    for (const toast of this.items) if (toast.key === key) this.clearTimer(toast.id);
    this.items = this.items.filter((toast) => toast.key !== key);
  }

  private clearTimer(id: number): void {
    const timer = this.timers.get(id);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers.delete(id);
    }
  }
}
