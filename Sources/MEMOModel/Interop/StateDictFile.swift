import Foundation

/// Reads a PyTorch state_dict from a file, choosing the reader by the file's first bytes (its
/// extension only names the format in messages): safetensors (an 8-byte header length, then
/// `{`), or a torch.save zip file (`PK\u{3}\u{4}`, `.pt` / `.pth`).
public enum StateDictFile {
    public static func read(path: String) throws -> StateDict {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
            throw StateDictFileError(path: path, problem: "cannot read: \(reason)")
        }
        let head = [UInt8]((try? handle.read(upToCount: 9)) ?? Data())
        try? handle.close()
        let zip = head.starts(with: [0x50, 0x4B, 0x03, 0x04])
        let safetensors = head.count == 9 && head[8] == UInt8(ascii: "{")
        if zip || (!safetensors && isTorchSaveName(path)) { return try readTorchSave(path: path) }
        return try SafeTensors.read(path: path)
    }

    static func isTorchSaveName(_ path: String) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        return ext == "pt" || ext == "pth"
    }

    /// torch.save zip files: the restricted unpickler lives in `PyTorchFile`.
    static func readTorchSave(path: String) throws -> StateDict {
        throw StateDictFileError(path: path, problem: "a torch.save file; reading .pt/.pth needs the torch.save reader "
            + "(PyTorchFile), which this build does not have; convert it with: python3 scripts/memo_torch.py convert \(path) OUT.safetensors")
    }
}

/// A state_dict file that no reader takes; one line naming the file.
public struct StateDictFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { HDF5Error.oneLine("\(path): \(problem)") }
}
