// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DestinationsView, WatchedFolderView, WatchedFoldersView } from '../generated/protocol';
import { all, choose, click, escape, one, rowWith, settle, text, type } from '../testing/dom';

const backend = vi.hoisted(() => ({
  watchedFolders: vi.fn(),
  addWatchedFolder: vi.fn(),
  removeWatchedFolder: vi.fn(),
  setWatchedFolderPaused: vi.fn(),
  destinations: vi.fn(),
  pickFolder: vi.fn(),
}));

vi.mock('../tauri', () => ({
  ...backend,
  errorText: (error: unknown) => String(error),
}));

const { default: WatchedFoldersDialog } = await import('./WatchedFoldersDialog.svelte');

const inbox: WatchedFolderView = {
  id: 'w-inbox',
  path: '/home/ann/Inbox',
  destination_id: 'd-studio',
  destination: 'studio (https://uploads.example.com/files/)',
  state: 'watching',
  error: null,
  uploaded: 3,
};

const photos: WatchedFolderView = {
  id: 'w-photos',
  path: '/home/ann/Photos',
  destination_id: null,
  destination: 'archive (/srv/archive)',
  state: 'scanning',
  error: null,
  uploaded: 1,
};

const drafts: WatchedFolderView = { ...inbox, id: 'w-drafts', path: '/home/ann/Drafts', state: 'paused', uploaded: 0 };

const stick: WatchedFolderView = {
  ...photos,
  id: 'w-stick',
  path: '/media/ann/STICK',
  state: 'error',
  error: 'The folder /media/ann/STICK is not there any more. Ferry watches it again once it is back.',
  uploaded: 0,
};

const listed: WatchedFoldersView = { folders: [inbox, photos, drafts, stick] };

const stored: DestinationsView = {
  destinations: [
    { id: 'd-studio', name: 'studio', target: { kind: 'tus', url: 'https://uploads.example.com/files/' }, auth: { kind: 'none' } },
    { id: 'd-archive', name: 'archive', target: { kind: 'local_folder', path: '/srv/archive' }, auth: { kind: 'none' } },
  ],
  default_id: 'd-studio',
};

let component: ReturnType<typeof mount> | null = null;

async function render(view: WatchedFoldersView = listed) {
  backend.watchedFolders.mockResolvedValue(view);
  backend.destinations.mockResolvedValue(stored);
  const onClose = vi.fn();
  document.body.replaceChildren();
  component = mount(WatchedFoldersDialog, { target: document.body, props: { onClose } });
  flushSync();
  await settle();
  expect(backend.watchedFolders).toHaveBeenCalledTimes(1);
  return { onClose };
}

function row(path: string): HTMLElement {
  return rowWith('watched-folder-row', 'watched-folder-path', path);
}

beforeEach(() => {
  for (const mock of Object.values(backend)) mock.mockReset();
});

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe('the Watched folders view', () => {
  it('lists every folder with where its files go, its state and what it uploaded', async () => {
    await render();
    expect(all('watched-folder-row').map((r) => r.dataset.id)).toEqual(['w-inbox', 'w-photos', 'w-drafts', 'w-stick']);

    const inboxRow = row('/home/ann/Inbox');
    expect(one('watched-folder-destination', inboxRow).textContent).toBe('→ studio (https://uploads.example.com/files/)');
    expect(text('watched-folder-state', inboxRow)).toBe('Watching');
    expect(one('watched-folder-state', inboxRow).dataset.state).toBe('watching');
    expect(text('watched-folder-uploaded', inboxRow)).toBe('3 files uploaded');
    expect(text('watched-folder-pause', inboxRow)).toBe('Pause');
    expect(all('watched-folder-error', inboxRow)).toHaveLength(0);

    const photosRow = row('/home/ann/Photos');
    expect(text('watched-folder-destination', photosRow)).toBe('→ archive (/srv/archive)');
    expect(text('watched-folder-state', photosRow)).toBe('Scanning…');
    expect(text('watched-folder-uploaded', photosRow)).toBe('1 file uploaded');

    const draftsRow = row('/home/ann/Drafts');
    expect(text('watched-folder-state', draftsRow)).toBe('Paused');
    expect(text('watched-folder-uploaded', draftsRow)).toBe('Nothing uploaded yet');
    expect(text('watched-folder-pause', draftsRow)).toBe('Resume');

    const stickRow = row('/media/ann/STICK');
    expect(text('watched-folder-state', stickRow)).toBe('Error');
    const error = one('watched-folder-error', stickRow);
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toBe('The folder /media/ann/STICK is not there any more. Ferry watches it again once it is back.');
  });

  it('explains watching while there is no folder', async () => {
    await render({ folders: [] });
    const empty = text('watched-folders-empty');
    expect(empty).toContain('left alone for 2 seconds');
    expect(empty).toContain('Deleting a file never deletes its uploaded copy');
    expect(empty).toContain('.ferryignore');
    expect(empty).toContain('.gitignore');
    expect(all('watched-folder-row')).toHaveLength(0);
  });

  it('adds a folder for a chosen destination, then shows the new list', async () => {
    await render({ folders: [] });
    const added: WatchedFoldersView = {
      folders: [{ ...photos, id: 'w-new', path: '/home/ann/Outbox', destination_id: 'd-archive', state: 'scanning', uploaded: 0 }],
    };
    backend.addWatchedFolder.mockResolvedValue(added);
    backend.watchedFolders.mockResolvedValue(added);
    backend.pickFolder.mockResolvedValue('/home/ann/Outbox');

    click(one('watched-folder-add'));
    await settle();
    const options = [...one<HTMLSelectElement>('watched-folder-destination-select').options];
    expect(options.map((option) => [option.value, option.textContent])).toEqual([
      ['', 'The default destination'],
      ['d-studio', 'studio'],
      ['d-archive', 'archive'],
    ]);

    click(one('watched-folder-browse'));
    await settle();
    expect(backend.pickFolder).toHaveBeenCalledWith('Choose a folder to watch');
    expect(one<HTMLInputElement>('watched-folder-path-input').value).toBe('/home/ann/Outbox');

    choose('watched-folder-destination-select', 'd-archive');
    click(one('watched-folder-save'));
    await settle();

    expect(backend.addWatchedFolder).toHaveBeenCalledWith('/home/ann/Outbox', 'd-archive');
    expect(all('watched-folder-form')).toHaveLength(0);
    expect(text('watched-folder-state', row('/home/ann/Outbox'))).toBe('Scanning…');
  });

  it('refuses an empty path without asking the backend', async () => {
    await render({ folders: [] });
    click(one('watched-folder-add'));
    await settle();
    type('watched-folder-path-input', '   ');
    click(one('watched-folder-save'));
    await settle();
    expect(text('watched-folder-form-error')).toBe('Choose the folder to watch.');
    expect(backend.addWatchedFolder).not.toHaveBeenCalled();
  });

  it("shows the backend's refusal in the form, and keeps the path", async () => {
    await render();
    backend.addWatchedFolder.mockRejectedValue('/home/ann/Inbox is watched already');

    click(one('watched-folder-add'));
    await settle();
    type('watched-folder-path-input', '/home/ann/Inbox');
    click(one('watched-folder-save'));
    await settle();

    // Left on the default destination, the folder follows whatever the default is.
    expect(backend.addWatchedFolder).toHaveBeenCalledWith('/home/ann/Inbox', null);
    const error = one('watched-folder-form-error');
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toBe('/home/ann/Inbox is watched already');
    expect(one<HTMLInputElement>('watched-folder-path-input').value).toBe('/home/ann/Inbox');
  });

  it('pauses a watched folder and resumes a paused one', async () => {
    await render();
    backend.setWatchedFolderPaused.mockResolvedValue({ folders: [{ ...inbox, state: 'paused' }, photos, drafts, stick] });
    click(one('watched-folder-pause', row('/home/ann/Inbox')));
    await settle();
    expect(backend.setWatchedFolderPaused).toHaveBeenLastCalledWith('w-inbox', true);
    expect(text('watched-folder-state', row('/home/ann/Inbox'))).toBe('Paused');
    expect(text('watched-folder-pause', row('/home/ann/Inbox'))).toBe('Resume');

    click(one('watched-folder-pause', row('/home/ann/Drafts')));
    await settle();
    expect(backend.setWatchedFolderPaused).toHaveBeenLastCalledWith('w-drafts', false);
  });

  it('asks before removing: Keep keeps the folder, Remove removes it', async () => {
    await render();
    backend.removeWatchedFolder.mockResolvedValue({ folders: [inbox, photos, stick] });

    click(one('watched-folder-remove', row('/home/ann/Drafts')));
    expect(text('watched-folder-remove-question', row('/home/ann/Drafts'))).toContain('Files already uploaded stay where they are.');
    click(one('watched-folder-remove-keep', row('/home/ann/Drafts')));
    expect(all('watched-folder-remove-question')).toHaveLength(0);
    expect(backend.removeWatchedFolder).not.toHaveBeenCalled();

    click(one('watched-folder-remove', row('/home/ann/Drafts')));
    click(one('watched-folder-remove-confirm', row('/home/ann/Drafts')));
    await settle();
    expect(backend.removeWatchedFolder).toHaveBeenCalledWith('w-drafts');
    expect(all('watched-folder-row')).toHaveLength(3);
  });

  it('refreshes the list every second while open, keeps the last list when that fails, and stops once closed', async () => {
    vi.useFakeTimers();
    await render();
    backend.watchedFolders.mockResolvedValue({ folders: [{ ...inbox, uploaded: 4 }, photos, drafts, stick] });
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(backend.watchedFolders).toHaveBeenCalledTimes(2);
    expect(text('watched-folder-uploaded', row('/home/ann/Inbox'))).toBe('4 files uploaded');

    backend.watchedFolders.mockRejectedValueOnce('the engine did not answer');
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(text('watched-folders-problem')).toContain('the engine did not answer');
    expect(text('watched-folder-uploaded', row('/home/ann/Inbox'))).toBe('4 files uploaded');

    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(all('watched-folders-problem')).toHaveLength(0);

    if (component) unmount(component);
    component = null;
    const calls = backend.watchedFolders.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(backend.watchedFolders).toHaveBeenCalledTimes(calls);
  });

  it('does not let a refresh that was under way undo a removal on screen', async () => {
    vi.useFakeTimers();
    await render();
    let answer: (view: WatchedFoldersView) => void = () => undefined;
    backend.watchedFolders.mockReturnValueOnce(new Promise<WatchedFoldersView>((resolve) => (answer = resolve)));
    await vi.advanceTimersByTimeAsync(1000);
    expect(backend.watchedFolders).toHaveBeenCalledTimes(2);

    backend.removeWatchedFolder.mockResolvedValue({ folders: [inbox, photos, stick] });
    click(one('watched-folder-remove', row('/home/ann/Drafts')));
    click(one('watched-folder-remove-confirm', row('/home/ann/Drafts')));
    await settle();
    answer(listed);
    await settle();
    expect(all('watched-folder-row')).toHaveLength(3);
  });

  it('closes the form with Escape, then the dialog; Close closes too', async () => {
    const { onClose } = await render();
    const dialog = one('watched-folders-dialog');
    expect(dialog.getAttribute('role')).toBe('dialog');
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    expect(document.getElementById(dialog.getAttribute('aria-labelledby') ?? '')?.textContent).toBe('Watched folders');

    click(one('watched-folder-add'));
    await settle();
    escape();
    expect(all('watched-folder-form')).toHaveLength(0);
    expect(onClose).not.toHaveBeenCalled();

    escape();
    click(one('watched-folders-close'));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
