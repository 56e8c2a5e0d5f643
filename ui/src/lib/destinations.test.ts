import { describe, expect, it } from 'vitest';
import {
  MIB,
  bytesPerSecondToMbps,
  bytesToMib,
  describeAuth,
  describeKind,
  emptyForm,
  findByName,
  formFrom,
  formToSettings,
  mbpsToBytesPerSecond,
  mibToBytes,
  secretLabel,
  targetLocation,
  type DestinationForm,
} from './destinations';
import type { StoredDestination } from './generated/protocol';

function form(fields: Partial<DestinationForm>): DestinationForm {
  return { ...emptyForm(), ...fields };
}

const studio: StoredDestination = {
  id: 'd-1',
  name: 'studio',
  target: { kind: 'tus', url: 'https://uploads.example.com/files/' },
  auth: { kind: 'basic', user: 'ann' },
  chunk_size: 16 * MIB,
  concurrency: 3,
  bandwidth_limit: 2_500_000,
};

describe('describing destinations', () => {
  it('names the kind and where files go', () => {
    expect(describeKind({ kind: 'local_folder', path: '/srv/in' })).toBe('Folder');
    expect(describeKind({ kind: 'tus', url: 'https://x/files/' })).toBe('tus server');
    expect(targetLocation({ kind: 'local_folder', path: '/srv/in' })).toBe('/srv/in');
    expect(targetLocation({ kind: 'tus', url: 'https://x/files/' })).toBe('https://x/files/');
  });

  it('says how each destination signs in', () => {
    expect(describeAuth({ kind: 'none' })).toBe('No sign-in');
    expect(describeAuth({ kind: 'bearer' })).toBe('Bearer token');
    expect(describeAuth({ kind: 'basic', user: 'ann' })).toBe('User name and password (ann)');
    expect(describeAuth({ kind: 'header', name: 'X-Api-Key' })).toBe('Header X-Api-Key');
    expect(secretLabel('bearer')).toBe('Token');
    expect(secretLabel('basic')).toBe('Password');
    expect(secretLabel('header')).toBe('Header value');
  });
});

describe('units', () => {
  it('converts MiB to bytes and MB/s to bytes per second, and back', () => {
    expect(mibToBytes(8)).toBe(8_388_608);
    expect(mibToBytes(0.0625)).toBe(65_536);
    expect(bytesToMib(8_388_608)).toBe(8);
    expect(mbpsToBytesPerSecond(1.5)).toBe(1_500_000);
    expect(bytesPerSecondToMbps(2_500_000)).toBe(2.5);
  });
});

describe('the form', () => {
  it('turns a tus server with a bearer token into settings and a secret', () => {
    const result = formToSettings(
      form({ name: ' studio ', kind: 'tus', url: ' https://uploads.example.com/files/ ', auth: 'bearer', secret: 's3cret ' }),
    );
    expect(result).toEqual({
      settings: { name: 'studio', target: { kind: 'tus', url: 'https://uploads.example.com/files/' }, auth: { kind: 'bearer' } },
      // The secret is sent as typed: spaces may be part of it.
      secret: 's3cret ',
    });
  });

  it('converts the advanced fields, and leaves out those left empty', () => {
    const result = formToSettings(
      form({ name: 'a', url: 'https://x/files/', chunkMib: '16', concurrency: '4', bandwidthMbps: '2,5' }),
    );
    expect(result).toEqual({
      settings: {
        name: 'a',
        target: { kind: 'tus', url: 'https://x/files/' },
        auth: { kind: 'none' },
        chunk_size: 16 * MIB,
        concurrency: 4,
        bandwidth_limit: 2_500_000,
      },
      secret: null,
    });
    const plain = formToSettings(form({ name: 'a', url: 'https://x/files/' }));
    expect('settings' in plain && Object.keys(plain.settings)).toEqual(['name', 'target', 'auth']);
  });

  it('gives a folder no sign-in, no secret and no chunk size', () => {
    const result = formToSettings(
      form({ name: 'archive', kind: 'local_folder', path: '/srv/in', auth: 'bearer', secret: 'x', chunkMib: '4' }),
    );
    expect(result).toEqual({
      settings: { name: 'archive', target: { kind: 'local_folder', path: '/srv/in' }, auth: { kind: 'none' } },
      secret: null,
    });
  });

  it('sends the user name or the header name with their kinds', () => {
    expect(formToSettings(form({ name: 'a', url: 'https://x/', auth: 'basic', user: 'ann', secret: 'pw' }))).toMatchObject({
      settings: { auth: { kind: 'basic', user: 'ann' } },
      secret: 'pw',
    });
    expect(
      formToSettings(form({ name: 'a', url: 'https://x/', auth: 'header', header: 'X-Api-Key', secret: 'v' })),
    ).toMatchObject({ settings: { auth: { kind: 'header', name: 'X-Api-Key' } }, secret: 'v' });
  });

  it('says what is missing before asking the backend', () => {
    expect(formToSettings(form({ name: '  ', url: 'https://x/' }))).toEqual({ error: 'Give the destination a name.' });
    expect(formToSettings(form({ name: 'a' }))).toEqual({ error: 'Enter the URL of the tus server.' });
    expect(formToSettings(form({ name: 'a', kind: 'local_folder' }))).toEqual({ error: 'Enter the folder to copy files to.' });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', auth: 'basic', secret: 'pw' }))).toEqual({
      error: 'Enter the user name.',
    });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', auth: 'header', secret: 'v' }))).toEqual({
      error: 'Enter the name of the header.',
    });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', auth: 'bearer' }))).toEqual({ error: 'Enter the token.' });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', chunkMib: 'big' }))).toEqual({
      error: 'The chunk size must be a number greater than 0, not “big”.',
    });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', concurrency: '0' }))).toEqual({
      error: 'Files at once must be a number greater than 0, not “0”.',
    });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', concurrency: '1.5' }))).toEqual({
      error: 'Files at once must be a whole number, not “1.5”.',
    });
    expect(formToSettings(form({ name: 'a', url: 'https://x/', bandwidthMbps: '-1' }))).toEqual({
      error: 'The bandwidth limit must be a number greater than 0, not “-1”.',
    });
  });

  it('when editing, keeps the stored secret when none is typed, unless there was none', () => {
    const edited = form({ name: 'a', url: 'https://x/', auth: 'bearer' });
    expect(formToSettings(edited, { kind: 'bearer' })).toMatchObject({ secret: null });
    expect(formToSettings(edited, { kind: 'none' })).toEqual({ error: 'Enter the token.' });
    expect(formToSettings({ ...edited, auth: 'none' }, { kind: 'bearer' })).toMatchObject({ secret: null });
  });

  it('is filled from a stored destination, without its secret', () => {
    const filled = formFrom(studio, true);
    expect(filled).toEqual({
      ...emptyForm(),
      name: 'studio',
      kind: 'tus',
      url: 'https://uploads.example.com/files/',
      auth: 'basic',
      user: 'ann',
      chunkMib: '16',
      concurrency: '3',
      bandwidthMbps: '2.5',
      makeDefault: true,
    });
    // Saved again unchanged, it gives the same settings and keeps the secret.
    const { id: _id, ...settings } = studio;
    expect(formToSettings(filled, studio.auth)).toEqual({ settings, secret: null });
  });

  it('finds a saved destination by its name', () => {
    const view = { destinations: [studio], default_id: null };
    expect(findByName(view, 'Studio')?.id).toBe('d-1');
    expect(findByName(view, 'other')).toBeUndefined();
  });
});
