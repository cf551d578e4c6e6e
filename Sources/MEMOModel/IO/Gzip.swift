import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// Why a gzip (or plain) file could not be read; each case names the file.
public enum GzipError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case corrupt(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .corrupt(path, reason): return "\(path): cannot decompress: \(reason)"
        }
    }
}

/// Reads a whole gzip-compressed file (for instance Fashion-MNIST's `*-idx3-ubyte.gz`) into memory.
///
/// Uses zlib's `gzopen`/`gzread`, which also read an uncompressed file unchanged, so the same
/// call serves `train-images-idx3-ubyte` and `train-images-idx3-ubyte.gz`. Concatenated gzip
/// members are read as one stream. A truncated or corrupt file is an error, not a short result.
/// - Parameter path: the file to read.
/// - Returns: the decompressed bytes.
public func readGzipFile(_ path: String) throws -> [UInt8] {
    errno = 0
    guard let file = gzopen(path, "rb") else {
        let reason = errno != 0 ? String(cString: strerror(errno)) : "gzopen failed"
        throw GzipError.cannotOpen(path: path, reason: reason)
    }
    defer { gzclose(file) }
    _ = gzbuffer(file, 1 << 20)
    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if n < 0 {
            var code: Int32 = 0
            let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
            throw GzipError.corrupt(path: path, reason: message)
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<Int(n)])
    }
    // gzread returns 0 at a premature end of a gzip stream; gzerror then reports it.
    var code: Int32 = 0
    let message = gzerror(file, &code)
    if code != Z_OK {
        throw GzipError.corrupt(path: path, reason: message.map { String(cString: $0) } ?? "error \(code)")
    }
    return out
}
