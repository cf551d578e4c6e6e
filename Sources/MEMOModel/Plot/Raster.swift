// A small RGB raster to draw charts into, with no image library: filled rectangles, 1-pixel or
// thick lines (Bresenham, no anti-aliasing), and text in a built-in 5x7 bitmap font. Drawing is
// clipped to the raster. The PNG writer elsewhere in the package turns `pixels` into a file;
// `ppm()` gives a dependency-free file for quick looks.

/// An 8-bit RGB colour.
public struct RasterColor: Hashable, Sendable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = RasterColor(255, 255, 255)
    public static let black = RasterColor(0, 0, 0)
    public static let gray = RasterColor(128, 128, 128)
    public static let lightGray = RasterColor(222, 222, 222)
    public static let red = RasterColor(214, 39, 40)
    /// The dark end of the heatmap scale (matplotlib "Blues" at 1).
    public static let darkBlue = RasterColor(8, 48, 107)

    /// Linear interpolation, `t` clamped to 0...1 (0 gives `a`, 1 gives `b`).
    public static func mix(_ a: RasterColor, _ b: RasterColor, _ t: Double) -> RasterColor {
        let t = t.isNaN ? 0 : min(1, max(0, t))
        func channel(_ x: UInt8, _ y: UInt8) -> UInt8 {
            UInt8((Double(x) + (Double(y) - Double(x)) * t).rounded())
        }
        return RasterColor(channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b))
    }

    /// Ten distinguishable colours (matplotlib's "tab10"), cycled by index.
    public static func palette(_ index: Int) -> RasterColor {
        let colors: [RasterColor] = [
            RasterColor(31, 119, 180), RasterColor(255, 127, 14), RasterColor(44, 160, 44),
            RasterColor(214, 39, 40), RasterColor(148, 103, 189), RasterColor(140, 86, 75),
            RasterColor(227, 119, 194), RasterColor(127, 127, 127), RasterColor(188, 189, 34),
            RasterColor(23, 190, 207),
        ]
        return colors[((index % colors.count) + colors.count) % colors.count]
    }
}

/// An RGB image, 8 bits per channel, rows top to bottom, pixels interleaved (HWC).
public struct Raster: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// height x width x 3 bytes.
    public var pixels: [UInt8]

    /// A raster filled with `background`.
    public init(width: Int, height: Int, background: RasterColor = .white) {
        precondition(width > 0 && height > 0, "raster size must be positive")
        self.width = width
        self.height = height
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = background.r
            pixels[i + 1] = background.g
            pixels[i + 2] = background.b
        }
        self.pixels = pixels
    }

    /// The colour at (x, y); (0, 0) is the top-left corner.
    public func pixel(x: Int, y: Int) -> RasterColor {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
        let i = (y * width + x) * 3
        return RasterColor(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Sets one pixel; points outside the raster are ignored.
    public mutating func setPixel(x: Int, y: Int, _ color: RasterColor) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = color.r
        pixels[i + 1] = color.g
        pixels[i + 2] = color.b
    }

    /// Fills the rectangle with top-left (x, y), clipped to the raster.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, _ color: RasterColor) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 { setPixel(x: xx, y: yy, color) }
        }
    }

    /// Draws the 1-pixel outline of a rectangle.
    public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int, _ color: RasterColor) {
        guard w > 0, h > 0 else { return }
        fillRect(x: x, y: y, width: w, height: 1, color)
        fillRect(x: x, y: y + h - 1, width: w, height: 1, color)
        fillRect(x: x, y: y, width: 1, height: h, color)
        fillRect(x: x + w - 1, y: y, width: 1, height: h, color)
    }

    /// Draws a line from (x0, y0) to (x1, y1), both ends included (Bresenham). A `thickness`
    /// above 1 stamps a square of that side centred on each point.
    public mutating func drawLine(x0: Int, y0: Int, x1: Int, y1: Int, _ color: RasterColor, thickness: Int = 1) {
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var error = dx + dy
        var (x, y) = (x0, y0)
        let offset = (thickness - 1) / 2
        while true {
            if thickness <= 1 {
                setPixel(x: x, y: y, color)
            } else {
                fillRect(x: x - offset, y: y - offset, width: thickness, height: thickness, color)
            }
            if x == x1 && y == y1 { break }
            let e2 = 2 * error
            if e2 >= dy { error += dy; x += sx }
            if e2 <= dx { error += dx; y += sy }
        }
    }

    // MARK: text

    /// Glyph height in font pixels (before scaling).
    public static let glyphHeight = 7
    /// Horizontal advance per character in font pixels (5 columns + 1 space).
    public static let glyphAdvance = 6

    /// Width in pixels of `text` drawn at `scale` (no trailing space).
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        text.isEmpty ? 0 : (text.count * glyphAdvance - 1) * scale
    }

    /// Draws `text` with its top-left corner at (x, y); each font pixel becomes a `scale` x
    /// `scale` square. Characters without a glyph are drawn as "?".
    public mutating func drawText(_ text: String, x: Int, y: Int, _ color: RasterColor, scale: Int = 1) {
        var cursor = x
        for character in text {
            let rows = BitmapFont.glyph(character)
            for (row, bits) in rows.enumerated() {
                for column in 0..<5 where bits & (0b10000 >> column) != 0 {
                    fillRect(x: cursor + column * scale, y: y + row * scale, width: scale, height: scale, color)
                }
            }
            cursor += Raster.glyphAdvance * scale
        }
    }

    /// Draws `text` turned 90° counter-clockwise (reading bottom to top), its bounding box's
    /// top-left corner at (x, y); the box is `glyphHeight · scale` wide and
    /// `textWidth(text, scale:)` high.
    public mutating func drawTextVertical(_ text: String, x: Int, y: Int, _ color: RasterColor, scale: Int = 1) {
        let length = Raster.textWidth(text, scale: 1)
        for (index, character) in text.enumerated() {
            let rows = BitmapFont.glyph(character)
            for (row, bits) in rows.enumerated() {
                for column in 0..<5 where bits & (0b10000 >> column) != 0 {
                    // Unrotated font pixel (u, v) goes to (v, length - 1 - u).
                    let u = index * Raster.glyphAdvance + column
                    fillRect(x: x + row * scale, y: y + (length - 1 - u) * scale, width: scale, height: scale, color)
                }
            }
        }
    }

    /// The raster as a binary PPM (P6) file, for quick inspection without a PNG encoder.
    public func ppm() -> [UInt8] {
        Array("P6\n\(width) \(height)\n255\n".utf8) + pixels
    }
}

/// A 5x7 bitmap font: digits, Latin letters (both cases) and common punctuation, in the style of
/// the HD44780 character ROM. Each glyph is 7 rows of 5 bits, the high bit leftmost.
enum BitmapFont {
    static func glyph(_ character: Character) -> [UInt8] {
        glyphs[character] ?? glyphs["?"]!
    }

    static let glyphs: [Character: [UInt8]] = {
        var table: [Character: [UInt8]] = [:]
        for (character, pattern) in patterns {
            let rows = pattern.split(separator: " ").map { row -> UInt8 in
                row.reduce(0) { ($0 << 1) | ($1 == "#" ? 1 : 0) }
            }
            precondition(rows.count == 7, "glyph \(character) needs 7 rows")
            table[character] = rows
        }
        return table
    }()

    private static let patterns: [Character: String] = [
        " ": "..... ..... ..... ..... ..... ..... .....",
        "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
        "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
        "2": ".###. #...# ....# ...#. ..#.. .#... #####",
        "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
        "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
        "5": "##### #.... ####. ....# ....# #...# .###.",
        "6": "..##. .#... #.... ####. #...# #...# .###.",
        "7": "##### ....# ...#. ..#.. .#... .#... .#...",
        "8": ".###. #...# #...# .###. #...# #...# .###.",
        "9": ".###. #...# #...# .#### ....# ...#. .##..",
        "A": ".###. #...# #...# #...# ##### #...# #...#",
        "B": "####. #...# #...# ####. #...# #...# ####.",
        "C": ".###. #...# #.... #.... #.... #...# .###.",
        "D": "###.. #..#. #...# #...# #...# #..#. ###..",
        "E": "##### #.... #.... ####. #.... #.... #####",
        "F": "##### #.... #.... ####. #.... #.... #....",
        "G": ".###. #...# #.... #.### #...# #...# .####",
        "H": "#...# #...# #...# ##### #...# #...# #...#",
        "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
        "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
        "L": "#.... #.... #.... #.... #.... #.... #####",
        "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
        "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
        "O": ".###. #...# #...# #...# #...# #...# .###.",
        "P": "####. #...# #...# ####. #.... #.... #....",
        "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
        "R": "####. #...# #...# ####. #.#.. #..#. #...#",
        "S": ".#### #.... #.... .###. ....# ....# ####.",
        "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        "U": "#...# #...# #...# #...# #...# #...# .###.",
        "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
        "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
        "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
        "Y": "#...# #...# #...# .#.#. ..#.. ..#.. ..#..",
        "Z": "##### ....# ...#. ..#.. .#... #.... #####",
        "a": "..... ..... .###. ....# .#### #...# .####",
        "b": "#.... #.... #.##. ##..# #...# #...# ####.",
        "c": "..... ..... .###. #.... #.... #...# .###.",
        "d": "....# ....# .##.# #..## #...# #...# .####",
        "e": "..... ..... .###. #...# ##### #.... .###.",
        "f": "..##. .#..# .#... ###.. .#... .#... .#...",
        "g": "..... .#### #...# #...# .#### ....# .###.",
        "h": "#.... #.... #.##. ##..# #...# #...# #...#",
        "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
        "j": "...#. ..... ..##. ...#. ...#. #..#. .##..",
        "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
        "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        "m": "..... ..... ##.#. #.#.# #.#.# #...# #...#",
        "n": "..... ..... #.##. ##..# #...# #...# #...#",
        "o": "..... ..... .###. #...# #...# #...# .###.",
        "p": "..... ..... ####. #...# ####. #.... #....",
        "q": "..... ..... .##.# #..## .#### ....# ....#",
        "r": "..... ..... #.##. ##..# #.... #.... #....",
        "s": "..... ..... .###. #.... .###. ....# ####.",
        "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
        "u": "..... ..... #...# #...# #...# #..## .##.#",
        "v": "..... ..... #...# #...# #...# .#.#. ..#..",
        "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
        "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
        "y": "..... ..... #...# #...# .#### ....# .###.",
        "z": "..... ..... ##### ...#. ..#.. .#... #####",
        ".": "..... ..... ..... ..... ..... .##.. .##..",
        ",": "..... ..... ..... ..... .##.. ..#.. .#...",
        ":": "..... .##.. .##.. ..... .##.. .##.. .....",
        ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
        "-": "..... ..... ..... ##### ..... ..... .....",
        "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
        "_": "..... ..... ..... ..... ..... ..... #####",
        "/": "..... ....# ...#. ..#.. .#... #.... .....",
        "\\": "..... #.... .#... ..#.. ...#. ....# .....",
        "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
        ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
        "[": ".###. .#... .#... .#... .#... .#... .###.",
        "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
        "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
        "=": "..... ..... ##### ..... ##### ..... .....",
        "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
        ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
        "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
        "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
        "'": "..#.. ..#.. ..... ..... ..... ..... .....",
        "\"": ".#.#. .#.#. ..... ..... ..... ..... .....",
        "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
        "*": "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
        "@": ".###. #...# ....# .##.# #.#.# #.#.# .###.",
        "&": ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
        "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    ]
}
