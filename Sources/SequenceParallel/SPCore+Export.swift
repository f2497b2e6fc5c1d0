// The MPI-free vocabulary (layouts, problems, head split, causal block rules, strategy
// descriptors) lives in SPCore, shared with CostModel; whoever imports SequenceParallel sees it too.
@_exported import SPCore
