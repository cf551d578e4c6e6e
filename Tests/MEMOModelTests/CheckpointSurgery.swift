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
                                 "evaluation_json"]

    /// Reads a checkpoint's root attributes and datasets with the dataset types Checkpoint.write uses.
    static func contents(of path: String) throws -> Contents {
        let f = try HDF5File.open(path)
        defer { f.close() }
        var attributes: [String: Attribute] = [:]
        for key in rootAttributes where f.hasAttribute(key) {
            if let s = try? f.attributeString(key) { attributes[key] = .string(s) } else {
                attributes[key] = .int(try f.attributeInt(key))
            }
        }
        var datasets: [String: Dataset] = [:]
        for name in try f.datasetNames() {
            if name == "dataset/class_names" {
                datasets[name] = .strings(try f.readStrings(name))
            } else if name == "memory/images" {
                let (v, s) = try f.readUInt8s(name)
                datasets[name] = .uint8s(v, s)
            } else if name.hasPrefix("model/") || name == "class_means" || name.hasPrefix("dataset/normalization") {
                let (v, s) = try f.readFloats(name)
                datasets[name] = .floats(v, s)
            } else {
                let (v, s) = try f.readInt64s(name)
                datasets[name] = .int64s(v, s)
            }
        }
        return Contents(attributes: attributes, datasets: datasets)
    }

    /// Writes `contents` as a new HDF5 file at `path` (not atomically; tests only).
    static func write(_ contents: Contents, to path: String) throws {
        let f = try HDF5File.create(path)
        defer { f.close() }
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
    static func rewrite(_ source: String, to target: String, _ edit: (inout Contents) throws -> Void) throws {
        var c = try contents(of: source)
        try edit(&c)
        try write(c, to: target)
    }

    /// Replaces dataset `name` of the file at `path` by a chunked dataset (float32 or int64) that declares
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
        guard H5Pset_chunk(creation, Int32(chunk.count), &chunk) >= 0 else { throw Failure(description: "chunking") }
        let dataset = H5Dcreate2(file, name, float ? swh5_ieee_f32le() : swh5_std_i64le(), space, swh5_p_default(), creation, swh5_p_default())
        guard dataset >= 0 else { throw Failure(description: "cannot create \(name)") }
        H5Dclose(dataset)
    }

    /// Byte ranges of the file at `path` that hold datasets' raw data (contiguous storage); the
    /// rest is HDF5 metadata (superblock, object headers, B-trees, heaps) and compressed chunks.
    static func rawDataRanges(in path: String) throws -> [Range<Int>] {
        let f = try HDF5File.open(path)
        let names = try f.datasetNames()
        f.close()
        // The library's reader access list: other tests read the same shared checkpoint
        // concurrently, and libhdf5 refuses a second open with another file-locking flag.
        let access = try HDF5File.fileAccessList(path: path, forWriting: false)
        defer { H5Pclose(access) }
        let file = H5Fopen(path, swh5_acc_rdonly(), access)
        guard file >= 0 else { return [] }
        defer { H5Fclose(file) }
        var ranges: [Range<Int>] = []
        for name in names {
            let d = H5Dopen2(file, name, swh5_p_default())
            guard d >= 0 else { continue }
            let offset = H5Dget_offset(d)
            let size = H5Dget_storage_size(d)
            H5Dclose(d)
            if offset != haddr_t.max, size > 0 { ranges.append(Int(offset)..<(Int(offset) + Int(size))) }
        }
        return ranges.sorted { $0.lowerBound < $1.lowerBound }
    }
}
