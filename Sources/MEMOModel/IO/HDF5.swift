import CHDF5
import Foundation

// MARK: - Errors

/// A failure while reading or writing an HDF5 file. Every case names the file; `description` is one
/// line naming the file and the problem, for example
/// `checkpoints/run/stage-01.h5: dataset 'model/fc.weight' has shape [10, 64], expected [10, 128]`.
///
/// Names are slash paths without the leading "/" (`"/"` is the root group). An attribute is named
/// `object@key`, e.g. `"/@task"` or `"model/fc.weight@scale"`.
public enum HDF5Error: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case cannotWrite(path: String, name: String, reason: String)
    case missing(path: String, name: String)
    case wrongType(path: String, name: String, expected: String, found: String)
    case wrongShape(path: String, name: String, expected: [Int], found: [Int])
    /// The declared size is beyond what the file can hold (see `HDF5File.maximumDecodedBytes`).
    case tooLarge(path: String, name: String, elements: Int)
    case corrupt(path: String, name: String, reason: String)
    /// The dataset's stored bytes do not match their Fletcher-32 checksum: the file is damaged.
    case checksumMismatch(path: String, name: String)
    /// A dataset whose data carries no checksum, in a file whose reader requires one
    /// (`HDF5File.requiresDataChecksums`); the description gives the command that adds them.
    case unchecksummed(path: String, name: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .cannotOpen(let path, _), .cannotWrite(let path, _, _), .missing(let path, _),
             .wrongType(let path, _, _, _), .wrongShape(let path, _, _, _), .tooLarge(let path, _, _),
             .corrupt(let path, _, _), .checksumMismatch(let path, _), .unchecksummed(let path, _):
            return path
        }
    }

    public var description: String {
        let text: String
        switch self {
        case .cannotOpen(let path, let reason):
            text = "\(path): cannot open: \(reason)"
        case .cannotWrite(let path, let name, let reason):
            text = "\(path): cannot write \(Self.describe(name, noun: nil)): \(reason)"
        case .missing(let path, let name):
            if let (object, key) = Self.splitAttribute(name) {
                text = "\(path): no attribute '\(key)' on '\(object)'"
            } else {
                text = "\(path): no dataset or group '\(name)'"
            }
        case .wrongType(let path, let name, let expected, let found):
            text = "\(path): \(Self.describe(name, noun: nil)) is \(found), expected \(expected)"
        case .wrongShape(let path, let name, let expected, let found):
            text = "\(path): \(Self.describe(name, noun: "dataset")) has shape \(found), expected \(expected)"
        case .tooLarge(let path, let name, let elements):
            text = "\(path): \(Self.describe(name, noun: "dataset")) declares \(elements) elements, "
                + "more than a file of this size can hold"
        case .corrupt(let path, let name, let reason):
            text = "\(path): \(Self.describe(name, noun: nil)) is unreadable: \(reason)"
        case .checksumMismatch(let path, let name):
            text = "\(path): \(name): data checksum mismatch (the file is damaged)"
        case .unchecksummed(let path, let name):
            text = "\(path): \(Self.describe(name, noun: "dataset")) carries no Fletcher-32 data checksum, which this file's "
                + "format requires (were its filters stripped, as by h5repack -f NONE?); rewrite it with: "
                + HDF5File.rewriteCommand(path)
        }
        return Self.oneLine(text)
    }

    private static func splitAttribute(_ name: String) -> (object: String, key: String)? {
        guard let at = name.lastIndex(of: "@") else { return nil }
        return (String(name[..<at]), String(name[name.index(after: at)...]))
    }

    private static func describe(_ name: String, noun: String?) -> String {
        if let (object, key) = splitAttribute(name) { return "attribute '\(key)' on '\(object)'" }
        return noun.map { "\($0) '\(name)'" } ?? "'\(name)'"
    }

    /// Names and reasons may come from a hostile file: replace control characters so the
    /// description stays on one line. (Also used by `CheckpointError`.)
    static func oneLine(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                scalars.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }
}

// MARK: - File

/// An HDF5 file holding named numeric and string datasets plus scalar attributes: the container
/// of memo-swift's per-stage checkpoints.
///
/// Dataset names are slash paths such as `"model/generalized.conv.weight"`; dots belong to the leaf
/// name and intermediate groups are created on write. Files are written in the HDF5 1.10 format,
/// whose metadata (superblock, object headers, chunk indexes, link and attribute heaps) all carry
/// checksums, with explicit little-endian types and fixed-length UTF-8 strings (no unchecksummed
/// global heap); HDF5 ≥ 1.10, h5py and h5dump read them. The data carries checksums too: every
/// dataset with data is chunked with HDF5's Fletcher-32 filter (see `writeDataset`), which libhdf5
/// verifies on every read; a mismatch is `.checksumMismatch` naming the dataset.
///
/// Only files in that checksummed format are opened (superblock version ≥ 2). libhdf5 1.10.8
/// (Debian 12) crashes or hangs on some damaged files: reading copies with 1–4 random bytes
/// changed, pre-1.8 files (superblock 0 or 1, as h5py and h5repack write by default) crashed it
/// about once per 1,000 copies, in the local heap, object headers, compact data and the global
/// heap, and their unchecksummed metadata (attributes, chunk indexes) can change without any
/// error; 1.8-format files with variable-length strings 9 times in 40,000, all in the unchecksummed
/// global heap that holds those strings. Files as `create` writes them gave no crash or hang in
/// 24,000 copies. So pre-1.8 files are refused with the h5repack command that rewrites them
/// (`rewriteCommand`), and variable-length strings are not read (`.wrongType`).
///
/// Reading treats the file as untrusted: only hard links are followed
/// (soft and external links, external raw data and virtual datasets are refused), a dataset's type
/// is checked against plain IEEE / two's-complement / string layouts before reading, rank is
/// limited to 8, and the declared size is checked for overflow and against the file size *before*
/// memory is allocated. Every failure is an `HDF5Error`. Limit: a file *crafted* (checksums and
/// all) to hit a bug inside libhdf5's own metadata parser is beyond the reach of these checks.
///
/// Not for concurrent use of one instance from several threads (libhdf5 itself serialises calls).
public final class HDF5File {
    /// The path the file was created or opened with, as given.
    public let path: String
    private var file: hid_t
    private let writable: Bool
    /// When set, reading a dataset whose data has no checksum (see `isChecksummed`) throws
    /// `.unchecksummed` instead of reading it.
    public var requiresDataChecksums = false
    /// Datasets read so far whose data carries no checksum, in reading order.
    public private(set) var unchecksummedDatasets: [String] = []
    /// Writes the layout of checkpoint format version 1 (only compressed datasets chunked and
    /// checksummed, the others contiguous without checksum): for tests that read such files.
    var writesVersion1Layout = false

    /// Highest rank read or written; checkpoints need at most 4 (OIHW).
    public static let maximumRank = 8

    private init(path: String, file: hid_t, writable: Bool) {
        self.path = path
        self.file = file
        self.writable = writable
    }

    deinit { close() }

    /// Creates (or truncates) the file at `path` for writing.
    public static func create(_ path: String) throws -> HDF5File {
        HDF5Library.enter()
        let access = try fileAccessList(path: path, forWriting: true)
        defer { H5Pclose(access) }
        let id = H5Fcreate(path, swh5_acc_trunc(), hid_t(H5P_DEFAULT), access)
        guard id >= 0 else {
            throw HDF5Error.cannotOpen(path: path, reason: "cannot create: \(HDF5Library.takeError())")
        }
        return HDF5File(path: path, file: id, writable: true)
    }

    /// Opens an existing file read-only. A missing file, a folder, or a file without an HDF5
    /// signature throws `.cannotOpen` with the reason; so does a truncated file (HDF5 compares the
    /// stored end-of-file address with the real size), and a file in the pre-1.8 format, whose
    /// message gives the command that rewrites it in the checksummed format.
    public static func open(_ path: String) throws -> HDF5File {
        HDF5Library.enter()
        let version = try superblockVersion(path)
        guard version >= 2 else {
            throw HDF5Error.cannotOpen(path: path, reason: "superblock version \(version) is the pre-1.8 HDF5 format "
                + "without metadata checksums, as h5repack and h5py write by default (h5py: libver=\"latest\" writes the "
                + "checksummed one); rewrite it with: \(rewriteCommand(path))")
        }
        let access = try fileAccessList(path: path, forWriting: false)
        defer { H5Pclose(access) }
        let id = H5Fopen(path, swh5_acc_rdonly(), access)
        guard id >= 0 else {
            throw HDF5Error.cannotOpen(path: path, reason: HDF5Library.takeError())
        }
        return HDF5File(path: path, file: id, writable: false)
    }

    /// A shell command that rewrites the file at `path` in place, through a temporary copy, in the
    /// checksummed HDF5 1.10 format (`-L`) with a Fletcher-32 checksum on every dataset
    /// (`-f FLET`, which replaces the other filters: the data is stored uncompressed). Named
    /// `repacked-<name>` so that the copy never looks like a stage file of a run folder.
    public static func rewriteCommand(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let folder = (path as NSString).deletingLastPathComponent
        let copy = (folder.isEmpty ? "" : folder + "/") + "repacked-" + url.lastPathComponent
        return "h5repack -L -f FLET \(shellQuoted(path)) \(shellQuoted(copy)) && mv \(shellQuoted(copy)) \(shellQuoted(path))"
    }

    /// `text` as one shell word: unchanged when it holds only safe characters, else single-quoted.
    static func shellQuoted(_ text: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@%")
        if !text.isEmpty && text.allSatisfy(safe.contains) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The version byte of the file's superblock, found where libhdf5 looks for it: at offset 0 or
    /// a power of two from 512 on. Read here, before libhdf5 parses anything.
    private static func superblockVersion(_ path: String) throws -> Int {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw HDF5Error.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { Glibc.close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw HDF5Error.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw HDF5Error.cannotOpen(path: path, reason: "not a regular file")
        }
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]  // "\x89HDF\r\n\x1a\n"
        var header = [UInt8](repeating: 0, count: 9)
        var offset = 0
        while offset < Int(info.st_size) {
            let count = header.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 9, off_t(offset)) }
            if count == 9 && header[..<8].elementsEqual(signature) { return Int(header[8]) }
            guard offset <= Int.max / 2 else { break }
            offset = offset == 0 ? 512 : offset * 2
        }
        throw HDF5Error.cannotOpen(path: path, reason: "not an HDF5 file (no HDF5 signature found)")
    }

    /// Closes the file; later calls throw `.cannotOpen` ("the file is closed"). Idempotent; also
    /// run by `deinit`.
    public func close() {
        guard file >= 0 else { return }
        HDF5Library.enter()
        _ = H5Fclose(file)
        file = -1
    }

    /// File access properties: strong close (so `H5Fclose` also closes anything left open). New
    /// files use the HDF5 1.10 format (checksummed metadata, including the fixed-array chunk index
    /// that 1.8's v1 B-tree lacks) and take libhdf5's advisory lock where the file system has one.
    /// Readers take no lock: files are replaced atomically (`writeAtomically`), so a reader never
    /// sees one being written, and a lock could only fail spuriously (NFS, a second handle).
    /// libhdf5 refuses to open a file again in the same process with another locking flag while
    /// it is open ("file locking flag values don't match"), so any other opener in this process
    /// (the tests' raw libhdf5 edits) takes its access list from here. The caller closes it.
    static func fileAccessList(path: String, forWriting: Bool) throws -> hid_t {
        let access = H5Pcreate(swh5_p_file_access())
        guard access >= 0,
              !forWriting || H5Pset_libver_bounds(access, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0,
              H5Pset_fclose_degree(access, H5F_CLOSE_STRONG) >= 0,
              H5Pset_file_locking(access, forWriting, true) >= 0
        else {
            if access >= 0 { H5Pclose(access) }
            throw HDF5Error.cannotOpen(path: path, reason: HDF5Library.takeError())
        }
        return access
    }

    // MARK: Writing datasets

    /// Writes a float32 dataset; `compress` adds shuffle + deflate to its Fletcher-32 checksum.
    /// Numeric types are stored as explicit little-endian IEEE / two's-complement types.
    public func write(_ name: String, floats: [Float], shape: [Int], compress: Bool = false) throws {
        try floats.withUnsafeBytes {
            try writeDataset(name, bytes: $0, count: floats.count, shape: shape, elementSize: 4,
                             fileType: swh5_ieee_f32le(), memoryType: swh5_native_float(), compress: compress)
        }
    }

    /// Writes a float64 dataset.
    func write(_ name: String, doubles: [Double], shape: [Int]) throws {
        try doubles.withUnsafeBytes {
            try writeDataset(name, bytes: $0, count: doubles.count, shape: shape, elementSize: 8,
                             fileType: swh5_ieee_f64le(), memoryType: swh5_native_double(), compress: false)
        }
    }

    /// Writes an int64 dataset.
    public func write(_ name: String, int64s: [Int64], shape: [Int]) throws {
        try int64s.withUnsafeBytes {
            try writeDataset(name, bytes: $0, count: int64s.count, shape: shape, elementSize: 8,
                             fileType: swh5_std_i64le(), memoryType: swh5_native_int64(), compress: false)
        }
    }

    /// Writes a uint8 dataset (images, masks); `compress` as for floats.
    public func write(_ name: String, uint8s: [UInt8], shape: [Int], compress: Bool = false) throws {
        try uint8s.withUnsafeBytes {
            try writeDataset(name, bytes: $0, count: uint8s.count, shape: shape, elementSize: 1,
                             fileType: swh5_std_u8le(), memoryType: swh5_native_uint8(), compress: compress)
        }
    }

    /// Writes a 1-D dataset of UTF-8 strings, stored fixed-length (NUL-padded to the longest
    /// string), so the file has no global heap; over 1 MiB it is compressed. h5dump prints it; h5py
    /// reads it as `bytes` (`.asstr()` decodes). Strings must not contain NUL characters.
    public func write(_ name: String, strings: [String]) throws {
        if strings.contains(where: { $0.utf8.contains(0) }) {
            throw HDF5Error.cannotWrite(path: path, name: Self.canonical(name), reason: "a string contains a NUL character")
        }
        let width = max(1, strings.map(\.utf8.count).max() ?? 1)
        let (total, overflow) = strings.count.multipliedReportingOverflow(by: width)
        guard !overflow, total <= 1 << 30 else {
            throw HDF5Error.cannotWrite(path: path, name: Self.canonical(name), reason: "\(strings.count) strings padded "
                + "to the longest (\(width) bytes) exceed 1 GiB; store long text as an attribute or uint8 dataset")
        }
        var bytes = [UInt8](repeating: 0, count: strings.count * width)
        for (index, string) in strings.enumerated() {
            bytes.replaceSubrange(index * width ..< index * width + string.utf8.count, with: string.utf8)
        }
        let type = try fixedStringType(width: width, name: Self.canonical(name))
        defer { H5Tclose(type) }
        try bytes.withUnsafeBytes {
            try writeDataset(name, bytes: $0, count: strings.count, shape: [strings.count], elementSize: width,
                             fileType: type, memoryType: type, compress: bytes.count > 1 << 20)
        }
    }

    /// Creates the group `name` and any missing parents; succeeds if it already exists.
    func createGroup(_ name: String) throws {
        try requireWritable(name)
        guard let parts = Self.components(of: name) else {
            throw HDF5Error.cannotWrite(path: path, name: name, reason: "malformed name")
        }
        try ensureGroups(parts, for: Self.join(parts))
    }

    /// Writes `count` elements of `elementSize` bytes as dataset `name` with `shape`, converting
    /// from `memoryType` to `fileType`.
    ///
    /// The checksum rule: a dataset with at least one element and rank ≥ 1 is chunked (see
    /// `chunkShape`) with a Fletcher-32 checksum per chunk, the last filter, so that it covers the
    /// stored bytes and is verified before anything is decoded; `compress` puts shuffle (for
    /// multi-byte numbers) and deflate level 4 before it. A scalar cannot be chunked: it is stored
    /// compact, inside its object header, which the 1.10 format checksums. A dataset with no
    /// elements stores no data and has nothing to checksum (contiguous, never allocated; a chunk
    /// dimension cannot be 0).
    private func writeDataset(_ name: String, bytes: UnsafeRawBufferPointer, count: Int, shape: [Int],
                              elementSize: Int, fileType: hid_t, memoryType: hid_t, compress: Bool) throws {
        guard shape.count <= Self.maximumRank, shape.allSatisfy({ $0 >= 0 }) else {
            throw HDF5Error.cannotWrite(path: path, name: Self.canonical(name),
                                        reason: "shape \(shape) is invalid (rank ≤ \(Self.maximumRank), sizes ≥ 0)")
        }
        let elements = Self.product(shape)
        guard elements == count else {
            throw HDF5Error.cannotWrite(path: path, name: Self.canonical(name),
                                        reason: "\(count) values do not fill shape \(shape) (\(elements ?? -1) elements)")
        }
        let canonical = try prepareWrite(name)
        let space: hid_t
        if shape.isEmpty {
            space = H5Screate(H5S_SCALAR)
        } else {
            var dims = shape.map { hsize_t($0) }
            space = H5Screate_simple(Int32(shape.count), &dims, nil)
        }
        guard space >= 0 else { throw writeFailure(canonical) }
        defer { H5Sclose(space) }

        let creation = H5Pcreate(swh5_p_dataset_create())
        guard creation >= 0 else { throw writeFailure(canonical) }
        defer { H5Pclose(creation) }
        if writesVersion1Layout && !compress {
            // Version-1 layout: contiguous, no checksum.
        } else if shape.isEmpty {
            guard H5Pset_layout(creation, H5D_COMPACT) >= 0 else { throw writeFailure(canonical) }
        } else if count > 0 {
            var chunk = Self.chunkShape(shape, elementSize: elementSize).map { hsize_t($0) }
            guard H5Pset_chunk(creation, Int32(chunk.count), &chunk) >= 0 else { throw writeFailure(canonical) }
            if compress {
                guard H5Zfilter_avail(H5Z_filter_t(H5Z_FILTER_DEFLATE)) > 0 else {
                    throw HDF5Error.cannotWrite(path: path, name: canonical, reason: "libhdf5 lacks the deflate filter")
                }
                guard H5Tget_class(fileType) == H5T_STRING || elementSize == 1 || H5Pset_shuffle(creation) >= 0,
                      H5Pset_deflate(creation, 4) >= 0
                else { throw writeFailure(canonical) }
            }
            guard H5Pset_fletcher32(creation) >= 0 else { throw writeFailure(canonical) }
        }
        let dataset = H5Dcreate2(file, canonical, fileType, space, hid_t(H5P_DEFAULT), creation, hid_t(H5P_DEFAULT))
        guard dataset >= 0 else { throw writeFailure(canonical) }
        defer { H5Dclose(dataset) }
        guard count > 0 else { return }  // H5Dwrite refuses a nil buffer even for zero elements
        guard H5Dwrite(dataset, memoryType, H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), bytes.baseAddress) >= 0 else {
            throw writeFailure(canonical)
        }
    }

    /// Chunk shape (every dimension > 0): the full shape, halving the outermost dimension > 1 until
    /// a chunk is at most 1 MiB (HDF5's default chunk cache size).
    static func chunkShape(_ shape: [Int], elementSize: Int) -> [Int] {
        var chunk = shape
        while chunk.reduce(elementSize, *) > 1 << 20, let i = chunk.firstIndex(where: { $0 > 1 }) {
            chunk[i] = (chunk[i] + 1) / 2
        }
        return chunk
    }

    /// Checks the file is writable and `name` is a new leaf, creates its parent groups, and returns
    /// the canonical name (no leading "/").
    private func prepareWrite(_ name: String) throws -> String {
        try requireWritable(name)
        guard let parts = Self.components(of: name), !parts.isEmpty else {
            throw HDF5Error.cannotWrite(path: path, name: name, reason: "malformed dataset name")
        }
        let canonical = Self.join(parts)
        try ensureGroups(Array(parts.dropLast()), for: canonical)
        let exists = H5Lexists(file, canonical, hid_t(H5P_DEFAULT))
        guard exists == 0 else {
            throw HDF5Error.cannotWrite(path: path, name: canonical,
                                        reason: exists > 0 ? "it already exists" : HDF5Library.takeError())
        }
        return canonical
    }

    private func requireWritable(_ name: String) throws {
        HDF5Library.enter()
        guard file >= 0 else { throw HDF5Error.cannotOpen(path: path, reason: "the file is closed") }
        guard writable else {
            throw HDF5Error.cannotWrite(path: path, name: name, reason: "the file was opened read-only")
        }
    }

    /// Creates each missing group along `parts`; an existing non-group on the way is an error.
    private func ensureGroups(_ parts: [String], for name: String) throws {
        for depth in parts.indices {
            let prefix = Self.join(Array(parts[...depth]))
            let exists = H5Lexists(file, prefix, hid_t(H5P_DEFAULT))
            if exists > 0 {
                var info = H5O_info_t()
                guard H5Oget_info_by_name2(file, prefix, &info, UInt32(H5O_INFO_BASIC), hid_t(H5P_DEFAULT)) >= 0,
                      info.type == H5O_TYPE_GROUP
                else {
                    throw HDF5Error.cannotWrite(path: path, name: name, reason: "'\(prefix)' exists and is not a group")
                }
            } else if exists == 0 {
                let group = H5Gcreate2(file, prefix, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                guard group >= 0 else { throw writeFailure(name) }
                H5Gclose(group)
            } else {
                throw writeFailure(name)
            }
        }
    }

    private func writeFailure(_ name: String) -> HDF5Error {
        .cannotWrite(path: path, name: name, reason: HDF5Library.takeError())
    }

    // MARK: Reading datasets

    /// Reads a float dataset (float32, or float64 rounded to float32) and its shape ([] for a scalar).
    public func readFloats(_ name: String) throws -> (values: [Float], shape: [Int]) {
        try readNumeric(name, as: Float.self, kind: .float, expectedShape: nil)
    }

    /// Reads a float dataset (float64, or float32 widened) and its shape.
    func readDoubles(_ name: String) throws -> (values: [Double], shape: [Int]) {
        try readNumeric(name, as: Double.self, kind: .double, expectedShape: nil)
    }

    /// Reads an integer dataset (int8…int64 or uint8…uint32, widened to Int64) and its shape.
    public func readInt64s(_ name: String) throws -> (values: [Int64], shape: [Int]) {
        try readNumeric(name, as: Int64.self, kind: .int64, expectedShape: nil)
    }

    /// Reads a uint8 dataset and its shape.
    public func readUInt8s(_ name: String) throws -> (values: [UInt8], shape: [Int]) {
        try readNumeric(name, as: UInt8.self, kind: .uint8, expectedShape: nil)
    }

    /// Reads a float dataset that must have `expectedShape`; a mismatch throws `.wrongShape` before
    /// any data is read.
    public func readFloats(_ name: String, expectedShape: [Int]) throws -> [Float] {
        try readNumeric(name, as: Float.self, kind: .float, expectedShape: expectedShape).values
    }

    /// Reads a fixed-length string dataset (ASCII or UTF-8; any rank, flattened in row-major
    /// order); variable-length strings are refused (see the type's notes). Padding is stripped;
    /// invalid UTF-8 is repaired with U+FFFD.
    public func readStrings(_ name: String) throws -> [String] {
        let (dataset, canonical) = try openDataset(name)
        defer { H5Dclose(dataset) }
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw corrupt(canonical) }
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error.wrongType(path: path, name: canonical, expected: "a string", found: Self.describe(type: type))
        }
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw corrupt(canonical) }
        defer { H5Sclose(space) }
        let count = try Self.product(extent(of: space, name: canonical)) ?? Int.max
        let expands = try checkStorage(dataset, elements: count, name: canonical)
        let variable = H5Tis_variable_str(type)
        guard variable >= 0 else { throw corrupt(canonical) }
        if variable > 0 { throw variableStringRefusal(canonical) }
        let size = H5Tget_size(type)
        guard size > 0 else { throw corrupt(canonical, reason: "string size \(size) is invalid") }
        try checkDecodedSize(elements: count, storedSize: size, memorySize: size, filtered: expands, name: canonical)
        if count == 0 { return [] }
        var bytes = [UInt8](repeating: 0, count: count * size)  // bounded by checkDecodedSize
        // The file type is also the memory type: no conversion, padding is stripped below.
        try bytes.withUnsafeMutableBytes { try read(dataset, memoryType: type, into: $0, name: canonical) }
        let spacePadded = H5Tget_strpad(type) == H5T_STR_SPACEPAD
        return (0..<count).map {
            Self.string(fixed: bytes[$0 * size ..< ($0 + 1) * size], spacePadded: spacePadded)
        }
    }

    /// The kinds of numeric data the readers accept, each with the standard file layouts it allows.
    private enum NumericKind {
        case float, double, int64, uint8

        var accepted: [hid_t] {
            switch self {
            case .float, .double:
                return [swh5_ieee_f32le(), swh5_ieee_f32be(), swh5_ieee_f64le(), swh5_ieee_f64be()]
            case .int64:
                return [swh5_std_i8le(), swh5_std_i8be(), swh5_std_i16le(), swh5_std_i16be(),
                        swh5_std_i32le(), swh5_std_i32be(), swh5_std_i64le(), swh5_std_i64be(),
                        swh5_std_u8le(), swh5_std_u8be(), swh5_std_u16le(), swh5_std_u16be(),
                        swh5_std_u32le(), swh5_std_u32be()]
            case .uint8:
                return [swh5_std_u8le(), swh5_std_u8be()]
            }
        }

        var memoryType: hid_t {
            switch self {
            case .float: return swh5_native_float()
            case .double: return swh5_native_double()
            case .int64: return swh5_native_int64()
            case .uint8: return swh5_native_uint8()
            }
        }

        var expected: String {
            switch self {
            case .float, .double: return "float32 or float64"
            case .int64: return "integer (int8…int64 or uint8…uint32)"
            case .uint8: return "uint8"
            }
        }

        func accepts(_ type: hid_t) -> Bool { accepted.contains { H5Tequal(type, $0) > 0 } }
    }

    private func readNumeric<T: Numeric>(_ name: String, as: T.Type, kind: NumericKind,
                                         expectedShape: [Int]?) throws -> (values: [T], shape: [Int]) {
        var values: [T] = []
        let shape = try readNumeric(name, kind: kind, elementSize: MemoryLayout<T>.stride, expectedShape: expectedShape) { count, read in
            values = [T](repeating: 0, count: count)
            try values.withUnsafeMutableBytes(read)
        }
        return (values, shape)
    }

    /// Reads a float dataset of `expectedShape` into `values`, which holds that many elements
    /// (a caller that already owns the storage: no second copy of a large tensor).
    public func readFloats(_ name: String, expectedShape: [Int], into values: inout [Float]) throws {
        _ = try readNumeric(name, kind: .float, elementSize: 4, expectedShape: expectedShape) { count, read in
            precondition(values.count == count, "readFloats(into:): \(values.count) elements for \(count)")
            try values.withUnsafeMutableBytes(read)
        }
    }

    /// Opens and checks a numeric dataset, then `fill(count, read)`: `fill` provides storage for
    /// `count` elements and calls `read` with it (not at all for an empty dataset).
    private func readNumeric(_ name: String, kind: NumericKind, elementSize: Int, expectedShape: [Int]?,
                             fill: (Int, (UnsafeMutableRawBufferPointer) throws -> Void) throws -> Void) throws -> [Int] {
        let (dataset, canonical) = try openDataset(name)
        defer { H5Dclose(dataset) }
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw corrupt(canonical) }
        defer { H5Tclose(type) }
        guard kind.accepts(type) else {
            throw HDF5Error.wrongType(path: path, name: canonical, expected: kind.expected,
                                      found: Self.describe(type: type))
        }
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw corrupt(canonical) }
        defer { H5Sclose(space) }
        let shape = try extent(of: space, name: canonical)
        if let expectedShape, expectedShape != shape {
            throw HDF5Error.wrongShape(path: path, name: canonical, expected: expectedShape, found: shape)
        }
        guard let count = Self.product(shape) else {
            throw HDF5Error.tooLarge(path: path, name: canonical, elements: Int.max)
        }
        let expands = try checkStorage(dataset, elements: count, name: canonical)
        try checkDecodedSize(elements: count, storedSize: H5Tget_size(type), memorySize: elementSize,
                             filtered: expands, name: canonical)
        try fill(count) { buffer in
            if count > 0 { try read(dataset, memoryType: kind.memoryType, into: buffer, name: canonical) }
        }
        return shape
    }

    /// Reads all of `dataset` into `buffer` with error detection on (libhdf5's default, set here
    /// explicitly: with it off, Fletcher-32 would be skipped). A checksum failure anywhere in the
    /// filter pipeline becomes `.checksumMismatch`; any other failure `.corrupt`.
    private func read(_ dataset: hid_t, memoryType: hid_t, into buffer: UnsafeMutableRawBufferPointer,
                      name: String) throws {
        let transfer = H5Pcreate(swh5_p_dataset_xfer())
        guard transfer >= 0 else { throw corrupt(name) }
        defer { H5Pclose(transfer) }
        guard H5Pset_edc_check(transfer, H5Z_ENABLE_EDC) >= 0, H5Pget_edc_check(transfer) == H5Z_ENABLE_EDC else {
            throw corrupt(name)
        }
        guard H5Dread(dataset, memoryType, H5S_ALL, H5S_ALL, transfer, buffer.baseAddress) < 0 else { return }
        let messages = HDF5Library.takeErrorMessages()
        if messages.contains(where: { $0.contains("Fletcher32") }) {
            throw HDF5Error.checksumMismatch(path: path, name: name)
        }
        throw corrupt(name, reason: HDF5Library.summary(messages))
    }

    // MARK: Inspecting

    /// Whether a dataset or group called `name` exists (reached through hard links only).
    func exists(_ name: String) -> Bool {
        HDF5Library.enter()
        guard file >= 0, let parts = Self.components(of: name) else { return false }
        return (try? hardLinkPathExists(parts, name: Self.join(parts))) ?? false
    }

    /// The shape of dataset `name` ([] for a scalar), without reading its data.
    func shape(of name: String) throws -> [Int] {
        let (dataset, canonical) = try openDataset(name)
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw corrupt(canonical) }
        defer { H5Sclose(space) }
        return try extent(of: space, name: canonical)
    }

    /// Full names (no leading "/") of all datasets below `group`, recursively, sorted. Soft and
    /// external links are not followed; a group reached twice (a hard-link cycle) is listed once.
    func datasetNames(under group: String = "/") throws -> [String] {
        let (object, canonical, kind) = try openObject(group)
        defer { H5Oclose(object) }
        guard kind == H5I_GROUP else {
            throw HDF5Error.wrongType(path: path, name: canonical, expected: "a group", found: Self.describe(kind))
        }
        var names: [String] = []
        var visited: Set<haddr_t> = []
        var info = H5O_info_t()
        guard H5Oget_info2(object, &info, UInt32(H5O_INFO_BASIC)) >= 0 else { throw corrupt(canonical) }
        visited.insert(info.addr)
        try collectDatasets(in: object, prefix: canonical == "/" ? "" : canonical + "/", depth: 0,
                            visited: &visited, into: &names)
        return names.sorted()
    }

    /// Deepest group nesting `datasetNames` descends into.
    private static let maximumDepth = 64

    private func collectDatasets(in group: hid_t, prefix: String, depth: Int, visited: inout Set<haddr_t>,
                                 into names: inout [String]) throws {
        guard depth < Self.maximumDepth else {
            throw corrupt(prefix, reason: "groups are nested deeper than \(Self.maximumDepth) levels")
        }
        for link in try hardLinks(in: group, groupName: prefix) {
            let full = prefix + link
            var info = H5O_info_t()
            guard H5Oget_info_by_name2(group, link, &info, UInt32(H5O_INFO_BASIC), hid_t(H5P_DEFAULT)) >= 0 else {
                throw corrupt(full)
            }
            if info.type == H5O_TYPE_DATASET {
                names.append(full)
            } else if info.type == H5O_TYPE_GROUP, visited.insert(info.addr).inserted {
                let child = H5Gopen2(group, link, hid_t(H5P_DEFAULT))
                guard child >= 0 else { throw corrupt(full) }
                defer { H5Gclose(child) }
                try collectDatasets(in: child, prefix: full + "/", depth: depth + 1, visited: &visited, into: &names)
            }
        }
    }

    /// Names of the hard links directly in `group`, in name order.
    private func hardLinks(in group: hid_t, groupName: String) throws -> [String] {
        final class Box { var names: [String] = []; var malformed: String? }
        let box = Box()
        let status = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, info, data in
            guard let name, let info, let data else { return -1 }
            let box = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
            let text = String(cString: name)
            guard info.pointee.type == H5L_TYPE_HARD else { return 0 }
            guard HDF5File.components(of: text)?.count == 1 else { box.malformed = text; return 1 }
            box.names.append(text)
            return 0
        }, Unmanaged.passUnretained(box).toOpaque())
        if let malformed = box.malformed {
            throw corrupt(groupName + malformed, reason: "malformed link name")
        }
        guard status >= 0 else { throw corrupt(groupName.isEmpty ? "/" : groupName) }
        return box.names
    }

    // MARK: Attributes

    /// Sets (or replaces) a scalar int64 attribute on the root ("/"), a group or a dataset.
    public func setAttribute(_ key: String, int: Int64, on object: String = "/") throws {
        var value = int
        try setAttribute(key, on: object, fileType: swh5_std_i64le()) { attribute in
            H5Awrite(attribute, swh5_native_int64(), &value)
        }
    }

    /// Sets (or replaces) a scalar float64 attribute.
    func setAttribute(_ key: String, double: Double, on object: String = "/") throws {
        var value = double
        try setAttribute(key, on: object, fileType: swh5_ieee_f64le()) { attribute in
            H5Awrite(attribute, swh5_native_double(), &value)
        }
    }

    /// Sets (or replaces) a scalar UTF-8 string attribute, stored fixed-length (no global heap);
    /// h5py reads it as `bytes`. Over 64 KiB it goes to the (checksummed) dense attribute storage.
    public func setAttribute(_ key: String, string: String, on object: String = "/") throws {
        let label = Self.attributeName(object, key)
        guard !string.utf8.contains(0) else {
            throw HDF5Error.cannotWrite(path: path, name: label, reason: "the string contains a NUL character")
        }
        try requireWritable(label)
        var bytes = Array(string.utf8)
        if bytes.isEmpty { bytes = [0] }
        let type = try fixedStringType(width: bytes.count, name: label)
        defer { H5Tclose(type) }
        try setAttribute(key, on: object, fileType: type) { attribute in
            H5Awrite(attribute, type, bytes)
        }
    }

    private func setAttribute(_ key: String, on object: String, fileType: hid_t,
                              write: (hid_t) -> herr_t) throws {
        let label = Self.attributeName(object, key)
        try requireWritable(label)
        guard !key.isEmpty, !key.utf8.contains(0) else {
            throw HDF5Error.cannotWrite(path: path, name: label, reason: "malformed attribute name")
        }
        let (target, _, _) = try openObject(object)
        defer { H5Oclose(target) }
        let exists = H5Aexists(target, key)
        guard exists >= 0, exists == 0 || H5Adelete(target, key) >= 0 else { throw writeFailure(label) }
        let space = H5Screate(H5S_SCALAR)
        guard space >= 0 else { throw writeFailure(label) }
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(target, key, fileType, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw writeFailure(label) }
        defer { H5Aclose(attribute) }
        guard write(attribute) >= 0 else { throw writeFailure(label) }
    }

    /// Reads a scalar integer attribute (int8…int64 or uint8…uint32).
    public func attributeInt(_ key: String, on object: String = "/") throws -> Int64 {
        var value: Int64 = 0
        try readAttribute(key, on: object, kind: .int64) { H5Aread($0, swh5_native_int64(), &value) }
        return value
    }

    /// Reads a scalar float attribute (float32 or float64).
    func attributeDouble(_ key: String, on object: String = "/") throws -> Double {
        var value: Double = 0
        try readAttribute(key, on: object, kind: .double) { H5Aread($0, swh5_native_double(), &value) }
        return value
    }

    /// Reads a scalar fixed-length string attribute (variable-length ones are refused, as for datasets).
    public func attributeString(_ key: String, on object: String = "/") throws -> String {
        let label = Self.attributeName(object, key)
        let (attribute, type) = try openAttribute(key, on: object)
        defer { H5Aclose(attribute); H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error.wrongType(path: path, name: label, expected: "a string", found: Self.describe(type: type))
        }
        let space = try scalarSpace(of: attribute, name: label)
        defer { H5Sclose(space) }
        let variable = H5Tis_variable_str(type)
        guard variable >= 0 else { throw corrupt(label) }
        if variable > 0 { throw variableStringRefusal(label) }
        let size = H5Tget_size(type)
        guard size > 0 else { throw corrupt(label, reason: "string size \(size) is invalid") }
        try checkDecodedSize(elements: 1, storedSize: size, memorySize: size, filtered: false, name: label)
        var bytes = [UInt8](repeating: 0, count: size)
        guard bytes.withUnsafeMutableBytes({ H5Aread(attribute, type, $0.baseAddress) }) >= 0 else {
            throw corrupt(label)
        }
        return Self.string(fixed: bytes[...], spacePadded: H5Tget_strpad(type) == H5T_STR_SPACEPAD)
    }

    /// Whether `object` exists and carries attribute `key`.
    public func hasAttribute(_ key: String, on object: String = "/") -> Bool {
        guard !key.isEmpty, !key.utf8.contains(0), let (target, _, _) = try? openObject(object) else { return false }
        defer { H5Oclose(target) }
        return H5Aexists(target, key) > 0
    }

    private func readAttribute(_ key: String, on object: String, kind: NumericKind,
                               read: (hid_t) -> herr_t) throws {
        let label = Self.attributeName(object, key)
        let (attribute, type) = try openAttribute(key, on: object)
        defer { H5Aclose(attribute); H5Tclose(type) }
        guard kind.accepts(type) else {
            throw HDF5Error.wrongType(path: path, name: label, expected: kind.expected, found: Self.describe(type: type))
        }
        let space = try scalarSpace(of: attribute, name: label)
        defer { H5Sclose(space) }
        guard read(attribute) >= 0 else { throw corrupt(label) }
    }

    /// Opens attribute `key` and its type (caller closes both).
    private func openAttribute(_ key: String, on object: String) throws -> (attribute: hid_t, type: hid_t) {
        let label = Self.attributeName(object, key)
        let (target, _, _) = try openObject(object)
        defer { H5Oclose(target) }
        guard !key.isEmpty, !key.utf8.contains(0) else { throw HDF5Error.missing(path: path, name: label) }
        let exists = H5Aexists(target, key)
        guard exists >= 0 else { throw corrupt(label) }
        guard exists > 0 else { throw HDF5Error.missing(path: path, name: label) }
        let attribute = H5Aopen(target, key, hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw corrupt(label) }
        let type = H5Aget_type(attribute)
        guard type >= 0 else {
            H5Aclose(attribute)
            throw corrupt(label)
        }
        return (attribute, type)
    }

    /// The attribute's dataspace, which must hold exactly one element (scalar or shape [1]).
    private func scalarSpace(of attribute: hid_t, name: String) throws -> hid_t {
        let space = H5Aget_space(attribute)
        guard space >= 0 else { throw corrupt(name) }
        do {
            let shape = try extent(of: space, name: name)
            guard Self.product(shape) == 1 else {
                throw HDF5Error.wrongShape(path: path, name: name, expected: [], found: shape)
            }
        } catch {
            H5Sclose(space)
            throw error
        }
        return space
    }

    private static func attributeName(_ object: String, _ key: String) -> String {
        let parts = components(of: object)
        return (parts.map(join) ?? object) + "@" + key
    }

    // MARK: Objects and hostile-file checks

    /// Opens dataset `name`, returning its id (caller closes) and canonical name.
    private func openDataset(_ name: String) throws -> (id: hid_t, name: String) {
        let (object, canonical, kind) = try openObject(name)
        guard kind == H5I_DATASET else {
            H5Oclose(object)
            throw HDF5Error.wrongType(path: path, name: canonical, expected: "a dataset", found: Self.describe(kind))
        }
        return (object, canonical)
    }

    /// Opens the group or dataset `name` ("/" is the root) through hard links only.
    private func openObject(_ name: String) throws -> (id: hid_t, name: String, kind: H5I_type_t) {
        HDF5Library.enter()
        guard file >= 0 else { throw HDF5Error.cannotOpen(path: path, reason: "the file is closed") }
        guard let parts = Self.components(of: name) else { throw HDF5Error.missing(path: path, name: name) }
        let canonical = Self.join(parts)
        guard try hardLinkPathExists(parts, name: canonical) else {
            throw HDF5Error.missing(path: path, name: canonical)
        }
        let object = H5Oopen(file, parts.isEmpty ? "/" : canonical, hid_t(H5P_DEFAULT))
        guard object >= 0 else { throw corrupt(canonical) }
        return (object, canonical, H5Iget_type(object))
    }

    /// Walks `parts` from the root one link at a time: false if a link is missing or a parent is
    /// not a group; throws `.wrongType` for a soft or external link, which are never followed
    /// (an external link would open another file).
    private func hardLinkPathExists(_ parts: [String], name: String) throws -> Bool {
        for depth in parts.indices {
            let prefix = Self.join(Array(parts[...depth]))
            let exists = H5Lexists(file, prefix, hid_t(H5P_DEFAULT))
            guard exists >= 0 else { throw corrupt(prefix) }
            guard exists > 0 else { return false }
            var link = H5L_info_t()
            guard H5Lget_info(file, prefix, &link, hid_t(H5P_DEFAULT)) >= 0 else { throw corrupt(prefix) }
            guard link.type == H5L_TYPE_HARD else {
                let found = link.type == H5L_TYPE_SOFT ? "a soft link"
                    : link.type == H5L_TYPE_EXTERNAL ? "an external link" : "a user-defined link"
                throw HDF5Error.wrongType(path: path, name: prefix, expected: "a hard link", found: found)
            }
            if depth < parts.count - 1 {
                var info = H5O_info_t()
                guard H5Oget_info_by_name2(file, prefix, &info, UInt32(H5O_INFO_BASIC), hid_t(H5P_DEFAULT)) >= 0 else {
                    throw corrupt(prefix)
                }
                guard info.type == H5O_TYPE_GROUP else { return false }
            }
        }
        return true
    }

    /// The dataspace's shape: [] for a scalar; rank ≤ 8 and every size representable as `Int`.
    private func extent(of space: hid_t, name: String) throws -> [Int] {
        let kind = H5Sget_simple_extent_type(space)
        if kind == H5S_SCALAR { return [] }
        guard kind == H5S_SIMPLE else {
            throw corrupt(name, reason: kind == H5S_NULL ? "it has a null dataspace (no data)" : "invalid dataspace")
        }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw corrupt(name) }
        guard rank <= Self.maximumRank else {
            throw corrupt(name, reason: "rank \(rank) exceeds the supported maximum of \(Self.maximumRank)")
        }
        var dims = [hsize_t](repeating: 0, count: Self.maximumRank)
        guard H5Sget_simple_extent_dims(space, &dims, nil) == rank else { throw corrupt(name) }
        guard dims.allSatisfy({ $0 <= UInt64(Int.max) }) else {
            throw HDF5Error.tooLarge(path: path, name: name, elements: Int.max)
        }
        return dims[..<Int(rank)].map { Int($0) }
    }

    /// Refuses raw data stored outside this file (external files, virtual datasets) and, under
    /// `requiresDataChecksums`, data of `elements` > 0 without a checksum (see `isChecksummed`),
    /// recording it in `unchecksummedDatasets` otherwise. Returns whether the data passes through a
    /// filter that can expand its stored bytes (anything but Fletcher-32 and shuffle).
    private func checkStorage(_ dataset: hid_t, elements: Int, name: String) throws -> Bool {
        let creation = H5Dget_create_plist(dataset)
        guard creation >= 0 else { throw corrupt(name) }
        defer { H5Pclose(creation) }
        let layout = H5Pget_layout(creation)
        guard layout == H5D_COMPACT || layout == H5D_CONTIGUOUS || layout == H5D_CHUNKED else {
            throw corrupt(name, reason: layout == H5D_VIRTUAL
                ? "virtual datasets (data in other datasets or files) are not supported" : "unknown storage layout")
        }
        let external = H5Pget_external_count(creation)
        guard external == 0 else {
            throw corrupt(name, reason: external > 0
                ? "its data lives in external files, which are not supported" : HDF5Library.takeError())
        }
        let count = H5Pget_nfilters(creation)
        guard count >= 0 else { throw corrupt(name) }
        var filters: [H5Z_filter_t] = []
        for index in 0..<UInt32(count) {
            var flags: UInt32 = 0
            var values = 0
            var config: UInt32 = 0
            let filter = H5Pget_filter2(creation, index, &flags, &values, nil, 0, nil, &config)
            guard filter >= 0 else { throw corrupt(name) }
            filters.append(filter)
        }
        if elements > 0 && !Self.isChecksummed(layout: layout, filters: filters) {
            guard !requiresDataChecksums else { throw HDF5Error.unchecksummed(path: path, name: name) }
            unchecksummedDatasets.append(name)
        }
        return filters.contains { $0 != H5Z_FILTER_FLETCHER32 && $0 != H5Z_FILTER_SHUFFLE }
    }

    /// Whether data stored with `layout` and `filters` is guarded by a checksum that libhdf5
    /// verifies on reading: Fletcher-32 among the filters (chunked data), or compact data, which
    /// lives in the object header, checksummed in the format `open` requires.
    static func isChecksummed(layout: H5D_layout_t, filters: [H5Z_filter_t]) -> Bool {
        layout == H5D_COMPACT || filters.contains(H5Z_FILTER_FLETCHER32)
    }

    /// Largest number of bytes a dataset may decode to in this file, checked before allocating.
    ///
    /// Unfiltered data is stored verbatim, so it cannot exceed the file size; so is data whose only
    /// filters are Fletcher-32 (4 bytes added per chunk) and shuffle. Other filters may expand it:
    /// deflate's maximum expansion is about 1032:1, so 1100 × the file size bounds it. At least
    /// 1 MiB is always allowed, for small datasets that exist only as a fill value. A file opened
    /// for writing is our own and is not bounded.
    func maximumDecodedBytes(filtered: Bool) -> Int {
        guard !writable, file >= 0 else { return Int.max }
        var size: hsize_t = 0
        guard H5Fget_filesize(file, &size) >= 0 else { return 1 << 20 }
        let fileSize = Int(clamping: size)
        let (expanded, overflow) = fileSize.multipliedReportingOverflow(by: filtered ? 1100 : 1)
        return max(overflow ? Int.max : expanded, 1 << 20)
    }

    /// Throws `.tooLarge` unless `elements` of `storedSize` bytes fit `maximumDecodedBytes` and the
    /// in-memory copy (`memorySize` bytes each, at most 8× the stored one) does not overflow `Int`.
    private func checkDecodedSize(elements: Int, storedSize: Int, memorySize: Int, filtered: Bool,
                                  name: String) throws {
        let (stored, storedOverflow) = elements.multipliedReportingOverflow(by: max(storedSize, 1))
        let (_, memoryOverflow) = elements.multipliedReportingOverflow(by: max(memorySize, 1))
        guard !storedOverflow, !memoryOverflow, stored <= maximumDecodedBytes(filtered: filtered) else {
            throw HDF5Error.tooLarge(path: path, name: name, elements: elements)
        }
    }

    /// Variable-length strings live in the global heap, which has no checksum (damage would change
    /// them silently) and which libhdf5 1.10.8 reads without bounds checks: they are not read.
    private func variableStringRefusal(_ name: String) -> HDF5Error {
        .wrongType(path: path, name: name,
                   expected: "a fixed-length string (variable-length strings live in HDF5's unchecksummed global heap; "
                       + "h5py: store them with dtype h5py.string_dtype(length=N))",
                   found: "a variable-length string")
    }

    private func corrupt(_ name: String, reason: String? = nil) -> HDF5Error {
        .corrupt(path: path, name: name, reason: reason ?? HDF5Library.takeError())
    }

    // MARK: Helpers

    /// A fixed-length, NUL-padded UTF-8 string type of `width` bytes (caller closes).
    private func fixedStringType(width: Int, name: String) throws -> hid_t {
        let type = H5Tcopy(swh5_c_s1())
        guard type >= 0 else { throw writeFailure(name) }
        guard H5Tset_size(type, width) >= 0, H5Tset_strpad(type, H5T_STR_NULLPAD) >= 0,
              H5Tset_cset(type, H5T_CSET_UTF8) >= 0
        else {
            H5Tclose(type)
            throw writeFailure(name)
        }
        return type
    }

    /// Splits a slash path into link names; nil for malformed names (empty, ".", ".." or NUL in a
    /// component). "/" and "" give [] (the root); one leading and one trailing "/" are ignored.
    static func components(of name: String) -> [String]? {
        var text = Substring(name)
        if text.hasPrefix("/") { text = text.dropFirst() }
        if text.hasSuffix("/") { text = text.dropLast() }
        if text.isEmpty { return [] }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.utf8.contains(0) }) else { return nil }
        return parts.map(String.init)
    }

    private static func join(_ parts: [String]) -> String { parts.isEmpty ? "/" : parts.joined(separator: "/") }

    /// `name` without leading/trailing "/" when well-formed, else unchanged (for error messages).
    private static func canonical(_ name: String) -> String { components(of: name).map(join) ?? name }

    /// Product of `shape`, nil on overflow.
    static func product(_ shape: [Int]) -> Int? {
        var result = 1
        for size in shape {
            let (next, overflow) = result.multipliedReportingOverflow(by: size)
            if overflow { return nil }
            result = next
        }
        return result
    }

    private static func string(fixed bytes: ArraySlice<UInt8>, spacePadded: Bool) -> String {
        var end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        if spacePadded {
            while end > bytes.startIndex && bytes[end - 1] == 0x20 { end -= 1 }
        }
        return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
    }

    private static func describe(_ kind: H5I_type_t) -> String {
        switch kind {
        case H5I_GROUP: return "a group"
        case H5I_DATASET: return "a dataset"
        case H5I_DATATYPE: return "a named datatype"
        default: return "an unknown object"
        }
    }

    /// A short name for a datatype: "float32", "int16", "variable-length string", "compound"...
    static func describe(type: hid_t) -> String {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            return NumericKind.float.accepts(type) ? "float\(size * 8)" : "a non-standard \(size)-byte float"
        case H5T_INTEGER:
            guard H5Tget_precision(type) == size * 8, H5Tget_offset(type) == 0 else {
                return "a non-standard \(size)-byte integer"
            }
            return (H5Tget_sign(type) == H5T_SGN_2 ? "int" : "uint") + "\(size * 8)"
        case H5T_STRING:
            return H5Tis_variable_str(type) > 0 ? "a variable-length string" : "a \(size)-byte fixed-length string"
        case H5T_COMPOUND: return "a compound type"
        case H5T_ENUM: return "an enum"
        case H5T_ARRAY: return "an array type"
        case H5T_VLEN: return "a variable-length sequence"
        case H5T_OPAQUE: return "an opaque type"
        case H5T_REFERENCE: return "a reference"
        case H5T_BITFIELD: return "a bitfield"
        case H5T_TIME: return "a time type"
        default: return "an unknown type"
        }
    }
}

// MARK: - Library state

/// Process-wide libhdf5 housekeeping.
enum HDF5Library {
    /// Switches off libhdf5's automatic error printing for the calling thread. Debian's libhdf5 is
    /// the thread-safe build, where the error stack and its printer setting are per thread, so one
    /// call at start-up would not cover other threads; every entry point calls this instead (cheap
    /// and idempotent). Failures are read with `takeError()` and turned into `HDF5Error`.
    static func enter() {
        _ = H5Eset_auto2(swh5_e_default(), nil, nil)
    }

    /// The calling thread's current HDF5 error stack as one line: the outermost message, plus the
    /// innermost (most specific) one when they differ. Clears the stack.
    static func takeError() -> String { summary(takeErrorMessages()) }

    /// The outermost message of `messages`, plus the innermost when they differ, at most 400 characters.
    static func summary(_ messages: [String]) -> String {
        guard let first = messages.first, let last = messages.last else { return "unknown HDF5 error" }
        let text = first == last ? first : "\(first): \(last)"
        return String(text.prefix(400))
    }

    /// Every message of the calling thread's HDF5 error stack, outermost first. Clears the stack.
    static func takeErrorMessages() -> [String] {
        final class Box { var messages: [String] = [] }
        let box = Box()
        _ = H5Ewalk2(swh5_e_default(), H5E_WALK_DOWNWARD, { _, error, data in
            guard let error, let data, let text = error.pointee.desc else { return 0 }
            Unmanaged<Box>.fromOpaque(data).takeUnretainedValue().messages.append(String(cString: text))
            return 0
        }, Unmanaged.passUnretained(box).toOpaque())
        _ = H5Eclear2(swh5_e_default())
        return box.messages
    }
}
