import { invoke } from '@tauri-apps/api/core';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import { open } from '@tauri-apps/plugin-dialog';
import type {
  AppInfo,
  ConnectionInfo,
  DestinationSettings,
  DestinationsView,
  EnqueueReport,
  Snapshot,
  WatchedFoldersView,
} from './generated/protocol';

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

/** True when the page runs inside the Ferry app rather than a plain browser. */
export function inTauri(): boolean {
  return typeof window !== 'undefined' && window.__TAURI_INTERNALS__ !== undefined;
}

/** Where the engine's WebSocket listens, and the launch token. */
export function connectionInfo(): Promise<ConnectionInfo> {
  return invoke<ConnectionInfo>('connection_info');
}

/** The whole queue, read without the WebSocket, for when none can be opened. */
export function snapshot(): Promise<Snapshot> {
  return invoke<Snapshot>('snapshot');
}

/** The folder the local destination copies files to. */
export function destinationDir(): Promise<string> {
  return invoke<string>('destination_dir');
}

/** Why uploads do not go to the destination the user set, if they do not. */
export function startupNotice(): Promise<string | null> {
  return invoke<string | null>('startup_notice');
}

/** Puts files and folders in the queue. */
export function enqueuePaths(paths: string[]): Promise<EnqueueReport> {
  return invoke<EnqueueReport>('enqueue_paths', { paths });
}

/** Asks the user for files; an empty list when the dialog is dismissed. */
export async function pickFiles(): Promise<string[]> {
  return (await open({ multiple: true, directory: false, title: 'Add files to upload' })) ?? [];
}

/** Asks the user for one folder; null when the dialog is dismissed. */
export async function pickFolder(title: string): Promise<string | null> {
  return await open({ multiple: false, directory: true, title });
}

/** Asks the user for folders; an empty list when the dialog is dismissed. */
export async function pickFolders(): Promise<string[]> {
  return (await open({ multiple: true, directory: true, title: 'Add folders to upload' })) ?? [];
}

/**
 * Follows files being dragged over the window. The drop itself is handled by the app,
 * which enqueues the files; the page only shows where they will land.
 */
export function onDragHover(hovering: (active: boolean) => void): Promise<() => void> {
  return getCurrentWebview().onDragDropEvent((event) => {
    const type = event.payload.type;
    hovering(type === 'enter' || type === 'over');
  });
}

/** A failed invoke's reason, in words. Tauri rejects with whatever the command returned. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') {
    return error.message;
  }
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** The version, licence, folders and start-at-login setting the About view shows. */
export function appInfo(): Promise<AppInfo> {
  return invoke<AppInfo>('app_info');
}

/** Turns starting at login on or off; resolves with the setting as it is afterwards. */
export function setStartAtLogin(enabled: boolean): Promise<boolean> {
  return invoke<boolean>('set_start_at_login', { enabled });
}

/** Opens the log folder in the file manager. */
export function openLogs(): Promise<void> {
  return invoke<void>('open_logs');
}

/** Every upload destination and which one is the default. */
export function destinations(): Promise<DestinationsView> {
  return invoke<DestinationsView>('destinations');
}

/** Adds a destination; `secret` (a token, password or header value) goes to the system keyring. */
export function addDestination(settings: DestinationSettings, secret: string | null): Promise<DestinationsView> {
  return invoke<DestinationsView>('add_destination', { settings, secret });
}

/** Changes a destination; a null or empty `secret` keeps the stored one. */
export function editDestination(id: string, settings: DestinationSettings, secret: string | null): Promise<DestinationsView> {
  return invoke<DestinationsView>('edit_destination', { id, settings, secret });
}

/** Removes a destination and its secret. */
export function removeDestination(id: string): Promise<DestinationsView> {
  return invoke<DestinationsView>('remove_destination', { id });
}

/** Makes `id` the default destination; null: the built-in local folder. Applies at the next start. */
export function setDefaultDestination(id: string | null): Promise<DestinationsView> {
  return invoke<DestinationsView>('set_default_destination', { id });
}

/**
 * Checks that a destination can take uploads, without uploading: resolves with what was
 * found, rejects with exactly what went wrong.
 */
export function testDestination(id: string): Promise<string> {
  return invoke<string>('test_destination', { id });
}

/** Every watched folder, with where it stands and what it has uploaded since Ferry started. */
export function watchedFolders(): Promise<WatchedFoldersView> {
  return invoke<WatchedFoldersView>('watched_folders');
}

/** Starts watching `path`; a null `destinationId` follows whatever is the default destination. */
export function addWatchedFolder(path: string, destinationId: string | null): Promise<WatchedFoldersView> {
  return invoke<WatchedFoldersView>('add_watched_folder', { path, destinationId });
}

/** Stops watching a folder; what it uploaded stays where it went. */
export function removeWatchedFolder(id: string): Promise<WatchedFoldersView> {
  return invoke<WatchedFoldersView>('remove_watched_folder', { id });
}

/** Pauses or resumes watching a folder. */
export function setWatchedFolderPaused(id: string, paused: boolean): Promise<WatchedFoldersView> {
  return invoke<WatchedFoldersView>('set_watched_folder_paused', { id, paused });
}
