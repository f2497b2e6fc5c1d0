/// `--seq-len -5` names a negative value, but the argument parser reads `-5` as an option
/// and reports "Missing value for '--seq-len'". Every spsim option that takes a number takes
/// a size, a count or a seed, none negative, so a long option followed by a negative number
/// gets this message instead (nil when there is none). Stops at `--`.
func negativeValueMessage(_ arguments: [String]) -> String? {
    for (option, value) in zip(arguments, arguments.dropFirst()) {
        if option == "--" { return nil }
        guard option.hasPrefix("--"), option.count > 2, !option.contains("="), value.hasPrefix("-"), value.count > 1 else {
            continue
        }
        let rest = value.dropFirst().lowercased()
        if rest.first.map({ $0.isNumber || $0 == "." }) == true || rest.hasPrefix("inf") || rest.hasPrefix("nan") {
            return "\(option) takes no negative values, got \(value)"
        }
    }
    return nil
}
