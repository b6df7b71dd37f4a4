/** The `images` table: boot images registered from host files and copied into the data dir. */
import type { Db } from './db.js';

/** One row of `images`. */
export interface ImageRecord {
  name: string;
  kernelPath: string;
  initrdPath: string | null;
  diskPath: string | null;
  cmdline: string;
  sizeBytes: number;
  /** Epoch ms. */
  createdAt: number;
}

interface ImageRow {
  name: string;
  kernel_path: string;
  initrd_path: string | null;
  disk_path: string | null;
  cmdline: string;
  size_bytes: number;
  created_at: number;
}

/** Prepared statements over `images`. */
export class ImagesRepo {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare<ImageRow>(
        `INSERT INTO images (name, kernel_path, initrd_path, disk_path, cmdline, size_bytes, created_at)
         VALUES (@name, @kernel_path, @initrd_path, @disk_path, @cmdline, @size_bytes, @created_at)`,
      ),
      get: db.prepare<[string], ImageRow>('SELECT * FROM images WHERE name = ?'),
      list: db.prepare<[], ImageRow>('SELECT * FROM images ORDER BY name'),
      delete: db.prepare<[string]>('DELETE FROM images WHERE name = ?'),
    };
  }

  insert(image: ImageRecord): void {
    this.stmts.insert.run({
      name: image.name,
      kernel_path: image.kernelPath,
      initrd_path: image.initrdPath,
      disk_path: image.diskPath,
      cmdline: image.cmdline,
      size_bytes: image.sizeBytes,
      created_at: image.createdAt,
    });
  }

  get(name: string): ImageRecord | undefined {
    const row = this.stmts.get.get(name);
    return row && fromRow(row);
  }

  list(): ImageRecord[] {
    return this.stmts.list.all().map(fromRow);
  }

  /** Removes the row; false if there was none. */
  delete(name: string): boolean {
    return this.stmts.delete.run(name).changes > 0;
  }
}

function fromRow(row: ImageRow): ImageRecord {
  return {
    name: row.name,
    kernelPath: row.kernel_path,
    initrdPath: row.initrd_path,
    diskPath: row.disk_path,
    cmdline: row.cmdline,
    sizeBytes: row.size_bytes,
    createdAt: row.created_at,
  };
}
