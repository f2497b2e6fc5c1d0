/// `--seq-len -5` names a negative value, but the argument parser reads `-5` as an option
/// and reports "Missing value for '--seq-len'". Every spsim option that takes a number takes
/// a size, a count or a seed, none negative, so a long option followed by a negative number
/// gets this message instead, as does `--option=-5` (nil when there is none). Stops at `--`.
func negativeValueMessage(_ arguments: [String]) -> String? {
    func isNegativeNumber(_ value: Substring) -> Bool {
        guard value.hasPrefix("-"), value.count > 1 else { return false }
        let rest = value.dropFirst().lowercased()
        return rest.first.map({ $0.isNumber || $0 == "." }) == true || rest.hasPrefix("inf") || rest.hasPrefix("nan")
    }
    for (option, value) in zip(arguments, arguments.dropFirst() + [""]) {
        if option == "--" { return nil }
        guard option.hasPrefix("--"), option.count > 2 else { continue }
        if let equals = option.firstIndex(of: "=") {
            let value = option[option.index(after: equals)...]
            if isNegativeNumber(value) { return "\(option[..<equals]) takes no negative values, got \(value)" }
        } else if isNegativeNumber(Substring(value)) {
            return "\(option) takes no negative values, got \(value)"
        }
    }
    return nil
}
