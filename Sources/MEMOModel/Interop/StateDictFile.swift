import Foundation

/// Reads a PyTorch state_dict from a file, choosing the reader by the file's first bytes:
/// a torch.save zip file (`PK\u{3}\u{4}`; `PyTorchFile`, which also finds a state_dict nested under
/// `model_state_dict` and the like), else safetensors (an 8-byte header length, then `{`); a file
/// that is neither but named `.pt` / `.pth` goes to `PyTorchFile`, which names what it is.
public enum StateDictFile {
    /// The two formats read.
    public enum Format: String, Sendable { case safetensors, torchSave = "torch.save" }

    public static func read(path: String) throws -> StateDict { try readWithFormat(path: path).stateDict }

    /// The state_dict and the format it was read from.
    public static func readWithFormat(path: String) throws -> (stateDict: StateDict, format: Format) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
            throw StateDictFileError(path: path, problem: "cannot read: \(reason)")
        }
        let head = [UInt8]((try? handle.read(upToCount: 9)) ?? Data())
        try? handle.close()
        let zip = head.starts(with: [0x50, 0x4B, 0x03, 0x04])
        let safetensors = head.count == 9 && head[8] == UInt8(ascii: "{")
        if zip || (!safetensors && isTorchSaveName(path)) { return (try PyTorchFile.readStateDict(path: path), .torchSave) }
        return (try SafeTensors.read(path: path), .safetensors)
    }

    static func isTorchSaveName(_ path: String) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        return ext == "pt" || ext == "pth"
    }
}

/// A state_dict file that no reader takes, or whose tensors cannot become a memo-swift stage; one
/// line naming the file and the problem.
public struct StateDictFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { HDF5Error.oneLine("\(path): \(problem)") }
}
