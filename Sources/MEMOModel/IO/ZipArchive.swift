import CZip
import Foundation

/// Why a zip archive could not be read; each description is one line naming the file.
public enum ZipArchiveError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(path: String, reason: String)
    /// The file is not a zip archive at all.
    case notZip(path: String)
    /// The archive or one of its entries is damaged (truncated, inconsistent headers, bad CRC).
    case corrupt(path: String, reason: String)
    /// An entry declares more bytes than the reader accepts.
    case tooLarge(path: String, entry: String, size: UInt64, limit: UInt64)
    /// An entry is compressed or encrypted where only stored entries are read.
    case unsupportedEntry(path: String, entry: String, reason: String)

    /// Names in it may come from a hostile file: control characters are escaped (one line).
    public var description: String { HDF5Error.oneLine(text) }

    private var text: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .notZip(path): return "\(path): not a zip archive"
        case let .corrupt(path, reason): return "\(path): damaged zip archive: \(reason)"
        case let .tooLarge(path, entry, size, limit):
            return "\(path): zip entry '\(entry)' declares \(size) bytes, more than the \(limit) this reader accepts"
        case let .unsupportedEntry(path, entry, reason): return "\(path): zip entry '\(entry)' \(reason)"
        }
    }
}

/// A zip archive opened read-only through libzip, with its central directory checked against the
/// local headers (`ZIP_CHECKCONS`). Entries are read whole and only when stored uncompressed and
/// unencrypted (as `torch.save` writes them), so an entry's size is bounded by the file's size
/// before anything is allocated. Not for concurrent use.
final class ZipArchive {
    struct Entry {
        let index: UInt64
        let name: String
        let size: UInt64
    }

    let path: String
    let entries: [Entry]
    /// The archive file's size in bytes.
    let fileSize: UInt64
    private let handle: OpaquePointer

    init(path: String) throws {
        self.path = path
        var code: Int32 = 0
        guard let handle = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code) else {
            switch code {
            case ZIP_ER_NOZIP:
                // A file that starts as a zip but whose directory libzip rejects is damaged.
                let head = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 4) }
                if let head, [UInt8](head) == [0x50, 0x4B, 0x03, 0x04] {
                    throw ZipArchiveError.corrupt(path: path, reason: "its central directory does not match its entries")
                }
                throw ZipArchiveError.notZip(path: path)
            case ZIP_ER_OPEN:
                throw ZipArchiveError.cannotOpen(path: path, reason: Self.message(code: code))
            case ZIP_ER_NOENT where !FileManager.default.isReadableFile(atPath: path):
                throw ZipArchiveError.cannotOpen(path: path, reason: Self.message(code: code))
            default: throw ZipArchiveError.corrupt(path: path, reason: Self.message(code: code))
            }
        }
        self.handle = handle
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        self.fileSize = fileSize
        let count = zip_get_num_entries(handle, 0)
        var entries: [Entry] = []
        var stat = zip_stat_t()
        do {
            guard count >= 0, UInt64(count) <= max(fileSize / 22, 1) else {
                throw ZipArchiveError.corrupt(path: path, reason: "\(count) entries in a file of \(fileSize) bytes")
            }
            for i in 0..<UInt64(count) {
                zip_stat_init(&stat)
                guard zip_stat_index(handle, i, 0, &stat) == 0, stat.valid & SWZIP_STAT_NAME != 0, let name = stat.name,
                      stat.valid & SWZIP_STAT_SIZE != 0, stat.valid & SWZIP_STAT_COMP_METHOD != 0,
                      stat.valid & SWZIP_STAT_COMP_SIZE != 0 else {
                    throw ZipArchiveError.corrupt(path: path, reason: "entry \(i): \(Self.message(archive: handle))")
                }
                let entryName = String(decoding: UnsafeRawBufferPointer(start: name, count: strlen(name)), as: UTF8.self)
                if stat.comp_method != ZIP_CM_STORE {
                    throw ZipArchiveError.unsupportedEntry(path: path, entry: entryName,
                        reason: "is compressed (method \(stat.comp_method)); only stored entries are read, as torch.save writes them")
                }
                if stat.valid & SWZIP_STAT_ENCRYPTION_METHOD != 0, stat.encryption_method != ZIP_EM_NONE {
                    throw ZipArchiveError.unsupportedEntry(path: path, entry: entryName, reason: "is encrypted")
                }
                // A stored entry holds its bytes in the file: it cannot be larger than the file.
                guard stat.size == stat.comp_size else {
                    throw ZipArchiveError.corrupt(path: path, reason: "stored entry '\(entryName)' declares \(stat.size) bytes "
                        + "but holds \(stat.comp_size)")
                }
                guard stat.size <= fileSize else {
                    throw ZipArchiveError.tooLarge(path: path, entry: entryName, size: stat.size, limit: fileSize)
                }
                entries.append(Entry(index: i, name: entryName, size: stat.size))
            }
        } catch {
            zip_discard(handle)
            throw error
        }
        self.entries = entries
    }

    deinit { zip_discard(handle) }

    /// The entry named `name`, if any.
    func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The bytes of an entry, at most `limit`; libzip checks the CRC as the last bytes are read.
    func read(_ entry: Entry, limit: UInt64) throws -> [UInt8] {
        guard entry.size <= limit else {
            throw ZipArchiveError.tooLarge(path: path, entry: entry.name, size: entry.size, limit: limit)
        }
        guard let file = zip_fopen_index(handle, entry.index, 0) else {
            throw ZipArchiveError.corrupt(path: path, reason: "entry '\(entry.name)': \(Self.message(archive: handle))")
        }
        defer { zip_fclose(file) }
        let size = Int(entry.size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        var extra: UInt8 = 0
        let failure: String? = bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let n = zip_fread(file, buffer.baseAddress! + done, zip_uint64_t(size - done))
                if n < 0 { return "cannot be read: " + Self.message(file: file) }
                if n == 0 { return "ends after \(done) of \(size) bytes" }
                done += Int(n)
            }
            // One more read reaches the end of the entry, where libzip compares the CRC.
            let n = zip_fread(file, &extra, 1)
            if n < 0 { return "cannot be read: " + Self.message(file: file) }
            if n > 0 { return "holds more than its declared \(size) bytes" }
            return nil
        }
        if let failure { throw ZipArchiveError.corrupt(path: path, reason: "entry '\(entry.name)' \(failure)") }
        return bytes
    }

    private static func message(code: Int32) -> String {
        var error = zip_error_t()
        zip_error_init_with_code(&error, code)
        defer { zip_error_fini(&error) }
        return String(cString: zip_error_strerror(&error))
    }

    private static func message(archive: OpaquePointer) -> String {
        guard let error = zip_get_error(archive) else { return "unknown libzip error" }
        return String(cString: zip_error_strerror(error))
    }

    private static func message(file: OpaquePointer) -> String {
        guard let error = zip_file_get_error(file) else { return "unknown libzip error" }
        return String(cString: zip_error_strerror(error))
    }
}
