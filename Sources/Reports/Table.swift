import Foundation

/// A plain text table for people: a header row, aligned columns, numbers right-aligned.
public struct TextTable: Sendable {
    public var columns: [String]
    public var rows: [[String]] = []

    public init(columns: [String]) { self.columns = columns }

    /// Appends a row (one cell per column).
    public mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "TextTable: a row needs one cell per column")
        rows.append(row)
    }

    /// The table as lines of text.
    public func render() -> String {
        let widths = columns.indices.map { c in ([columns[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - cells[c].count)
                return isNumeric(cells[c]) ? pad + cells[c] : cells[c] + pad
            }.joined(separator: "  ")
        }
        var out = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.map { String($0.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n") + "\n"
    }

    /// A number, possibly signed, with at most a short unit after it (`12`, `-3.5`, `1.2 ms`,
    /// `4.0 GiB`, `50.2%`, `U=2` is not): text that merely starts with a digit stays left-aligned.
    private func isNumeric(_ s: String) -> Bool {
        let body = s.drop { $0 == "-" || $0 == "+" }
        guard let first = body.first, first.isNumber else { return false }
        let words = body.split(separator: " ")
        return words.count <= 2 && words[0].allSatisfy { $0.isNumber || ".,eE+-%×kKMGx".contains($0) }
            && (words.count == 1 || words[1].count <= 4)
    }
}

/// Formats seconds with a unit people read at a glance (s, ms, µs), three significant digits.
public func formatSeconds(_ s: Double) -> String {
    if !s.isFinite { return "\(s)" }
    if s >= 1 { return format3(s) + " s" }
    if s >= 1e-3 { return format3(s * 1e3) + " ms" }
    return format3(s * 1e6) + " µs"
}

/// Formats bytes with binary prefixes (B, KiB, MiB, GiB, TiB).
public func formatBytes(_ b: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = b, i = 0
    while abs(v) >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    return i == 0 ? "\(Int(v)) B" : format3(v) + " " + units[i]
}

/// Three significant digits (`%.3g`), but a whole number from 1 000 to 999 999 is written out:
/// `1234`, not `1.23e+03`.
public func format3(_ v: Double) -> String {
    (1000..<999_999.5).contains(abs(v)) ? String(format: "%.0f", v) : String(format: "%.3g", v)
}
