import Foundation

/// The reason a file-system call failed, as one short line a person reads ("Permission denied",
/// "No such file or directory"): the POSIX error behind a Foundation error where there is one,
/// else Foundation's failure reason. Never Foundation's `Error Domain=... Code=...` text.
public func systemReason(_ error: Error) -> String {
    let e = error as NSError
    if e.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(e.code))) }
    if let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if e.domain == NSCocoaErrorDomain {
        switch e.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return String(cString: strerror(ENOENT))
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return String(cString: strerror(EACCES))
        case NSFileWriteOutOfSpaceError: return String(cString: strerror(ENOSPC))
        case NSFileWriteVolumeReadOnlyError: return String(cString: strerror(EROFS))
        case NSFileWriteFileExistsError: return String(cString: strerror(EEXIST))
        default: break
        }
    }
    if let reason = e.localizedFailureReason, !reason.isEmpty, !reason.contains("Error Domain") { return reason }
    return "error \(e.code) of \(e.domain)"
}
