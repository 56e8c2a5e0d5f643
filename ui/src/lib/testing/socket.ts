import type { SocketLike } from '../connection';

/** A socket the test opens, feeds and drops by hand; it keeps what was sent on it. */
export class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  readonly sent: string[] = [];
  closedWith: number | undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number): void {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  receive(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) } as MessageEvent);
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }

  /** What was sent, read back. */
  messages(): { type: string; id?: string; command?: unknown; epoch?: string; last_seq?: number }[] {
    return this.sent.map((text) => JSON.parse(text) as { type: string });
  }

  /** The commands sent, in order. */
  commands(): { id: string; command: unknown }[] {
    return this.messages()
      .filter((message) => message.type === 'command')
      .map((message) => ({ id: message.id ?? '', command: message.command }));
  }
}
