import { describe, expect, it } from 'vitest';
import { fileKind } from './filekind';

describe('fileKind', () => {
  it('prefers the sniffed MIME type', () => {
    expect(fileKind('upload.bin', 'image/png')).toBe('image');
    expect(fileKind('clip', 'video/mp4')).toBe('video');
    expect(fileKind('x.txt', 'application/zip')).toBe('archive');
    expect(fileKind('report', 'application/pdf')).toBe('text');
  });

  it('falls back to the extension, whatever its case', () => {
    expect(fileKind('IMG_0001.JPG', null)).toBe('image');
    expect(fileKind('song.flac', null)).toBe('audio');
    expect(fileKind('backup.tar.zst', 'application/octet-stream')).toBe('archive');
  });

  it('calls anything else a plain file', () => {
    expect(fileKind('Makefile', null)).toBe('other');
    expect(fileKind('.bashrc', null)).toBe('other');
    expect(fileKind('trailing.', null)).toBe('other');
  });
});
