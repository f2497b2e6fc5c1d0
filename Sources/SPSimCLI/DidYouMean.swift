import ArgumentParser

/// The closest of `names` to `given`, when it is close enough to be a typo: at most two
/// edits (insert, delete, replace, or swap two neighbouring letters), or a prefix.
func closestName(to given: String, among names: [String]) -> String? {
    let scored = names.map { ($0, editDistance(given.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    if best.1 <= min(2, max(1, given.count / 2)) { return best.0 }
    return names.first { $0.hasPrefix(given) && given.count >= 2 }
}

/// Optimal string alignment distance: Levenshtein with swaps of adjacent letters (`modle` → `model` is 1).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
        }
    }
    return d[a.count][b.count]
}

/// Why `arguments` name no command, with a suggestion: walks the subcommand names from
/// `root` and stops at the first word that is none of the current command's subcommands
/// (`spsim modle` → "did you mean 'model'?"). Nil when the words name a command (its own
/// arguments are the parser's business).
func unknownSubcommandMessage(_ arguments: [String], root: any ParsableCommand.Type) -> String? {
    var command = root
    var path = [root._commandName]
    for word in arguments {
        let subcommands = command.configuration.subcommands
        guard !subcommands.isEmpty, command.configuration.defaultSubcommand == nil, !word.hasPrefix("-") else {
            return nil
        }
        if word == "help" { continue }  // `spsim help topology shwo` names commands as `spsim topology shwo` does
        let names = subcommands.map { $0._commandName }
        guard let i = names.firstIndex(of: word) else {
            let known = "commands of '\(path.joined(separator: " "))': \(names.joined(separator: ", "))"
            if let close = closestName(to: word, among: names) {
                return "unknown command '\(word)'; did you mean '\(close)'? (\(known))"
            }
            return "unknown command '\(word)' (\(known))"
        }
        command = subcommands[i]
        path.append(word)
    }
    return nil
}
