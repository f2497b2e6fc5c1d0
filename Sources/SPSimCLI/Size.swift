import ArgumentParser
import CostModel

/// Reads a size option (`--seq-len 8k`, `--max-bytes 1M`) by `SizeList.rule`, the one rule
/// of every size on the command line; `@Option(transform: parseSize)` keeps the value an `Int`.
/// - Throws: `ValidationError` naming what was given and the rule.
func parseSize(_ text: String) throws -> Int {
    guard let value = SizeList.number(text) else {
        throw ValidationError("'\(text)' is not a size: \(SizeList.rule)")
    }
    return value
}
