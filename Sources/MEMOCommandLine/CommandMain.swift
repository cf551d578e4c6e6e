import ArgumentParser
import Foundation
import MEMOModel

/// The one `main()` of memo-train and memo-infer: ArgumentParser's parsing, then the command,
/// with one convention for what a user sees and the exit code.
///
/// - 0: success (also `--help`).
/// - 1: bad input: a file that does not load, data that does not fit, a failed image. One line
///   `<tool>: error: ...` on stderr naming the file and the problem.
/// - 2: usage: an unknown flag, a missing argument, a value outside its range (`ValidationError`,
///   `ConfigError`), with ArgumentParser's usage text or the one-line rule.
public enum CommandMain {
    public static func run(_ command: ParsableCommand.Type, toolName: String) -> Never {
        var parsed: ParsableCommand
        do {
            parsed = try command.parseAsRoot()
        } catch {
            exitForParseError(command, error)
        }
        do {
            try parsed.run()
            exit(0)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch let rule as ConfigError {
            // A flag's value outside its range, found once the data is known: as a usage error.
            printError("Error: \(rule)")
            exit(2)
        } catch {
            // Help requests (`classify --help`) arrive here too, as errors that exit with 0.
            let code = command.exitCode(for: error)
            if code == .success { command.exit(withError: error) }
            if code == .validationFailure { exitForParseError(command, error) }
            printError("\(toolName): error: \(error)")
            exit(1)
        }
    }

    static func exitForParseError(_ command: ParsableCommand.Type, _ error: Error) -> Never {
        if let rule = error as? ConfigError {
            printError("Error: \(rule)")
            exit(2)
        }
        let code = command.exitCode(for: error)
        if code == .success { command.exit(withError: error) }
        printError(command.fullMessage(for: error))
        exit(code == .validationFailure || code.rawValue == 64 ? 2 : code.rawValue)
    }
}

/// Writes one line to stderr.
public func printError(_ line: String) {
    FileHandle.standardError.write(Data((line.hasSuffix("\n") ? line : line + "\n").utf8))
}

/// Writes text to stdout as is (reports end with a newline).
public func printReport(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
