import ArgumentParser
import CostModel
import Foundation
import Reports
import SequenceParallel

/// `spsim models`: list, show and validate model files.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List, show and validate the model files the planner and the trainer read.",
        discussion: """
            Models are found by name in $SPSIM_MODELS, ./Models and the Models folder of the source tree spsim was \
            built in; a path to a .json file works everywhere a name does.
            """,
        subcommands: [List.self, Show.self, ValidateFiles<TransformerModel>.self])

    /// `spsim models list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List known models with their size.")

        func run() throws {
            try printCatalog(ModelCatalog.models(), folder: "Models", variable: "SPSIM_MODELS",
                             columns: ["parameters", "layers", "attention"]) { (m: TransformerModel) in
                [parameterCount(m.parameters), "\(m.layerCount)", m.attention.rawValue, m.description]
            }
        }
    }

    /// `spsim models show NAME`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one model's numbers with their sources and its parameter count.")

        @Argument(help: "A model name or a JSON file.")
        var model: String

        func run() throws {
            let m: TransformerModel
            do { m = try ModelCatalog.models().loadModel(model) } catch { throw InputError("\(error)") }
            var table = TextTable(columns: ["quantity", "value", "source"])
            func row(_ name: String, _ s: Sourced?) {
                if let s { table.append([name, s.value == s.value.rounded() ? "\(Int(s.value))" : format3(s.value), s.source]) }
            }
            row("layers L", m.layers)
            row("hidden size d", m.hiddenSize)
            row("heads H", m.heads)
            row("KV heads G", m.kvHeads)
            row("head dim D", m.headDim)
            row("key dim Dk", m.keyDim)
            row("value dim Dv", m.valueDim)
            row("gate low rank", m.gateLowRank)
            row("FFN size f (\(m.ffnActivation.rawValue))", m.ffnSize)
            row("vocabulary V", m.vocabulary)
            row("tied embeddings (1 = yes)", m.tiedEmbeddings)
            print("\(m.name): \(m.description)\nattention: \(m.attention.rawValue)\n" + table.render(), terminator: "")
            print("""
                parameters: \(m.parameters) (\(parameterCount(m.parameters))): per layer \(m.parametersPerLayer) \
                (attention \(m.attentionParametersPerLayer), MLP \(m.mlpParametersPerLayer), norms \(2 * m.hidden)), \
                embeddings \(m.embeddingParameters)\(m.isTied ? " (tied)" : " + LM head \(m.embeddingParameters)"), \
                final norm \(m.hidden)
                """)
        }
    }
}

/// A parameter count as people write it: 70.6B, 350M, 107k.
func parameterCount(_ n: Int) -> String {
    let x = Double(n)
    return x >= 1e9 ? format3(x / 1e9) + "B" : x >= 1e6 ? format3(x / 1e6) + "M" : x >= 1e3 ? format3(x / 1e3) + "k" : "\(n)"
}
