// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DestinationsView, StoredDestination } from '../generated/protocol';
import { all, choose, click, escape, one, rowWith, settle, type } from '../testing/dom';

const backend = vi.hoisted(() => ({
  destinations: vi.fn(),
  addDestination: vi.fn(),
  editDestination: vi.fn(),
  removeDestination: vi.fn(),
  setDefaultDestination: vi.fn(),
  testDestination: vi.fn(),
  pickFolder: vi.fn(),
}));

vi.mock('../tauri', () => ({
  ...backend,
  errorText: (error: unknown) => String(error),
}));

const { default: DestinationsDialog } = await import('./DestinationsDialog.svelte');

const studio: StoredDestination = {
  id: 'd-studio',
  name: 'studio',
  target: { kind: 'tus', url: 'https://uploads.example.com/files/' },
  auth: { kind: 'basic', user: 'ann' },
};

const archive: StoredDestination = {
  id: 'd-archive',
  name: 'archive',
  target: { kind: 'local_folder', path: '/srv/archive' },
  auth: { kind: 'none' },
};

const listed: DestinationsView = { destinations: [studio, archive], default_id: 'd-studio' };

let component: ReturnType<typeof mount> | null = null;

async function render(view: DestinationsView = listed) {
  backend.destinations.mockResolvedValue(view);
  const onClose = vi.fn();
  const onChange = vi.fn();
  document.body.replaceChildren();
  component = mount(DestinationsDialog, { target: document.body, props: { onClose, onChange } });
  flushSync();
  await vi.waitFor(() => expect(backend.destinations).toHaveBeenCalled());
  await settle();
  return { onClose, onChange };
}

function row(name: string): HTMLElement {
  return rowWith('destination-row', 'destination-row-name', name);
}

beforeEach(() => {
  for (const mock of Object.values(backend)) mock.mockReset();
});

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
});

describe('the Destinations view', () => {
  it('lists every destination, with the default marked', async () => {
    await render();
    const studioRow = row('studio');
    expect(one('destination-row-kind', studioRow).textContent).toBe('tus server');
    expect(one('destination-row-location', studioRow).textContent?.trim()).toBe('https://uploads.example.com/files/');
    expect(one('destination-row-auth', studioRow).textContent).toBe('User name and password (ann)');
    expect(all('default-badge', studioRow)).toHaveLength(1);
    expect(all('destination-make-default-button', studioRow)).toHaveLength(0);

    const archiveRow = row('archive');
    expect(one('destination-row-kind', archiveRow).textContent).toBe('Folder');
    expect(one('destination-row-location', archiveRow).textContent?.trim()).toBe('/srv/archive');
    expect(one('destination-row-auth', archiveRow).textContent).toBe('No sign-in');
    expect(all('default-badge', archiveRow)).toHaveLength(0);
    expect(all('destination-make-default-button', archiveRow)).toHaveLength(1);
    expect(one('destinations-note').textContent).toContain('A new default takes the files added from then on');
  });

  it('says where uploads go while there is no destination', async () => {
    await render({ destinations: [], default_id: null });
    expect(one('destinations-empty').textContent).toContain('built-in local folder');
    expect(all('destination-row')).toHaveLength(0);
  });

  it('adds a tus server with a bearer token, then shows the new list', async () => {
    await render({ destinations: [], default_id: null });
    const added: StoredDestination = {
      id: 'd-new',
      name: 'uploads',
      target: { kind: 'tus', url: 'https://tus.example.com/files/' },
      auth: { kind: 'bearer' },
    };
    backend.addDestination.mockResolvedValue({ destinations: [added], default_id: null });

    click(one('destination-add'));
    type('destination-name', 'uploads');
    choose('destination-kind', 'tus');
    type('destination-url', 'https://tus.example.com/files/');
    choose('destination-auth', 'bearer');
    const secret = one<HTMLInputElement>('destination-secret');
    expect(secret.type).toBe('password');
    expect(secret.placeholder).toBe('');
    type('destination-secret', 'tok-123');
    click(one('destination-save'));
    await settle();

    expect(backend.addDestination).toHaveBeenCalledWith(
      { name: 'uploads', target: { kind: 'tus', url: 'https://tus.example.com/files/' }, auth: { kind: 'bearer' } },
      'tok-123',
    );
    expect(backend.setDefaultDestination).not.toHaveBeenCalled();
    expect(all('destination-form')).toHaveLength(0);
    expect(one('destination-row-auth', row('uploads')).textContent).toBe('Bearer token');
    // The secret is nowhere on the page once saved.
    expect(document.body.innerHTML).not.toContain('tok-123');
  });

  it('makes the new destination the default when asked', async () => {
    await render({ destinations: [], default_id: null });
    const added: StoredDestination = { id: 'd-new', name: 'box', target: { kind: 'local_folder', path: '/srv/box' }, auth: { kind: 'none' } };
    backend.addDestination.mockResolvedValue({ destinations: [added], default_id: null });
    backend.setDefaultDestination.mockResolvedValue({ destinations: [added], default_id: 'd-new' });

    click(one('destination-add'));
    type('destination-name', 'box');
    choose('destination-kind', 'local_folder');
    type('destination-path', '/srv/box');
    click(one('destination-make-default'));
    click(one('destination-save'));
    await settle();

    expect(backend.addDestination).toHaveBeenCalledWith(
      { name: 'box', target: { kind: 'local_folder', path: '/srv/box' }, auth: { kind: 'none' } },
      null,
    );
    expect(backend.setDefaultDestination).toHaveBeenCalledWith('d-new');
    expect(all('default-badge', row('box'))).toHaveLength(1);
  });

  it("shows the backend's refusal in the form, and keeps what was typed", async () => {
    await render({ destinations: [], default_id: null });
    backend.addDestination.mockRejectedValue('the URL of `x`: `ftp://x` is not an http:// or https:// address with a host');

    click(one('destination-add'));
    type('destination-name', 'x');
    type('destination-url', 'ftp://x');
    click(one('destination-save'));
    await settle();

    expect(one('destination-form-error').textContent).toBe(
      'the URL of `x`: `ftp://x` is not an http:// or https:// address with a host',
    );
    expect(one<HTMLInputElement>('destination-name').value).toBe('x');
    expect(one<HTMLInputElement>('destination-url').value).toBe('ftp://x');
  });

  it('tells the window where uploads go may have changed after a new default, even a refused one', async () => {
    const { onChange } = await render();
    backend.setDefaultDestination.mockResolvedValue({ destinations: [studio, archive], default_id: 'd-archive' });
    click(one('destination-make-default-button', row('archive')));
    await settle();
    expect(backend.setDefaultDestination).toHaveBeenCalledWith('d-archive');
    expect(all('default-badge', row('archive'))).toHaveLength(1);
    expect(onChange).toHaveBeenCalledTimes(1);

    backend.setDefaultDestination.mockRejectedValue('the keyring is locked. Uploads still go to archive (/srv/archive).');
    click(one('destination-make-default-button', row('studio')));
    await settle();
    expect(document.body.textContent).toContain('Uploads still go to archive');
    expect(onChange).toHaveBeenCalledTimes(2);
  });

  it('checks what it can before asking the backend', async () => {
    await render({ destinations: [], default_id: null });
    click(one('destination-add'));
    type('destination-url', 'https://x/files/');
    click(one('destination-save'));
    await settle();
    expect(one('destination-form-error').textContent).toBe('Give the destination a name.');
    expect(backend.addDestination).not.toHaveBeenCalled();
  });

  it('edits a destination, prefilled, keeping the stored secret when none is typed', async () => {
    await render();
    backend.editDestination.mockResolvedValue(listed);
    click(one('destination-edit', row('studio')));
    expect(one<HTMLInputElement>('destination-name').value).toBe('studio');
    expect(one<HTMLInputElement>('destination-url').value).toBe('https://uploads.example.com/files/');
    expect(one<HTMLSelectElement>('destination-auth').value).toBe('basic');
    expect(one<HTMLInputElement>('destination-user').value).toBe('ann');
    expect(one<HTMLInputElement>('destination-secret').placeholder).toBe('Leave empty to keep the stored one');
    expect(one<HTMLInputElement>('destination-make-default').checked).toBe(true);

    click(one('destination-save'));
    await settle();
    expect(backend.editDestination).toHaveBeenCalledWith(
      'd-studio',
      { name: 'studio', target: studio.target, auth: studio.auth },
      null,
    );
    expect(backend.setDefaultDestination).not.toHaveBeenCalled();
  });

  it('asks before removing, then removes', async () => {
    await render();
    backend.removeDestination.mockResolvedValue({ destinations: [studio], default_id: 'd-studio' });

    click(one('destination-remove', row('archive')));
    expect(backend.removeDestination).not.toHaveBeenCalled();
    expect(one('remove-confirm', row('archive')).textContent).toContain('Remove archive?');

    click(one('remove-confirm-button', row('archive')));
    await settle();
    expect(backend.removeDestination).toHaveBeenCalledWith('d-archive');
    expect(all('destination-row')).toHaveLength(1);
  });

  it('keeps the destination when the removal is not confirmed', async () => {
    await render();
    click(one('destination-remove', row('archive')));
    escape();
    expect(all('remove-confirm')).toHaveLength(0);
    expect(backend.removeDestination).not.toHaveBeenCalled();
  });

  it('tests a destination: "Testing…", then what was found or what went wrong', async () => {
    await render();
    let pass: (text: string) => void = () => undefined;
    backend.testDestination.mockReturnValueOnce(new Promise<string>((resolve) => (pass = resolve)));
    click(one('destination-test', row('studio')));
    expect(one('destination-test-result', row('studio')).textContent?.trim()).toBe('Testing…');

    pass('The tus server at https://uploads.example.com/files/ answered: tus 1.0.0 with creation.');
    await settle();
    const passed = one('destination-test-result', row('studio'));
    expect(passed.textContent?.trim()).toBe('The tus server at https://uploads.example.com/files/ answered: tus 1.0.0 with creation.');
    expect(passed.classList.contains('passed')).toBe(true);

    backend.testDestination.mockRejectedValueOnce('the server refused the credentials (401 Unauthorized)');
    click(one('destination-test', row('studio')));
    await settle();
    const failed = one('destination-test-result', row('studio'));
    expect(failed.textContent?.trim()).toBe('the server refused the credentials (401 Unauthorized)');
    expect(failed.classList.contains('failed')).toBe(true);
    expect(backend.testDestination).toHaveBeenCalledWith('d-studio');
  });

  it('closes with Escape or Close', async () => {
    const { onClose } = await render();
    escape();
    click(one('destinations-close'));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
