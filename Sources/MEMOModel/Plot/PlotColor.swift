import Foundation

/// An 8-bit RGB colour for charts, written into SVG as `#rrggbb`.
public struct PlotColor: Hashable, Sendable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = PlotColor(255, 255, 255)
    public static let black = PlotColor(0, 0, 0)
    public static let text = PlotColor(34, 34, 34)
    public static let gray = PlotColor(128, 128, 128)
    public static let grid = PlotColor(225, 225, 225)
    /// Task borders and reference lines.
    public static let red = PlotColor(214, 39, 40)

    /// `#rrggbb`.
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }

    /// Linear interpolation, `t` clamped to 0...1 (0 gives `a`, 1 gives `b`; NaN gives `a`).
    public static func mix(_ a: PlotColor, _ b: PlotColor, _ t: Double) -> PlotColor {
        let t = t.isNaN ? 0 : min(1, max(0, t))
        func channel(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + (Double(y) - Double(x)) * t).rounded()) }
        return PlotColor(channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b))
    }

    /// Ten distinguishable colours (matplotlib's "tab10"), cycled by index.
    public static func palette(_ index: Int) -> PlotColor {
        let colors: [PlotColor] = [
            PlotColor(31, 119, 180), PlotColor(255, 127, 14), PlotColor(44, 160, 44),
            PlotColor(214, 39, 40), PlotColor(148, 103, 189), PlotColor(140, 86, 75),
            PlotColor(227, 119, 194), PlotColor(127, 127, 127), PlotColor(188, 189, 34),
            PlotColor(23, 190, 207),
        ]
        return colors[((index % colors.count) + colors.count) % colors.count]
    }

    /// The sequential scale of heatmaps (matplotlib's "Blues" at five stops), `t` in 0...1 from
    /// near-white to dark blue, clamped; NaN gives the low end.
    public static func blues(_ t: Double) -> PlotColor {
        let stops: [PlotColor] = [
            PlotColor(247, 251, 255), PlotColor(198, 219, 239), PlotColor(107, 174, 214),
            PlotColor(33, 113, 181), PlotColor(8, 48, 107),
        ]
        let t = t.isNaN ? 0 : min(1, max(0, t))
        let position = t * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(position))
        return mix(stops[i], stops[i + 1], position - Double(i))
    }

    /// Relative luminance in 0...1 (sRGB weights), to choose dark or light text on a fill.
    public var luminance: Double { (0.2126 * Double(r) + 0.7152 * Double(g) + 0.0722 * Double(b)) / 255 }
}
