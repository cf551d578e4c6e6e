import CHDF5
import Foundation
@testable import MEMOModel

/// Test-only tools that make broken checkpoints on purpose: a real (untrained, so cheap) TinyRun
/// checkpoint pair, a rewriter that copies a checkpoint item by item through `HDF5File` while an
/// edit changes, retypes or drops items, and raw libhdf5 edits the wrapper cannot express
/// (a dataset declaring more elements than any file holds).
enum CheckpointSurgery {
    /// `stage-00.h5` and `stage-01.h5` of a TinyRun trained for zero epochs (the network is as
    /// initialised; memory, class means and evaluation are real), written once per test process.
    static let untrainedRun: Result<String, Error> = Result {
        var config = TinyRun.config()
        config.initEpoch = 0
        config.epochs = 0
        let dir = TinyRun.temporaryDirectory("surgery-run")
        try TinyRun.run(into: dir, config: config)
        return dir
    }

    /// A root attribute's value.
    enum Attribute: Equatable {
        case int(Int64), double(Double), string(String)
    }

    /// A dataset's values and shape.
    enum Dataset: Equatable {
        case floats([Float], [Int]), int64s([Int64], [Int]), uint8s([UInt8], [Int]), strings([String])
        /// Datasets under a group that stands where a dataset should (e.g. "class_means/x").
        case group([String: Dataset])
    }

    /// Everything a checkpoint file holds, by name.
    struct Contents {
        var attributes: [String: Attribute]
        var datasets: [String: Dataset]
    }

    static let rootAttributes = ["format", "format_version", "stage", "backbone", "dataset", "config_json",
                                 "evaluation_json", "align_gamma"]

    /// Reads a checkpoint's root attributes and datasets with the dataset types Checkpoint.write uses.
    static func contents(of path: String) throws -> Contents {
        let f = try HDF5File.open(path)
        defer { f.close() }
        var attributes: [String: Attribute] = [:]
        for key in rootAttributes where f.hasAttribute(key) {
            if key == "align_gamma" { attributes[key] = .double(try f.attributeDouble(key)) } else if let s = try? f.attributeString(key) { attributes[key] = .string(s) } else {
                attributes[key] = .int(try f.attributeInt(key))
            }
        }
        var datasets: [String: Dataset] = [:]
        for name in try f.datasetNames() {
            if name == "dataset/class_names" {
                datasets[name] = .strings(try f.readStrings(name))
            } else if name == "memory/images" || name == "evaluation/misclassified_images" {
                let (v, s) = try f.readUInt8s(name)
                datasets[name] = .uint8s(v, s)
            } else if name.hasPrefix("model/") || name == "class_means" || name.hasPrefix("dataset/normalization")
                        || name.hasPrefix("training/epoch_") {
                let (v, s) = try f.readFloats(name)
                datasets[name] = .floats(v, s)
            } else {
                let (v, s) = try f.readInt64s(name)
                datasets[name] = .int64s(v, s)
            }
        }
        return Contents(attributes: attributes, datasets: datasets)
    }

    /// Writes `contents` as a new HDF5 file at `path` (not atomically; tests only); `version1Layout`
    /// lays the datasets out as format version 1 did (see `HDF5File.writesVersion1Layout`).
    static func write(_ contents: Contents, to path: String, version1Layout: Bool = false) throws {
        let f = try HDF5File.create(path)
        defer { f.close() }
        f.writesVersion1Layout = version1Layout
        for (key, value) in contents.attributes.sorted(by: { $0.key < $1.key }) {
            switch value {
            case let .int(v): try f.setAttribute(key, int: v)
            case let .double(v): try f.setAttribute(key, double: v)
            case let .string(v): try f.setAttribute(key, string: v)
            }
        }
        func put(_ name: String, _ d: Dataset) throws {
            switch d {
            case let .floats(v, s): try f.write(name, floats: v, shape: s)
            case let .int64s(v, s): try f.write(name, int64s: v, shape: s)
            case let .uint8s(v, s): try f.write(name, uint8s: v, shape: s, compress: true)
            case let .strings(v): try f.write(name, strings: v)
            case let .group(children):
                try f.createGroup(name)
                for (child, value) in children.sorted(by: { $0.key < $1.key }) { try put(name + "/" + child, value) }
            }
        }
        for (name, d) in contents.datasets.sorted(by: { $0.key < $1.key }) { try put(name, d) }
    }

    /// Copies the checkpoint at `source` to `target` with `edit` applied to its contents.
    static func rewrite(_ source: String, to target: String, version1Layout: Bool = false,
                        _ edit: (inout Contents) throws -> Void) throws {
        var c = try contents(of: source)
        try edit(&c)
        try write(c, to: target, version1Layout: version1Layout)
    }

    /// Replaces dataset `name` of the file at `path` by a chunked, checksummed dataset (float32 or int64) that declares
    /// `dims` elements but stores none (libhdf5 allocates chunks only when written), through raw
    /// libhdf5 calls: `HDF5File` only writes data it is given.
    static func declareHugeDataset(_ name: String, dims: [UInt64], float: Bool = false, in path: String) throws {
        struct Failure: Error, CustomStringConvertible { let description: String }
        let access = try HDF5File.fileAccessList(path: path, forWriting: true)
        defer { H5Pclose(access) }
        let file = H5Fopen(path, swh5_acc_rdwr(), access)
        guard file >= 0 else { throw Failure(description: "cannot open \(path)") }
        defer { H5Fclose(file) }
        if H5Lexists(file, name, swh5_p_default()) > 0 {
            guard H5Ldelete(file, name, swh5_p_default()) >= 0 else { throw Failure(description: "cannot delete \(name)") }
        }
        var extent = dims.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(extent.count), &extent, nil)
        guard space >= 0 else { throw Failure(description: "cannot make a dataspace of \(dims)") }
        defer { H5Sclose(space) }
        let creation = H5Pcreate(swh5_p_dataset_create())
        defer { H5Pclose(creation) }
        var chunk = dims.map { _ in hsize_t(1024) }
        // With the checksum filter a version-2 file has, so that the declared size is what is refused.
        guard H5Pset_chunk(creation, Int32(chunk.count), &chunk) >= 0, H5Pset_fletcher32(creation) >= 0 else {
            throw Failure(description: "chunking")
        }
        let dataset = H5Dcreate2(file, name, float ? swh5_ieee_f32le() : swh5_std_i64le(), space, swh5_p_default(), creation, swh5_p_default())
        guard dataset >= 0 else { throw Failure(description: "cannot create \(name)") }
        H5Dclose(dataset)
    }

    /// Byte ranges of the file at `path` that hold datasets' raw data (contiguous storage or
    /// chunks); the rest is HDF5 metadata (superblock, object headers, chunk indexes, heaps).
    static func rawDataRanges(in path: String) throws -> [Range<Int>] {
        let f = try HDF5File.open(path)
        let names = try f.datasetNames()
        f.close()
        return try names.flatMap { try storedRanges(of: $0, in: path) }.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// Byte ranges in the file at `path` where dataset `name` stores its data: one for contiguous
    /// storage (H5Dget_offset), one per chunk for chunked storage (H5Dget_chunk_info), none for
    /// compact or unallocated data.
    static func storedRanges(of name: String, in path: String) throws -> [Range<Int>] {
        struct Failure: Error, CustomStringConvertible { let description: String }
        // The library's reader access list: other tests read the same shared checkpoint
        // concurrently, and libhdf5 refuses a second open with another file-locking flag.
        let access = try HDF5File.fileAccessList(path: path, forWriting: false)
        defer { H5Pclose(access) }
        let file = H5Fopen(path, swh5_acc_rdonly(), access)
        guard file >= 0 else { throw Failure(description: "cannot open \(path)") }
        defer { H5Fclose(file) }
        let d = H5Dopen2(file, name, swh5_p_default())
        guard d >= 0 else { throw Failure(description: "cannot open \(name) in \(path)") }
        defer { H5Dclose(d) }
        let offset = H5Dget_offset(d)
        if offset != haddr_t.max {
            let size = Int(H5Dget_storage_size(d))
            return size > 0 ? [Int(offset)..<(Int(offset) + size)] : []
        }
        let space = H5Dget_space(d)
        defer { H5Sclose(space) }
        var chunks: hsize_t = 0
        guard H5Dget_num_chunks(d, space, &chunks) >= 0 else { return [] }  // not chunked: compact
        return try (0..<chunks).map { index in
            var mask: UInt32 = 0
            var address: haddr_t = 0
            var size: hsize_t = 0
            guard H5Dget_chunk_info(d, space, index, nil, &mask, &address, &size) >= 0 else {
                throw Failure(description: "cannot locate chunk \(index) of \(name)")
            }
            return Int(address)..<(Int(address) + Int(size))
        }
    }

    /// The fields in which two checkpoints differ (tensors and floats bitwise); empty when they
    /// hold the same data.
    static func differences(_ a: Checkpoint, _ b: Checkpoint) -> [String] {
        func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }
        let tensors = Set(a.tensors.keys).union(b.tensors.keys).sorted().filter { k in
            a.tensors[k]?.shape != b.tensors[k]?.shape || a.tensors[k].map { bits($0.data) } != b.tensors[k].map { bits($0.data) }
        }
        let same: [(String, Bool)] = [
            ("header", a.config == b.config && a.stage == b.stage && a.taskSizes == b.taskSizes && a.backbone == b.backbone
                && a.datasetName == b.datasetName),
            ("classes", a.classNames == b.classNames && a.classOrder == b.classOrder),
            ("part states", a.generalizedState == b.generalizedState && a.specializedStates == b.specializedStates),
            ("memory", a.memory == b.memory),
            ("exemplar images", a.exemplarImages == b.exemplarImages && a.imageShape == b.imageShape),
            ("class means", a.classMeans.map(bits) == b.classMeans.map(bits)),
            ("evaluation", a.evaluation == b.evaluation),
            ("test set", a.testIndices == b.testIndices && a.testLabels == b.testLabels),
            ("CNN top-k", a.cnnTopK == b.cnnTopK), ("NME top-k", a.nmeTopK == b.nmeTopK),
            ("rng state", a.rngState == b.rngState),
            ("normalisation", bits(a.normalizationMean) == bits(b.normalizationMean)
                && bits(a.normalizationStd) == bits(b.normalizationStd)),
        ]
        return tensors.map { "tensor " + $0 } + same.filter { !$0.1 }.map(\.0)
    }

    /// Flips bits of the stored bytes of dataset `name` in the file at `path` (in place): `mask` is
    /// XOR'ed into byte `byte` of each element of row `row` (elements of `elementSize` bytes, rows
    /// of `rowLength` elements) of its first stored range. For uncompressed data, as a failing
    /// disk or a stray write would damage it; returns the file offsets changed.
    @discardableResult
    static func flipBits(of name: String, in path: String, row: Int, rowLength: Int, elementSize: Int = 4,
                         byte: Int = 2, mask: UInt8 = 0x01) throws -> [Int] {
        guard let range = try storedRanges(of: name, in: path).first else { return [] }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let offsets = (0..<rowLength).map { range.lowerBound + (row * rowLength + $0) * elementSize + byte }
        for o in offsets where range.contains(o) { bytes[o] ^= mask }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return offsets
    }

    /// h5repack, where installed.
    static let h5repack: String? = ["/usr/bin/h5repack", "/usr/local/bin/h5repack"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs `command` with /bin/sh and returns its exit status and standard error.
    @discardableResult
    static func shell(_ command: String) throws -> (status: Int32, stderr: String) {
        try run("/bin/sh", ["-c", command])
    }

    /// Runs a program and returns its exit status and standard error (standard output is dropped).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
