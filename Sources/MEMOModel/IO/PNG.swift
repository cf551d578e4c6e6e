import CPNG

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC, `R G B R G B ...`).
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// `height * width * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Whether every pixel has R = G = B.
    public var isGray: Bool {
        var i = 0
        while i < pixels.count {
            let r = pixels[i]
            if pixels[i + 1] != r || pixels[i + 2] != r { return false }
            i += 3
        }
        return true
    }

    /// The `(r, g, b)` of pixel `(x, y)`.
    public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let o = (y * width + x) * 3
        return (pixels[o], pixels[o + 1], pixels[o + 2])
    }
}

/// Why a PNG could not be read or written; each description is one line naming the file.
public enum PNGError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case cannotRead(path: String, reason: String)
    /// libpng rejected the data (not a PNG, truncated, bad CRC, ...); `message` is libpng's.
    case invalid(path: String, message: String)
    /// The header declares an image larger than `readPNG` accepts.
    case tooLarge(path: String, width: Int, height: Int)
    case cannotWrite(path: String, message: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "\(path): cannot read PNG: \(reason)"
        case let .invalid(path, message): return "\(path): not a valid PNG: \(message)"
        case let .tooLarge(path, w, h):
            return "\(path): PNG of \(w)x\(h) pixels is larger than the \(pngMaxSide)x\(pngMaxSide), "
                + "\(pngMaxDecodedBytes >> 20) MiB limit"
        case let .cannotWrite(path, message): return "\(path): cannot write PNG: \(message)"
        }
    }
}

/// Largest accepted width or height; guards against a header that declares a huge image.
public let pngMaxSide = 16384
/// Largest accepted size of libpng's decoded buffer (RGBA, 8 bytes per pixel for interlaced
/// 16-bit images, else 4), in bytes.
public let pngMaxDecodedBytes = 256 << 20

/// Reads a PNG file as 8-bit RGB. See `readPNG(data:name:)` for the conversions. The file is
/// read whole first (with `readGzipFile`, so a gzip'd PNG is accepted too).
public func readPNG(_ path: String) throws -> RGBImage {
    let data: [UInt8]
    do {
        data = try readGzipFile(path)
    } catch let GzipError.cannotOpen(_, reason) {
        throw PNGError.cannotRead(path: path, reason: reason)
    } catch let GzipError.corrupt(_, reason) {
        throw PNGError.cannotRead(path: path, reason: reason)
    }
    return try readPNG(data: data, name: path)
}

/// Decodes PNG data of any colour type and bit depth as 8-bit RGB, with libpng's simplified
/// `png_image` API (no `setjmp`/`longjmp` crosses Swift frames).
///
/// Conversions, chosen to match what the reference feeds its network (PIL's
/// `Image.open(f).convert("RGB")`):
/// - gray (1, 2, 4, 8 bit) is repeated into R, G and B; palette images are expanded;
///   interlaced (Adam7) images are de-interlaced.
/// - alpha (gray+alpha, RGBA, palette `tRNS`) is **dropped**: the colour channels are kept as
///   stored, not composited. This is what PIL's `convert("RGB")` does. (libpng's own RGB output
///   would instead composite onto the output buffer, i.e. onto black for a zeroed buffer.)
/// - 16-bit samples are reduced to 8 bits by libpng, treating the data as sRGB
///   (`PNG_IMAGE_FLAG_16BIT_sRGB`): `v16 -> round(v16 / 257)`, which equals `v16 >> 8` whenever
///   `v16 = v8 * 257` and is otherwise within 1 of it. (PIL takes the high byte of 16-bit RGB,
///   and clips 16-bit gray at 255.) Interlaced 16-bit images take a detour around a libpng bug
///   (see the code): there fully transparent pixels lose their colour (they read as black), and
///   a file with a `gAMA` chunk yields gamma-decoded (linear) values.
/// - a file with a `gAMA`/`iCCP`/`cHRM` chunk that is not sRGB is converted to sRGB by libpng;
///   PIL would ignore it. Datasets practically never carry such chunks.
///
/// Images wider or taller than `pngMaxSide`, or over `pngMaxDecodedBytes` decoded, are refused.
/// - Parameters:
///   - data: the PNG file's bytes.
///   - name: the file name used in error messages.
public func readPNG(data: [UInt8], name: String) throws -> RGBImage {
    var image = png_image()
    image.version = SWPNG_IMAGE_VERSION
    return try data.withUnsafeBytes { raw -> RGBImage in
        // libpng keeps reading from `raw` until png_image_finish_read, so both happen in here.
        guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
            throw PNGError.invalid(path: name, message: pngMessage(&image))
        }
        let width = Int(image.width), height = Int(image.height)
        let sixteenBit = image.format & PNG_FORMAT_FLAG_LINEAR != 0
        // The interlace byte of IHDR, which always comes first (signature 8, length 4, type 4,
        // width 4, height 4, depth, colour type, compression, filter, interlace).
        let interlaced = raw.count > 28 && raw[28] != 0
        let bytesPerPixel = sixteenBit && interlaced ? 8 : 4
        guard width <= pngMaxSide, height <= pngMaxSide, width * height * bytesPerPixel <= pngMaxDecodedBytes else {
            png_image_free(&image)
            throw PNGError.tooLarge(path: name, width: width, height: height)
        }
        let count = width * height
        var rgb = [UInt8](repeating: 0, count: count * 3)
        if sixteenBit && interlaced {
            // libpng 1.6.39 mixes up rows when it reduces interlaced 16-bit data to 8 bits, but
            // its 16-bit linear output is right: read that (alpha comes premultiplied), undo
            // the premultiplication and reduce like libpng (`(v * 255 + 32895) >> 16`).
            image.format = SWPNG_FORMAT_RGBA | PNG_FORMAT_FLAG_LINEAR
            var rgba16 = [UInt16](repeating: 0, count: swpng_image_size(&image) / 2)
            let ok = rgba16.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw PNGError.invalid(path: name, message: pngMessage(&image)) }
            for p in 0..<count {
                let alpha = UInt32(rgba16[4 * p + 3])
                for c in 0..<3 {
                    var v = UInt32(rgba16[4 * p + c])
                    if alpha < 65535 { v = alpha == 0 ? 0 : min(65535, (v * 65535 + alpha / 2) / alpha) }
                    rgb[3 * p + c] = UInt8((v * 255 + 32895) >> 16)
                }
            }
        } else {
            image.format = SWPNG_FORMAT_RGBA
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            var rgba = [UInt8](repeating: 0, count: swpng_image_size(&image))
            let ok = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw PNGError.invalid(path: name, message: pngMessage(&image)) }
            for p in 0..<count {
                rgb[3 * p] = rgba[4 * p]
                rgb[3 * p + 1] = rgba[4 * p + 1]
                rgb[3 * p + 2] = rgba[4 * p + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }
}

/// Writes an 8-bit RGB PNG (not atomically: a failed write can leave a partial file).
public func writePNG(_ image: RGBImage, to path: String) throws {
    var png = png_image()
    png.version = SWPNG_IMAGE_VERSION
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = SWPNG_FORMAT_RGB
    let ok = image.pixels.withUnsafeBytes { png_image_write_to_file(&png, path, 0, $0.baseAddress, 0, nil) }
    guard ok != 0 else { throw PNGError.cannotWrite(path: path, message: pngMessage(&png)) }
}

/// An 8-bit RGB PNG file's bytes, in memory (for images embedded in the HTML report).
public func encodePNG(_ image: RGBImage) throws -> [UInt8] {
    var png = png_image()
    png.version = SWPNG_IMAGE_VERSION
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = SWPNG_FORMAT_RGB
    var size: png_alloc_size_t = 0
    let sized = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }
    guard sized != 0, size > 0 else { throw PNGError.cannotWrite(path: "(memory)", message: pngMessage(&png)) }
    var out = [UInt8](repeating: 0, count: Int(size))
    let ok = out.withUnsafeMutableBytes { buffer in
        image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, buffer.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
    }
    guard ok != 0 else { throw PNGError.cannotWrite(path: "(memory)", message: pngMessage(&png)) }
    return Array(out.prefix(Int(size)))
}

/// libpng's error text from a `png_image` (a NUL-terminated `char[64]`).
private func pngMessage(_ image: inout png_image) -> String {
    let text = withUnsafeBytes(of: &image.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    return text.isEmpty ? "libpng error" : text
}

/// Resizes with a bilinear (triangle) filter exactly as Pillow's `Image.resize(size,
/// Image.BILINEAR)` does, which is what torchvision's `Resize` applies to PIL images.
///
/// Half-pixel centres (`align_corners=False`); when shrinking, the triangle is widened by the
/// scale factor, so every source pixel contributes (antialiasing, unlike plain bilinear
/// sampling); at the borders the weights are renormalised over the pixels inside the image.
/// Two separable passes, horizontal then vertical, each rounded to 8 bits with Pillow's 22-bit
/// fixed-point coefficients, so the result is byte-identical to Pillow's.
public func resizeBilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0 && image.width > 0 && image.height > 0, "resize to/from an empty image")
    if width == image.width && height == image.height { return image }
    let horizontal = ResampleCoefficients(inputSize: image.width, outputSize: width)
    let vertical = ResampleCoefficients(inputSize: image.height, outputSize: height)
    guard width != image.width else {
        return resampleVertical(image, coefficients: vertical, rowOffset: 0, height: height)
    }
    // Only the source rows the vertical pass reads are resampled horizontally (all of them when
    // the height is unchanged).
    let firstRow = vertical.bounds[0].start
    let endRow = vertical.bounds[height - 1].start + vertical.bounds[height - 1].count
    let rows = endRow - firstRow
    var out = [UInt8](repeating: 0, count: rows * width * 3)
    image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<rows {
                let srcRow = (y + firstRow) * image.width * 3
                for x in 0..<width {
                    let (start, count) = horizontal.bounds[x]
                    let k = x * horizontal.stride
                    for c in 0..<3 {
                        var sum = Int32(1 << (ResampleCoefficients.precisionBits - 1))
                        for t in 0..<count {
                            sum &+= Int32(src[srcRow + (start + t) * 3 + c]) &* horizontal.weights[k + t]
                        }
                        dst[(y * width + x) * 3 + c] = ResampleCoefficients.clip8(sum)
                    }
                }
            }
        }
    }
    let stretched = RGBImage(width: width, height: rows, pixels: out)
    guard height != image.height else { return stretched }
    return resampleVertical(stretched, coefficients: vertical, rowOffset: firstRow, height: height)
}

private func resampleVertical(_ image: RGBImage, coefficients v: ResampleCoefficients, rowOffset: Int,
                              height: Int) -> RGBImage {
    let rowBytes = image.width * 3
    var out = [UInt8](repeating: 0, count: height * rowBytes)
    image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height {
                let (start, count) = v.bounds[y]
                let k = y * v.stride
                for i in 0..<rowBytes {
                    var sum = Int32(1 << (ResampleCoefficients.precisionBits - 1))
                    for t in 0..<count {
                        sum &+= Int32(src[(start - rowOffset + t) * rowBytes + i]) &* v.weights[k + t]
                    }
                    dst[y * rowBytes + i] = ResampleCoefficients.clip8(sum)
                }
            }
        }
    }
    return RGBImage(width: image.width, height: height, pixels: out)
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter (support 1).
private struct ResampleCoefficients {
    static let precisionBits = 32 - 8 - 2
    /// Per output position: first source index and number of taps.
    var bounds: [(start: Int, count: Int)] = []
    /// `stride` fixed-point weights per output position.
    var weights: [Int32] = []
    var stride = 0

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        stride = Int(support.rounded(.up)) * 2 + 1
        weights = [Int32](repeating: 0, count: outputSize * stride)
        bounds.reserveCapacity(outputSize)
        var w = [Double](repeating: 0, count: stride)
        for o in 0..<outputSize {
            let center = (Double(o) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inputSize)
            let count = hi - lo
            var total = 0.0
            for t in 0..<count {
                let x = abs((Double(t + lo) - center + 0.5) / filterScale)
                w[t] = x < 1 ? 1 - x : 0
                total += w[t]
            }
            for t in 0..<count {
                let k = total != 0 ? w[t] / total : w[t]
                let fixed = k * Double(1 << Self.precisionBits)
                weights[o * stride + t] = Int32(k < 0 ? fixed - 0.5 : fixed + 0.5)
            }
            bounds.append((lo, count))
        }
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        if v >= Int32(1) << (precisionBits + 8) { return 255 }
        if v <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: v >> precisionBits)
    }
}
