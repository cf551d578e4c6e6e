import CRSVG
import Foundation

// SVG to pixels with librsvg and Cairo (Debian's librsvg2-2, loaded on first use): text is shaped
// by Pango in DejaVu Sans (fonts-dejavu-core) and everything is anti-aliased. The charts' PNG outputs are
// the same SVG documents the HTML report inlines.

/// A chart could not be rendered; the message is librsvg's or Cairo's.
public enum PlotRenderError: Error, CustomStringConvertible, Equatable {
    case render(String)
    case size(width: Int, height: Int)

    public var description: String {
        switch self {
        case let .render(message): return "cannot render the chart: \(message)"
        case let .size(width, height): return "cannot render the chart: size \(width)x\(height) is not between 1 and \(pngMaxSide) pixels"
        }
    }
}

extension SVGDocument {
    /// The document rendered on white at `scale` times its size (2 for a sharper picture), as an
    /// RGB image for `writePNG`.
    /// - Throws: ``PlotRenderError`` if librsvg refuses the document or the size is out of range.
    public func rendered(scale: Double = 1) throws -> RGBImage {
        let w = Int((width * scale).rounded()), h = Int((height * scale).rounded())
        guard w > 0, h > 0, w <= pngMaxSide, h <= pngMaxSide else { throw PlotRenderError.size(width: w, height: h) }
        let bytes = Array(svg.utf8)
        var argb: UnsafeMutablePointer<UInt32>?
        var message: UnsafeMutablePointer<CChar>?
        let status = bytes.withUnsafeBufferPointer { buffer in
            swrsvg_render(buffer.baseAddress, buffer.count, Int32(w), Int32(h), &argb, &message)
        }
        guard status == 0, let argb else {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            free(message)
            throw PlotRenderError.render(text)
        }
        defer { free(argb) }
        // ARGB32: one native-endian 32-bit word per pixel, premultiplied; opaque here (white below).
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            let p = argb[i]
            pixels[3 * i] = UInt8((p >> 16) & 0xff)
            pixels[3 * i + 1] = UInt8((p >> 8) & 0xff)
            pixels[3 * i + 2] = UInt8(p & 0xff)
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
