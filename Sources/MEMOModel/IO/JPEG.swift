import CTurboJPEG
import Foundation

// JPEG decoding and encoding with libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0-dev).
// Decoding uses libjpeg's defaults (accurate integer IDCT, fancy upsampling), what PIL's
// `Image.open(f).convert("RGB")` uses for the reference's ImageNet folders.

/// A JPEG that could not be read or written, naming the file.
public enum JPEGError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    /// libjpeg-turbo rejected the data (not a JPEG, truncated, CMYK, ...); `message` is its own.
    case invalid(path: String, message: String)
    /// The header declares an image larger than `readJPEG` accepts.
    case tooLarge(path: String, width: Int, height: Int)
    case cannotWrite(path: String, message: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "\(path): cannot read JPEG: \(reason)"
        case let .invalid(path, message): return "\(path): not a valid JPEG: \(message)"
        case let .tooLarge(path, w, h):
            return "\(path): JPEG of \(w)x\(h) pixels is larger than the \(pngMaxSide)x\(pngMaxSide) limit"
        case let .cannotWrite(path, message): return "\(path): cannot write JPEG: \(message)"
        }
    }
}

/// Whether `data` starts like a JPEG file (SOI marker followed by another marker).
public func looksLikeJPEG(_ data: [UInt8]) -> Bool {
    data.count >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
}

/// Reads a JPEG file as 8-bit RGB (gray JPEGs are repeated into R, G and B).
public func readJPEG(_ path: String) throws -> RGBImage {
    guard let data = FileManager.default.contents(atPath: path) else {
        let reason = FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file"
        throw JPEGError.cannotRead(path: path, reason: reason)
    }
    return try readJPEG(data: [UInt8](data), name: path)
}

/// Decodes JPEG data as 8-bit RGB. Images wider or taller than `pngMaxSide` are refused (the
/// same limit as PNG). `name` is used in error messages.
public func readJPEG(data: [UInt8], name: String) throws -> RGBImage {
    guard let handle = tjInitDecompress() else {
        throw JPEGError.invalid(path: name, message: "libjpeg-turbo could not start a decoder")
    }
    defer { tjDestroy(handle) }
    func message() -> String { String(cString: tjGetErrorStr2(handle)) }
    var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
    let size = UInt(data.count)
    let header = data.withUnsafeBufferPointer {
        tjDecompressHeader3(handle, $0.baseAddress, size, &width, &height, &subsampling, &colorspace)
    }
    guard header == 0 else { throw JPEGError.invalid(path: name, message: message()) }
    guard width > 0, height > 0 else { throw JPEGError.invalid(path: name, message: "image has no pixels") }
    guard width <= pngMaxSide, height <= pngMaxSide else {
        throw JPEGError.tooLarge(path: name, width: Int(width), height: Int(height))
    }
    var rgb = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
    let status = data.withUnsafeBufferPointer { src in
        rgb.withUnsafeMutableBufferPointer { dst in
            tjDecompress2(handle, src.baseAddress, size, dst.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
        }
    }
    // A warning (e.g. premature end of data with a usable image) is an error here: a damaged
    // file is refused, never classified as whatever part of it decoded.
    guard status == 0 else { throw JPEGError.invalid(path: name, message: message()) }
    return RGBImage(width: Int(width), height: Int(height), pixels: rgb)
}

/// Encodes 8-bit RGB as a baseline JPEG (4:4:4, no chroma subsampling) of `quality` 1...100.
public func encodeJPEG(_ image: RGBImage, quality: Int = 95) throws -> [UInt8] {
    precondition((1...100).contains(quality) && image.pixels.count == image.width * image.height * 3)
    guard let handle = tjInitCompress() else { throw JPEGError.cannotWrite(path: "memory", message: "no encoder") }
    defer { tjDestroy(handle) }
    var buffer: UnsafeMutablePointer<UInt8>?
    var size: UInt = 0
    let status = image.pixels.withUnsafeBufferPointer {
        tjCompress2(handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                    &buffer, &size, Int32(TJSAMP_444.rawValue), Int32(quality), 0)
    }
    defer { if let buffer { tjFree(buffer) } }
    guard status == 0, let buffer else {
        throw JPEGError.cannotWrite(path: "memory", message: String(cString: tjGetErrorStr2(handle)))
    }
    return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
}

/// Reads a PNG or a JPEG, told apart by the file's first bytes (not its name). A gzip'd PNG is
/// accepted as by `readPNG`.
public func readImage(_ path: String) throws -> RGBImage {
    if let handle = FileHandle(forReadingAtPath: path) {
        let head = [UInt8]((try? handle.read(upToCount: 3)) ?? Data())
        try? handle.close()
        if looksLikeJPEG(head) { return try readJPEG(path) }
    }
    return try readPNG(path)
}
