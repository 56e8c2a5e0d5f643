// A WebSocket opened from inside the app's page, as any script in the webview (or any web
// page in a browser) could: what the progress server lets it do is what the specs check.
import { browser } from '@wdio/globals';
import type { ConnectionInfo, ServerMessage } from '../../ui/src/lib/generated/protocol.js';
import { invoke } from './app.js';

/** What became of a socket opened from the page. */
export interface SocketSession {
  /** Whether the handshake succeeded. */
  opened: boolean;
  /** Every message received, parsed. */
  received: ServerMessage[];
  /** The close code, when the socket closed (1006 for a refused handshake). */
  closeCode: number | null;
  /** Whether the close was a clean closing handshake. */
  wasClean: boolean | null;
}

export interface SessionPlan {
  /** Subprotocols offered; the token travels as `ferry.token.<token>`. */
  protocols: string[];
  /** Frames sent once open, in order; a step with `until` waits for a message of that type. */
  send?: Array<{ frame: string; until?: string }>;
  /** Close with 1000 once every frame was answered, and wait for the close. */
  closeAtEnd?: boolean;
}

/** The address and token the window itself connects with. */
export function connectionInfo(): Promise<ConnectionInfo> {
  return invoke<ConnectionInfo>('connection_info');
}

/** The token subprotocol for `token`. */
export function tokenProtocol(token: string): string {
  return `ferry.token.${token}`;
}

/**
 * Opens a socket to `url` from the page, sends the planned frames (each waiting for the
 * answer it names), and reports what happened; gives up after 10 s.
 */
export async function socketSession(url: string, plan: SessionPlan): Promise<SocketSession> {
  return browser.executeAsync<SocketSession, [string, SessionPlan]>(
    (url: string, plan: SessionPlan, done: (session: SocketSession) => void) => {
      const session: SocketSession = { opened: false, received: [], closeCode: null, wasClean: null };
      const steps = [...(plan.send ?? [])];
      let waitingFor: string | null = null;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        window.clearTimeout(deadline);
        done(session);
      };
      const deadline = window.setTimeout(finish, 10_000);
      const socket = new WebSocket(url, plan.protocols);
      const next = () => {
        while (waitingFor === null) {
          const step = steps.shift();
          if (!step) {
            if (plan.closeAtEnd) socket.close(1000, 'done');
            else finish();
            return;
          }
          socket.send(step.frame);
          waitingFor = step.until ?? null;
        }
      };
      socket.onopen = () => {
        session.opened = true;
        next();
      };
      socket.onmessage = (event: MessageEvent) => {
        const message = JSON.parse(String(event.data)) as ServerMessage;
        session.received.push(message);
        if (waitingFor !== null && message.type === waitingFor) {
          waitingFor = null;
          next();
        }
      };
      socket.onclose = (event: CloseEvent) => {
        session.closeCode = event.code;
        session.wasClean = event.wasClean;
        finish();
      };
    },
    url,
    plan,
  );
}

/** The first message of `type` the session received; fails the test when there is none. */
export function firstOfType<T extends ServerMessage['type']>(
  session: SocketSession,
  type: T,
): Extract<ServerMessage, { type: T }> {
  const found = session.received.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  if (!found) throw new Error(`no ${type} message among ${session.received.map((m) => m.type).join(', ') || 'none'}`);
  return found;
}
