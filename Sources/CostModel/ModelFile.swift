// A decoder-only transformer as the planner and the trainer see it, read strictly from
// `Models/*.json` (format in Models/README.md):
//
//   {
//     "name": "llama3-8b",                      the name `--model` uses (= file name)
//     "description": "…",                       one line for `spsim models list`
//     "attention": "softmax",                   or "gla"
//     "layers":          {"value": 32,    "source": "…"},
//     "hidden_size":     {"value": 4096,  "source": "…"},   d
//     "heads":           {"value": 32,    "source": "…"},   query heads H (GLA: heads)
//     "kv_heads":        {"value": 8,     "source": "…"},   softmax only: G (GQA when G < H)
//     "head_dim":        {"value": 128,   "source": "…"},   softmax only: D
//     "key_dim":         {"value": 256,   "source": "…"},   GLA only: Dk per head
//     "value_dim":       {"value": 512,   "source": "…"},   GLA only: Dv per head
//     "gate_low_rank":   {"value": 16,    "source": "…"},   GLA only: rank of the forget-gate projection
//     "ffn_size":        {"value": 14336, "source": "…"},   f
//     "ffn_activation":  "swiglu",
//     "vocabulary":      {"value": 128256, "source": "…"},  V
//     "tied_embeddings": {"value": false, "source": "…"}
//   }
//
// Parameters (Llama-style layer, bias-free, two RMSNorms per layer, one final RMSNorm):
//   softmax attention  d·H·D + 2·d·G·D + H·D·d
//   GLA attention      2·d·H·Dk (q, k) + 2·d·H·Dv (v, output gate) + H·Dv·d (o) + r·(d + H·Dk) (low-rank forget gate)
//   SwiGLU MLP         3·d·f
//   norms              2·d per layer, d final
//   embeddings         V·d, and V·d more for the LM head unless tied
import Foundation
import SPCore

/// The activation of the feed-forward block.
public enum FFNActivation: String, Sendable, CaseIterable, Codable {
    /// `W2 (silu(W1 x) ⊙ W3 x)`: three `d × f` matrices (Shazeer 2020, arXiv 2002.05202).
    case swiglu
}

/// A decoder-only transformer: its shape and where every number came from.
public struct TransformerModel: Sendable, Equatable {
    /// The name `--model` finds it by.
    public var name: String
    /// One line for people.
    public var description: String
    /// Softmax attention or GLA.
    public var attention: AttentionFamily
    /// Layers L.
    public var layers: Sourced
    /// Hidden size d.
    public var hiddenSize: Sourced
    /// Query heads H (GLA: heads).
    public var heads: Sourced
    /// KV heads G (softmax; nil for GLA).
    public var kvHeads: Sourced?
    /// Channels per head D (softmax; nil for GLA).
    public var headDim: Sourced?
    /// GLA key channels per head Dk (nil for softmax).
    public var keyDim: Sourced?
    /// GLA value channels per head Dv (nil for softmax).
    public var valueDim: Sourced?
    /// GLA rank of the low-rank forget-gate projection (nil for softmax).
    public var gateLowRank: Sourced?
    /// Feed-forward width f.
    public var ffnSize: Sourced
    /// Feed-forward activation.
    public var ffnActivation: FFNActivation
    /// Vocabulary V.
    public var vocabulary: Sourced
    /// Whether the LM head reuses the embedding matrix (1 = tied, 0 = untied).
    public var tiedEmbeddings: Sourced

    /// L as an integer.
    public var layerCount: Int { Int(layers.value) }
    /// d as an integer.
    public var hidden: Int { Int(hiddenSize.value) }
    /// H as an integer.
    public var headCount: Int { Int(heads.value) }
    /// G as an integer (GLA: H).
    public var kvHeadCount: Int { kvHeads.map { Int($0.value) } ?? headCount }
    /// Query/key channels per head: D (softmax) or Dk (GLA).
    public var queryDim: Int { Int((headDim ?? keyDim)!.value) }
    /// Value channels per head: D (softmax) or Dv (GLA).
    public var valueChannels: Int { Int((headDim ?? valueDim)!.value) }
    /// f as an integer.
    public var ffn: Int { Int(ffnSize.value) }
    /// V as an integer.
    public var vocab: Int { Int(vocabulary.value) }
    /// Whether the embeddings are tied.
    public var isTied: Bool { tiedEmbeddings.value != 0 }

    /// Parameters of one layer's attention projections.
    public var attentionParametersPerLayer: Int {
        let d = hidden, h = headCount
        switch attention {
        case .softmax: return d * h * queryDim + 2 * d * kvHeadCount * queryDim + h * queryDim * d
        case .gla:
            let rank = Int(gateLowRank?.value ?? 0)
            return 2 * d * h * queryDim + 2 * d * h * valueChannels + h * valueChannels * d + rank * (d + h * queryDim)
        }
    }
    /// Parameters of one layer's MLP: `3·d·f` (SwiGLU).
    public var mlpParametersPerLayer: Int { 3 * hidden * ffn }
    /// Parameters of one layer: attention, MLP and two RMSNorm weights.
    public var parametersPerLayer: Int { attentionParametersPerLayer + mlpParametersPerLayer + 2 * hidden }
    /// Parameters of the embedding matrix, `V·d`.
    public var embeddingParameters: Int { vocab * hidden }
    /// Every parameter: layers, embeddings, the LM head unless tied, the final norm.
    public var parameters: Int {
        layerCount * parametersPerLayer + embeddingParameters * (isTied ? 1 : 2) + hidden
    }
    /// Parameters that multiply each token in a matmul (forward FLOPs per token = 2× this):
    /// every layer's projections and MLP plus the LM head; not the embedding lookup or norms.
    public var matmulParameters: Int {
        layerCount * (attentionParametersPerLayer + mlpParametersPerLayer) + embeddingParameters
    }

    /// This model with its attention layers replaced by `family`'s: a softmax model run by a
    /// GLA strategy gets H heads with Dk = Dv = D and full-rank gates (what `spsim train
    /// --attention gla` builds from it); otherwise the model itself.
    public func withAttention(_ family: AttentionFamily) -> TransformerModel {
        guard family != attention, family == .gla else { return self }
        var m = self
        m.attention = .gla
        m.keyDim = headDim
        m.valueDim = headDim
        m.headDim = nil
        m.kvHeads = nil
        m.gateLowRank = nil
        return m
    }

    /// One attention layer of this model over `seqLen` tokens as the strategy models see it.
    /// Softmax models are causal; a softmax model run by a GLA strategy uses Dk = Dv = D.
    ///
    /// - Parameters:
    ///   - elementBytes: bytes per element of q, k, v, o and states (2 = bf16 training, 4 = `spsim train`'s float32).
    ///   - statsBytes: bytes of the log-sum-exp, GLA decays and accumulators (4).
    public func workload(seqLen: Int, family: AttentionFamily? = nil, layout: LayoutKind = .contiguous,
                         elementBytes: Int = 2, statsBytes: Int = 4, scanBlocks: Int? = nil,
                         ulyssesDegree: Int? = nil) -> Workload {
        let kind = family ?? attention
        return Workload(attention: kind, seqLen: seqLen, heads: headCount,
                        kvHeads: kind == .softmax ? kvHeadCount : nil, headDim: queryDim,
                        valueDim: kind == .gla ? valueChannels : nil, isCausal: true, layout: layout,
                        elementBytes: elementBytes, statsBytes: statsBytes, scanBlocks: scanBlocks,
                        ulyssesDegree: ulyssesDegree)
    }
}

/// Model files are found like topology files, in `Models/` and `$SPSIM_MODELS`.
public typealias ModelCatalog = TopologyCatalog

extension TopologyCatalog {
    /// The standard catalog of model files: `$SPSIM_MODELS`, `./Models`, `Models` beside the source tree.
    public static func models(environment: [String: String] = ProcessInfo.processInfo.environment) -> ModelCatalog {
        standard(folder: "Models", variable: "SPSIM_MODELS", noun: "model", environment: environment)
    }

    /// Loads and validates the model `nameOrFile`.
    /// - Throws: `TopologyError` naming the file and key when the file is missing or malformed.
    public func loadModel(_ nameOrFile: String) throws(TopologyError) -> TransformerModel {
        try TransformerModel.load(path: try path(of: nameOrFile))
    }
}

extension TransformerModel: CatalogFile {
    /// Decodes a model from JSON `data`, strictly: unknown or missing keys, numbers without a
    /// source, non-whole or non-positive sizes, keys of the other attention kind, heads that
    /// do not divide the hidden size or KV heads that do not divide the heads are errors.
    /// - Throws: `TopologyError` naming `file` and the key.
    public static func decode(_ data: Data, file: String) throws(TopologyError) -> TransformerModel {
        let reader = StrictReader(file: file)
        let object = try reader.root(data)
        let attentionText = try reader.string(object, "attention", at: "")
        guard let attention = AttentionFamily(rawValue: attentionText) else {
            throw reader.error("attention", "must be \"softmax\" or \"gla\", not \"\(attentionText)\"")
        }
        let common = ["name", "description", "attention", "layers", "hidden_size", "heads", "ffn_size", "ffn_activation",
                      "vocabulary", "tied_embeddings"]
        let own = attention == .softmax ? ["kv_heads", "head_dim"] : ["key_dim", "value_dim", "gate_low_rank"]
        try reader.onlyKeys(object, at: "", allowed: common + own)
        func size(_ key: String) throws(TopologyError) -> Sourced {
            try reader.sourced(object, key, at: "", positiveInteger: true)
        }
        let activationText = try reader.string(object, "ffn_activation", at: "")
        guard let activation = FFNActivation(rawValue: activationText) else {
            throw reader.error("ffn_activation", "must be \"swiglu\", not \"\(activationText)\"")
        }
        let tied = try reader.sourced(object, "tied_embeddings", at: "", allowZero: true, fraction: true,
                                      positiveInteger: true, allowBoolean: true)
        let model = TransformerModel(
            name: try reader.string(object, "name", at: ""), description: try reader.string(object, "description", at: ""),
            attention: attention, layers: try size("layers"), hiddenSize: try size("hidden_size"), heads: try size("heads"),
            kvHeads: attention == .softmax ? try size("kv_heads") : nil,
            headDim: attention == .softmax ? try size("head_dim") : nil,
            keyDim: attention == .gla ? try size("key_dim") : nil,
            valueDim: attention == .gla ? try size("value_dim") : nil,
            gateLowRank: attention == .gla ? try size("gate_low_rank") : nil,
            ffnSize: try size("ffn_size"), ffnActivation: activation, vocabulary: try size("vocabulary"),
            tiedEmbeddings: tied)
        if model.hidden % model.headCount != 0 {
            throw reader.error("heads", "\(model.headCount) heads must divide hidden_size \(model.hidden)")
        }
        if model.headCount % model.kvHeadCount != 0 {
            throw reader.error("kv_heads", "\(model.kvHeadCount) KV heads must divide the \(model.headCount) query heads")
        }
        // Products used for parameter counts must fit in an Int (and sizes stay sane).
        let limit = Double(1 << 40)
        for (key, s) in [("layers", model.layers), ("hidden_size", model.hiddenSize), ("ffn_size", model.ffnSize),
                         ("vocabulary", model.vocabulary), ("heads", model.heads)] where s.value > Double(1 << 24) {
            throw reader.error(key, "\(Int(s.value)) is larger than 2^24; not a model spsim can plan")
        }
        if Double(model.layerCount) * Double(model.hidden) * Double(model.ffn) * 3 > limit * 1024 {
            throw reader.error("", "more than 2^50 parameters")
        }
        return model
    }
}
