/// A quantity of the problem that bad input is about. SPCore's messages name it through
/// `InputError.Message` and leave the wording to the reader: the command line says its flag
/// (`--seq-len`), anything else its symbol (N).
public enum Quantity: Sendable, Equatable, CaseIterable {
    case seqLen, heads, kvHeads, headDim, valueDim, scanBlocks

    /// The symbol of docs/algorithms.md: N, H, G, D (GLA: Dk), Dv, K.
    public var symbol: String {
        switch self {
        case .seqLen: "N"
        case .heads: "H"
        case .kvHeads: "G"
        case .headDim: "D"
        case .valueDim: "Dv"
        case .scanBlocks: "K"
        }
    }
}

/// Bad input: one clear sentence for the user; the command exits with status 2.
public struct InputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A sentence of words and the quantities it is about, written as a string with
    /// quantities interpolated: `"\(.kvHeads) \(g) must divide \(.heads) \(h)"`.
    public struct Message: Sendable, Equatable, ExpressibleByStringInterpolation {
        public enum Part: Sendable, Equatable {
            case text(String)
            case quantity(Quantity)
        }

        public var parts: [Part]

        public init(parts: [Part]) { self.parts = parts }
        public init(stringLiteral value: String) { parts = [.text(value)] }
        public init(stringInterpolation: Interpolation) { parts = stringInterpolation.parts }

        /// `messages` with `separator` between them.
        public init(joining messages: [Message], separator: String) {
            var joined = Interpolation(literalCapacity: 0, interpolationCount: messages.count)
            for (i, message) in messages.enumerated() {
                if i > 0 { joined.appendLiteral(separator) }
                joined.appendInterpolation(message)
            }
            parts = joined.parts
        }

        /// The sentence, each quantity named by `name`.
        public func text(naming name: (Quantity) -> String) -> String {
            parts.map { part in
                switch part {
                case .text(let text): text
                case .quantity(let quantity): name(quantity)
                }
            }.joined()
        }

        /// Builds the parts, adjacent words joined into one `.text`.
        public struct Interpolation: StringInterpolationProtocol {
            var parts = [Part]()
            public init(literalCapacity: Int, interpolationCount: Int) {}
            public mutating func appendLiteral(_ literal: String) { add(.text(literal)) }
            public mutating func appendInterpolation(_ quantity: Quantity) { add(.quantity(quantity)) }
            public mutating func appendInterpolation(_ message: Message) { message.parts.forEach { add($0) } }
            public mutating func appendInterpolation<T>(_ value: T) { add(.text("\(value)")) }

            private mutating func add(_ part: Part) {
                switch (parts.last, part) {
                case (_, .text("")): break
                case (.text(let before)?, .text(let text)): parts[parts.count - 1] = .text(before + text)
                default: parts.append(part)
                }
            }
        }
    }

    /// What is wrong.
    public var words: Message

    /// An error about quantities (`InputError(about: "\(.seqLen) must be at least 1")`).
    public init(about words: Message) { self.words = words }
    /// An error in words alone.
    public init(_ message: String) { words = Message(parts: [.text(message)]) }

    /// The sentence with each quantity named by `name` (the command line: its flag).
    public func message(naming name: (Quantity) -> String) -> String { words.text(naming: name) }
    /// The sentence with quantities by their symbols.
    public var message: String { message(naming: \.symbol) }
    public var description: String { message }
}
