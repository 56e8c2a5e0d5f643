import type {
  AuthKind,
  DestinationSettings,
  DestinationsView,
  StoredDestination,
  Target,
} from './generated/protocol';

/** Bytes in a mebibyte: chunk sizes are entered in MiB. */
export const MIB = 1024 * 1024;
/** Bytes in a megabyte: bandwidth limits are entered in MB/s, as speeds are shown. */
export const MB = 1000 * 1000;

export type TargetKind = Target['kind'];
export type AuthChoice = AuthKind['kind'];

/** The fields of the add / edit form, as typed (numbers stay text until saved). */
export interface DestinationForm {
  name: string;
  kind: TargetKind;
  /** The folder, when the kind is a local folder. */
  path: string;
  /** The creation endpoint, when the kind is a tus server. */
  url: string;
  auth: AuthChoice;
  /** The user name, for user name and password. */
  user: string;
  /** The header's name, for a custom header. */
  header: string;
  /** A token, a password or a header's value; empty: none given (keep the stored one). */
  secret: string;
  /** Chunk size in MiB; empty: the engine's default. */
  chunkMib: string;
  /** Files uploading at once; empty: the default. */
  concurrency: string;
  /** Bandwidth limit in MB/s; empty: no limit. */
  bandwidthMbps: string;
  makeDefault: boolean;
}

/** What can be chosen in the form's authentication list, in order. */
export const AUTH_CHOICES: readonly { value: AuthChoice; label: string }[] = [
  { value: 'none', label: 'None' },
  { value: 'bearer', label: 'Bearer token' },
  { value: 'basic', label: 'User name and password' },
  { value: 'header', label: 'Custom header' },
];

/** An empty form for a new destination. */
export function emptyForm(): DestinationForm {
  return {
    name: '',
    kind: 'tus',
    path: '',
    url: '',
    auth: 'none',
    user: '',
    header: '',
    secret: '',
    chunkMib: '',
    concurrency: '',
    bandwidthMbps: '',
    makeDefault: false,
  };
}

/** The form for editing `destination`; the secret is never known, so it starts empty. */
export function formFrom(destination: StoredDestination, isDefault: boolean): DestinationForm {
  const { target, auth } = destination;
  return {
    ...emptyForm(),
    name: destination.name,
    kind: target.kind,
    path: target.kind === 'local_folder' ? target.path : '',
    url: target.kind === 'tus' ? target.url : '',
    auth: auth.kind,
    user: auth.kind === 'basic' ? auth.user : '',
    header: auth.kind === 'header' ? auth.name : '',
    chunkMib: destination.chunk_size === undefined ? '' : decimal(bytesToMib(destination.chunk_size)),
    concurrency: destination.concurrency === undefined ? '' : String(destination.concurrency),
    bandwidthMbps: destination.bandwidth_limit === undefined ? '' : decimal(bytesPerSecondToMbps(destination.bandwidth_limit)),
    makeDefault: isDefault,
  };
}

/** "Folder" or "tus server". */
export function describeKind(target: Target): string {
  return target.kind === 'local_folder' ? 'Folder' : 'tus server';
}

/** The folder's path or the server's URL. */
export function targetLocation(target: Target): string {
  return target.kind === 'local_folder' ? target.path : target.url;
}

/** How a destination signs in, for people. */
export function describeAuth(auth: AuthKind): string {
  switch (auth.kind) {
    case 'none':
      return 'No sign-in';
    case 'bearer':
      return 'Bearer token';
    case 'basic':
      return `User name and password (${auth.user})`;
    case 'header':
      return `Header ${auth.name}`;
  }
}

/** What the secret field asks for with `auth`. */
export function secretLabel(auth: AuthChoice): string {
  switch (auth) {
    case 'bearer':
      return 'Token';
    case 'basic':
      return 'Password';
    case 'header':
      return 'Header value';
    case 'none':
      return 'Secret';
  }
}

export function mibToBytes(mib: number): number {
  return Math.round(mib * MIB);
}

export function bytesToMib(bytes: number): number {
  return bytes / MIB;
}

export function mbpsToBytesPerSecond(mbps: number): number {
  return Math.round(mbps * MB);
}

export function bytesPerSecondToMbps(bytesPerSecond: number): number {
  return bytesPerSecond / MB;
}

/** A number for a form field, without float noise: 0.0625, 1.5, 8. */
function decimal(value: number): string {
  return String(Number(value.toFixed(6)));
}

/** The authentication the form describes (a local folder never signs in). */
function authOf(form: DestinationForm): AuthKind {
  if (form.kind === 'local_folder') return { kind: 'none' };
  switch (form.auth) {
    case 'none':
      return { kind: 'none' };
    case 'bearer':
      return { kind: 'bearer' };
    case 'basic':
      return { kind: 'basic', user: form.user.trim() };
    case 'header':
      return { kind: 'header', name: form.header.trim() };
  }
}

/** A positive number typed in a field; null when empty, an error message when not a number. */
function positive(text: string, what: string): number | null | { error: string } {
  const trimmed = text.trim().replace(',', '.');
  if (trimmed === '') return null;
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value <= 0) return { error: `${what} must be a number greater than 0, not “${text.trim()}”.` };
  return value;
}

export type FormResult = { settings: DestinationSettings; secret: string | null } | { error: string };

/**
 * Turns the form into the settings and secret to send, or says what is missing. Only
 * what needs no backend is checked here; the backend checks the rest (URL, path, limits)
 * and says what is wrong in its own words.
 *
 * `stored` is the authentication the destination had, when editing: a secret may then be
 * left empty to keep the stored one, unless there was none to keep.
 */
export function formToSettings(form: DestinationForm, stored?: AuthKind): FormResult {
  const name = form.name.trim();
  if (name === '') return { error: 'Give the destination a name.' };
  const location = (form.kind === 'local_folder' ? form.path : form.url).trim();
  if (location === '') {
    return { error: form.kind === 'local_folder' ? 'Enter the folder to copy files to.' : 'Enter the URL of the tus server.' };
  }
  const target: Target = form.kind === 'local_folder' ? { kind: 'local_folder', path: location } : { kind: 'tus', url: location };
  const auth = authOf(form);
  if (auth.kind === 'basic' && auth.user === '') return { error: 'Enter the user name.' };
  if (auth.kind === 'header' && auth.name === '') return { error: 'Enter the name of the header.' };

  let secret: string | null = null;
  if (auth.kind !== 'none') {
    secret = form.secret === '' ? null : form.secret;
    const canKeep = stored !== undefined && stored.kind !== 'none';
    if (secret === null && !canKeep) return { error: `Enter the ${secretLabel(auth.kind).toLowerCase()}.` };
  }

  const settings: DestinationSettings = { name, target, auth };
  // Chunks are a tus matter; a folder has none.
  const chunk = form.kind === 'tus' ? positive(form.chunkMib, 'The chunk size') : null;
  if (chunk !== null && typeof chunk === 'object') return chunk;
  if (chunk !== null) settings.chunk_size = mibToBytes(chunk);
  const concurrency = positive(form.concurrency, 'Files at once');
  if (concurrency !== null && typeof concurrency === 'object') return concurrency;
  if (concurrency !== null) {
    if (!Number.isInteger(concurrency)) return { error: `Files at once must be a whole number, not “${form.concurrency.trim()}”.` };
    settings.concurrency = concurrency;
  }
  const bandwidth = positive(form.bandwidthMbps, 'The bandwidth limit');
  if (bandwidth !== null && typeof bandwidth === 'object') return bandwidth;
  if (bandwidth !== null) settings.bandwidth_limit = Math.max(1, mbpsToBytesPerSecond(bandwidth));
  return { settings, secret };
}

/** The destination called `name` in `view` (names are unique, compared without case). */
export function findByName(view: DestinationsView, name: string): StoredDestination | undefined {
  const wanted = name.toLowerCase();
  return view.destinations.find((d) => d.name.toLowerCase() === wanted);
}
