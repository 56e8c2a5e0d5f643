/** The broad kind of a file, for its icon. */
export type FileKind = 'image' | 'video' | 'audio' | 'archive' | 'text' | 'other';

const BY_EXTENSION: Record<string, FileKind> = {};
function add(kind: FileKind, extensions: string): void {
  for (const extension of extensions.split(' ')) BY_EXTENSION[extension] = kind;
}
add('image', 'png jpg jpeg gif webp avif heic heif bmp tif tiff svg ico raw cr2 nef arw dng psd');
add('video', 'mp4 m4v mov mkv webm avi wmv flv mpg mpeg 3gp ts mts');
add('audio', 'mp3 wav flac aac m4a ogg oga opus wma aiff aif mid midi');
add('archive', 'zip tar gz tgz bz2 xz zst 7z rar iso dmg deb rpm jar');
add('text', 'txt md csv tsv json xml yaml yml toml log pdf doc docx odt rtf html htm');

/** What a file looks like, from its sniffed MIME type when known, else its name. */
export function fileKind(name: string, mime: string | null): FileKind {
  if (mime) {
    const [type = '', subtype = ''] = mime.toLowerCase().split('/');
    if (type === 'image' || type === 'video' || type === 'audio') return type;
    if (type === 'text' || subtype === 'pdf' || subtype === 'json' || subtype === 'xml') return 'text';
    if (/zip|tar|gzip|x-7z|rar|bzip|xz|zstd|compressed|archive/.test(subtype)) return 'archive';
  }
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return 'other';
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? 'other';
}
