import Foundation

/// The tools built next to the test bundle (`swift build` / `swift test` build them), run as a
/// user runs them: arguments in, exit status and both streams out.
enum Executables {
    static func path(_ tool: String) -> String? {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent(tool)
        return FileManager.default.isExecutableFile(atPath: url.path) ? url.path : nil
    }

    /// `environment`: variables set on top of this process's (e.g. `DNNL_MAX_CPU_ISA`).
    static func execute(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path(tool)!)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}
