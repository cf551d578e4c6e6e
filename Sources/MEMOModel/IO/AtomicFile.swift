import Foundation

/// A failure of `writeAtomically` itself (syncing or renaming); errors thrown by the body pass
/// through unchanged.
public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The destination path.
    public let path: String
    /// What failed, with the system's reason.
    public let reason: String

    public var description: String { "\(path): cannot replace atomically: \(reason)" }
}

/// Writes a file atomically, so a crash or error never leaves a half-written `path`.
///
/// `body` writes the whole file to `temporaryPath`, a new name in the same folder that starts with
/// "." and ends with ".tmp" (so no reader mistakes it for a result); it must close the file before
/// returning. Then the temporary file is flushed to disk (fsync), renamed over `path`, and the
/// folder is flushed so the rename itself is durable.
///
/// If `body` or the sync/rename throws, the temporary file is removed and the old `path` is
/// untouched. Only a failure to sync the folder *after* the rename (rare) throws with the new file
/// already in place. Errors from `body` name the temporary path.
public func writeAtomically(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
    let name = (path as NSString).lastPathComponent
    guard !name.isEmpty, !path.hasSuffix("/"), name != ".", name != ".." else {
        throw AtomicFileError(path: path, reason: "the path does not name a file")
    }
    let folder = (path as NSString).deletingLastPathComponent
    let folderPath = folder.isEmpty ? "." : folder
    // A system-random suffix, not MEMORandom: the name must differ between runs with the same seed.
    let suffix = String(UInt64.random(in: 0 ... .max), radix: 36)
    let temporaryPath = (folder.isEmpty ? "" : folder + "/") + temporaryName(for: name, suffix: suffix)

    do {
        try body(temporaryPath)
        try synchronize(temporaryPath, for: path, what: "the temporary file")
        guard rename(temporaryPath, path) == 0 else {
            throw AtomicFileError(path: path, reason: "cannot rename \(temporaryPath): \(String(cString: strerror(errno)))")
        }
    } catch {
        unlink(temporaryPath)
        throw error
    }
    try synchronize(folderPath, for: path, what: "the folder")
}

/// The temporary file name `writeAtomically` uses for `name`: ".<name>.<suffix>.tmp".
func temporaryName(for name: String, suffix: String) -> String { ".\(name).\(suffix).tmp" }

/// The file a temporary name of `writeAtomically` was going to replace (its `name`), or nil if
/// `temporary` is not such a name.
public func atomicWriteTarget(ofTemporary temporary: String) -> String? {
    guard temporary.hasPrefix("."), temporary.hasSuffix(".tmp") else { return nil }
    let inner = temporary.dropFirst().dropLast(4)  // "<name>.<suffix>"
    guard let dot = inner.lastIndex(of: "."), dot != inner.startIndex else { return nil }
    let suffix = inner[inner.index(after: dot)...]
    guard !suffix.isEmpty, suffix.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLowercase) }) else { return nil }
    return String(inner[..<dot])
}

/// fsync on a file or folder opened read-only (Linux allows both).
private func synchronize(_ target: String, for path: String, what: String) throws {
    let descriptor = open(target, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw AtomicFileError(path: path, reason: "cannot open \(what) \(target): \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
        throw AtomicFileError(path: path, reason: "cannot sync \(what) \(target): \(String(cString: strerror(errno)))")
    }
}
