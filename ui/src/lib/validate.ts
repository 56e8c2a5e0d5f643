import type { ServerMessage } from './generated/protocol';
import serverMessageSchema from './generated/protocol.schema.json';
import { compileSchema } from './schema';

/**
 * Compiled when the module loads, so a schema this validator cannot check fails the app's
 * start and every test at once instead of letting messages through unchecked.
 */
const findServerMessageProblem = compileSchema(serverMessageSchema);

/**
 * The verdict on one inbound message: the message, typed, when it matches the protocol;
 * otherwise the problem, in words that name the field, for the log and the user.
 */
export type ServerMessageValidation = { ok: true; message: ServerMessage } | { ok: false; problem: string };

/**
 * Checks a parsed WebSocket message against the schema generated from the Rust protocol
 * types, so nothing the window acts on has a field of the wrong type or a missing one.
 * Fields the schema does not name are tolerated: a newer server may add some.
 */
export function validateServerMessage(value: unknown): ServerMessageValidation {
  const problem = findServerMessageProblem(value);
  return problem === undefined ? { ok: true, message: value as ServerMessage } : { ok: false, problem };
}
