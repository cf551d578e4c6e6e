import Foundation

// A small SVG writer for the charts: rectangles, lines, polylines, circles and text, in pixel
// coordinates of a fixed-size canvas. The same document is inlined into the HTML report and
// rendered to PNG by librsvg (`SVGRenderer`), so a chart is drawn once. Output is deterministic:
// numbers are written with at most two decimals, elements in the order they were added.

/// Horizontal anchor of a text.
public enum TextAnchor: String, Sendable {
    case start, middle, end
}

/// An SVG canvas being drawn on.
public struct SVGDocument: Sendable {
    /// Canvas size in pixels (the PNG size at scale 1).
    public let width: Double
    public let height: Double
    /// Accessible name of the picture (`<title>`).
    public var title: String
    private var elements: [String] = []

    /// The font the charts use; DejaVu Sans comes with fonts-dejavu-core.
    public static let fontFamily = "DejaVu Sans, Verdana, Arial, sans-serif"

    public init(width: Double, height: Double, title: String) {
        self.width = width
        self.height = height
        self.title = title
    }

    /// A number for an attribute: integers plain, others with at most two decimals.
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let rounded = (x * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        var s = String(format: "%.2f", rounded)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// Text escaped for SVG and HTML content and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default:
                // Control characters (from a checkpoint's strings) are not allowed in XML.
                if let v = ch.unicodeScalars.first?.value, ch.unicodeScalars.count == 1, v < 0x20, v != 0x0A, v != 0x09 {
                    out += "?"
                } else {
                    out.append(ch)
                }
            }
        }
        return out
    }

    private static func n(_ x: Double) -> String { number(x) }

    /// A filled (and optionally outlined) rectangle; `tooltip` becomes a `<title>` child.
    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: PlotColor?,
                              stroke: PlotColor? = nil, strokeWidth: Double = 1, tooltip: String? = nil) {
        var s = "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(0, width)))\" height=\"\(Self.n(max(0, height)))\""
        s += " fill=\"\(fill?.hex ?? "none")\""
        if let stroke { s += " stroke=\"\(stroke.hex)\" stroke-width=\"\(Self.n(strokeWidth))\"" }
        if let tooltip { s += "><title>\(Self.escape(tooltip))</title></rect>" } else { s += "/>" }
        elements.append(s)
    }

    /// A straight line; `dash` is an SVG dash pattern ("6 4").
    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: PlotColor,
                              width: Double = 1, dash: String? = nil) {
        var s = "<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\""
        s += " stroke=\"\(stroke.hex)\" stroke-width=\"\(Self.n(width))\""
        if let dash { s += " stroke-dasharray=\"\(dash)\"" }
        elements.append(s + "/>")
    }

    /// An open polyline through `points`.
    public mutating func polyline(_ points: [(x: Double, y: Double)], stroke: PlotColor, width: Double = 2,
                                  dash: String? = nil) {
        guard points.count >= 2 else { return }
        let list = points.map { "\(Self.n($0.x)),\(Self.n($0.y))" }.joined(separator: " ")
        var s = "<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke.hex)\" stroke-width=\"\(Self.n(width))\""
        s += " stroke-linejoin=\"round\" stroke-linecap=\"round\""
        if let dash { s += " stroke-dasharray=\"\(dash)\"" }
        elements.append(s + "/>")
    }

    /// A filled circle (a data marker); `tooltip` becomes a `<title>` child.
    public mutating func circle(cx: Double, cy: Double, r: Double, fill: PlotColor, tooltip: String? = nil) {
        var s = "<circle cx=\"\(Self.n(cx))\" cy=\"\(Self.n(cy))\" r=\"\(Self.n(r))\" fill=\"\(fill.hex)\""
        if let tooltip { s += "><title>\(Self.escape(tooltip))</title></circle>" } else { s += "/>" }
        elements.append(s)
    }

    /// One line of text with its baseline at `y` (or, with `centred`, its middle at `y`),
    /// optionally rotated by `rotate` degrees about (x, y).
    public mutating func text(_ text: String, x: Double, y: Double, size: Double = 12, anchor: TextAnchor = .start,
                              color: PlotColor = .text, bold: Bool = false, rotate: Double? = nil, centred: Bool = false) {
        // librsvg ignores dominant-baseline; a shift of 0.35 em centres digits and lower case.
        let baseline = centred ? y + 0.35 * size : y
        var s = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(baseline))\" font-size=\"\(Self.n(size))\""
        if anchor != .start { s += " text-anchor=\"\(anchor.rawValue)\"" }
        if color != .text { s += " fill=\"\(color.hex)\"" }
        if bold { s += " font-weight=\"bold\"" }
        if let rotate { s += " transform=\"rotate(\(Self.n(rotate)) \(Self.n(x)) \(Self.n(y)))\"" }
        elements.append(s + ">\(Self.escape(text))</text>")
    }

    /// The whole document: a white background, then the elements. The size attributes give the
    /// PNG size; in HTML, CSS may scale it (the viewBox keeps the proportions).
    public var svg: String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\""
        s += " viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" role=\"img\""
        s += " font-family=\"\(Self.fontFamily)\" fill=\"\(PlotColor.text.hex)\">\n"
        s += "<title>\(Self.escape(title))</title>\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"#ffffff\"/>\n"
        for e in elements { s += e + "\n" }
        return s + "</svg>\n"
    }
}
